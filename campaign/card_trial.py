"""Card-fault trials: one card of the real inference cluster (worker processes) hangs, crashes,
answers wrong, slows down, latches up, loses its function (SEFI) or takes a total dose mid-stream,
and the products are compared with a fault-free run.

Each worker process of a campaign keeps one :class:`~campaign.cluster_bench.ClusterBench` (the
flight's cluster component with three card processes, the scrubber and parameter database, in
the campaign's mode, TMR by default) and its golden products: the fixed input tiles computed once
before any fault. A trial (:func:`run_card_trial`) plans, from its seed alone, a card, a fault
(the cluster's own, see flight.payload.cluster.card_worker and board: hang, crash, wrong, slow,
latchup, sefi, tid) and the frame it strikes before; submits the tiles one by one, each awaited up
to a watchdog. A latch-up draws no wrong product, so after the last frame the trial waits until
the flight has power-cycled the card or the board has burned (its burn time and a second more).
Then it clears the fault, fits a fresh simulated board (no dose; a burned one replaced) and waits
until every card is READY again, so the next trial starts from a whole cluster. Outcomes, the
first that applies:

- ``crash``: the cluster's own work raised (a contained failure counted by the engine) or its
  thread died;
- ``hang``: a frame neither delivered nor dropped within the watchdog (a lost frame);
- ``sdc``: a product whose class, fire cells, confidence or cloud fraction differ from the
  golden one;
- ``burned``: the latch-up was not cut in time: the board is destroyed (a card lost for good);
- ``due``: a frame dropped (withheld) by the cluster;
- ``corrected``: every product right, and the cluster noticed (a card outvoted or reset, read on
  the engine's own counts once its thread concluded the last frame, or a quarantine, over-current,
  degradation or switch-off event);
- ``masked``: every product right and nothing noticed (a slow card only delays the vote; a total
  dose of a few frames is too little to see).

The bench, the frame loop (:func:`run_frames`) and the per-process bench cache
(:func:`process_bench`) serve the region-upset trials too (campaign.region_trial).

| requirement | verified by |
|---|---|
| each fault in TMR gives whole, right products, each trial from a whole cluster |   |
|   | tests/system/test_card_trials.py, tests/system/test_campaign.py |
| a latch-up the flight does not cut is classified burned | tests/system/test_card_trials.py |
"""
from __future__ import annotations

import multiprocessing.util
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from campaign.cluster_bench import ClusterBench
from flight.messages import CardFault, Product
from flight.payload.cluster.board import Board, replace_board
from flight.payload.scene import SceneGenerator

CARD_FAULTS = ("hang", "crash", "wrong", "slow", "latchup", "sefi", "tid")
FACTORS = {"slow": 4.0, "latchup": 2.0, "tid": 25.0}   # 4x slower; 2 x active power more; +25 % per frame
NOTICED = ("CardQuarantined", "CardDisagreed", "CardSwitchedOff", "FrameDropped", "CardOverCurrent",
           "CardDegraded")
WATCHDOG_S = 20.0
Bench = TypeVar("Bench")


@dataclass(frozen=True)
class CardFaultPlan:
    card: str
    fault: str
    at: int

    @property
    def factor(self) -> float:
        return FACTORS.get(self.fault, 1.0)


class CardTrialBench:
    def __init__(self, model: Path, frames: int, inputs_seed: int, mode: str, **overrides: Any) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="card_trials_")
        self.boards = Path(self._folder.name) / "boards"   # the cluster component's RUN_DIR/boards
        self.cluster = ClusterBench(Path(self._folder.name), model, mode=mode, **overrides)
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


@dataclass
class FrameTally:
    """What came of a trial's frames: wrong products (``critical``: their tile class or fire cells
    differ too), frames dropped, frames lost (no answer within the watchdog), and the ``card``
    field of each product delivered (None for a frame without one)."""

    wrong: int = 0
    critical: int = 0
    dropped: int = 0
    lost: int = 0
    cards: list[int | None] = field(default_factory=list)


def _nothing(frame: int) -> None:
    pass


def run_frames(bench: CardTrialBench, before: Callable[[int], None],
               after: Callable[[int], None] = _nothing) -> FrameTally:
    """Each tile submitted in turn, ``before(frame)`` first and ``after(frame)`` once it is
    delivered, dropped or lost; each product compared with the golden one. Returns once the
    cluster thread has concluded the last frame."""
    tally = FrameTally()
    for frame, tile in enumerate(bench.tiles):
        before(frame)
        try:
            product = bench.cluster.frame(tile, timeout=WATCHDOG_S)
        except RuntimeError:
            product = None
            tally.lost += 1
        else:
            tally.dropped += product is None
        if product is not None and not same_product(product, bench.golden[frame]):
            golden = bench.golden[frame]
            tally.wrong += 1
            tally.critical += (product.tile_class != golden.tile_class
                               or not bool((product.fire_cells == golden.fire_cells).all()))
        tally.cards.append(None if product is None else product.card)
        after(frame)
    bench.cluster.sync()     # the cluster thread has concluded the last frames
    return tally


def execute_card_trial(bench: CardTrialBench, plan: CardFaultPlan) -> dict[str, Any]:
    cluster = bench.cluster
    engine = cluster.engine
    events_before, degraded_before = cluster.event_count(), engine.degraded
    counts_before, failures_before = cluster.noticed_counts(), engine.work_failures

    def inject(frame: int) -> None:
        if frame == plan.at:
            cluster.cluster.card_faults(CardFault(plan.card, plan.fault, plan.factor))
            cluster.sync()

    tally = run_frames(bench, inject)
    burned = _await_latch_up(bench, plan, counts_before) if plan.fault == "latchup" else False
    noticed = (cluster.noticed_counts() != counts_before
               or any(name in NOTICED for _, name, _ in cluster.events_from(events_before)))
    crashed = engine.work_failures != failures_before or not engine.running
    outcome = ("crash" if crashed else "hang" if tally.lost else "sdc" if tally.wrong else
               "burned" if burned else "due" if tally.dropped else "corrected" if noticed else "masked")
    _recover(bench, plan)
    return {"outcome": outcome, "card": plan.card, "fault": plan.fault, "at": plan.at,
            "wrong_products": tally.wrong, "dropped": tally.dropped, "lost": tally.lost, "noticed": noticed,
            "degraded": engine.degraded - degraded_before}


def _await_latch_up(bench: CardTrialBench, plan: CardFaultPlan, counts_before: tuple[int, ...]) -> bool:
    """Wait until the flight has power-cycled the latched card, or its board has burned out (the
    burn time and a second more at most); whether it burned."""
    cluster = bench.cluster
    deadline = time.monotonic() + cluster.engine.config.latchup_burn_s + 1.0
    board = bench.boards / f"{plan.card}.json"
    while time.monotonic() < deadline:
        if Board(board, 0.0).burned:
            return True
        if cluster.noticed_counts() != counts_before:
            return False
        time.sleep(0.01)
    return Board(board, 0.0).burned


def _recover(bench: CardTrialBench, plan: CardFaultPlan) -> None:
    """The fault cleared, every card's failure and disagreement history forgotten (a card the
    supervisor switched off powered on again) and every card READY: the next trial starts from a
    whole cluster, so a trial's outcome does not depend on the trials before it."""
    cluster = bench.cluster
    if cluster.engine.cards[plan.card].process is not None:
        try:
            cluster.cluster.card_faults(CardFault(plan.card, "clear", 1.0))
            cluster.sync()
        except Exception:   # the card went away meanwhile: it is restarted clean
            pass
    replace_board(bench.boards, plan.card)     # no dose left; a burned board replaced
    cluster.make_whole()


_BENCHES: dict[tuple, Any] = {}


def process_bench(factory: Callable[..., Bench], *args: Any) -> Bench:
    """This process's bench ``factory(*args)``: built on first use, kept for the next trials, closed
    when the process ends (its card processes and shared memory go with it)."""
    key = (factory, *args)
    if key not in _BENCHES:
        bench = factory(*args)
        multiprocessing.util.Finalize(bench, bench.close, exitpriority=10)
        _BENCHES[key] = bench
    return _BENCHES[key]


def discard_bench(bench: Any) -> None:
    """Close ``bench`` and forget it: the next trial of this process builds a new one."""
    for key in [k for k, v in _BENCHES.items() if v is bench]:
        del _BENCHES[key]
    bench.close()


def run_card_trial(config: dict[str, Any], index: int) -> dict[str, Any]:
    """Trial ``index`` of a card-fault campaign: its plan from (master seed, index) alone."""
    from campaign.executor import trial_seed

    bench = process_bench(CardTrialBench, Path(config["model"]), config["frames"], config["inputs_seed"],
                          config["mode"])
    seed = trial_seed(config["seed"], index)
    return {**execute_card_trial(bench, plan_card_fault(bench, seed, tuple(config["kinds"]))), "seed": seed}
