"""What a campaign found: outcome rates with intervals per configuration, where the model is
fragile, the protection's reduction factor, and the pass/fail criteria as JUnit XML.

- Per configuration: each outcome class's count and rate with its Wilson interval, and for a class
  with no hit the rule-of-three upper bound (campaign.stats).
- The SDC reduction factor of each configuration against the unprotected one: rate off / rate on;
  when "on" had no SDC, the factor is at least rate off / (rule-of-three bound of on).
- The vulnerability map of the unprotected configuration: SDC rate by weight tensor (or padding),
  by float32 field (sign, exponent, mantissa) and bit position, and by copy (live, golden).
- Per configuration, by fault model (``by_fault_model``: an upset's ``kind``, else a card fault's
  ``fault``) and by memory region (``by_region``): every outcome class's count and the SDC rate
  with its Wilson interval (rule-of-three bound at zero), so that protection off and on can be
  compared value by value, not only on SDC counts (:func:`outcome_breakdown`); likewise by the
  pixel's band of a slot upset (``by_band``) and the part of the store's file (``by_part``).
- The recommendation (:func:`recommend`): the fewest tensors that gave 90 % of the unprotected
  SDC, to guard as TMR memory (checked on every read) while the rest is scrubbed; a configuration
  with ``guarded = ["auto"]`` measures it.
- Criteria: ``max_sdc`` (the observed SDC rate), ``max_lost_frames`` and ``max_burned`` per
  configuration; each a JUnit test case, with a runner error in any configuration a failure of its
  own.

| requirement | verified by |
|---|---|
| the summary's counts are those of the result lines; the reduction factor and bounds follow |   |
|   the formulas | tests/unit/campaign/test_summary.py |
| a criterion broken, or a runner error, is a failed JUnit case | tests/unit/campaign/test_summary.py |
| by fault model and by region: each value's outcome counts are those of its result lines, its |   |
|   SDC interval is campaign.stats' (Wilson, rule of three at zero) | tests/unit/campaign/test_summary.py |
"""
from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any
from xml.etree import ElementTree

from campaign.stats import rate_summary, rule_of_three

OUTCOMES = ("masked", "corrected", "due", "sdc", "hang", "crash", "runner_error")


def outcome_counts(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = collections.Counter(r["outcome"] for r in results)
    return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES} | {
        k: v for k, v in counts.items() if k not in OUTCOMES}


def breakdown(results: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """SDC count, trials and rate for each value of ``key`` (None values left out)."""
    trials: collections.Counter = collections.Counter()
    sdc: collections.Counter = collections.Counter()
    for r in results:
        value = r.get(key)
        if value is None:
            continue
        trials[str(value)] += 1
        sdc[str(value)] += r["outcome"] == "sdc"
    return {value: {"trials": n, "sdc": sdc[value], "rate": sdc[value] / n}
            for value, n in sorted(trials.items(), key=lambda item: -sdc[item[0]] / item[1])}


def fault_model(result: dict[str, Any]) -> str | None:
    """The fault model a trial injected: an upset's ``kind`` (single, multi, byte; also the kind of
    regions, slots and store trials), else a card fault's ``fault`` (hang, crash, wrong, slow, ...)."""
    return result.get("kind") or result.get("fault")


def outcome_breakdown(results: list[dict[str, Any]],
                      value_of: Callable[[dict[str, Any]], Any]) -> dict[str, dict[str, Any]]:
    """For each value of ``value_of(result)`` (sorted; None left out, e.g. a runner error's line):
    ``trials``, ``counts`` of every outcome class (as :func:`outcome_counts`) and ``sdc``, the SDC
    count and rate with its Wilson interval and, with no SDC, its rule-of-three bound (as the
    configuration's own ``sdc``, campaign.stats.rate_summary). Unlike :func:`breakdown` it keeps
    every class: a fault model can be corrected in one configuration and a DUE in another."""
    groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in results:
        value = value_of(r)
        if value is not None:
            groups[str(value)].append(r)
    out = {}
    for value in sorted(groups):
        counts = outcome_counts(groups[value])
        out[value] = {"trials": len(groups[value]), "counts": counts, "sdc": rate_summary(counts)["sdc"]}
    return out


def reduction(off: dict[str, Any], on: dict[str, Any]) -> dict[str, Any]:
    """How much less SDC a protected configuration has than the unprotected one."""
    off_rate, on_sdc, on_trials = off["sdc"]["rate"], on["sdc"]["count"], on["trials"]
    if on_sdc:
        return {"factor": off_rate / on["sdc"]["rate"], "bound": "observed"}
    return {"factor": off_rate / rule_of_three(on_trials) if on_trials else None,
            "bound": "at least (rule of three on the protected configuration)"}


def recommend(by_tensor: dict[str, dict[str, float]], share: float = 0.9) -> dict[str, Any]:
    """The fewest tensors (most SDC first) that gave at least ``share`` of the SDC: those to guard."""
    ranked = sorted(((v["sdc"], k) for k, v in by_tensor.items() if k != "padding" and v["sdc"]), reverse=True)
    total, chosen, covered = sum(n for n, _ in ranked), [], 0
    for count, tensor in ranked:
        if total and covered >= share * total:
            break
        chosen.append(tensor)
        covered += count
    return {"tensors": chosen, "sdc_share": covered / total if total else 0.0}


def configuration_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    counts = outcome_counts(results)
    rates = rate_summary(counts)
    for outcome in OUTCOMES:
        rates.setdefault(outcome, {"count": 0})
    return {"trials": len(results), "counts": counts, "rates": rates, "sdc": rates["sdc"],
            "critical_sdc": sum(1 for r in results if r.get("critical")),
            "by_tensor": breakdown(results, "tensor"), "by_field": breakdown(results, "field"),
            "by_bit": breakdown(results, "bit"), "by_copy": breakdown(results, "copy"),
            "by_fault": breakdown(results, "fault"), "lost_frames": sum(r.get("lost", 0) for r in results),
            "by_kind": breakdown(results, "kind"), "by_fault_model": outcome_breakdown(results, fault_model),
            "by_region": outcome_breakdown(results, lambda r: r.get("region")),
            "by_band": outcome_breakdown(results, lambda r: r.get("band")),     # slots: the pixel's band
            "by_part": outcome_breakdown(results, lambda r: r.get("part"))}     # store: the file's part


def summarize(name: str, results: dict[str, list[dict[str, Any]]], configurations: list[dict[str, Any]],
              limits: dict[str, dict[str, float]], costs: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The campaign's summary (JSON-able) from each configuration's results; ``costs``: what each
    configuration costs (memory, compute, time), as the runner measured it."""
    per = {c["name"]: configuration_summary(results[c["name"]]) for c in configurations}
    for c in configurations:
        per[c["name"]]["settings"] = {k: c[k] for k in ("protection", "mode", "scrub_every", "guarded") if k in c}
        per[c["name"]]["cost"] = (costs or {}).get(c["name"], {})
    off = [c["name"] for c in configurations if c["protection"] == "off"]
    reductions = {c["name"]: reduction(per[off[0]], per[c["name"]]) for c in configurations
                  if off and c["protection"] != "off" and per[off[0]]["trials"]}
    return {"campaign": name, "configurations": per, "reduction": reductions,
            "recommendation": recommend(per[off[0]]["by_tensor"]) if off and per[off[0]]["by_tensor"] else None,
            "criteria": criteria(per, limits)}


def criteria(per: dict[str, dict[str, Any]], limits: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    out = [{"name": f"{name}: SDC rate <= {limit:g}", "passed": per[name]["sdc"].get("rate", 0.0) <= limit,
            "detail": f"{per[name]['sdc']['count']} SDC in {per[name]['trials']} trials"}
           for name, limit in limits.get("max_sdc", {}).items()]
    out += [{"name": f"{name}: lost frames <= {limit:g}", "passed": per[name]["lost_frames"] <= limit,
             "detail": f"{per[name]['lost_frames']} frames lost in {per[name]['trials']} trials"}
            for name, limit in limits.get("max_lost_frames", {}).items()]
    out += [{"name": f"{name}: boards burned <= {limit:g}", "passed": per[name]["counts"].get("burned", 0) <= limit,
             "detail": f"{per[name]['counts'].get('burned', 0)} boards burned by a latch-up in {per[name]['trials']} "
                       "trials"}
            for name, limit in limits.get("max_burned", {}).items()]
    out += [{"name": f"{name}: no runner error", "passed": summary["counts"]["runner_error"] == 0,
             "detail": f"{summary['counts']['runner_error']} trials could not be classified"}
            for name, summary in per.items()]
    return out


def junit_xml(summary: dict[str, Any]) -> bytes:
    """The criteria as a JUnit XML test suite (one case each)."""
    cases = summary["criteria"]
    suite = ElementTree.Element("testsuite", name=summary["campaign"], tests=str(len(cases)),
                                failures=str(sum(not c["passed"] for c in cases)))
    for case in cases:
        element = ElementTree.SubElement(suite, "testcase", classname=summary["campaign"], name=case["name"])
        if not case["passed"]:
            ElementTree.SubElement(element, "failure", message=case["detail"])
        else:
            ElementTree.SubElement(element, "system-out").text = case["detail"]
    return ElementTree.tostring(suite, encoding="utf-8", xml_declaration=True)
