"""Cluster: load-balanced inference over several card workers, with FDIR, voting and power limits.

The :class:`Cluster` is the facade the flight uses, and the one thread that owns all cluster state.
Its parts, each owned by that thread (no locks between them):

- :class:`~flight.payload.cluster.supervisor.CardSupervisor`: the card processes, their links and
  messages, their health (quarantine, reset, probe, readmission, switch-off), card commands;
- :class:`~flight.payload.cluster.scheduler.Scheduler`: the priority queue, dispatch to the cards
  by the balancing policy, batching, request deadlines, frame expiry, the hold rule;
- :class:`~flight.payload.cluster.voter.Voter`: concluding each frame from its results (TMR/DMR
  voting, disagreements) and decoding the output into the model's arrays;
- :class:`~flight.payload.cluster.power_manager.PowerManager`: power, temperature and parking;
- :class:`~flight.payload.cluster.model_swap.ModelSwap`: a model update's canary, commit and rollback.

Frames come in (from any thread) through :meth:`Cluster.submit`, which copies the tile into a free
shared-memory slot, or without a copy through :meth:`Cluster.get_buffer` and
:meth:`Cluster.submit_buffer` (the sensor writes its tile into the slot in place); the thread
admits them to the scheduler's queue. After every poll of the cards' links and its wake pipe the
thread runs the commands and new frames of its inbox, every ``HEALTH_PERIOD_S`` the health checks
and frame expiry, then dispatches. Each delivered frame goes to ``on_result(frame, outputs,
cards)``: the voted output record already split into the model's output arrays (float32, without
the batch axis), and the sorted names of the cards whose results made it. While the frame at the
head of the queue cannot be sent, the thread sleeps on its wake pipe alone for a while
(``Scheduler.hold_ms``): a card's result wakes nobody.

Accounting: every submitted frame is delivered, or dropped with a reason (QUEUE_FULL, DEADLINE,
UNCORRECTABLE, NO_CARD, SHUTDOWN), or still queued or in flight: ``submitted == delivered +
sum(dropped) + pending`` at all times.

| requirement | verified by |
| every frame is delivered or dropped with a counted reason | tests/system/test_cluster_engine.py |
| a sensor's tile written in place into a lent slot is computed from there | tests/system/test_cluster_engine.py |
"""
from __future__ import annotations

import itertools
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flight.core.completion import Pending
from flight.environment.power import PowerSystem
from flight.payload.cluster.card_process import Card, CardSpec
from flight.payload.cluster.model_swap import ModelSwap
from flight.payload.cluster.frames import DropReason, Frame, FrameBuffer, Mode
from flight.payload.cluster.policies import Policy
from flight.payload.cluster.power_manager import PowerManager
from flight.payload.cluster.scheduler import Scheduler
from flight.payload.cluster.slots import SlotPool
from flight.payload.cluster.supervisor import CardSupervisor
from flight.payload.cluster.voter import Voter
from flight.payload.cluster.weights import WeightStore


@dataclass
class ClusterConfig:
    """The cluster's settings, as the topology gives them (shared by all its parts)."""

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
    degraded_factor: float = 3.0        # a card this many times slower than its peers: CardDegraded
    boards_dir: str = ""                # the simulated boards' radiation state (flight.payload.cluster.board)
    latchup_burn_s: float = 5.0         # a simulated board left latched up this long burns out
    seed: int = 0


def _part(part: str, name: str, doc: str = "", writable: bool = False) -> Any:
    """An attribute of the cluster that is ``name`` of one of its parts (read-only unless ``writable``)."""
    setter = (lambda cluster, value: setattr(getattr(cluster, part), name, value)) if writable else None
    return property(lambda cluster: getattr(getattr(cluster, part), name), setter, doc=doc or None)


def _forward(part: str, method: str) -> Callable[..., Any]:
    """A command of the cluster that is ``method`` of its ``part`` (run in the cluster thread)."""
    def command(cluster: "Cluster", *args: Any, **kwargs: Any) -> Any:
        return getattr(getattr(cluster, part), method)(*args, **kwargs)
    command.__doc__ = f"{part}.{method}, in the cluster thread"
    return command


class Cluster:
    """The cluster's facade (thread-safe: ``submit``, buffers, ``call``) and its thread, which
    wires the parts together and keeps the frame accounting. Commands (``set_mode``,
    ``inject_fault``, ``reset_card``, ``power_off``, ``hold_card``, ``release_card``, ``set_safe``,
    ``step_power``, assigning ``policy``) must run in the cluster thread: pass them to
    :meth:`call`."""

    HEALTH_PERIOD_S = 0.01

    def __init__(self, config: ClusterConfig, cards: list[CardSpec],
                 on_result: Callable[[Frame, list[np.ndarray], list[str]], None],
                 on_event: Callable[[str, dict[str, Any]], None],
                 power: PowerSystem | None = None) -> None:
        self.config = config
        self.on_result = on_result
        self.on_event = on_event
        self.submitted = 0
        self.delivered = 0
        self.dropped = {reason: 0 for reason in DropReason}
        self.backpressure = False
        self.work_failures = 0  # work items of the thread that raised (contained)
        self.supervisor = CardSupervisor(config, cards, on_event)
        self.cards: dict[str, Card] = self.supervisor.cards
        self.scheduler = Scheduler(config, self.supervisor, self._drop, self.HEALTH_PERIOD_S)
        self.voter = Voter(config, self.supervisor, self.scheduler, self._deliver, self._drop, on_event)
        self.supervisor.connect(self.scheduler, self.voter)
        self.scheduler.connect(self.voter)
        self.power_manager = PowerManager(self.cards, power, on_event)
        self.swap = ModelSwap(config, self.supervisor, self.scheduler, self.voter, self._lend_slot,
                              self._return_slot, lambda: self._pending)
        self._inbox: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._pending: set[Frame] = set()
        self._stopping = False
        self._holding = False  # the thread is holding results back (see Scheduler.hold_ms)
        self._waited = True  # the last poll waited (so the next serves even without events)
        self._next_check = 0.0
        self._thread = threading.Thread(target=self._run, name="cluster", daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        config = self.config
        self.slots = SlotPool(config.slots + 1, config.tile_shape, config.tile_dtype)  # + the probe's
        probe = self.supervisor.place_probe(self.slots)
        self.voter.learn_reference(self.supervisor.model_bytes, probe)
        self.supervisor.image.probe_reference = self.voter.probe_reference
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._poller = select.poll()  # the wake pipe and the cards' links
        self._poller.register(self._wake_read, select.POLLIN)
        self._wake_poller = select.poll()  # the wake pipe alone, while results are held
        self._wake_poller.register(self._wake_read, select.POLLIN)
        self.supervisor.start(self.slots, self._poller, 4 * sum(self.voter.output_sizes))
        self._thread.start()

    def restart(self) -> bool:
        """Start the thread again if it died (everything it owns is kept); True if it had."""
        if self._thread.is_alive() or self._stopping:
            return False
        self._thread = threading.Thread(target=self._run, name="cluster", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self.call(self._begin_stop)
        self._thread.join(timeout=10)
        self.supervisor.stop()
        os.close(self._wake_read)
        os.close(self._wake_write)
        self.slots.close()

    def _begin_stop(self) -> None:
        self._stopping = True
        for frame in list(self._pending):
            self._drop(frame, DropReason.SHUTDOWN)

    # --- from other threads ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the cluster thread is alive (it is restarted by ``start`` after an escape)."""
        return self._thread.is_alive()

    def call(self, work: Callable[[], None]) -> Pending:
        """Run ``work`` in the cluster thread (commands, power steps); its outcome, once it ran.
        A work item that raises fails alone: the thread goes on (and reports it, :meth:`_contain`)."""
        pending = Pending()

        def run() -> None:
            try:
                work()
            except Exception as error:
                pending.finish(error)
                raise
            pending.finish()

        self._post(run, urgent=True)
        return pending

    def _post(self, work: Callable[[], None], urgent: bool) -> None:
        """Put ``work`` in the thread's inbox and wake the thread if it needs waking: not when the
        inbox was already waiting (that woke it), and while it holds results (see
        Scheduler.hold_ms) only for ``urgent`` work (commands), not for frames, which could not be
        sent yet anyway."""
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
        """The thread: poll the cards' links and the wake pipe, serve, hold. Whatever raises is
        contained: a card whose message cannot be handled is failed, any other error is counted
        and reported, and the loop goes on."""
        timeout = 0
        while not self._stopping:
            try:
                timeout = self._cycle(timeout)
            except Exception as error:
                self._contain(error)
                timeout = 0

    def _cycle(self, timeout: int) -> int:
        """One poll and what follows it; the poll timeout for the next, in ms."""
        wake, by_fd = self._wake_read, self.supervisor.by_fd
        events = self._poller.poll(timeout)  # one message per link: poll again for more
        for fd, _ in events:
            if fd == wake:
                os.read(wake, 4096)
                continue
            card = by_fd.get(fd)
            if card is not None:  # (not quarantined by an earlier message of this round)
                try:
                    self.supervisor.receive(card)
                except Exception as error:  # the card said something that cannot be handled
                    self._contain(error)
                    self.supervisor.fail(card, f"bad message: {type(error).__name__}: {error}",
                                         time.monotonic())
        if events or self._waited:
            self._serve(time.monotonic())
        if events:  # more may be waiting: look again (without waiting) before sleeping
            self._waited = False
            return 0
        self._waited = True
        hold_ms = self.scheduler.hold_ms()
        if hold_ms:  # saturated, and nothing waiting: sleep, then take what came meanwhile
            self._holding = True  # new frames need not wake us: they could not be sent yet
            self._wake_poller.poll(hold_ms)
            self._holding = False
            return 0
        return 20 if self.scheduler.queue else 50

    def _serve(self, now: float) -> None:
        """Commands and new frames, health checks, dispatch: after every poll."""
        with self._lock:
            work, self._inbox = self._inbox, []
        for item in work:
            try:
                item()
            except Exception as error:  # one work item fails; the thread and the others go on
                self._contain(error)
        if now >= self._next_check:  # health and expiry: every HEALTH_PERIOD_S, not per message
            self._next_check = now + self.HEALTH_PERIOD_S
            self.supervisor.check_cards(now)
            self.scheduler.expire(now)
            self.swap.check(now)
        self.scheduler.dispatch(now)
        supervisor, refresh_s = self.supervisor, self.config.refresh_s
        if refresh_s and now - supervisor.last_refresh > refresh_s:
            supervisor.refresh_sessions(now)

    def _contain(self, error: Exception) -> None:
        """A work item of the thread failed: count it and say so; nothing else stops."""
        self.work_failures += 1
        self.on_event("work_failed", {"detail": f"{type(error).__name__}: {error}"})

    def _admit(self, frame: Frame) -> None:
        self._pending.add(frame)
        frame.model = self.supervisor.image.generation
        if self._stopping:
            self._drop(frame, DropReason.SHUTDOWN)
        else:
            self.scheduler.enqueue(frame)
            self.swap.admitted(frame, time.monotonic())

    def _deliver(self, frame: Frame, outputs: list[np.ndarray]) -> None:
        self._finish(frame)
        self.delivered += 1
        self.swap.concluded(frame, outputs)
        self.on_result(frame, outputs, sorted(frame.results))

    def _drop(self, frame: Frame, reason: DropReason) -> None:
        self._finish(frame)
        self.swap.concluded(frame, None)
        self.dropped[reason] += 1
        self.on_event("frame_dropped", {"frame": frame.frame_id, "reason": reason.name})

    def _lend_slot(self, source: int) -> int | None:
        """A free slot holding a copy of slot ``source``'s tile (None: none free)."""
        with self._lock:
            slot = self.slots.acquire()
            self.backpressure = slot is None or self.slots.free < self.config.backpressure_free_slots
        if slot is not None:
            self.slots.array[slot] = self.slots.array[source]
        return slot

    def _return_slot(self, slot: int) -> None:
        with self._lock:
            self.slots.release(slot)
            self.backpressure = self.slots.free < self.config.backpressure_free_slots

    def _finish(self, frame: Frame) -> None:
        frame.finished = True
        self._pending.discard(frame)
        self._return_slot(frame.slot)

    # --- the parts' state and commands ----------------------------------------------------------
    mode: Mode = _part("scheduler", "mode", writable=True)
    policy: Policy = _part("scheduler", "policy", writable=True)

    # the parts' figures, read from any thread (plain attributes of the parts)
    power: PowerSystem | None = _part("power_manager", "power")
    weights: WeightStore | None = _part("supervisor", "weights", "the cards' live weights (None: optimized)")
    model_crc: int = _part("supervisor", "model_crc")
    redispatched: int = _part("supervisor", "redispatched")
    refreshes: int = _part("supervisor", "refreshes")
    probe_reference: bytes = _part("voter", "probe_reference")
    output_sizes: list[int] = _part("voter", "output_sizes")
    votes: int = _part("voter", "votes")
    disagreements: int = _part("voter", "disagreements")
    degraded: int = _part("scheduler", "degraded")

    def set_mode(self, mode: Mode, reason: str) -> None:
        if mode is not self.scheduler.mode:
            self.scheduler.mode = mode
            self.on_event("mode_changed", {"mode": mode.name, "reason": reason})

    # the parts' commands (CardSupervisor's and PowerManager's signatures)
    inject_fault = _forward("supervisor", "inject_fault")
    reset_card = _forward("supervisor", "reset_card")
    power_off = _forward("supervisor", "power_off")
    hold_card = _forward("power_manager", "hold")
    release_card = _forward("power_manager", "release")
    set_safe = _forward("power_manager", "set_safe")

    def step_power(self, mission_time: float, dt: float, wall_elapsed: float) -> None:
        """Advance power and thermal models by ``dt`` mission seconds; park or unpark cards."""
        self.power_manager.step(mission_time, dt, wall_elapsed)
