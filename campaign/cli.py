"""``orbitfs-campaign``: run a fault-injection campaign file, resume it, replay one trial.

    orbitfs-campaign FILE [--out DIR] [--workers N] [--scheduler ADDRESS]
    orbitfs-campaign FILE --out DIR --replay CONFIGURATION:INDEX

Each configuration's trials stream to ``DIR/results-NAME.jsonl`` as they finish
(campaign.executor); running the same command again resumes where it stopped, repeating and losing
nothing. When every trial is in, ``DIR/summary.json`` and ``DIR/junit.xml`` are written
(campaign.summary), the table printed, and ``DIR/report.md`` with its PNG plots (campaign.report;
needs matplotlib). ``--workers N``: a local process pool; ``--scheduler ADDRESS``: a
dask.distributed cluster (``local:N`` starts a LocalCluster of N workers here). ``--replay`` runs
one trial alone, in this process, and says whether it is the result on record.

Exit status: 0 when every criterion passes, 1 when one fails, 2 for a file or option that cannot
be run (one line, nothing written), 130 on Ctrl-C (what is done is kept).

| requirement | verified by |
|---|---|
| a small campaign runs, resumes after a kill, replays a trial; its summary and JUnit follow |   |
|   | tests/system/test_campaign.py |
| a bad campaign file: one line, exit 2 | tests/unit/campaign/test_spec.py |
| Ctrl-C: one line on stderr, exit 130, whole lines kept; the same command completes |   |
|   | tests/system/test_campaign_interrupt.py |
| a "regions" campaign runs with its summary | tests/system/test_region_trials.py |
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from campaign.card_trial import run_card_trial
from campaign.executor import Progress, completed_trials, run_campaign
from campaign.region_trial import fault_space_bits as region_fault_space_bits
from campaign.region_trial import run_region_trial
from campaign.report import write_report
from campaign.slot_trial import fault_space_bits as slot_fault_space_bits
from campaign.slot_trial import run_slot_trial
from campaign.spec import Campaign, CampaignError, load_campaign
from campaign.store_trial import bench_for as store_bench
from campaign.store_trial import run_store_trial
from campaign.summary import breakdown, junit_xml, recommend, summarize
from campaign.weights_trial import CARDS, COPIES, run_weight_trial
from flight.cli_common import add_common_options, configure_logging
from flight.payload.cluster.weights import weight_layout


def model_path(file: Path, model: str, out: Path) -> Path:
    """The campaign's model: the file's (relative to it), else the demo model built in ``out``."""
    if model:
        path = (file.parent / model) if not Path(model).is_absolute() else Path(model)
        if not path.is_file():
            raise CampaignError(f"{file}: target.model = {model!r}: no file at {path}")
        return path.resolve()
    from flight.payload.demo_model import write_demo_model

    out.mkdir(parents=True, exist_ok=True)
    path = (out / "demo_model.onnx").resolve()   # absolute: a trial may run in another folder
    return path if path.exists() else write_demo_model(path)


TRIALS = {"weights": run_weight_trial, "cards": run_card_trial,   # target.kind: its trial function
          "regions": run_region_trial, "slots": run_slot_trial, "store": run_store_trial}


def fault_space(campaign: Campaign, layout: "Weights") -> int:
    """How many distinct faults the campaign's target can take (the N of the sample size)."""
    if campaign.target["kind"] == "weights":
        return layout.fault_space_bits
    if campaign.target["kind"] == "regions":   # every protected region's bytes x copies x 8
        return region_fault_space_bits(layout.size, campaign.faults["copies"])
    if campaign.target["kind"] == "slots":     # frames x slot bytes x 8
        return slot_fault_space_bits(campaign.target["frames"])
    if campaign.target["kind"] == "store":     # the database file's bytes x 8 (its image, built here)
        return store_bench({"inputs_seed": campaign.target["inputs_seed"]}).fault_space_bits
    return CARDS * len(campaign.faults["kinds"]) * campaign.target["frames"]   # cards: card x fault x frame


def show(progress: Progress, last: list[float]) -> None:
    """The progress line, twice a second at most, ended once when the configuration is done."""
    now, finished = time.monotonic(), progress.done == progress.total
    if (now - last[0] >= 0.5 and not finished) or (finished and last[0] != float("inf")):
        last[0] = float("inf") if finished else now
        print(f"\r  {progress.line()}", end="\n" if finished else "", flush=True)


def run_all(campaign: Campaign, model: Path, layout: "Weights", out: Path, workers: int,
            scheduler: str | None) -> dict[str, Any]:
    """Every configuration in order (``guarded = ["auto"]`` resolved from the unprotected results
    before it); the summary, with each configuration's cost."""
    results, costs = {}, {}
    for configuration in campaign.configurations:
        if configuration["guarded"] == ["auto"]:
            off = next(c["name"] for c in campaign.configurations if c["protection"] == "off")
            configuration["guarded"] = recommend(breakdown(results[off], "tensor"))["tensors"]
        unknown = set(configuration["guarded"]) - set(layout.tensors)
        if unknown:
            raise CampaignError(f"configuration {configuration['name']!r}: guarded tensor {sorted(unknown)[0]!r} is "
                                f"not in the model; its weight tensors: {sorted(layout.tensors)}")
        path = out / f"results-{configuration['name']}.jsonl"
        settings = (f"{configuration['mode']}, scrub every {configuration['scrub_every']} frames, guarded "
                    f"{configuration['guarded'] or 'none'}" if configuration["mode"] else "the store's own checks")
        print(f"{configuration['name']} ({settings}): {campaign.trials:,} trials")
        last = [0.0]
        progress = run_campaign(TRIALS[campaign.target["kind"]], campaign.trial_config(configuration, model),
                                campaign.trials, path,
                                workers=workers, scheduler=scheduler, progress=lambda p, last=last: show(p, last))
        results[configuration["name"]] = list(completed_trials(path).values())
        cost = layout.cost(configuration, progress)   # the store's: no cards, no weights, its rate alone
        costs[configuration["name"]] = cost if configuration["mode"] else {"trials_per_s": cost["trials_per_s"]}
    return summarize(campaign.name, results, campaign.configurations, campaign.criteria, costs)


@dataclass
class Weights:
    """The packed weights' size and each tensor's bytes: what a configuration's memory costs."""

    size: int
    tensors: dict[str, int]

    @property
    def fault_space_bits(self) -> int:
        """Bits a weight upset can hit: every card's live and golden copy of the packed weights."""
        return CARDS * len(COPIES) * self.size * 8

    def cost(self, configuration: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Memory per card (a live copy; its golden when anything checks it; a third copy of each
        guarded tensor, as TMR memory), cards computing each frame, and the trials/s measured."""
        checked = configuration["scrub_every"] or configuration["guarded"] or configuration["mode"] == "TMR"
        extra = sum(self.tensors[t] for t in configuration["guarded"])
        elapsed = time.monotonic() - progress.started
        ran = progress.done - progress.resumed
        return {"bytes_per_card": self.size * (2 if checked else 1) + extra,
                "cards_per_frame": CARDS if configuration["mode"] == "TMR" else 1,
                "trials_per_s": ran / elapsed if ran and elapsed > 0 else None}


def weights_of(model: Path) -> Weights:
    layout, packed = weight_layout(model.read_bytes())
    return Weights(packed.size, {w["name"]: 4 * int(np.prod(w["shape"])) for w in layout})


def print_summary(summary: dict[str, Any]) -> None:
    classes = ("masked", "corrected", "due", "sdc") + tuple(      # and any other class that occurred
        sorted({o for s in summary["configurations"].values() for o, n in s["counts"].items()
                if n and o not in ("masked", "corrected", "due", "sdc")}))
    print(f"\n{'configuration':<16}{'trials':>8}" + "".join(f"{o:>12}" for o in classes) + "   SDC rate (95 % Wilson)")
    for name, s in summary["configurations"].items():
        sdc = s["sdc"]
        interval = (f"{sdc['rate']:.2e} [{sdc['low']:.2e}, {sdc['high']:.2e}]" if "rate" in sdc else "n/a")
        if sdc["count"] == 0 and "upper_rule_of_three" in sdc:
            interval += f", rule of three <= {sdc['upper_rule_of_three']:.2e}"
        print(f"{name:<16}{s['trials']:>8}" + "".join(f"{s['counts'][o]:>12}" for o in classes) + f"   {interval}")
    for name, r in summary["reduction"].items():
        factor = "n/a" if r["factor"] is None else f"{r['factor']:.0f}"
        print(f"SDC reduction of {name}: {factor} ({r['bound']})")
    if summary["recommendation"]:
        r = summary["recommendation"]
        print(f"recommendation: guard {r['tensors']} as TMR memory ({r['sdc_share']:.0%} of the unprotected SDC), "
              "scrub the rest")
    print(f"\n{'configuration':<16}{'bytes/card':>12}{'cards/frame':>13}{'trials/s':>10}")
    for name, s in summary["configurations"].items():
        cost = s["cost"]
        rate = f"{cost['trials_per_s']:.0f}" if cost.get("trials_per_s") else "n/a"
        print(f"{name:<16}{cost.get('bytes_per_card', 0):>12,}{cost.get('cards_per_frame', 0):>13}{rate:>10}")
    for case in summary["criteria"]:
        print(f"  [{'PASS' if case['passed'] else 'FAIL'}] {case['name']}: {case['detail']}")


def replay(campaign: Campaign, model: Path, out: Path, which: str) -> int:
    name, _, index = which.partition(":")
    configuration = next((c for c in campaign.configurations if c["name"] == name), None)
    if configuration is None or not index.isdigit():
        raise CampaignError(f"--replay {which!r}: CONFIGURATION:INDEX, configurations "
                            f"{[c['name'] for c in campaign.configurations]}")
    result = TRIALS[campaign.target["kind"]](campaign.trial_config(configuration, model), int(index))
    print(json.dumps(result))
    recorded = completed_trials(out / f"results-{name}.jsonl").get(int(index))
    if recorded is not None:
        same = {k: v for k, v in recorded.items() if k != "trial"} == result
        print(f"recorded result: {'the same' if same else 'DIFFERENT: ' + json.dumps(recorded)}")
        return 0 if same else 1
    print("no recorded result for this trial")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-campaign", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path, help="the campaign file (TOML)")
    parser.add_argument("--out", type=Path, help="results folder (default: runs/campaign-NAME)")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    parser.add_argument("--scheduler", help="dask.distributed scheduler ADDRESS, or local:N")
    parser.add_argument("--replay", metavar="CONFIGURATION:INDEX", help="run one trial alone and compare")
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    try:
        if args.workers < 1:
            raise CampaignError(f"--workers {args.workers}: must be 1 or more")
        campaign = load_campaign(args.file)
        out = args.out or Path("runs") / f"campaign-{campaign.name}"
        model = model_path(args.file, campaign.target["model"], out)
        layout = weights_of(model)
        campaign = load_campaign(args.file, fault_space(campaign, layout))
        if args.replay:
            return replay(campaign, model, out, args.replay)
        out.mkdir(parents=True, exist_ok=True)
        summary = run_all(campaign, model, layout, out, args.workers, args.scheduler)
    except CampaignError as error:
        print(f"orbitfs-campaign: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the trials done are kept; run the same command to resume", file=sys.stderr)
        return 130
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "junit.xml").write_bytes(junit_xml(summary))
    print_summary(summary)
    try:
        print(f"report: {write_report(summary, out)}")
    except ImportError:
        print("report: not written, matplotlib is missing (pip install -e '.[plot]')")
    print(f"\nresults: {out}")
    return 0 if all(c["passed"] for c in summary["criteria"]) else 1


if __name__ == "__main__":
    sys.exit(main())
