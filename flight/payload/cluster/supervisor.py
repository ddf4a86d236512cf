"""CardSupervisor: the cards' processes, their links, their messages and their health (FDIR).

Each card worker is a process (flight.payload.cluster.card_process) with its own link
(flight.payload.cluster.card_link: one Unix datagram socket pair; a card whose process ends reads
as end-of-file at once, a restarted card gets a new link), registered in the cluster thread's
poller. The supervisor decodes what the cards send: RESULT (handed to the voter frame by frame),
HEARTBEAT, HELLO, ERROR.

Health: a card is quarantined when a request passes its deadline (set by the scheduler), its
process exits, its heartbeats stop, it reports an error, or the voter finds it outvoted too often.
Its frames in flight go back to the head of the queue; it is power-cycled (SIGKILL, restart),
must say HELLO with the model's CRC-32C, then pass a probe (a known tile whose reference output
the flight computed at start), and is readmitted. After ``max_failures`` failures within
``failure_window_s`` it is switched OFF. With optimized weights every card rebuilds its session
from the model file every ``refresh_s``; a card that refuses (the file changed) is quarantined.

| requirement | verified by |
| a card SIGKILLed mid-run loses no frame: its frames in |   |
|   flight go back to the queue | tests/system/test_cluster_engine.py |
| a hung, crashed or lying card is quarantined, reset, probed, readmitted | tests/system/test_cluster_engine.py |
| a card failing repeatedly is switched off | tests/system/test_cluster_engine.py |
| a card whose model CRC does not match is refused | tests/system/test_cluster_engine.py |
| optimized weights are refreshed; a refresh from a changed file is refused | tests/system/test_cluster_engine.py |
| an unavailable provider falls back to the next one, with an event | tests/system/test_cluster_engine.py |
| a provider the card's session did not take (HELLO) is reported | tests/unit/payload/test_providers.py, |
|   | tests/system/test_card_providers.py |
"""
from __future__ import annotations

import json
import select
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flight.core.component import CommandRefused
from flight.payload.cluster import card_protocol as msg
from flight.payload.cluster.board import replace_board
from flight.payload.cluster.card_process import Card, CardSpec, CardState
from flight.payload.cluster.frames import PROBE, CanaryShot
from flight.payload.cluster.slots import SlotPool
from flight.payload.cluster.weights import WeightStore
from flight.payload.scene import SceneGenerator
from native import crc32c

if TYPE_CHECKING:
    from flight.payload.cluster.engine import ClusterConfig
    from flight.payload.cluster.scheduler import Scheduler
    from flight.payload.cluster.voter import Voter


@dataclass
class ModelImage:
    """A model the cards may run: its file and CRC-32C, its generation (frames are tagged with the
    generation that computes them: a model update never mixes two in a vote), the probe's
    reference output under it, and its live weights (None: optimized weights)."""

    path: Path
    crc: int
    generation: int = 0
    probe_reference: bytes = b""
    weights: WeightStore | None = None


class CardSupervisor:
    """Spawns, watches, fails, restarts and switches off the cards; receives their messages.
    Owned by the cluster thread."""

    LATENCY_PRIOR_S = 0.005  # a card's latency estimate before its first result

    def __init__(self, config: ClusterConfig, specs: list[CardSpec],
                 on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self.config = config
        self.cards = {spec.name: Card(spec, latency_prior=self.LATENCY_PRIOR_S) for spec in specs}
        self.by_fd: dict[int, Card] = {}  # the cards by their link's descriptor
        self.model_bytes = Path(config.model).read_bytes()
        self.image = ModelImage(Path(config.model), crc32c(self.model_bytes))  # new frames run on it
        self.images = {name: self.image for name in self.cards}  # the model each card runs (an update: not all alike)
        self.canary_card: str | None = None  # the card that runs a new model in shadow (takes no frames)
        self.on_shot: Callable[[Card, CanaryShot, bytes], None] = lambda card, shot, record: None
        self.probe_slot = 0
        self.probe: np.ndarray | None = None
        self.redispatched = 0
        self.refreshes = 0
        self.last_refresh = 0.0
        self.max_message = 0  # bytes: the largest message a card may send
        self.worker_config: dict[str, Any] = {}  # what every card worker is started with
        self._on_event = on_event
        self._poller: select.poll | None = None  # the cluster thread's (which also polls its wake pipe)
        self._scheduler: Scheduler | None = None
        self._voter: Voter | None = None

    def connect(self, scheduler: Scheduler, voter: Voter) -> None:
        """The scheduler sends probes and takes back a failed card's frames; the voter concludes
        frames from results and checks probes."""
        self._scheduler = scheduler
        self._voter = voter

    # --- lifecycle ------------------------------------------------------------------------------
    def place_probe(self, slots: SlotPool) -> np.ndarray:
        """Write the probe tile into a slot of its own, for the lifetime of the cluster."""
        self.probe_slot = slots.acquire()
        probe = SceneGenerator(seed=0x5EED, size=self.config.tile_shape[-1]).tile(0).pixels
        slots.write(self.probe_slot, probe)
        self.probe = probe
        return probe

    @property
    def model_crc(self) -> int:
        """The CRC-32C of the model new frames run on."""
        return self.image.crc

    @property
    def weights(self) -> WeightStore | None:
        """The live weights of the model new frames run on (None: optimized)."""
        return self.image.weights

    def start(self, slots: SlotPool, poller: select.poll, record_bytes: int) -> None:
        """Spawn every card; ``record_bytes``: the size of one frame's output record."""
        config = self.config
        # the largest message the cards send: a RESULT (17-byte header) for the biggest batch
        biggest_batch = max((c.spec.max_batch for c in self.cards.values()), default=1)
        self.max_message = 64 + record_bytes * biggest_batch
        self._poller = poller
        if config.weights not in ("live", "optimized"):
            raise ValueError(f"weights {config.weights!r} is neither live nor optimized")
        self.image.weights = (WeightStore(Path(config.model), self.model_crc, list(self.cards),
                                          config.weights_chunk) if config.weights == "live" else None)
        self.last_refresh = time.monotonic()
        self.worker_config = {"model": str(Path(config.model).resolve()),
                              "shm_name": slots.name, "slot_count": slots.count,
                              "slot_shape": list(config.tile_shape), "slot_dtype": config.tile_dtype,
                              "heartbeat_s": config.heartbeat_s, "boards_dir": config.boards_dir,
                              "burn_s": config.latchup_burn_s}
        now = time.monotonic()
        for card in self.cards.values():
            for provider in card.choose_providers():
                self._on_event("provider_unavailable", {"card": card.name, "provider": provider})
            self._spawn(card, now)

    def stop(self) -> None:
        """Kill every card's process (after the cluster thread has ended); free the weights."""
        for card in self.cards.values():
            self._kill(card)
        stores = {id(i.weights): i.weights for i in (self.image, *self.images.values()) if i.weights is not None}
        for store in stores.values():
            store.close()

    def _spawn(self, card: Card, now: float) -> None:
        """Start the card's process; if the host lacks the resources (descriptors, memory,
        processes), the card waits in quarantine and is tried again later (check_cards)."""
        image = self.images[card.name]
        weights = {"weights": image.weights.worker_config(card.name)} if image.weights else {}
        try:
            link = card.spawn({**self.worker_config, "model": str(image.path.resolve()), **weights},
                              self.max_message, now)
        except OSError as error:
            delay = card.spawn_failed(now)
            self._on_event("card_spawn_failed", {"card": card.name, "reason": str(error), "retry_s": delay})
            return
        self.by_fd[link.fileno()] = card
        self._poller.register(link.fileno(), select.POLLIN)

    def _kill(self, card: Card) -> None:
        """Power-cycle the card's process and forget its link."""
        if card.link is not None:
            self._poller.unregister(card.link.fileno())
            del self.by_fd[card.link.fileno()]
        card.kill()

    # --- what the cards say ---------------------------------------------------------------------
    def receive(self, card: Card) -> None:
        """Take one message from ``card``'s link (the poller says one is there)."""
        try:
            message = card.link.receive()
        except BlockingIOError:  # nothing after all
            return
        now = time.monotonic()
        if message is None:  # end-of-file: the process is gone (or closed its end)
            self.fail(card, card.exit_reason(), now)
            return
        kind, body = msg.split(message)
        if kind == msg.RESULT:
            self._result(card, *msg.unpack_result(body), now)
        elif kind == msg.HEARTBEAT:
            card.last_heartbeat = now
            card.excess_w = msg.unpack_heartbeat(body)[1]
            self._check_current(card, now)
        elif kind == msg.HELLO:
            self._hello(card, json.loads(body), now)
        elif kind == msg.ERROR:
            card.errors += 1
            request_id, text = msg.unpack_error(body)
            if request_id in card.requests or request_id == 0:  # 0: a failed refresh
                self.fail(card, f"error: {text}", now)

    def _hello(self, card: Card, hello: dict[str, Any], now: float) -> None:
        if card.state is not CardState.STARTING:
            return
        card.last_heartbeat = now
        for provider in card.providers_not_taken(hello):  # reported at each start of the card
            self._on_event("provider_unavailable", {"card": card.name, "provider": provider})
        expected = self.images[card.name].crc
        if hello["model_crc32c"] != expected:
            self._on_event("model_crc_mismatch", {"card": card.name, "crc": hello["model_crc32c"],
                                                  "expected": expected})
            self.fail(card, "model CRC mismatch", now)
            return
        card.set_state(CardState.PROBING, now)
        self._scheduler.send(card, [PROBE], now)

    def _result(self, card: Card, request_id: int, compute_ns: int, records: bytes, now: float) -> None:
        request = card.requests.pop(request_id, None)
        if request is None:  # from before a reset, or after a quarantine: stale
            return
        if request.frames[0] is PROBE:
            self._probed(card, records, now)
            return
        if isinstance(request.frames[0], CanaryShot):
            self.on_shot(card, request.frames[0], records)
            return
        size = len(records) // len(request.frames)
        card.record_latency(compute_ns / 1e9 / len(request.frames), len(request.frames))
        self._check_speed(card)
        conclude = self._voter.conclude
        for index, frame in enumerate(request.frames):
            frame.dispatched.discard(card.name)
            if frame.finished:
                continue
            frame.results[card.name] = records[index * size:(index + 1) * size]
            conclude(frame, now)

    def _probed(self, card: Card, record: bytes, now: float) -> None:
        """The probe's result: readmit the card if it matches the reference (the canary card
        comes back as CANARY: it takes no frames)."""
        if not self._voter.matches_reference(record, self.images[card.name].probe_reference):
            self.fail(card, "probe output wrong", now)
            return
        card.set_state(CardState.CANARY if card.name == self.canary_card else CardState.READY, now)
        self._voter.forget_disagreements(card.name)
        self._on_event("card_ready", {"card": card.name, "resets": card.resets})

    # --- health ---------------------------------------------------------------------------------
    def ready_cards(self, exclude: Container[str] = (), model: int | None = None) -> list[Card]:
        """The READY cards, but those named in ``exclude`` (and, given ``model``, those that run
        another generation of the model)."""
        images = self.images
        return [c for c in self.cards.values() if c.state is CardState.READY and c.name not in exclude
                and (model is None or images[c.name].generation == model)]

    def may_come_back(self, exclude: Container[str]) -> bool:
        """Whether a card not in ``exclude`` is, or may become, READY (is not switched off)."""
        return any(c.state is not CardState.OFF and c.name not in exclude for c in self.cards.values())

    def _check_speed(self, card: Card) -> None:
        """Total dose ages a card: one settled card this much slower than the median of its settled
        peers is reported degraded (and again when it recovers)."""
        peers = [c.recent_latency() for c in self.cards.values()
                 if c is not card and c.state is CardState.READY and c.inferences >= Card.SETTLED_AFTER]
        if card.inferences < Card.SETTLED_AFTER or not peers:
            return
        median = float(np.median(peers))
        degraded = card.degradation(self.config.degraded_factor, median)
        if degraded is not None:
            self._on_event("card_degraded" if degraded else "card_recovered",
                           {"card": card.name, "latency_ms": card.recent_latency() * 1e3, "peers_ms": median * 1e3})

    def _check_current(self, card: Card, now: float) -> None:
        """Latch-up protection: a card drawing more than its over-current limit is power-cycled at
        once (before a latch-up burns it), with an event."""
        reading, limit = card.overcurrent(), card.spec.overcurrent_limit_w
        if reading is not None:
            self._on_event("card_overcurrent", {"card": card.name, "power_w": reading, "limit_w": limit})
            self.fail(card, f"over-current {reading:.1f} W > {limit:.1f} W: power-cycled", now)

    def check_cards(self, now: float) -> None:
        """Fail the cards that did not start, went silent, or are late with a request."""
        config = self.config
        for card in self.cards.values():
            if card.state is CardState.QUARANTINED and card.retry_at is not None and now >= card.retry_at:
                self._spawn(card, now)  # a start that failed for lack of resources, again
            if card.state in (CardState.OFF, CardState.QUARANTINED):
                continue
            if card.state is CardState.STARTING:  # (an exit shows as end-of-file on its link)
                if now - card.state_since > config.start_timeout_s:
                    self.fail(card, "did not start", now)
            elif now - card.last_heartbeat > config.heartbeat_timeout_s:
                self.fail(card, "heartbeat lost", now)
            elif any(now > r.deadline for r in card.requests.values()):
                self.fail(card, "inference late", now)

    def fail(self, card: Card, reason: str, now: float) -> None:
        """Quarantine ``card``: its frames go back to the queue, its process is killed; then it is
        restarted, or switched off after too many failures."""
        for request in card.requests.values():
            for frame in request.frames:
                if frame is PROBE or isinstance(frame, CanaryShot) or frame.finished:
                    continue
                frame.dispatched.discard(card.name)
                self.redispatched += 1
                self._scheduler.enqueue(frame)
        card.requests.clear()
        self._kill(card)
        card.set_state(CardState.QUARANTINED, now)
        card.last_failure = reason
        card.failures = [t for t in card.failures if now - t < self.config.failure_window_s] + [now]
        self._on_event("card_quarantined", {"card": card.name, "reason": reason})
        if len(card.failures) >= self.config.max_failures:
            card.set_state(CardState.OFF, now)
            self._on_event("card_off", {"card": card.name, "failures": len(card.failures)})
            return
        card.resets += 1
        self._spawn(card, now)

    def refresh_sessions(self, now: float) -> None:
        """Optimized weights: every card rebuilds its session from the model file."""
        self.last_refresh = now
        for card in self.ready_cards():
            self.send_to(card, msg.REFRESH)
            self.refreshes += 1

    def send_to(self, card: Card, message: bytes) -> None:
        """Send on the card's link; a card that cannot take it (gone, or stopped with its queue
        full) is quarantined."""
        try:
            card.link.send(message)
        except BlockingIOError:
            self.fail(card, "unreachable: its queue is full", time.monotonic())
        except OSError:  # the other end is closed: the process is gone
            self.fail(card, card.exit_reason(), time.monotonic())

    # --- commands (run in the cluster thread) ---------------------------------------------------
    def inject_fault(self, card_name: str, kind: str, factor: float = 4.0) -> None:
        """Send a fault to the card's process. ``clear`` also fits a fresh simulated board (test
        equipment), with or without a process: a burned board is replaced too."""
        card = self.cards[card_name]
        if kind == "clear" and self.config.boards_dir:
            replace_board(Path(self.config.boards_dir), card_name)
            if card.process is None:
                return
        if card.process is None:
            raise CommandRefused(f"{card_name} is {card.state.name}: it has no process to fault")
        self.send_to(card, msg.pack_json(msg.FAULT, {"kind": kind, "factor": factor}))

    def reset_card(self, card_name: str, reason: str = "reset by command") -> None:
        card = self.cards[card_name]
        card.failures = []
        if card.state is CardState.OFF:
            self._spawn(card, time.monotonic())
        else:
            self.fail(card, reason, time.monotonic())

    def power_off(self, card_name: str) -> None:
        card = self.cards[card_name]
        now = time.monotonic()
        if card.state is CardState.OFF:
            raise CommandRefused(f"{card_name} is already off")
        self.fail(card, "switched off by command", now)
        self._kill(card)
        card.set_state(CardState.OFF, now)
        card.retry_at = None
