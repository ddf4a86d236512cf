"""LinkRelay: the space link between a ground station and the flight, on the flight's simulated time.

The relay sits between the two ends' ZeroMQ sockets and lets a frame cross only as the sky and the
radio allow (ground_sim.link_model, on the orbit of flight.environment.orbit):
- nothing crosses outside a pass: a frame offered while no station sees the satellite is dropped
  and counted (``outside_pass``); the ground's acknowledger waits for a pass (:attr:`in_pass`);
- during a pass each direction has its own rate (a serializing transmitter), Gilbert-Elliott
  burst loss and bit errors, and a frame arrives after its transmission plus the light time over
  the slant range to the station in view. A frame whose bits were flipped is delivered as it is:
  the receiver's frame CRC (FECF) must refuse it;
- time is the flight's mission time, read from its beacon (flight.core.clock): an accelerated
  flight runs the link as fast as itself, and a flight that is not running stops the link's time.
Pass start and end are recorded (:class:`PassRecord`, with each pass's frames and octets both
ways) and handed to ``on_pass``; the station archives them.

Endpoints: the station connects its DEALER to :attr:`tc_endpoint` and its PULL to
:attr:`tm_endpoint` (bound by the relay); the relay connects to the flight's TC ROUTER and TM PUSH.
Frames the relay holds are bounded: it stops reading the flight's TM while a second of downlink is
queued, so the flight's socket fills and the flight frames nothing more (its store keeps it). It
never blocks on a send: a frame the receiving socket cannot take (its peer gone or behind) waits
in the relay, with the frames after it, so closing the relay is prompt whichever end left first.

| requirement | verified by |
|---|---|
| no frame crosses outside a pass; during one, each direction arrives after its light time |   |
|   | tests/unit/ground/test_link_relay.py |
| loss and bit errors as configured; a corrupted TM or TC frame is refused by its receiver's |   |
|   CRC and never reaches the archive or the dispatcher as data | tests/unit/ground/test_link_relay.py, |
|   | tests/system/test_day.py |
| passes are recorded as they begin and end, on mission time | tests/unit/ground/test_link_relay.py |
"""
from __future__ import annotations

import heapq
import itertools
import random
import threading
from dataclasses import dataclass, field
from typing import Callable

import zmq

from flight.environment.orbit import Orbit, Station
from ground_sim.link_model import LinkConditions, LinkDirection

POLL_MS = 2
BACKLOG_S = 1.0       # simulated seconds of downlink queued before the flight's TM is left to wait


@dataclass
class PassRecord:
    """One pass as the link saw it: its station, AOS and LOS (mission time), and its traffic."""

    station: str
    aos: float
    los: float | None = None
    frames: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    octets: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})


class LinkRelay:
    def __init__(self, flight_tc: str, flight_tm: str, orbit: Orbit, up: LinkConditions,
                 down: LinkConditions, mission_time: Callable[[], float | None], seed: int,
                 bind_host: str = "127.0.0.1", on_pass: Callable[[str, PassRecord], None] | None = None,
                 context: zmq.Context | None = None) -> None:
        self.flight_tc, self.flight_tm, self.orbit = flight_tc, flight_tm, orbit
        rng = random.Random(seed)
        self.up = LinkDirection(up, random.Random(rng.getrandbits(64)))
        self.down = LinkDirection(down, random.Random(rng.getrandbits(64)))
        self._mission_time, self._on_pass, self.bind_host = mission_time, on_pass, bind_host
        self._context = context or zmq.Context.instance()
        self.passes: list[PassRecord] = []
        self.outside_pass = {"up": 0, "down": 0}
        self._queue: list[tuple[float, int, str, bytes]] = []     # (arrival, order, direction, frame)
        self._order = itertools.count()
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="link-relay", daemon=True)
        self.error: str | None = None
        self._station: Station | None = None     # in view at _tracked_at (mission time)
        self._tracked_at: float | None = None

    @property
    def in_pass(self) -> bool:
        return bool(self.passes) and self.passes[-1].los is None

    def start(self) -> "LinkRelay":
        c = self._context
        self._station_tc, self._station_tm = c.socket(zmq.ROUTER), c.socket(zmq.PUSH)
        self._flight_tc, self._flight_tm = c.socket(zmq.DEALER), c.socket(zmq.PULL)
        for socket in (self._station_tc, self._station_tm, self._flight_tc, self._flight_tm):
            socket.setsockopt(zmq.LINGER, 0)
        self._flight_tm.setsockopt(zmq.RCVHWM, 16)   # what the relay does not take waits in the flight
        self._station_tc.bind(f"tcp://{self.bind_host}:*")
        self._station_tm.bind(f"tcp://{self.bind_host}:*")
        self.tc_endpoint = self._station_tc.getsockopt_string(zmq.LAST_ENDPOINT)
        self.tm_endpoint = self._station_tm.getsockopt_string(zmq.LAST_ENDPOINT)
        self._flight_tc.connect(self.flight_tc)
        self._flight_tm.connect(self.flight_tm)
        self._up_only, self._both = zmq.Poller(), zmq.Poller()
        for poller in (self._up_only, self._both):
            poller.register(self._station_tc, zmq.POLLIN)
        self._both.register(self._flight_tm, zmq.POLLIN)
        self._running.set()
        self._thread.start()
        return self

    def close(self) -> None:
        self._running.clear()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for socket in (self._station_tc, self._station_tm, self._flight_tc, self._flight_tm):
            socket.close(linger=0)

    def _loop(self) -> None:
        try:
            while self._running.is_set():
                self._step()
        except Exception as error:   # a bug here must be visible, not a silent dead link
            self.error = f"{type(error).__name__}: {error}"
            raise

    def _step(self) -> None:
        now = self._mission_time()
        reading_down = now is not None and self.down.bucket.backlog(now) < BACKLOG_S
        ready = dict((self._both if reading_down else self._up_only).poll(POLL_MS))
        if now is None:
            return
        if now != self._tracked_at:          # the sky changes with mission time, not with each poll
            self._station, self._tracked_at = self._track_pass(now), now
        station = self._station
        if self._station_tc in ready:
            while self._station_tc.poll(0):
                self._offer("up", self._station_tc.recv_multipart()[-1], now, station)
        if self._flight_tm in ready:
            while self._flight_tm.poll(0) and self.down.bucket.backlog(now) < BACKLOG_S:
                self._offer("down", self._flight_tm.recv(), now, station)
        while self._queue and self._queue[0][0] <= now:
            arrival, order, direction, frame = self._queue[0]
            try:   # never block: a receiver gone or behind holds its frames here, and close() stays prompt
                (self._flight_tc if direction == "up" else self._station_tm).send(frame, zmq.NOBLOCK)
            except zmq.Again:
                return
            heapq.heappop(self._queue)

    def _track_pass(self, now: float) -> Station | None:
        station = self.orbit.visible_station(now)
        current = self.passes[-1] if self.in_pass else None
        if current is not None and (station is None or station.name != current.station):
            current.los = now
            if self._on_pass:
                self._on_pass("LOS", current)
            current = None
        if station is not None and current is None:
            self.passes.append(PassRecord(station.name, now))
            if self._on_pass:
                self._on_pass("AOS", self.passes[-1])
        return station

    def _offer(self, direction: str, frame: bytes, now: float, station: Station | None) -> None:
        if station is None:
            self.outside_pass[direction] += 1
            return
        record = self.passes[-1]
        record.frames[direction] += 1
        record.octets[direction] += len(frame)
        link = self.up if direction == "up" else self.down
        delivered = link.submit(frame, now, self.orbit.slant_range_km(station, now))
        if delivered is not None:
            heapq.heappush(self._queue, (delivered[0], next(self._order), direction, delivered[1]))
