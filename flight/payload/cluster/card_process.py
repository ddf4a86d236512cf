"""Card: the flight's handle on one card worker: its process, state, load and measurements.

States: OFF -> STARTING (process spawned, waiting for HELLO with the right model CRC) -> PROBING
(a known test vector sent; its output must match the reference) -> READY (takes frames) <->
PARKED (powered down for power or temperature; takes no frames); a card loading a new model in
a model update comes back CANARY instead of READY (it computes copies of frames in shadow and
delivers nothing, flight.payload.cluster.model_swap). READY -> QUARANTINED (late,
crashed, silent, or outvoted too often): its process is killed, its frames in flight are given
back to the cluster, and it is restarted (STARTING again) unless it failed ``max_failures``
times within ``failure_window_s``, in which case it is switched OFF.

Owned by the cluster thread; telemetry reads plain attributes.
"""
from __future__ import annotations

import collections
import enum
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flight.core.log_files import child_log
from flight.payload.cluster.card_link import CardLink
from flight.payload.cluster.policies import ewma
from flight.payload.cluster.providers import choose_providers, not_taken
from flight.environment.thermal import ThermalModel


class CardState(enum.IntEnum):
    OFF = 0
    STARTING = 1
    PROBING = 2
    READY = 3
    PARKED = 4
    QUARANTINED = 5
    CANARY = 6       # runs a new model in shadow (model update): computes copies, delivers nothing


@dataclass(frozen=True)
class CardSpec:
    """A card as the topology configures it."""

    name: str
    providers: tuple = ("CPUExecutionProvider",)
    threads: int = 1
    capacity: int = 4              # requests outstanding at once: the pipeline depth
    max_batch: int = 1
    idle_w: float = 5.0
    active_w: float = 25.0
    thermal: dict[str, float] = field(default_factory=dict)
    overcurrent_w: float = 0.0     # above this the card is power-cycled at once; 0: 1.5 x active_w

    @property
    def overcurrent_limit_w(self) -> float:
        return self.overcurrent_w or 1.5 * self.active_w


@dataclass
class Request:
    id: int
    card: str
    frames: list[Any]
    sent_at: float
    deadline: float


class Card:
    LATENCY_ALPHA = 0.2
    EXIT_WAIT_S = 0.5     # how long exit_reason waits for the exit status of a process whose link closed
    SETTLED_AFTER = 8     # inferences before a card's latency estimate is compared with its peers'
    FIRST_RETRY_S = 0.5   # a card that could not be started is tried again after this ...
    MAX_RETRY_S = 60.0    # ... twice as long after each failure, at most this

    def __init__(self, spec: CardSpec, latency_prior: float) -> None:
        self.spec = spec
        self.name = spec.name
        self.state = CardState.OFF
        self.process: subprocess.Popen | None = None
        self.link: CardLink | None = None
        self.pid = 0
        self.requests: dict[int, Request] = {}
        self.latency = latency_prior
        self.latencies: collections.deque[float] = collections.deque(maxlen=256)
        self.inferences = 0
        self.errors = 0
        self.resets = 0
        self.failures: list[float] = []
        self.last_failure = ""  # why it was last quarantined
        self.busy_s = 0.0
        self.busy_at_power_step = 0.0
        self.utilization = 0.0
        self.last_heartbeat = 0.0
        self.state_since = 0.0
        self.thermal = ThermalModel(**spec.thermal)
        self.power_w = 0.0
        self.excess_w = 0.0     # the supply reading above the modelled load (a latch-up), from heartbeats
        self.degraded = False   # reported slower than its peers (CardDegraded)
        self.providers: list[str] = []  # what its worker is asked for (choose_providers)
        self.retry_at: float | None = None  # when to try to start it again (None: no retry due)
        self._retry_s = self.FIRST_RETRY_S

    # --- what the policies see ------------------------------------------------------------------
    @property
    def outstanding(self) -> int:
        return len(self.requests)

    @property
    def capacity(self) -> int:
        return self.spec.capacity

    def record_latency(self, seconds_per_frame: float, frames: int) -> None:
        self.latency = ewma(self.latency, seconds_per_frame, self.LATENCY_ALPHA)
        self.latencies.append(seconds_per_frame)
        self.busy_s += seconds_per_frame * frames
        self.inferences += frames

    def recent_latency(self) -> float:
        """The least of its last ``SETTLED_AFTER`` latencies: the card's own speed (the host's
        preemption only ever adds time to some frames; damage slows every frame)."""
        return min(list(self.latencies)[-self.SETTLED_AFTER:])

    def degradation(self, factor: float, peers_latency: float) -> bool | None:
        """True when the card became ``factor`` times slower than its peers (``peers_latency``: the
        median of their recent_latency; a host's load slows every card alike, a card's own damage
        only it), False when it is back under half that slowdown, None when neither changed."""
        ratio = self.recent_latency() / peers_latency
        if not self.degraded and ratio > factor:
            self.degraded = True
            return True
        if self.degraded and ratio < 1.0 + (factor - 1.0) / 2:
            self.degraded = False
            return False
        return None

    def latency_percentiles(self) -> tuple[float, float]:
        if not self.latencies:
            return 0.0, 0.0
        p50, p99 = np.percentile(list(self.latencies), [50, 99])
        return float(p50), float(p99)

    # --- its execution providers ---------------------------------------------------------------
    def choose_providers(self) -> list[str]:
        """Settle the providers its worker is asked for; the names this host's build lacks."""
        self.providers, missing = choose_providers(list(self.spec.providers))
        return missing

    def providers_not_taken(self, hello: dict[str, Any]) -> list[str]:
        """The wanted providers (but CPU) its session did not take, by its HELLO (e.g. CUDA in the
        build but its libraries missing): it runs on CPU instead."""
        return not_taken(self.providers, hello.get("providers", []))

    # --- the process ----------------------------------------------------------------------------
    def spawn(self, worker_config: dict[str, Any], max_message: int, now: float) -> CardLink:
        """Start the worker process on a new link; the link is the card's until :meth:`kill`.
        OSError (no descriptors, no memory, no process slots) leaves nothing open behind."""
        self.link = CardLink(max_message)
        config = dict(worker_config, name=self.name, threads=self.spec.threads, fd=self.link.worker_fd(),
                      active_w=self.spec.active_w,
                      providers=[list(p) if not isinstance(p, str) else p for p in self.providers],
                      log=child_log(self.name))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flight.payload.cluster.card_worker", "--config", json.dumps(config)],
                stdin=subprocess.DEVNULL, pass_fds=(self.link.worker_fd(),))
        except OSError:
            self.link.close()
            self.link = None
            raise
        self.link.spawned()
        self.pid = self.process.pid
        self.set_state(CardState.STARTING, now)
        self.last_heartbeat = now
        self.retry_at, self._retry_s = None, self.FIRST_RETRY_S
        return self.link

    def spawn_failed(self, now: float) -> float:
        """The process could not be started: wait (doubling each time) before the next try; the
        delay, in seconds."""
        delay = self._retry_s
        self.retry_at = now + delay
        self._retry_s = min(2 * delay, self.MAX_RETRY_S)
        self.set_state(CardState.QUARANTINED, now)
        return delay

    def kill(self) -> None:
        """Power-cycle: SIGKILL works on a stopped (hung) process too. The link is closed."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        self.process = None
        self.excess_w = 0.0     # power removed: a latch-up ends
        if self.link is not None:
            self.link.close()
            self.link = None

    def exit_reason(self) -> str:
        """Why its link closed: the process's exit status (a process closes its descriptors just
        before it exits, so this waits a moment for the status)."""
        try:
            return f"process exited with {self.process.wait(timeout=self.EXIT_WAIT_S)}"
        except subprocess.TimeoutExpired:
            return "link closed"

    def overcurrent(self) -> float | None:
        """The power it draws (W) when that passes its over-current limit (a latch-up), else None."""
        if not self.excess_w:
            return None
        reading = max(self.power_w, self.spec.idle_w) + self.excess_w
        return reading if reading > self.spec.overcurrent_limit_w else None

    def set_state(self, state: CardState, now: float) -> None:
        self.state = state
        self.state_since = now
