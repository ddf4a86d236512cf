"""Scheduler: the cluster's queue of frames, and which card computes which frame when.

Frames wait in a priority queue (higher priority first, then older first). After every poll the
cluster thread calls :meth:`Scheduler.dispatch`, which sends frames in queue order to the cards
their mode asks for (THROUGHPUT one, TMR three distinct, DMR two), picked by the balancing policy
(flight.payload.cluster.policies) among READY cards with room. With fewer READY cards than a mode
needs, a frame runs on as many as there are (counted as degraded). A redundant frame whose
copies cannot all go now sends those that can and waits for the rest, so the cards run ahead of
each other by their pipeline depth instead of going in step. Cards with ``max_batch > 1`` get
frames in batches; a partial batch waits up to ``max_queue_delay_s`` for companions.

Each request gets a deadline: ``deadline_factor`` x the card's latency x the frames ahead of it
on that card, at least ``min_deadline_s`` (the card supervisor fails a card that misses one).
Frames older than ``frame_deadline_s`` that no card has taken are dropped as DEADLINE. While the
frame at the head of the queue cannot be sent, the thread takes results on a timer instead of
being woken by each (:meth:`Scheduler.hold_ms`).

| requirement | verified by |
| priorities overtake bulk frames; expired frames are dropped as DEADLINE | tests/system/test_cluster_engine.py |
| dynamic batching sends several frames per request, each comes back right | tests/system/test_cluster_engine.py |
| results are held only while the head frame cannot be |   |
|   sent, never past a health check | tests/system/test_cluster_engine.py |
| in TMR a card with room takes the frames behind one that waits for a full card | tests/system/test_cluster_engine.py |
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flight.payload.cluster import card_protocol as msg
from flight.payload.cluster.card_process import Card, CardState, Request
from flight.payload.cluster.frames import MODE_COPIES, PROBE, DropReason, Frame, Mode
from flight.payload.cluster.policies import Policy, make_policy

if TYPE_CHECKING:
    from flight.payload.cluster.engine import ClusterConfig
    from flight.payload.cluster.supervisor import CardSupervisor
    from flight.payload.cluster.voter import Voter

QueueEntry = tuple[tuple[int, int], Frame]


class Scheduler:
    """The queue, the dispatch of frames to cards (policy, batching, redundancy), request
    deadlines, frame expiry and the hold rule. Owned by the cluster thread."""

    HOLD_FRACTION = 0.8

    def __init__(self, config: ClusterConfig, supervisor: CardSupervisor,
                 drop: Callable[[Frame, DropReason], None], max_hold_s: float) -> None:
        self.config = config
        self.mode: Mode = config.mode
        self.policy: Policy = make_policy(config.policy, config.seed)
        self.queue: list[QueueEntry] = []
        self.degraded = 0
        self.max_hold_s = max_hold_s  # results are never held longer (the health check period)
        self._cards = supervisor.cards
        self._supervisor = supervisor
        self._drop = drop
        self._voter: Voter | None = None
        self._ids = itertools.count(1)
        self._batching = any(card.spec.max_batch > 1 for card in self._cards.values())

    def connect(self, voter: Voter) -> None:
        """The voter concludes a frame that no other card will ever compute."""
        self._voter = voter

    def enqueue(self, frame: Frame) -> None:
        if not frame.queued:
            frame.queued = True
            heapq.heappush(self.queue, (frame.key, frame))

    def expire(self, now: float) -> None:
        """Drop the frames past their deadline that no card has taken."""
        if not self.config.frame_deadline_s or not self.queue:
            return
        expired = [f for _, f in self.queue if f.deadline is not None and now > f.deadline
                   and not f.dispatched and not f.results]
        if expired:
            for frame in expired:
                frame.queued = False
                self._drop(frame, DropReason.DEADLINE)
            self.queue = [(k, f) for k, f in self.queue if not f.finished]
            heapq.heapify(self.queue)

    def _copies_for(self, ready: int) -> int:
        """How many cards compute a new frame, with ``ready`` cards READY (fewer: degraded)."""
        wanted = MODE_COPIES[self.mode]
        if ready < wanted:
            self.degraded += 1
        return max(1, min(wanted, ready))

    def dispatch(self, now: float) -> None:
        """Send frames while cards have room."""
        deferred: list[QueueEntry] = []  # redundant frames waiting for cards
        try:
            self._dispatch_queue(now, deferred)
        finally:
            for entry in deferred:
                heapq.heappush(self.queue, entry)

    def _dispatch_queue(self, now: float, deferred: list[QueueEntry]) -> None:
        """Send frames in queue order while cards have room. A frame whose copies cannot all go
        now (TMR, DMR) sends those that can and is set aside for this round, so that a card it
        has already been sent to takes the frames behind it: the cards of a redundant mode run
        ahead of each other by up to their pipeline depth instead of going in step."""
        supervisor = self._supervisor
        while self.queue:
            frame = self.queue[0][1]
            if frame.finished:
                heapq.heappop(self.queue)
                continue
            ready = supervisor.ready_cards(model=frame.model)  # never two models in one vote
            if not ready:
                if supervisor.may_come_back(()):
                    return  # wait for a card to come back
                self._take_head(frame)
                self._drop(frame, DropReason.NO_CARD)
                continue
            if not any(c.outstanding < c.capacity for c in ready):
                return  # every card is full: nothing to do until a result comes back
            used = set(frame.results) | frame.dispatched
            candidates = [c for c in ready if c.name not in used]
            if frame.copies and not candidates and not supervisor.may_come_back(used):
                self._settle(frame, len(used), now)  # no other card will ever answer
                continue
            if not frame.copies:
                if not candidates:
                    return
                frame.copies = self._copies_for(len(ready))
            needed = frame.copies - len(used)
            if needed > len(candidates):
                if len(ready) < frame.copies and candidates:
                    frame.copies = len(used) + len(candidates)  # fewer cards than the mode asks
                    self.degraded += 1
                    needed = len(candidates)
                else:
                    return  # wait for cards to come back
            if self._batching and self._should_wait_for_batch(frame, now, ready):
                return
            chosen = []
            for _ in range(needed):
                card = self.policy.choose([c for c in candidates if c not in chosen])
                if card is None:
                    break
                chosen.append(card)
            if len(chosen) < needed:
                if frame.copies == 1:
                    return  # wait for room
                deferred.append(heapq.heappop(self.queue))
                for card in chosen:
                    self.send(card, [frame], now)
                continue
            heapq.heappop(self.queue)
            frame.queued = False
            batch = [frame]
            if frame.copies == 1 and chosen[0].spec.max_batch > 1:
                batch += self._take_batch_companions(chosen[0].spec.max_batch - 1, frame.model)
            for card in chosen:
                self.send(card, batch, now)

    def _take_head(self, frame: Frame) -> None:
        """Take ``frame``, the head of the queue, out of the queue."""
        heapq.heappop(self.queue)
        frame.queued = False

    def _settle(self, frame: Frame, copies: int, now: float) -> None:
        """Conclude the head frame with the ``copies`` cards it has reached (degraded)."""
        self._take_head(frame)
        frame.copies = copies
        self.degraded += 1
        self._voter.conclude(frame, now)

    def _should_wait_for_batch(self, frame: Frame, now: float, ready: list[Card]) -> bool:
        best = max((c.spec.max_batch for c in ready), default=1)
        return (best > 1 and frame.copies == 1 and len(self.queue) < best
                and now - frame.admitted < self.config.max_queue_delay_s)

    def _take_batch_companions(self, count: int, model: int) -> list[Frame]:
        companions = []
        while self.queue and len(companions) < count:
            frame = self.queue[0][1]
            if frame.finished:
                heapq.heappop(self.queue)
                continue
            if frame.results or frame.dispatched or frame.copies > 1 or frame.model != model or (
                    not frame.copies and self.mode is not Mode.THROUGHPUT):
                break
            heapq.heappop(self.queue)
            frame.queued = False
            frame.copies = 1
            companions.append(frame)
        return companions

    def send(self, card: Card, frames: list[Any], now: float) -> None:
        """Send ``frames`` (or ``[PROBE]``) to ``card`` as one request, with its deadline."""
        request_id = next(self._ids)
        ahead = sum(len(r.frames) for r in card.requests.values()) + len(frames)
        deadline = now + max(self.config.min_deadline_s,
                             self.config.deadline_factor * card.latency * ahead)
        card.requests[request_id] = Request(request_id, card.name, frames, now, deadline)
        slots = [self._supervisor.probe_slot if f is PROBE else f.slot for f in frames]  # (a CanaryShot's own)
        for frame in frames:
            if frame is not PROBE:
                frame.dispatched.add(card.name)
        self._supervisor.send_to(card, msg.pack_infer(request_id, slots))

    def hold_ms(self) -> int:
        """How long the cards' results may wait, in ms (0: not at all).

        While the frame at the head of the queue cannot be sent (fewer cards have room than it
        needs copies: one in THROUGHPUT, three in TMR), nothing can be dispatched until enough
        results come back, and each full card still has the requests queued behind the one it
        is computing. Then the thread sleeps on a timer (and on the wake pipe, for commands and
        new frames) instead of on the cards' links, for ``HOLD_FRACTION`` of the shortest work
        queued on a full card (at most ``max_hold_s``), and takes every result that came in at
        once: a card's RESULT wakes nobody. On this 2-core VM a wake-up across CPUs cost the card
        ~45 us per result, 3-4 % of an inference. Out of saturation results are taken as they come.
        """
        if not self.queue or self.queue[0][1].finished:
            return 0
        head = self.queue[0][1]
        ready = [c for c in self._cards.values() if c.state is CardState.READY]
        if head.copies:
            needed = head.copies - len(head.results) - len(head.dispatched)
        else:
            needed = min(MODE_COPIES[self.mode], len(ready))
        full = [c for c in ready if c.outstanding >= c.capacity]
        if not full or len(ready) - len(full) >= needed:
            return 0  # the head frame can go now, or waits for something other than results
        hold = min(self.max_hold_s, *(c.latency * (c.outstanding - 1) for c in full))
        return int(self.HOLD_FRACTION * hold * 1000)
