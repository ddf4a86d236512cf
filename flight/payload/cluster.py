"""Cluster: load-balanced inference over several card workers, with FDIR, voting and power limits.

One thread owns the cards' links (flight.payload.cards.link: one Unix datagram socket pair per
card worker; a card whose process ends reads as end-of-file at once, a restarted card gets a new
link) and all cluster state. Frames come in (from any thread) through :meth:`submit`, which
copies the tile into a free shared-memory slot, or without a copy through :meth:`get_buffer` and
:meth:`submit_buffer` (the sensor writes its tile into the slot in place); each is queued by
priority, then age. The thread dispatches each frame to the card(s) its mode asks for, picked by
the balancing policy among READY cards with room; it collects results, votes, and hands each
product to ``on_product``. While the frame at the head of the queue cannot be sent (every card it
could go to is full, with requests queued behind the one it computes), the thread takes results
on a timer instead of being woken by each (:meth:`_hold_ms`).

Modes: THROUGHPUT (one card), TMR (three distinct cards, outputs voted), DMR (two cards; a third
only when they disagree). With fewer READY cards than a mode needs, the frame runs on as many as
there are (counted as degraded).

Health: a card is quarantined when a request passes its deadline (``deadline_factor`` x its
latency x the frames ahead of it, at least ``min_deadline_s``), its process exits, its heartbeats
stop, it reports an error, or it is outvoted ``disagreement_limit`` times in a row (a vote it wins
resets the count). Its frames in flight go
back to the head of the queue; it is power-cycled (SIGKILL, restart), must say HELLO with the
model's CRC-32C, then pass a probe (a known tile whose reference output the flight computed at
start), and is readmitted. After ``max_failures`` failures within ``failure_window_s`` it is
switched OFF.

Accounting: every submitted frame is delivered, or dropped with a reason (QUEUE_FULL, DEADLINE,
UNCORRECTABLE, NO_CARD, SHUTDOWN), or still queued or in flight: ``submitted == delivered +
sum(dropped) + pending`` at all times.

| requirement | verified by |
| every frame is delivered or dropped with a counted reason; SIGKILL of a card loses none | tests/test_cluster.py |
| a hung, crashed or lying card is quarantined, reset, probed, readmitted | tests/test_cluster.py |
| a card failing repeatedly is switched off | tests/test_cluster.py |
| TMR votes a wrong card away and counts its disagreement | tests/test_cluster.py |
| priorities overtake bulk frames; expired frames are dropped as DEADLINE | tests/test_cluster.py |
| cards are parked rather than exceed the power budget or their temperature limit | tests/test_cluster.py |
| a sensor's tile written in place into a lent slot is computed from there | tests/test_cluster.py |
| results are held only while the head frame cannot be sent, never past a health check | tests/test_cluster.py |
| in TMR a card with room takes the frames behind one that waits for a full card | tests/test_cluster.py |
"""
from __future__ import annotations

import enum
import heapq
import itertools
import json
import os
import select
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort

from flight.payload.cards import protocol as msg
from flight.payload.cards.card import Card, CardSpec, CardState, Request
from flight.payload.cards.policies import make_policy
from flight.payload.cards.power import CardPower, PowerSystem, plan_active_cards
from flight.payload.cards.slots import SlotPool
from flight.payload.cards.voting import VoteOutcome, vote_bitwise, vote_tolerance
from flight.payload.cards.weights import WeightStore
from flight.payload.providers import choose_providers
from flight.payload.scene import SceneGenerator
from native import crc32c


class Mode(enum.IntEnum):
    THROUGHPUT = 0
    TMR = 1
    DMR = 2


MODE_COPIES = {Mode.THROUGHPUT: 1, Mode.TMR: 3, Mode.DMR: 2}  # cards that compute each frame


class DropReason(enum.IntEnum):
    QUEUE_FULL = 0
    DEADLINE = 1
    UNCORRECTABLE = 2
    NO_CARD = 3
    SHUTDOWN = 4


@dataclass(eq=False, slots=True)
class Frame:
    seq: int
    frame_id: int
    priority: int
    slot: int
    admitted: float
    deadline: float | None
    copies: int = 0
    results: dict[str, bytes] = field(default_factory=dict)
    dispatched: set[str] = field(default_factory=set)
    queued: bool = False
    finished: bool = False

    @property
    def key(self) -> tuple[int, int]:
        return (-self.priority, self.seq)


PROBE = "probe"


@dataclass(frozen=True)
class FrameBuffer:
    """A free frame slot lent to a sensor, which writes its tile into ``pixels`` (a view of the
    shared-memory slot the cards will read): no copy between the sensor and the cards."""

    slot: int
    pixels: np.ndarray


@dataclass
class ClusterConfig:
    model: Path
    tile_shape: tuple[int, ...] = (4, 256, 256)
    tile_dtype: str = "uint16"
    slots: int = 32
    policy: str = "earliest-finish"  # lowest p99 (and near-best rate) in tools/bench_inference.py 3, 4
    mode: Mode = Mode.THROUGHPUT
    vote: str = "bitwise"               # or "tolerance" for mixed providers
    heartbeat_s: float = 0.2
    heartbeat_timeout_s: float = 1.5
    start_timeout_s: float = 60.0
    deadline_factor: float = 10.0
    min_deadline_s: float = 1.0
    max_failures: int = 3
    failure_window_s: float = 600.0
    disagreement_limit: int = 3
    max_queue_delay_s: float = 0.005    # dynamic batching: how long a partial batch may wait
    frame_deadline_s: float = 0.0       # 0: frames never expire in the queue
    backpressure_free_slots: int = 2    # below this many free slots the sensor is told to wait
    weights: str = "live"               # "live": cards compute from scrubbed shared memory; "optimized"
    refresh_s: float = 0.0              # optimized: rebuild each card's session this often (0: never)
    weights_chunk: int = 4096           # bytes per CRC chunk of the live weights
    seed: int = 0


class Cluster:
    HEALTH_PERIOD_S = 0.01
    HOLD_FRACTION = 0.8
    EXIT_WAIT_S = 0.5

    def __init__(self, config: ClusterConfig, cards: list[CardSpec],
                 on_product: Callable[[Frame, bytes, list[str]], None],
                 on_event: Callable[[str, dict[str, Any]], None],
                 power: PowerSystem | None = None) -> None:
        self.config = config
        self.on_product = on_product
        self.on_event = on_event
        self.power = power
        self.mode = config.mode
        self.policy = make_policy(config.policy, config.seed)
        self.cards = {spec.name: Card(spec, latency_prior=0.005) for spec in cards}
        self.submitted = 0
        self.delivered = 0
        self.dropped = {reason: 0 for reason in DropReason}
        self.votes = 0
        self.disagreements = 0
        self.degraded = 0
        self.redispatched = 0
        self.backpressure = False
        self.model_bytes = Path(config.model).read_bytes()
        self.model_crc = crc32c(self.model_bytes)
        self._queue: list[tuple[tuple[int, int], Frame]] = []
        self._inbox: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._pending: set[Frame] = set()
        self._disagreement_counts: dict[str, int] = {}
        self._stopping = False
        self._holding = False  # the thread is holding results back (see _hold_ms)
        self._next_check = 0.0
        self._batching = any(spec.max_batch > 1 for spec in cards)
        self._thread = threading.Thread(target=self._run, name="cluster", daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        config = self.config
        # slot 0 holds the probe tile for the lifetime of the cluster
        self.slots = SlotPool(config.slots + 1, config.tile_shape, config.tile_dtype)
        self.probe_slot = self.slots.acquire()
        probe = SceneGenerator(seed=0x5EED, size=config.tile_shape[-1]).tile(0).pixels
        self.slots.write(self.probe_slot, probe)
        reference = ort.InferenceSession(self.model_bytes, providers=["CPUExecutionProvider"])
        outputs = reference.run(None, {reference.get_inputs()[0].name: probe[None]})
        self.output_sizes = [int(np.prod(o.shape[1:])) for o in outputs]
        self.probe_reference = self._record(outputs, 0)
        # the largest message the cards send: a RESULT (17-byte header) for the biggest batch
        biggest_batch = max((c.spec.max_batch for c in self.cards.values()), default=1)
        self.max_message = 64 + 4 * sum(self.output_sizes) * biggest_batch
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._poller = select.poll()
        self._poller.register(self._wake_read, select.POLLIN)
        self._wake_poller = select.poll()  # the wake pipe alone, while results are held
        self._wake_poller.register(self._wake_read, select.POLLIN)
        self._by_fd: dict[int, Card] = {}
        if config.weights not in ("live", "optimized"):
            raise ValueError(f"weights {config.weights!r} is neither live nor optimized")
        self.weights = (WeightStore(Path(config.model), self.model_crc, list(self.cards),
                                    config.weights_chunk) if config.weights == "live" else None)
        self._last_refresh = time.monotonic()
        self.refreshes = 0
        self.worker_config = {"model": str(Path(config.model).resolve()),
                              "shm_name": self.slots.name, "slot_count": self.slots.count,
                              "slot_shape": list(config.tile_shape), "slot_dtype": config.tile_dtype,
                              "heartbeat_s": config.heartbeat_s}
        now = time.monotonic()
        for card in self.cards.values():
            card.providers, missing = choose_providers(list(card.spec.providers))
            for provider in missing:
                self.on_event("provider_unavailable", {"card": card.name, "provider": provider})
            self._spawn(card, now)
        self._thread.start()

    def _spawn(self, card: Card, now: float) -> None:
        weights = {"weights": self.weights.worker_config(card.name)} if self.weights else {}
        link = card.spawn({**self.worker_config, **weights}, self.max_message, now)
        self._by_fd[link.fileno()] = card
        self._poller.register(link.fileno(), select.POLLIN)

    def _kill(self, card: Card) -> None:
        """Power-cycle the card's process and forget its link."""
        if card.link is not None:
            self._poller.unregister(card.link.fileno())
            del self._by_fd[card.link.fileno()]
        card.kill()

    def stop(self) -> None:
        self.call(self._begin_stop)
        self._thread.join(timeout=10)
        for card in self.cards.values():
            self._kill(card)
        os.close(self._wake_read)
        os.close(self._wake_write)
        self.slots.close()
        if self.weights is not None:
            self.weights.close()

    def _begin_stop(self) -> None:
        self._stopping = True
        for frame in list(self._pending):
            self._drop(frame, DropReason.SHUTDOWN)

    # --- from other threads ---------------------------------------------------------------------
    def call(self, work: Callable[[], None]) -> None:
        """Run ``work`` in the cluster thread (commands, power steps)."""
        self._post(work, urgent=True)

    def _post(self, work: Callable[[], None], urgent: bool) -> None:
        """Put ``work`` in the thread's inbox and wake the thread if it needs waking: not when the
        inbox was already waiting (that woke it), and while it holds results (see _hold_ms) only
        for ``urgent`` work (commands), not for frames, which could not be sent yet anyway."""
        with self._lock:
            wake = urgent if self._holding else not self._inbox
            self._inbox.append(work)
        if wake:
            self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"\0")
        except BlockingIOError:  # the pipe is full: the thread is awake anyway
            pass

    def get_buffer(self) -> FrameBuffer | None:
        """A free slot for a sensor to write its tile into, in place (None: every slot is taken,
        wait). Hand it back with :meth:`submit_buffer`, or :meth:`release_buffer` if unused."""
        with self._lock:
            slot = self.slots.acquire()
            self.backpressure = slot is None or self.slots.free < self.config.backpressure_free_slots
        return None if slot is None else FrameBuffer(slot, self.slots.view(slot))

    def release_buffer(self, buffer: FrameBuffer) -> None:
        with self._lock:
            self.slots.release(buffer.slot)
            self.backpressure = self.slots.free < self.config.backpressure_free_slots

    def submit_buffer(self, buffer: FrameBuffer, frame_id: int, priority: int = 0) -> None:
        """Admit the frame a sensor wrote into ``buffer`` (zero-copy ingest)."""
        now = time.monotonic()
        deadline = now + self.config.frame_deadline_s if self.config.frame_deadline_s else None
        frame = Frame(next(self._seq), frame_id, priority, buffer.slot, now, deadline)
        with self._lock:
            self.submitted += 1
        self._post(lambda: self._admit(frame), urgent=False)

    def submit(self, frame_id: int, pixels: np.ndarray, priority: int = 0) -> bool:
        """Copy a tile into a free slot and admit it (False: no free slot, counted as dropped
        QUEUE_FULL)."""
        buffer = self.get_buffer()
        if buffer is None:
            with self._lock:
                self.submitted += 1
                self.dropped[DropReason.QUEUE_FULL] += 1
            return False
        buffer.pixels[...] = pixels
        self.submit_buffer(buffer, frame_id, priority)
        return True

    @property
    def pending(self) -> int:
        return self.submitted - self.delivered - sum(self.dropped.values())

    # --- the thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        wake, by_fd = self._wake_read, self._by_fd
        timeout, waited = 0, True
        while not self._stopping:
            events = self._poller.poll(timeout)  # one message per link: poll again for more
            for fd, _ in events:
                if fd == wake:
                    os.read(wake, 4096)
                else:
                    card = by_fd.get(fd)
                    if card is not None:  # (not quarantined by an earlier message of this round)
                        self._receive(card)
            if events or waited:
                self._serve(time.monotonic())
            if events:  # more may be waiting: look again (without waiting) before sleeping
                timeout, waited = 0, False
                continue
            hold_ms = self._hold_ms()
            if hold_ms:  # saturated, and nothing waiting: sleep, then take what came meanwhile
                self._holding = True  # new frames need not wake us: they could not be sent yet
                self._wake_poller.poll(hold_ms)
                self._holding = False
                timeout = 0
            else:
                timeout = self._timeout_ms()
            waited = True

    def _serve(self, now: float) -> None:
        """Commands and new frames, health checks, dispatch: after every poll."""
        with self._lock:
            work, self._inbox = self._inbox, []
        for item in work:
            item()
        if now >= self._next_check:  # health and expiry: every HEALTH_PERIOD_S, not per message
            self._next_check = now + self.HEALTH_PERIOD_S
            self._check_cards(now)
            self._expire(now)
        self._dispatch(now)
        if self.config.refresh_s and now - self._last_refresh > self.config.refresh_s:
            self._refresh_sessions(now)

    def _refresh_sessions(self, now: float) -> None:
        """Optimized weights: every card rebuilds its session from the model file."""
        self._last_refresh = now
        for card in self._ready_cards():
            self._send_to(card, msg.REFRESH)
            self.refreshes += 1

    def _timeout_ms(self) -> int:
        return 20 if self._queue else 50

    def _hold_ms(self) -> int:
        """How long the cards' results may wait, in ms (0: not at all).

        While the frame at the head of the queue cannot be sent (fewer cards have room than it
        needs copies: one in THROUGHPUT, three in TMR), nothing can be dispatched until enough
        results come back, and each full card still has the requests queued behind the one it
        is computing. Then the thread sleeps on a timer (and on the wake pipe, for commands and
        new frames) instead of on the cards' links, for ``HOLD_FRACTION`` of the shortest work
        queued on a full card, and takes every result that came in at once: a card's RESULT
        wakes nobody. On this 2-core VM a wake-up across CPUs cost the card ~45 us per result,
        3-4 % of an inference. Out of saturation results are taken as they come.
        """
        if not self._queue or self._queue[0][1].finished:
            return 0
        head = self._queue[0][1]
        ready = [c for c in self.cards.values() if c.state is CardState.READY]
        if head.copies:
            needed = head.copies - len(head.results) - len(head.dispatched)
        else:
            needed = min(MODE_COPIES[self.mode], len(ready))
        full = [c for c in ready if c.outstanding >= c.capacity]
        if not full or len(ready) - len(full) >= needed:
            return 0  # the head frame can go now, or waits for something other than results
        hold = min(self.HEALTH_PERIOD_S, *(c.latency * (c.outstanding - 1) for c in full))
        return int(self.HOLD_FRACTION * hold * 1000)

    def _receive(self, card: Card) -> None:
        try:
            message = card.link.receive()
        except BlockingIOError:  # nothing after all
            return
        now = time.monotonic()
        if message is None:  # end-of-file: the process is gone (or closed its end)
            self._fail(card, self._exit_reason(card), now)
            return
        kind, body = msg.split(message)
        if kind == msg.RESULT:
            self._result(card, *msg.unpack_result(body), now)
        elif kind == msg.HEARTBEAT:
            card.last_heartbeat = now
        elif kind == msg.HELLO:
            self._hello(card, json.loads(body), now)
        elif kind == msg.ERROR:
            card.errors += 1
            request_id, text = msg.unpack_error(body)
            if request_id in card.requests or request_id == 0:  # 0: a failed refresh
                self._fail(card, f"error: {text}", now)

    def _hello(self, card: Card, hello: dict[str, Any], now: float) -> None:
        if card.state is not CardState.STARTING:
            return
        card.last_heartbeat = now
        if hello["model_crc32c"] != self.model_crc:
            self.on_event("model_crc_mismatch", {"card": card.name, "crc": hello["model_crc32c"],
                                                 "expected": self.model_crc})
            self._fail(card, "model CRC mismatch", now)
            return
        card.set_state(CardState.PROBING, now)
        self._send(card, [PROBE], now)

    def _record(self, outputs: list[np.ndarray], index: int) -> bytes:
        return b"".join(np.ascontiguousarray(o[index], np.float32).tobytes() for o in outputs)

    def split(self, record: bytes) -> list[np.ndarray]:
        """A frame's output record as the model's output arrays (without the batch axis)."""
        values = np.frombuffer(record, np.float32)
        bounds = np.cumsum([0, *self.output_sizes])
        return [values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def decisions(self, record: bytes) -> bytes:
        """What a record decides: the argmax of the first output and the rest rounded to 0/1."""
        first, *rest = self.split(record)
        return bytes([int(np.argmax(first))]) + b"".join((r >= 0.5).tobytes() for r in rest[:1])

    def _result(self, card: Card, request_id: int, compute_ns: int, records: bytes, now: float) -> None:
        request = card.requests.pop(request_id, None)
        if request is None:  # from before a reset, or after a quarantine: stale
            return
        size = len(records) // len(request.frames)
        if request.frames[0] is PROBE:
            outcome = vote_tolerance({"reference": self.probe_reference, card.name: records},
                                     self.decisions)
            if outcome.output is None:
                self._fail(card, "probe output wrong", now)
            else:
                card.set_state(CardState.READY, now)
                self._disagreement_counts[card.name] = 0
                self.on_event("card_ready", {"card": card.name, "resets": card.resets})
            return
        card.record_latency(compute_ns / 1e9 / len(request.frames), len(request.frames))
        for index, frame in enumerate(request.frames):
            frame.dispatched.discard(card.name)
            if frame.finished:
                continue
            frame.results[card.name] = records[index * size:(index + 1) * size]
            self._conclude(frame, now)

    def _conclude(self, frame: Frame, now: float) -> None:
        if frame.dispatched or len(frame.results) < frame.copies:
            return
        if len(frame.results) == 1:  # nothing to vote on
            self._deliver(frame, next(iter(frame.results.values())))
            return
        self.votes += 1
        outcome: VoteOutcome = (vote_bitwise(frame.results) if self.config.vote == "bitwise"
                                else vote_tolerance(frame.results, self.decisions))
        for name in outcome.disagreeing:
            self._disagreed(self.cards[name], frame, now)
        if outcome.output is not None:
            for name in set(frame.results) - outcome.disagreeing:  # agreed: the run is broken
                self._disagreement_counts[name] = 0
            self._deliver(frame, outcome.output)
        elif len(frame.results) == 2 and self._ready_cards(exclude=frame.results):
            frame.copies = 3  # two that disagree: ask a third
            self._enqueue(frame)
        else:
            self._drop(frame, DropReason.UNCORRECTABLE)

    def _disagreed(self, card: Card, frame: Frame, now: float) -> None:
        self.disagreements += 1
        card.errors += 1
        count = self._disagreement_counts.get(card.name, 0) + 1
        self._disagreement_counts[card.name] = count
        self.on_event("card_disagreed", {"card": card.name, "frame": frame.frame_id, "count": count})
        if count >= self.config.disagreement_limit and card.state is CardState.READY:
            self._fail(card, f"outvoted {count} times", now)

    def _deliver(self, frame: Frame, output: bytes) -> None:
        self._finish(frame)
        self.delivered += 1
        self.on_product(frame, output, sorted(frame.results))

    def _drop(self, frame: Frame, reason: DropReason) -> None:
        self._finish(frame)
        self.dropped[reason] += 1
        self.on_event("frame_dropped", {"frame": frame.frame_id, "reason": reason.name})

    def _finish(self, frame: Frame) -> None:
        frame.finished = True
        self._pending.discard(frame)
        with self._lock:
            self.slots.release(frame.slot)
            self.backpressure = self.slots.free < self.config.backpressure_free_slots

    def _admit(self, frame: Frame) -> None:
        self._pending.add(frame)
        if self._stopping:
            self._drop(frame, DropReason.SHUTDOWN)
        else:
            self._enqueue(frame)

    def _enqueue(self, frame: Frame) -> None:
        if not frame.queued:
            frame.queued = True
            heapq.heappush(self._queue, (frame.key, frame))

    # --- health -----------------------------------------------------------------------------
    def _check_cards(self, now: float) -> None:
        config = self.config
        for card in self.cards.values():
            if card.state in (CardState.OFF, CardState.QUARANTINED):
                continue
            if card.state is CardState.STARTING:  # (an exit shows as end-of-file on its link)
                if now - card.state_since > config.start_timeout_s:
                    self._fail(card, "did not start", now)
            elif now - card.last_heartbeat > config.heartbeat_timeout_s:
                self._fail(card, "heartbeat lost", now)
            elif any(now > r.deadline for r in card.requests.values()):
                self._fail(card, "inference late", now)

    def _fail(self, card: Card, reason: str, now: float) -> None:
        for request in card.requests.values():
            for frame in request.frames:
                if frame is PROBE or frame.finished:
                    continue
                frame.dispatched.discard(card.name)
                self.redispatched += 1
                self._enqueue(frame)
        card.requests.clear()
        self._kill(card)
        card.set_state(CardState.QUARANTINED, now)
        card.failures = [t for t in card.failures if now - t < self.config.failure_window_s] + [now]
        self.on_event("card_quarantined", {"card": card.name, "reason": reason})
        if len(card.failures) >= self.config.max_failures:
            card.set_state(CardState.OFF, now)
            self.on_event("card_off", {"card": card.name, "failures": len(card.failures)})
            return
        card.resets += 1
        self._spawn(card, now)

    # --- dispatch -------------------------------------------------------------------------------
    def _ready_cards(self, exclude: Any = ()) -> list[Card]:
        return [c for c in self.cards.values() if c.state is CardState.READY and c.name not in exclude]

    def _may_come_back(self, exclude: Any) -> bool:
        """Whether a card not in ``exclude`` is, or may become, READY (is not switched off)."""
        return any(c.state is not CardState.OFF and c.name not in exclude for c in self.cards.values())

    def _expire(self, now: float) -> None:
        if not self.config.frame_deadline_s or not self._queue:
            return
        expired = [f for _, f in self._queue if f.deadline is not None and now > f.deadline
                   and not f.dispatched and not f.results]
        if expired:
            for frame in expired:
                frame.queued = False
                self._drop(frame, DropReason.DEADLINE)
            self._queue = [(k, f) for k, f in self._queue if not f.finished]
            heapq.heapify(self._queue)

    def _copies_for(self, ready: int) -> int:
        wanted = MODE_COPIES[self.mode]
        if ready < wanted:
            self.degraded += 1
        return max(1, min(wanted, ready))

    def _dispatch(self, now: float) -> None:
        deferred: list[tuple[tuple[int, int], Frame]] = []  # redundant frames waiting for cards
        try:
            self._dispatch_queue(now, deferred)
        finally:
            for entry in deferred:
                heapq.heappush(self._queue, entry)

    def _dispatch_queue(self, now: float, deferred: list[tuple[tuple[int, int], Frame]]) -> None:
        """Send frames in queue order while cards have room. A frame whose copies cannot all go
        now (TMR, DMR) sends those that can and is set aside for this round, so that a card it
        has already been sent to takes the frames behind it: the cards of a redundant mode run
        ahead of each other by up to their pipeline depth instead of going in step."""
        while self._queue:
            frame = self._queue[0][1]
            if frame.finished:
                heapq.heappop(self._queue)
                continue
            ready = self._ready_cards()
            if not ready:
                if any(c.state is not CardState.OFF for c in self.cards.values()):
                    return  # wait for a card to come back
                heapq.heappop(self._queue)
                frame.queued = False
                self._drop(frame, DropReason.NO_CARD)
                continue
            if not any(c.outstanding < c.capacity for c in ready):
                return  # every card is full: nothing to do until a result comes back
            used = set(frame.results) | frame.dispatched
            candidates = [c for c in ready if c.name not in used]
            if frame.copies and not candidates and not self._may_come_back(used):
                heapq.heappop(self._queue)  # no other card will ever answer: settle with what we have
                frame.queued = False
                frame.copies = len(used)
                self.degraded += 1
                self._conclude(frame, now)
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
                deferred.append(heapq.heappop(self._queue))
                for card in chosen:
                    self._send(card, [frame], now)
                continue
            heapq.heappop(self._queue)
            frame.queued = False
            batch = [frame]
            if frame.copies == 1 and chosen[0].spec.max_batch > 1:
                batch += self._take_batch_companions(chosen[0].spec.max_batch - 1)
            for card in chosen:
                self._send(card, batch, now)

    def _should_wait_for_batch(self, frame: Frame, now: float, ready: list[Card]) -> bool:
        best = max((c.spec.max_batch for c in ready), default=1)
        return (best > 1 and frame.copies == 1 and len(self._queue) < best
                and now - frame.admitted < self.config.max_queue_delay_s)

    def _take_batch_companions(self, count: int) -> list[Frame]:
        companions = []
        while self._queue and len(companions) < count:
            frame = self._queue[0][1]
            if frame.finished:
                heapq.heappop(self._queue)
                continue
            if frame.results or frame.dispatched or frame.copies > 1 or (
                    not frame.copies and self.mode is not Mode.THROUGHPUT):
                break
            heapq.heappop(self._queue)
            frame.queued = False
            frame.copies = 1
            companions.append(frame)
        return companions

    def _send(self, card: Card, frames: list[Any], now: float) -> None:
        request_id = next(self._ids)
        ahead = sum(len(r.frames) for r in card.requests.values()) + len(frames)
        deadline = now + max(self.config.min_deadline_s,
                             self.config.deadline_factor * card.latency * ahead)
        card.requests[request_id] = Request(request_id, card.name, frames, now, deadline)
        slots = [self.probe_slot if f is PROBE else f.slot for f in frames]
        for frame in frames:
            if frame is not PROBE:
                frame.dispatched.add(card.name)
        self._send_to(card, msg.pack_infer(request_id, slots))

    def _send_to(self, card: Card, message: bytes) -> None:
        """Send on the card's link; a card that cannot take it (gone, or stopped with its queue
        full) is quarantined."""
        try:
            card.link.send(message)
        except BlockingIOError:
            self._fail(card, "unreachable: its queue is full", time.monotonic())
        except OSError:  # the other end is closed: the process is gone
            self._fail(card, self._exit_reason(card), time.monotonic())

    def _exit_reason(self, card: Card) -> str:
        """Why a card's link closed: its exit status (a process closes its descriptors just
        before it exits, so this waits a moment for the status)."""
        try:
            return f"process exited with {card.process.wait(timeout=self.EXIT_WAIT_S)}"
        except subprocess.TimeoutExpired:
            return "link closed"

    # --- commands (run in the cluster thread via call) ------------------------------------------
    def inject_fault(self, card_name: str, kind: str, factor: float = 4.0) -> None:
        card = self.cards[card_name]
        if card.process is None:
            raise ValueError(f"{card_name} has no process")
        self._send_to(card, msg.pack_json(msg.FAULT, {"kind": kind, "factor": factor}))

    def reset_card(self, card_name: str, reason: str = "reset by command") -> None:
        card = self.cards[card_name]
        card.failures = []
        if card.state is CardState.OFF:
            self._spawn(card, time.monotonic())
        else:
            self._fail(card, reason, time.monotonic())

    def power_off(self, card_name: str) -> None:
        card = self.cards[card_name]
        now = time.monotonic()
        if card.state is not CardState.OFF:
            self._fail(card, "switched off by command", now)
            self._kill(card)
            card.set_state(CardState.OFF, now)

    def set_mode(self, mode: Mode, reason: str) -> None:
        if mode is not self.mode:
            self.mode = mode
            self.on_event("mode_changed", {"mode": mode.name, "reason": reason})

    def step_power(self, mission_time: float, dt: float, wall_elapsed: float) -> None:
        """Advance power and thermal models by ``dt`` mission seconds; park or unpark cards."""
        payload_w = 0.0
        for card in self.cards.values():
            busy = card.busy_s - card.busy_at_power_step
            card.busy_at_power_step = card.busy_s
            utilization = min(1.0, busy / wall_elapsed) if wall_elapsed > 0 else 0.0
            card.utilization = utilization
            powered = card.state not in (CardState.OFF, CardState.PARKED, CardState.QUARANTINED)
            card.power_w = (card.spec.idle_w + (card.spec.active_w - card.spec.idle_w) * utilization
                            if powered else 0.0)
            card.thermal.step(card.power_w, dt)
            payload_w += card.power_w
        if self.power is None:
            return
        self.power.step(mission_time, payload_w, dt)
        budget = self.power.payload_budget_w(mission_time)
        candidates = sorted((c for c in self.cards.values()
                             if c.state in (CardState.READY, CardState.PARKED)),
                            key=lambda c: (c.thermal.temperature_c, c.latency))
        may_run, parked = plan_active_cards(
            [CardPower(c.name, c.spec.idle_w, c.spec.active_w, c.thermal.over_limit)
             for c in candidates], budget)
        now = time.monotonic()
        for card in candidates:
            if card.name in parked and card.state is CardState.READY:
                card.set_state(CardState.PARKED, now)
                self.on_event("card_parked", {"card": card.name,
                                              "reason": "hot" if card.thermal.over_limit else "power"})
            elif card.name in may_run and card.state is CardState.PARKED:
                card.set_state(CardState.READY, now)
                self.on_event("card_unparked", {"card": card.name})
