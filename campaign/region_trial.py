"""Region-upset trials: one upset in any region the flight's scrubber protects, in any copy, on the
real cluster (three card processes), and the products compared with a fault-free run.

Each worker process keeps one :class:`RegionBench`: the card trials' bench (campaign.card_trial:
the flight's parameter database, cluster, scrubber and SEU injector components built from the
default topology by campaign.cluster_bench, in the configuration's mode; the ``frames`` input
tiles ``SceneGenerator(inputs_seed).tile(i)`` and their golden products, computed once before any
fault). Its regions are those the scrubber protects: each card's ``<card>_weights`` (live weights
the card computes from in place, and their golden copy) and the TMR ``parameters`` region (three
copies, voted on every read).

A trial (:func:`run_region_trial`) plans from its seed alone (:func:`plan_region_upset`) the bit
mask (``faults.kinds``: single, multi, byte, drawn as weights trials draw them,
campaign.weights_trial.draw_mask), the byte, uniform over every copy an upset can land in, so
that each region is hit in proportion to its bits as SEUs hit memory, and the frame ``at`` it
lands before. ``faults.copies`` restricts the copies of the live/golden regions (the weights);
the TMR copies 0, 1 and 2 of ``parameters`` are always targets (they are alike: no copy is the
one computed from). The fault space is these copies' bits (:func:`fault_space_bits`). The upset
goes in through the SEU injector component's ``inject``; the tiles are submitted one by one
(campaign.card_trial.run_frames), with ``scrub_every`` N a Scrubber ``tick`` after every N-th
frame (its default BytesPerTick covers every region: a tick is one full pass; checked at start).

Protection "on" is TMR, scrubbing after every frame; "off" is THROUGHPUT without scrubbing. In
THROUGHPUT the flight's default policy (earliest-finish) picks a card by measured latency, i.e.
by timing, so the bench runs the cluster's round-robin policy, set anew (SET_POLICY) before every
trial: frame ``f`` is computed by the ``f mod 3``-th card in name order, a live-weights upset
reaches the frames of its card from ``at`` on, and a trial is reproducible. Each product's card
field is checked against that schedule: ``off_schedule`` counts the frames that were not computed
as planned (by another card, or in TMR by a single card); it is 0 unless a card left service
mid-trial, and then the outcome is still the products' own, but a replay may differ.

Outcomes:

- ``hang``: a frame neither delivered nor dropped within the watchdog;
- ``sdc``: a product differs from the golden one (campaign.card_trial.same_product);
- ``due``: a frame dropped (withheld), or an uncorrectable scrub finding (the region's recovery
  ran: weights reloaded from the model file and the card reset; parameters restored);
- ``corrected``: every product right, and the scrubber repaired the upset (``UpsetRepaired``) or
  the cluster noticed it (a card outvoted by the vote, or reset);
- ``masked``: every product right and nothing noticed (``latent``: the upset is still in memory
  at the end, e.g. a golden copy or a parameters copy that nobody scrubbed).

Each result names region, copy, byte offset, mask, kind and ``at``; for the weights the tensor
(or padding), its float32 bit and field (campaign.weights_trial.weight_bits); with scrubbing,
``repaired_exactly``: the scrubber reported exactly one repair, of this region, copy and offset
and the mask's bit count, and nothing uncorrectable. After every trial each region is made
bit-exact again by the flight's own paths (one scrubber pass: a repair, or an uncorrectable
finding's recovery) and checked (weights live == golden == the model's packed weights; parameter
copies as they were at start), and the cluster made whole (campaign.cluster_bench.make_whole); a
bench that cannot be restored fails its trial (a runner error) and is replaced.

| requirement | verified by |
|---|---|
| hand-built upsets are classified right: a golden copy (corrected with a scrub, latent masked |   |
|   without); live weights with protection on (corrected, repaired exactly) and off on a sensitive |   |
|   weight (sdc); a parameters copy; both copies of a chunk (due) | tests/system/test_region_trials.py |
| a trial replays alone with the same result; the bench is clean and whole after each |   |
|   | tests/system/test_region_trials.py |
| plans: copies restricted by faults.copies, every region reached; the fault space is the |   |
|   bench's | tests/system/test_region_trials.py |
| a "regions" campaign runs through orbitfs-campaign with its summary | tests/system/test_region_trials.py |
"""
from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from campaign.card_trial import CardTrialBench, discard_bench, process_bench, run_frames
from campaign.cluster_bench import bench_tester, scrubber_rate_hz
from campaign.weights_trial import COPIES, draw_mask, tensor_at, tensor_table, weight_bits
from flight.payload.cluster.component import POLICY_NAMES
from flight.payload.cluster.weights import weight_layout
from flight.protection.regions import Region

SCHEDULE_POLICY = "round-robin"   # THROUGHPUT: frame f on the (f mod cards)-th card
VOTED = 0xFF                      # a product's card field when several cards computed it


@dataclass(frozen=True)
class RegionPlan:
    """One upset: ``mask`` in byte ``offset`` of copy ``copy`` of ``region``, before frame ``at``."""

    region: str
    copy: str
    offset: int
    mask: int
    kind: str
    at: int


def upset_targets(regions: Sequence[Region], copies: Sequence[str]) -> list[tuple[Region, str]]:
    """Every (region, copy) an upset can land in: a live/golden region's copies among ``copies``,
    every copy of the others (TMR's 0, 1, 2)."""
    return [(r, t) for r in regions for t in r.targets() if t in copies or t not in COPIES]


def plan_region_upset(regions: Sequence[Region], frames: int, seed: int, kinds: tuple[str, ...] = ("single",),
                      copies: Sequence[str] = COPIES) -> RegionPlan:
    """The upset of a trial, from its seed alone: mask, then a byte uniform over every target copy
    (:func:`upset_targets`, in the order of ``regions``), then the frame it lands before."""
    rng = random.Random(seed)
    kind, mask = draw_mask(rng, kinds)
    targets = upset_targets(regions, copies)
    byte = rng.randrange(sum(region.size for region, _ in targets))
    ends = list(itertools.accumulate(region.size for region, _ in targets))
    which = next(i for i, end in enumerate(ends) if byte < end)
    region, copy = targets[which]
    return RegionPlan(region.name, copy, byte - (ends[which] - region.size), mask, kind, rng.randrange(frames))


def fault_space_bits(weights_bytes: int, copies: Sequence[str]) -> int:
    """Bits a regions trial can hit, with packed weights of ``weights_bytes``: every target copy
    (:func:`upset_targets`) of the regions the bench will protect, read on its components built and
    not started (the parameter database's region; one weights region per card of the cluster)."""
    with tempfile.TemporaryDirectory(prefix="region_space_") as folder:
        components = bench_tester(Path(folder), Path(folder) / "model.onnx").components   # not read
    parameters = components["prmDb"].store.region
    weights = sum(1 for copy in COPIES if copy in copies) * weights_bytes
    return 8 * (parameters.size * len(parameters.targets()) + len(components["cluster"].cards) * weights)


class RegionBench(CardTrialBench):
    """The card trials' bench (cluster, tiles, golden products) and what a region upset needs: the
    protected regions by name, each one's intended bytes, the weights' tensor table."""

    def __init__(self, model: Path, frames: int, inputs_seed: int, mode: str) -> None:
        super().__init__(model, frames, inputs_seed, mode, **({"policy": SCHEDULE_POLICY} if mode == "THROUGHPUT"
                                                               else {}))
        try:
            self.mode = mode
            components = self.cluster.components
            self.scrubber, self.seu = components["scrubber"], components["seu"]
            self.regions: list[Region] = sorted(self.cluster.protected.regions(), key=lambda r: r.name)
            if self.scrubber.param("BytesPerTick") < sum(r.size for r in self.regions):
                raise RuntimeError("the scrubber's BytesPerTick no longer covers every region in a tick")
            layout, pristine = weight_layout(Path(model).read_bytes())
            self.tensors = tensor_table(layout)
            self.intended = {r.name: pristine if r.kind == "live" else _copy(r, r.targets()[0]).copy()
                             for r in self.regions}
            if not self.clean():
                raise RuntimeError("the flight's protected regions are not as intended at start")
            self.card_names = [spec.name for spec in self.cluster.cluster.cards]
            self._ticks = itertools.count(1)
        except BaseException:
            self.close()
            raise

    def clean(self) -> bool:
        """Every copy of every region bit-exactly as intended."""
        return all(np.array_equal(_copy(r, t), self.intended[r.name]) for r in self.regions for t in r.targets())

    def pin_schedule(self) -> None:
        """THROUGHPUT: the round-robin policy set anew, so frame f goes to the (f mod cards)-th card."""
        if self.mode == "THROUGHPUT":
            self.cluster.cluster.SET_POLICY(POLICY_NAMES.index(SCHEDULE_POLICY))
            self.cluster.sync()

    def planned_card(self, frame: int) -> int:
        """The card field frame ``frame``'s product should have (:meth:`pin_schedule`)."""
        if self.mode != "THROUGHPUT":
            return VOTED
        return self.card_names.index(sorted(self.card_names)[frame % len(self.card_names)])

    def inject(self, plan: RegionPlan) -> None:
        """The upset, through the flight's SEU injector."""
        tick = next(self._ticks)
        self.seu.inject(plan.region, plan.copy, plan.offset, plan.mask, plan.kind, tick, tick / scrubber_rate_hz())

    def scrub(self) -> None:
        """One Scrubber tick: a full pass over every region."""
        tick = next(self._ticks)
        self.scrubber.tick(tick, tick / scrubber_rate_hz())

    def describe(self, plan: RegionPlan) -> dict[str, Any]:
        """Where the upset landed: region, copy, byte, mask, kind, frame; tensor, bit and field in
        the weights (None elsewhere)."""
        region = next(r for r in self.regions if r.name == plan.region)
        where = ({"tensor": None, "bit": None, "field": None} if region.kind != "live" else
                 weight_bits(tensor_at(self.tensors, plan.offset), plan.offset, plan.mask))
        return {"region": plan.region, "copy": plan.copy, "offset": plan.offset, "mask": plan.mask,
                "kind": plan.kind, "at": plan.at, **where}


def _copy(region: Region, target: str) -> np.ndarray:
    """The bytes of one copy of ``region``: a TMR copy by number, else the named buffer."""
    return region.copies[int(target)] if target.isdigit() else getattr(region, target)


def execute_region_trial(bench: RegionBench, plan: RegionPlan, scrub_every: int) -> dict[str, Any]:
    """Run the frames with the planned upset; the trial's outcome and what it is based on (the
    regions are not restored here: :func:`restore`)."""
    cluster = bench.cluster
    mark, noticed_before = cluster.event_count(), cluster.noticed_counts()
    bench.pin_schedule()

    def before(frame: int) -> None:
        if frame == plan.at:
            bench.inject(plan)

    def after(frame: int) -> None:
        if scrub_every and (frame + 1) % scrub_every == 0:
            bench.scrub()

    tally = run_frames(bench, before, after)
    events = cluster.events_from(mark)
    repairs = [values for _, name, values in events if name == "UpsetRepaired"]
    uncorrectable = any(name == "UncorrectableError" for _, name, _ in events)
    noticed = cluster.noticed_counts() != noticed_before
    outcome = ("hang" if tally.lost else "sdc" if tally.wrong else "due" if tally.dropped or uncorrectable else
               "corrected" if repairs or noticed else "masked")
    exact = repairs == [[plan.region, plan.copy, plan.offset, bin(plan.mask).count("1")]] and not uncorrectable
    return {"outcome": outcome, "wrong_products": tally.wrong, "critical": tally.critical, "dropped": tally.dropped,
            "lost": tally.lost, "noticed": noticed, "repairs": len(repairs), "uncorrectable": uncorrectable,
            "repaired_exactly": exact if scrub_every else None, "latent": not bench.clean(),
            "off_schedule": sum(card is not None and card != bench.planned_card(frame)
                                for frame, card in enumerate(tally.cards))}


def restore(bench: RegionBench) -> None:
    """Every region bit-exact again by the flight's own paths (one scrubber pass: a repair, or an
    uncorrectable finding's recovery), the cluster whole; RuntimeError if a region is not clean."""
    bench.scrub()
    bench.cluster.make_whole()
    if not bench.clean():
        dirty = [r.name for r in bench.regions if not all(
            np.array_equal(_copy(r, t), bench.intended[r.name]) for t in r.targets())]
        raise RuntimeError(f"regions {dirty} not restored by the scrubber and their recovery")


def run_region_trial(config: dict[str, Any], index: int) -> dict[str, Any]:
    """Trial ``index`` of a regions campaign: its plan from (master seed, index) alone, run,
    classified; the regions restored and the cluster made whole afterwards, whatever happened (a
    bench that cannot be restored is replaced, and the trial fails)."""
    from campaign.executor import trial_seed

    bench = process_bench(RegionBench, Path(config["model"]), config["frames"], config["inputs_seed"], config["mode"])
    seed = trial_seed(config["seed"], index)
    plan = plan_region_upset(bench.regions, len(bench.tiles), seed, tuple(config["kinds"]), config["copies"])
    try:
        result = execute_region_trial(bench, plan, config["scrub_every"])
    finally:
        try:
            restore(bench)
        except Exception:
            discard_bench(bench)
            raise
    return {**bench.describe(plan), **result, "seed": seed}
