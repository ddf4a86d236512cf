"""Voter: concludes each frame from its cards' results, and decodes the output the model gave.

When every card a frame was sent to has answered, :meth:`Voter.conclude` decides what to deliver.
One result is delivered as it is. Two or three are voted:

- ``bitwise`` (identical deterministic cards, :func:`vote_bitwise`): word-level majority of the
  raw float32 outputs with the native vote (4-byte words: a float is right or wrong as a whole).
  A card whose output differs from the voted one disagrees; a word on which all three differ is
  uncorrectable and the frame is not delivered.
- ``tolerance`` (mixed providers, whose floats may differ in the last bits,
  :func:`vote_tolerance`): cards agree when their decisions agree (tile class and fire cells) and
  their floats are within ``rtol``/``atol``; the output of the majority is delivered.

Two outputs (DMR, or TMR degraded to two cards) agree or not; on disagreement nobody knows which
is wrong, so the voter sends the frame back to the scheduler for a third card (if one is READY),
else drops it as UNCORRECTABLE. A card outvoted ``disagreement_limit`` times in a row (a vote it
wins resets the count) is failed through the card supervisor. The delivered record is split into
the model's output arrays here, once, so the receiver of the results never decodes bytes.

The voter also learns, at start, the probe tile's reference output (from an in-process ONNX
Runtime session) against which a restarted card's probe result is compared.

| requirement | verified by |
| any corruption confined to one card's output is voted |   |
|   away, and that card named | tests/unit/payload/test_voter.py (hypothesis) |
| three pairwise-different outputs are uncorrectable | tests/unit/payload/test_voter.py |
| tolerance voting ignores float noise but not a changed decision | tests/unit/payload/test_voter.py |
| TMR votes a wrong card away and counts its disagreement | tests/system/test_cluster_engine.py |
| DMR asks a third card only when the two disagree | tests/system/test_cluster_engine.py |
| only disagreements in a row quarantine a card | tests/system/test_cluster_engine.py |
| results go out as the model's output arrays | tests/system/test_cluster_engine.py |
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

import native
from flight.payload.cluster.card_process import Card, CardState
from flight.payload.cluster.frames import DropReason, Frame

if TYPE_CHECKING:
    from flight.payload.cluster.engine import ClusterConfig
    from flight.payload.cluster.scheduler import Scheduler
    from flight.payload.cluster.supervisor import CardSupervisor


@dataclass(frozen=True)
class VoteOutcome:
    """What a vote decided: the output to deliver, and the cards it outvoted."""

    output: bytes | None          # None: no majority (uncorrectable, or two that disagree)
    disagreeing: frozenset[str]   # cards whose output was outvoted


def vote_bitwise(outputs: dict[str, bytes]) -> VoteOutcome:
    names = list(outputs)
    if len(names) == 1:
        return VoteOutcome(outputs[names[0]], frozenset())
    if len(names) == 2:
        a, b = (outputs[n] for n in names)
        return VoteOutcome(a, frozenset()) if a == b else VoteOutcome(None, frozenset())
    if len(names) != 3:
        raise ValueError(f"vote over {len(names)} outputs")
    result = native.vote3(*(outputs[n] for n in names), mode="word", word_size=4)
    if result.uncorrectable:
        return VoteOutcome(None, frozenset())
    return VoteOutcome(bytes(result.voted),
                       frozenset(n for n, d in zip(names, result.disagreements) if d))


def vote_tolerance(outputs: dict[str, bytes], decisions: Callable[[bytes], bytes],
                   rtol: float = 1e-3, atol: float = 1e-4) -> VoteOutcome:
    """``decisions(output)`` returns the bytes of what the output decides (class, fire cells)."""

    def agree(a: bytes, b: bytes) -> bool:
        return decisions(a) == decisions(b) and np.allclose(
            np.frombuffer(a, np.float32), np.frombuffer(b, np.float32), rtol=rtol, atol=atol)

    names = list(outputs)
    for name in names:
        supporters = [n for n in names if agree(outputs[name], outputs[n])]
        if 2 * len(supporters) > len(names):
            return VoteOutcome(outputs[name], frozenset(set(names) - set(supporters)))
    return VoteOutcome(None, frozenset())


class Voter:
    """Concludes frames (deliver, drop, or ask a third card), counts votes and disagreements, and
    decodes output records. Owned by the cluster thread, like the other parts."""

    def __init__(self, config: ClusterConfig, supervisor: CardSupervisor, scheduler: Scheduler,
                 deliver: Callable[[Frame, list[np.ndarray]], None],
                 drop: Callable[[Frame, DropReason], None],
                 on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self.config = config
        self.votes = 0
        self.disagreements = 0
        self.output_sizes: list[int] = []
        self.probe_reference = b""
        self._bounds: list[tuple[int, int]] = []  # each output's span in a record, in floats
        self._counts: dict[str, int] = {}  # disagreements in a row, by card
        self._cards = supervisor.cards
        self._supervisor = supervisor
        self._scheduler = scheduler
        self._deliver = deliver
        self._drop = drop
        self._on_event = on_event

    def learn_reference(self, model: bytes, probe: np.ndarray) -> None:
        """Run the model on the probe tile in this process: the output sizes, and the reference
        output a card's probe result must match."""
        outputs = run_once(model, probe)
        self.output_sizes = [int(np.prod(o.shape[1:])) for o in outputs]
        ends = np.cumsum(self.output_sizes).tolist()
        self._bounds = list(zip([0, *ends[:-1]], ends))
        self.probe_reference = record_of(outputs)

    def conclude(self, frame: Frame, now: float) -> None:
        """Deliver, drop or re-queue ``frame`` once every card it went to has answered."""
        if frame.dispatched or len(frame.results) < frame.copies:
            return
        if len(frame.results) == 1:  # nothing to vote on
            self._deliver(frame, self.split(next(iter(frame.results.values()))))
            return
        self.votes += 1
        outcome = (vote_bitwise(frame.results) if self.config.vote == "bitwise"
                   else vote_tolerance(frame.results, self.decisions))
        for name in outcome.disagreeing:
            self._disagreed(self._cards[name], frame, now)
        if outcome.output is not None:
            for name in set(frame.results) - outcome.disagreeing:  # agreed: the run is broken
                self._counts[name] = 0
            self._deliver(frame, self.split(outcome.output))
        elif len(frame.results) == 2 and self._supervisor.ready_cards(exclude=frame.results, model=frame.model):
            frame.copies = 3  # two that disagree: ask a third
            self._scheduler.enqueue(frame)
        else:
            self._drop(frame, DropReason.UNCORRECTABLE)

    def _disagreed(self, card: Card, frame: Frame, now: float) -> None:
        self.disagreements += 1
        card.errors += 1
        count = self._counts.get(card.name, 0) + 1
        self._counts[card.name] = count
        self._on_event("card_disagreed", {"card": card.name, "frame": frame.frame_id, "count": count})
        if count >= self.config.disagreement_limit and card.state is CardState.READY:
            self._supervisor.fail(card, f"outvoted {count} times", now)

    def matches_reference(self, record: bytes, reference: bytes | None = None) -> bool:
        """Whether a probe result agrees with ``reference`` (by default the reference output
        learned at start; tolerance: any provider)."""
        reference = self.probe_reference if reference is None else reference
        return vote_tolerance({"reference": reference, "card": record},
                              self.decisions).output is not None

    def forget_disagreements(self, card_name: str) -> None:
        """A readmitted card starts a new run of disagreements."""
        self._counts[card_name] = 0

    def split(self, record: bytes) -> list[np.ndarray]:
        """A frame's output record as the model's output arrays (float32, without the batch axis)."""
        values = np.frombuffer(record, np.float32)
        return [values[a:b] for a, b in self._bounds]

    def decisions(self, record: bytes) -> bytes:
        """What a record decides (:func:`decisions`)."""
        return decisions(self.split(record))


def run_once(model: bytes, tile: np.ndarray) -> list[np.ndarray]:
    """The model's outputs for one tile, computed in this process (CPU)."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: tile[None]})


def record_of(outputs: list[np.ndarray]) -> bytes:
    """The output record of the first frame of a batch of outputs (as a card sends it)."""
    return b"".join(np.ascontiguousarray(o[0], np.float32).tobytes() for o in outputs)


def decisions(outputs: list[np.ndarray]) -> bytes:
    """What a model's outputs decide: the argmax of the first and the second rounded to 0/1."""
    first, *rest = outputs
    return bytes([int(np.argmax(first))]) + b"".join((r >= 0.5).tobytes() for r in rest[:1])
