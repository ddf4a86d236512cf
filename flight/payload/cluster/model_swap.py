"""ModelSwap: a new model run as a canary on one card, then committed card by card, or rolled back.

The cluster thread's part of an in-orbit model update (the component's part, with the commands,
the slots and the durable record, is flight.payload.cluster.model_update):

- **Canary.** One card (the last one in service, or the one named) is power-cycled onto the new
  model (its own live weights, its own probe reference) and comes back CANARY: it takes no frames.
  Every frame admitted while the canary is short of ``frames`` results is also copied into a slot
  of its own and sent to the canary card (a :class:`CanaryShot`); the frame itself is computed as
  usual by the cards in service, and only their result is delivered. Once both results are known
  they are compared on what they decide (tile class and fire cells, ``voter.decisions``): more
  than ``max_disagreements`` disagreements, or any failure of the canary card, rolls back at once.
- **Commit** (automatic, after ``frames`` comparisons with no more disagreements than allowed):
  from then on new frames are tagged with the new model's generation and go only to cards that
  run it (the canary card first, back in service); frames admitted before run to the end on the
  cards that run the old model (the scheduler never mixes generations in one vote). When none is
  left, the other cards are power-cycled onto the new model one at a time, each only after the
  one before is back in service (or switched off), so frames keep flowing throughout.
- **Rollback** (automatic, or by command during the canary): the canary card is power-cycled
  back onto the model in service; nothing else ever ran the new one.

The outcome (``committed`` or ``rolled_back`` with the reason) is left in :attr:`outcome` for the
component, which makes it durable.

| requirement | verified by |
| a canary compares its card's decisions with the delivered ones, frame |   |
|   by frame | tests/system/test_model_update_cluster.py |
| a disagreeing canary is rolled back; the old model goes on flying on |   |
|   every card | tests/system/test_model_update_cluster.py |
| a clean canary commits card by card: every card runs the new model; no frame |   |
|   is lost and each product comes from one model, the old one before the commit |   |
|   point and the new one after | tests/system/test_model_update.py |
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flight.core.component import CommandRefused
from flight.payload.cluster.card_process import Card, CardState
from flight.payload.cluster.frames import CanaryShot, Frame
from flight.payload.cluster.supervisor import ModelImage
from flight.payload.cluster.voter import decisions, record_of, run_once
from flight.payload.cluster.weights import WeightStore
from native import crc32c

if TYPE_CHECKING:
    from flight.payload.cluster.engine import ClusterConfig
    from flight.payload.cluster.scheduler import Scheduler
    from flight.payload.cluster.supervisor import CardSupervisor
    from flight.payload.cluster.voter import Voter


class Phase(enum.IntEnum):
    IDLE = 0
    CANARY = 1
    COMMITTING = 2


@dataclass(frozen=True)
class CanaryPlan:
    """What to run as a canary: the staged model file and its CRC-32C, how many frames to compare,
    how many of them may disagree, and on which card ("": the last card in service)."""

    path: Path
    crc: int
    frames: int
    max_disagreements: int = 0
    card: str = ""


class ModelSwap:
    """Canary, commit and rollback of a new model. Owned by the cluster thread."""

    def __init__(self, config: ClusterConfig, supervisor: CardSupervisor, scheduler: Scheduler, voter: Voter,
                 lend_slot: Callable[[int], int | None], return_slot: Callable[[int], None],
                 pending: Callable[[], Iterable[Frame]]) -> None:
        self.config = config
        self.phase = Phase.IDLE
        self.image: ModelImage | None = None  # the new model
        self.card = ""                         # the canary card
        self.compared = 0
        self.disagreed = 0
        self.outcome: tuple[str, str] | None = None  # ("committed" | "rolled_back", detail), for the component
        self.retired: list[WeightStore] = []  # weights no card runs any more: the component frees them
        self._plan: CanaryPlan | None = None
        self._supervisor = supervisor
        self._cards = supervisor.cards
        self._scheduler = scheduler
        self._voter = voter
        self._lend_slot = lend_slot
        self._return_slot = return_slot
        self._pending = pending
        self._resets = 0
        self._open: dict[Frame, CanaryShot] = {}   # shots sent, not yet compared
        self._results: dict[Frame, bytes] = {}     # the canary's result, the frame not yet delivered
        self._expected: dict[Frame, bytes] = {}    # the delivered decisions, the canary's result not yet in
        self._lent: dict[int, CanaryShot] = {}     # slots holding a shot's tile
        self._switching = ""
        self._old: ModelImage | None = None  # the model in service before the commit
        supervisor.on_shot = self._shot_result

    # --- canary ---------------------------------------------------------------------------------
    def start_canary(self, plan: CanaryPlan) -> None:
        """Load the new model on the canary card (refused if an update is under way, or fewer than
        two cards are in service: the others must keep the frames flowing)."""
        if self.phase is not Phase.IDLE:
            raise CommandRefused(f"a model update is under way ({self.phase.name})")
        supervisor = self._supervisor
        ready = supervisor.ready_cards()
        if len(ready) < 2:
            raise CommandRefused(f"{len(ready)} card(s) in service: the canary needs another one to fly")
        name = plan.card or ready[-1].name
        if name not in {card.name for card in ready}:
            raise CommandRefused(f"{name} is not in service")
        model = plan.path.read_bytes()
        if crc32c(model) != plan.crc:
            raise CommandRefused(f"{plan.path.name} no longer has CRC-32C {plan.crc:08x}")
        weights = (WeightStore(plan.path, plan.crc, list(self._cards), self.config.weights_chunk)
                   if self.config.weights == "live" else None)
        self.image = ModelImage(plan.path, plan.crc, supervisor.image.generation + 1,
                                record_of(run_once(model, supervisor.probe)), weights)
        self._plan, self.card, self.compared, self.disagreed = plan, name, 0, 0
        supervisor.images[name] = self.image
        supervisor.canary_card = name
        supervisor.reset_card(name, "model update: the canary loads the new model")
        self._resets = self._cards[name].resets
        self.phase = Phase.CANARY

    def admitted(self, frame: Frame, now: float) -> None:
        """A new frame: a copy for the canary card, while it needs more and has room."""
        if self.phase is not Phase.CANARY or self.compared + len(self._open) >= self._plan.frames:
            return
        card = self._cards[self.card]
        if card.state is not CardState.CANARY or card.outstanding >= card.capacity:
            return
        slot = self._lend_slot(frame.slot)
        if slot is None:
            return
        shot = CanaryShot(frame, slot)
        self._lent[slot] = self._open[frame] = shot
        self._scheduler.send(card, [shot], now)

    def concluded(self, frame: Frame, outputs: list[np.ndarray] | None) -> None:
        """A frame was delivered with ``outputs`` (None: dropped)."""
        if frame not in self._open:
            return
        if outputs is None:
            del self._open[frame]
            self._results.pop(frame, None)
        elif frame in self._results:
            self._compare(frame, self._results.pop(frame), decisions(outputs))
        else:
            self._expected[frame] = decisions(outputs)

    def _shot_result(self, card: Card, shot: CanaryShot, record: bytes) -> None:
        self._release(shot)
        frame = shot.frame
        if self.phase is not Phase.CANARY or self._open.get(frame) is not shot:
            return
        if frame in self._expected:
            self._compare(frame, record, self._expected.pop(frame))
        else:
            self._results[frame] = record

    def _compare(self, frame: Frame, record: bytes, expected: bytes) -> None:
        del self._open[frame]
        self.compared += 1
        if self._voter.decisions(record) != expected:
            self.disagreed += 1
            if self.disagreed > self._plan.max_disagreements:
                self.rollback(f"the canary disagreed on {self.disagreed} of {self.compared} frames "
                              f"(last: frame {frame.frame_id}; {self._plan.max_disagreements} allowed)")

    def _release(self, shot: CanaryShot) -> None:
        if not shot.released:
            shot.released = True
            del self._lent[shot.slot]
            self._return_slot(shot.slot)

    def rollback(self, reason: str) -> None:
        """Put the canary card back on the model in service (refused but during a canary)."""
        if self.phase is not Phase.CANARY:
            raise CommandRefused(f"no canary to roll back ({self.phase.name})")
        supervisor = self._supervisor
        supervisor.images[self.card] = supervisor.image
        supervisor.canary_card = None
        supervisor.reset_card(self.card, f"model update rolled back: {reason}")
        for shot in list(self._lent.values()):  # (the card's process is gone: nothing reads them)
            self._release(shot)
        self._finish("rolled_back", reason, self.image)

    # --- each health check ----------------------------------------------------------------------
    def check(self, now: float) -> None:
        if self.phase is Phase.CANARY:
            card = self._cards[self.card]
            if card.resets != self._resets or card.state in (CardState.QUARANTINED, CardState.OFF):
                self.rollback(f"the canary card failed: {card.last_failure or card.state.name}")
            elif self.compared >= self._plan.frames and not self._lent:
                self._begin_commit(now)
        elif self.phase is Phase.COMMITTING:
            self._step_commit()

    def _begin_commit(self, now: float) -> None:
        """The commit point: new frames run on the new model (the canary card, in service now)."""
        supervisor = self._supervisor
        self._old = supervisor.image
        supervisor.image = self.image
        supervisor.canary_card = None
        card = self._cards[self.card]
        if card.state is CardState.CANARY:
            card.set_state(CardState.READY, now)
        self._voter.probe_reference = self.image.probe_reference
        self._switching = self.card
        self.phase = Phase.COMMITTING

    def _step_commit(self) -> None:
        """Once the old model's frames are done, power-cycle the next card onto the new model."""
        generation = self.image.generation
        if any(frame.model != generation for frame in self._pending()):
            return
        if self._cards[self._switching].state in (CardState.STARTING, CardState.PROBING, CardState.QUARANTINED):
            return
        images = self._supervisor.images
        waiting = [card for card in self._cards.values() if images[card.name] is not self.image]
        if not waiting:
            self._finish("committed", f"{self.image.crc:08x}", self._old)
            return
        card = waiting[0]
        images[card.name] = self.image
        self._switching = card.name
        if card.state is not CardState.OFF:  # (one switched off boots the new model when reset)
            self._supervisor.reset_card(card.name, "model update: loading the new model")

    def _finish(self, outcome: str, detail: str, retired: ModelImage) -> None:
        if retired.weights is not None:
            self.retired.append(retired.weights)
        self._open.clear()
        self._results.clear()
        self._expected.clear()
        self.phase = Phase.IDLE
        self.outcome = (outcome, detail)
