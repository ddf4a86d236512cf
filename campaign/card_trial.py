"""Card-fault trials: one card of the real inference cluster (worker processes) hangs, crashes,
answers wrong or slows down mid-stream, and the products are compared with a fault-free run.

Each worker process of a campaign keeps one :class:`~campaign.cluster_bench.ClusterBench` (the
flight's cluster component with three card processes, the scrubber and parameter database, in
the campaign's mode, TMR by default) and its golden products: the fixed input tiles computed once
before any fault. A trial (:func:`run_card_trial`) plans, from its seed alone, a card, a fault
(the cluster's own: hang, crash, wrong, slow) and the frame it strikes before; submits the tiles
one by one, each awaited up to a watchdog; then clears the fault and waits until every card is
READY again (the supervisor restarts or readmits it), so the next trial starts from a whole
cluster. Outcomes:

- ``hang``: a frame neither delivered nor dropped within the watchdog (a lost frame);
- ``sdc``: a product whose class, fire cells, confidence or cloud fraction differ from the
  golden one;
- ``due``: a frame dropped (withheld) by the cluster;
- ``corrected``: every product right, and the cluster noticed (a card outvoted or reset, read on
  the engine's own counts once its thread concluded the last frame, or a quarantine or switch-off
  event);
- ``masked``: every product right and nothing noticed.

| requirement | verified by |
|---|---|
| each of the four faults in TMR gives whole, right products, each trial from a whole cluster |   |
|   | tests/system/test_campaign.py |
"""
from __future__ import annotations

import multiprocessing.util
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaign.cluster_bench import ClusterBench
from flight.messages import CardFault, Product
from flight.payload.cluster.card_process import CardState
from flight.payload.scene import SceneGenerator

CARD_FAULTS = ("hang", "crash", "wrong", "slow")
NOTICED = ("CardQuarantined", "CardDisagreed", "CardSwitchedOff", "FrameDropped")
WATCHDOG_S = 20.0


@dataclass(frozen=True)
class CardFaultPlan:
    card: str
    fault: str
    at: int
    factor: float = 4.0


class CardTrialBench:
    def __init__(self, model: Path, frames: int, inputs_seed: int, mode: str) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="card_trials_")
        self.cluster = ClusterBench(Path(self._folder.name), model, mode=mode)
        scene = SceneGenerator(inputs_seed)
        self.tiles = [scene.tile(i) for i in range(frames)]
        self.golden = [self.cluster.frame(tile) for tile in self.tiles]
        if any(p is None for p in self.golden):
            raise RuntimeError("the fault-free run dropped a frame")

    def close(self) -> None:
        self.cluster.stop()
        self._folder.cleanup()

    @property
    def cards(self) -> list[str]:
        return list(self.cluster.engine.cards)


def same_product(a: Product, b: Product) -> bool:
    return (a.frame_id, a.tile_class, a.confidence, a.cloud_fraction) == (
        b.frame_id, b.tile_class, b.confidence, b.cloud_fraction) and bool((a.fire_cells == b.fire_cells).all())


def plan_card_fault(bench: CardTrialBench, seed: int, faults: tuple[str, ...]) -> CardFaultPlan:
    rng = random.Random(seed)
    cards = bench.cards
    return CardFaultPlan(cards[rng.randrange(len(cards))], faults[rng.randrange(len(faults))],
                         rng.randrange(len(bench.tiles)))


def execute_card_trial(bench: CardTrialBench, plan: CardFaultPlan) -> dict[str, Any]:
    cluster = bench.cluster
    engine = cluster.engine
    events_before, degraded_before = cluster.event_count(), engine.degraded
    counts_before = _counts(engine)
    wrong = dropped = lost = 0
    for frame, tile in enumerate(bench.tiles):
        if frame == plan.at:
            cluster.cluster.card_faults(CardFault(plan.card, plan.fault, plan.factor))
            cluster.sync()
        try:
            product = cluster.frame(tile, timeout=WATCHDOG_S)
        except RuntimeError:
            lost += 1
            continue
        if product is None:
            dropped += 1
        elif not same_product(product, bench.golden[frame]):
            wrong += 1
    cluster.sync()     # the cluster thread has concluded the last frames
    noticed = (_counts(engine) != counts_before          # the engine's own counts: its events may still be
               or any(name in NOTICED for _, name, _ in cluster.events_from(events_before)))   # queued
    outcome = ("hang" if lost else "sdc" if wrong else "due" if dropped else
               "corrected" if noticed else "masked")
    _recover(bench, plan)
    return {"outcome": outcome, "card": plan.card, "fault": plan.fault, "at": plan.at, "wrong_products": wrong,
            "dropped": dropped, "lost": lost, "noticed": noticed, "degraded": engine.degraded - degraded_before}


def _counts(engine: Any) -> tuple[int, ...]:
    """Disagreements voted and each card's resets: what the cluster noticed, read on its own state."""
    return (engine.voter.disagreements, *(card.resets for card in engine.cards.values()))


def _recover(bench: CardTrialBench, plan: CardFaultPlan) -> None:
    """The fault cleared, every card's failure and disagreement history forgotten (a card the
    supervisor switched off powered on again) and every card READY: the next trial starts from a
    whole cluster, so a trial's outcome does not depend on the trials before it."""
    cluster, engine = bench.cluster, bench.cluster.engine
    if engine.cards[plan.card].process is not None:
        try:
            cluster.cluster.card_faults(CardFault(plan.card, "clear", 1.0))
            cluster.sync()
        except Exception:   # the card went away meanwhile: it is restarted clean
            pass

    def whole() -> None:
        for name, card in engine.cards.items():
            card.failures = []
            engine.voter.forget_disagreements(name)
            if card.state is CardState.OFF:
                engine.reset_card(name, "campaign: the next trial")

    engine.call(whole)
    cluster.sync()
    cluster.wait_ready(timeout=120.0)


_BENCHES: dict[tuple, CardTrialBench] = {}


def run_card_trial(config: dict[str, Any], index: int) -> dict[str, Any]:
    """Trial ``index`` of a card-fault campaign: its plan from (master seed, index) alone."""
    from campaign.executor import trial_seed

    key = (config["model"], config["frames"], config["inputs_seed"], config["mode"])
    if key not in _BENCHES:
        bench = CardTrialBench(Path(config["model"]), config["frames"], config["inputs_seed"], config["mode"])
        multiprocessing.util.Finalize(bench, bench.close, exitpriority=10)   # card processes and shared
        _BENCHES[key] = bench                                                 # memory go with this process
    bench = _BENCHES[key]
    seed = trial_seed(config["seed"], index)
    return {**execute_card_trial(bench, plan_card_fault(bench, seed, tuple(config["kinds"]))), "seed": seed}
