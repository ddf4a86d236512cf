"""The SIL run's summary as data: rows that say what they mean, the card table and its legend, the checks.

A :class:`Summary` is what ``orbitfs-sil`` prints, writes as JSON and as JUnit (ground_sim.sil_output):
each :class:`Row` has a name, its value for programs (a number, a string, or named numbers), its text
for people (no Python reprs) and what it means or the verdict on it. The parts a new user asked about
are explained from what the code does:

- upsets injected vs detected (:func:`account_upsets`, from ``injections.jsonl`` and the scrubber's
  finding events): the scrubber reports one finding per chunk and copy it repairs (per chunk for live
  weights, whose live and golden copies are compared as one chunk), so several upsets in one chunk
  before its next visit are one finding; upsets in the scrubber's last pass before the flight stopped
  are never found; a region's recovery (reload) erases the upsets in it. What the ground's records
  cannot tell (a parameter write overwriting an upset, an upset flipped back, a finding event that
  did not come down) is counted as such, never guessed.
- rate-group slips (:func:`slip_row`): a cycle that finished after the next cycle's deadline, or a
  tick skipped after an overrun (wall clock); per group, as a share of its cycles, with a verdict.
- the card table's columns (:data:`CARD_LEGEND`).

| requirement | verified by |
| --- | --- |
| upsets injected = found + sharing a chunk's finding + unreached + erased + unexplained | |
|   (from constructed injections and findings) | tests/unit/ground/test_sil_output.py |
| slips per group with their share of cycles and a verdict | tests/unit/ground/test_sil_output.py |
| the summary text holds no Python repr; every row has its meaning | tests/unit/ground/test_sil_output.py, |
|   | tests/system/test_sil.py |
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Iterable

TMR_COPIES = ("0", "1", "2")
UNCORRECTABLE = ("; uncorrectable: a chunk hit in both copies (live and golden, or two TMR copies at one bit), "
                 "recovered by its region's recovery (weights reloaded from the model file, parameters restored)")
FINDINGS = ("scrubber.UpsetRepaired", "scrubber.UpsetDetected", "scrubber.UncorrectableError")
CARD_LEGEND = (
    "inferences: frames the card computed; p50/p99 ms: its inference latency percentiles",
    "util %: the card's total compute time (BusyTime) over the imaging wall time",
    "resets: times the cluster quarantined the card (failed, hung, crashed, outvoted too often) and restarted it",
    "errors: the card's failed inferences (an error from its process) plus its results outvoted by the other "
    "cards in TMR/DMR; each is corrected by the vote or the frame is sent again, none reaches a product",
    "temp C: the card's modelled temperature at the end (yellow limit 75, red 85)",
)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Row:
    """One line of the summary: ``value`` for programs, ``text`` for people, ``meaning`` for both."""

    name: str
    value: Any
    text: str
    meaning: str


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    legend: tuple[str, ...]


@dataclass
class Summary:
    title: str
    rows: list[Row]
    checks: list[Check]
    tables: list[Table] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def result(self) -> str:
        return "RESULT: " + ("PASS" if not self.failed else "FAIL: " + ", ".join(c.name for c in self.failed))

    def text(self) -> str:
        """The summary for people: each row, its meaning under it; the tables with their legends; the checks."""
        width = max([36, *(len(row.name) for row in self.rows)])
        lines = [f"\n================ {self.title} ================"]
        for row in self.rows:
            lines.append(f"  {row.name:<{width}} {row.text}")
            if row.meaning:
                lines.append(f"  {'':<{width}}   {row.meaning}")
        for table in self.tables:
            lines.append(f"  {table.title}")
            lines.append("  " + "".join(f"{c:>9}" if i else f"{c:<8}" for i, c in enumerate(table.columns)))
            for cells in table.rows:
                lines.append("  " + "".join(_cell(v, i) for i, v in enumerate(cells)))
            lines += [f"    {line}" for line in table.legend]
        lines += [f"  [{'PASS' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(lines)


def _cell(value: Any, index: int) -> str:
    if index == 0:
        return f"{value:<8}"
    return f"{value:>9g}" if isinstance(value, float) else f"{value:>9}"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# --- upsets injected vs detected ---------------------------------------------------------------

@dataclass
class UpsetAccount:
    """Where each injected upset went, as far as the ground's records tell."""

    injected: int
    detected: int          # the scrubber's Detected counter, as last reported
    findings_seen: int     # finding events the ground received
    found: int             # upsets that each made a finding (the first in their chunk)
    shared: int            # upsets in a chunk already hit since the scrubber's last visit: no finding of their own
    unreached: int         # injected in the last scrub passes before the flight's last report
    erased: int            # overwritten by their region's recovery (reload) before a scrub
    unexplained: int       # none of the above, as far as the ground's records tell

    def explanation(self) -> str:
        parts = [f"{self.found:,} found (one finding each)"]
        if self.shared:
            parts.append(f"{plural(self.shared, 'upset')} in a chunk already hit before the scrubber came back "
                         "(the scrubber reports a chunk and copy once, however many upsets it holds)")
        if self.unreached:
            parts.append(f"{self.unreached:,} injected in the scrubber's last pass before the flight's last report "
                         "(not reached before the flight stopped, or found after the ground last heard it)")
        if self.erased:
            parts.append(f"{self.erased:,} erased before a scrub by their region's recovery (reloaded)")
        if self.unexplained:
            parts.append(f"{self.unexplained:,} the ground cannot tell apart: overwritten by a write (a parameter "
                         "set rewrites its slot of the TMR store), flipped back by a later upset, or their finding "
                         "event did not reach the ground")
        text = f"injected {self.injected:,} = " + " + ".join(parts)
        if self.findings_seen != self.detected:
            text += (f"; the ground received {self.findings_seen:,} finding events of the {self.detected:,} "
                     "findings counted on board")
        return text


def _key(region: str, offset: int, copy: str, chunk: int) -> tuple[str, int, str]:
    """Findings are per chunk, and per copy in a TMR region (live and golden share their chunk's)."""
    return region, offset // chunk, copy if copy in TMR_COPIES else ""


def account_upsets(injections: Iterable[dict[str, Any]], findings: Iterable[Any], detected: int,
                   chunk_of: Any, end: float, pass_time: float, recoveries: Iterable[tuple[str, float]] = ()
                   ) -> UpsetAccount:
    """Match each upset of ``injections`` (injections.jsonl records) to the first later finding event of
    its chunk and copy (``findings``: EventRecords of :data:`FINDINGS`); ``chunk_of(region)`` is a
    region's chunk size; ``end`` the mission time of the flight's last report and ``pass_time`` one full
    scrub pass (s): an upset left unfound that was injected within two passes of ``end`` is unreached;
    ``recoveries``: (region, time) of each RecoveryStarted."""
    upsets = sorted((r for r in injections if "region" in r), key=lambda r: r["time"])
    pending: dict[tuple[str, int, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for record in upsets:
        pending[_key(record["region"], record["offset"], record["target"], chunk_of(record["region"]))].append(record)
    findings = sorted(findings, key=lambda e: e.time)
    found = shared = 0
    for event in findings:
        args = event.args
        copies = ("", *TMR_COPIES) if event.name.endswith("UncorrectableError") else (args.get("copy", ""),)
        for copy in copies:
            key = _key(args["region"], args["offset"], copy, chunk_of(args["region"]))
            hit = [r for r in pending.get(key, ()) if r["time"] < event.time]
            if hit:
                pending[key] = pending[key][len(hit):]
                found, shared = found + 1, shared + len(hit) - 1
    left = [r for records in pending.values() for r in records]
    unreached = [r for r in left if r["time"] >= end - 2 * pass_time - 1e-3]   # the last report may follow
                                                                                # the last scrub by a pass
    recovered = collections.defaultdict(list)
    for region, at in recoveries:
        recovered[region].append(at)
    erased = [r for r in left if r not in unreached and any(at > r["time"] for at in recovered[r["region"]])]
    return UpsetAccount(len(upsets), detected, len(findings), found, shared, len(unreached), len(erased),
                        len(left) - len(unreached) - len(erased))


def upset_rows(account: UpsetAccount, bits: int, repaired: int, uncorrectable: int, recoveries: int) -> list[Row]:
    return [
        Row("upsets injected / bits flipped", {"injected": account.injected, "bits": bits},
            f"{account.injected:,} / {bits:,}",
            "single-bit, multi-bit (adjacent bits of a byte) and random-byte upsets, from injections.jsonl"),
        Row("upsets detected / repaired / uncorr.", {"detected": account.detected, "repaired": repaired,
                                                     "uncorrectable": uncorrectable, "recoveries": recoveries,
                                                     "shared": account.shared, "unreached": account.unreached,
                                                     "erased": account.erased, "unexplained": account.unexplained},
            f"{account.detected:,} / {repaired:,} / {uncorrectable:,}  (recoveries {recoveries:,})",
            account.explanation() + (UNCORRECTABLE if uncorrectable else "")),
    ]


# --- rate-group slips ----------------------------------------------------------------------------

def slip_row(groups: dict[str, tuple[int, int]], frames_lost: int) -> Row:
    """``groups``: rate group -> (slips, cycles run)."""
    total = sum(slips for slips, _ in groups.values())
    per_group = ", ".join(f"{name} {slips:,} of {cycles:,} cycles ({slips / cycles:.1%})" if cycles
                          else f"{name} {slips:,}" for name, (slips, cycles) in groups.items())
    meaning = ("a slip is a rate-group cycle that finished after the next cycle's deadline, or a tick skipped "
               "after such an overrun (the wall clock does not wait); that work runs late and nothing is dropped "
               "by a slip (the camera takes the next frame at the next tick: imaging takes longer)")
    if total == 0:
        verdict = "none: every cycle finished within its period"
    elif frames_lost == 0:
        verdict = "expected on a loaded host (the flight, its cards and the ground share the CPUs); no frame was lost"
    else:
        verdict = f"{plural(frames_lost, 'frame')} lost: see frames dropped by reason"
    return Row("rate-group slips", {name: {"slips": s, "cycles": c} for name, (s, c) in groups.items()},
               f"{total:,}  ({per_group})", f"{meaning}. Verdict: {verdict}")


# --- the card table --------------------------------------------------------------------------------

CARD_COLUMNS = ["card", "inferences", "p50 ms", "p99 ms", "util %", "resets", "errors", "temp C"]


def card_table(cards: dict[str, dict[str, Any]], imaging_time: float) -> Table:
    """``cards``: card -> its channels (Inferences, LatencyP50, LatencyP99, BusyTime, Resets, Errors, Temperature)."""
    rows = [[card, int(v["Inferences"]), round(float(v["LatencyP50"]), 2), round(float(v["LatencyP99"]), 2),
             round(100 * v["BusyTime"] / max(imaging_time, 1e-9), 1), int(v["Resets"]), int(v["Errors"]),
             round(float(v["Temperature"]), 1)] for card, v in cards.items()]
    return Table("cards", CARD_COLUMNS, rows, CARD_LEGEND)


def limit_text(violations: dict[str, int]) -> str:
    """``channel n`` per channel that left its limits (n excursions), or none."""
    return ", ".join(f"{name} {n:,}" for name, n in sorted(violations.items())) or "none"
