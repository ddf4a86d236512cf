"""Executive: builds a topology, starts its components, and drives the rate groups from one clock.

Build (:func:`build_components`): every component is constructed with the shared
:class:`Context`; the holders of the topology's roles get the roster of every component
(flight.core.roles), the parameter keeper becomes the context's parameter storage and the event
sink the way out of every event; the ports are connected as the wiring says (flight.core.wiring);
each rate group is handed its members.

Between ticks the executive polls the sockets components offer (``poll_sockets``), so a
telecommand is served as soon as it arrives rather than at the next tick. Tick k runs every rate
group whose divider divides k. With a wall clock, ticks missed by an overrun are skipped and
counted as slips (real time cannot be caught up); with a simulated clock no tick is ever skipped,
since mission time is virtual, so a run is reproducible tick for tick. The mission time of each
tick is published in the run directory's beacon (flight.core.clock.TimeBeacon); a flight started
again in the same run directory on simulated time goes on from the tick after the beacon's, so
mission time never goes back across a restart.

Start: components start in topology order (rate groups last); then a ready file (pid, what the
caller adds such as the dictionary, and each component's ``ready_info``, e.g. endpoints) is
written to the run directory, and the sockets are served while the executive waits (at most
``clock.start_timeout_s``) for every component to say it is ready (card workers booting, for
instance); only then does the clock start, so the first cycles are not slipped by the start-up
load. Stop (a component's ``context.request_stop``, SIGTERM/SIGINT, or ``max_ticks``):
components stop in reverse order, so comms, listed first, flushes its TM store last.

| requirement | verified by |
| rate groups run at their dividers from one clock; a slow cycle counts a slip | tests/unit/core/test_executive.py |
| events go to the event sink; without one they are logged | tests/unit/core/test_executive.py |
| ports are connected as the wiring says; roles get the roster | tests/unit/core/test_executive.py |
| a stop request ends the loop; SHUTDOWN exits with status 0 | tests/unit/core/test_executive.py, |
|   | tests/system/test_integration.py |
| the clock waits for every component to be ready, at most start_timeout_s | tests/unit/core/test_executive.py |
| a component that cannot start stops the started ones; the reason is printed | tests/unit/core/test_executive.py |
| a component whose preflight fails starts nothing at all | tests/unit/core/test_executive.py |
"""
from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import zmq

from flight.core.catalog import Catalog, build_catalog
from flight.core.clock import BEACON_FILE, BeaconReader, Clock, SimulatedClock, TimeBeacon, WallClock, parse_epoch
from flight.core.component import Component, StartError
from flight.core.context import Context
from flight.core.rate_group import RateGroup
from flight.core.roles import EventSink, ParameterKeeper
from flight.core.topology import Topology
from flight.core.wiring import connect

log = logging.getLogger("flight.executive")


def make_clock(topology: Topology) -> Clock:
    settings = topology.clock
    period = 1.0 / topology.base_rate_hz
    if settings.get("kind", "simulated") == "wall":
        return WallClock(period, float(settings.get("offset_s", 0.0)), float(settings.get("drift_ppm", 0.0)))
    return SimulatedClock(period, parse_epoch(str(settings.get("epoch", "2026-01-01T00:00:00Z"))),
                          float(settings.get("speedup", 1.0)))


def resumed_tick(clock: Clock, beacon: BeaconReader) -> int:
    """The first tick of a run: on simulated time, the one after the last tick a flight before this
    one ran in the same run directory (its beacon), so mission time goes on across a restart; else 0."""
    last = beacon.read()
    beacon.close()
    if not clock.simulated or last is None or last < clock.mission_time(0):
        return 0
    return int(round((last - clock.mission_time(0)) / clock.period)) + 1


def build_components(topology: Topology, context: Context) -> dict[str, Component]:
    """Construct every component, serve the roles, connect the ports, hand rate groups their
    members (see the module docstring)."""
    components = {spec.name: spec.cls(spec.name, context, dict(spec.config))
                  for spec in topology.all_components()}
    holders = {role: components[name] for role, name in topology.roles.items()}
    keeper = holders.get(ParameterKeeper.ROLE)
    if isinstance(keeper, ParameterKeeper):
        context.parameters = keeper
    sink = holders.get(EventSink.ROLE)
    if isinstance(sink, EventSink):
        context.emit_event = sink.log_event
    roster = MappingProxyType(components)
    for holder in holders.values():
        holder.serve(roster)
    connect(components, topology.connections)
    for group in topology.rate_groups:
        rate_group = components[group.name]
        assert isinstance(rate_group, RateGroup)
        rate_group.drive([components[m] for m in group.members])
    return components


class Executive:
    def __init__(self, topology: Topology, run_dir: str | Path, catalog: Catalog | None = None,
                 ready_info: dict[str, Any] | None = None) -> None:
        self.topology = topology
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.catalog = catalog if catalog is not None else build_catalog(topology)
        self.clock = make_clock(topology)
        self.tick_count = resumed_tick(self.clock, BeaconReader(self.run_dir / BEACON_FILE))
        self.beacon = TimeBeacon(self.run_dir / BEACON_FILE)
        self._stop_requested = False
        self.ready_info = dict(ready_info or {})
        self.context = Context(self.catalog, self.run_dir, topology.seed, self._now,
                               lambda: self.tick_count, request_stop=self.request_stop,
                               mission=topology.settings, clock=self.clock)
        self.components = build_components(topology, self.context)
        self.rate_groups = [c for c in self.components.values() if isinstance(c, RateGroup)]

    def _now(self) -> float:
        return self.clock.mission_time(self.tick_count)

    # --- lifecycle --------------------------------------------------------------------------------
    def request_stop(self, reason: str = "") -> None:
        if reason:
            log.info("stop requested: %s", reason)
        self._stop_requested = True

    def start(self) -> None:
        """Check every component can start (``preflight``: nothing starts if one cannot), then
        start them in order; if one fails to start, stop those already started and raise
        (StartError carries the reason for the operator)."""
        for component in self.components.values():
            problem = component.preflight()
            if problem:
                raise StartError(problem)
        started = []
        for component in self.components.values():
            try:
                component.start()
            except Exception:
                for done in reversed(started):
                    done.stop()
                raise
            started.append(component)
        ready = {"pid": os.getpid(), **self.ready_info}
        for component in self.components.values():
            ready.update(component.ready_info())
        temporary = self.run_dir / "flight-ready.tmp"
        temporary.write_text(json.dumps(ready))
        os.replace(temporary, self.run_dir / "flight-ready.json")
        log.info("flight ready: %s", ready)

    def stop(self) -> None:
        for component in reversed(list(self.components.values())):
            try:
                component.stop()
            except Exception:
                log.exception("stopping %s", component.name)
        (self.run_dir / "flight-ready.json").unlink(missing_ok=True)
        self.beacon.close()

    def run(self, max_ticks: int | None = None) -> int:
        """Start, run until stopped (or ``max_ticks``), stop. Returns the exit status."""
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[signum] = signal.signal(signum, lambda *_: self.request_stop("signal"))
            except ValueError:  # not the main thread (tests): the caller stops us
                pass
        try:
            self.start()  # a component that cannot start stops the others and raises
            try:
                self._loop(max_ticks)
            finally:
                self.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0

    def _loop(self, max_ticks: int | None) -> None:
        poller = zmq.Poller()
        handlers = {}
        for component in self.components.values():
            for socket, handler in component.poll_sockets():
                poller.register(socket, zmq.POLLIN)
                handlers[socket] = handler
        self._serve_until_ready(poller, handlers)
        first = self.tick_count
        self.clock.start(first)
        while not self._stop_requested and (max_ticks is None or self.tick_count - first < max_ticks):
            deadline = self.clock.deadline(self.tick_count)
            while True:  # serve the sockets until the tick is due (at least once per tick)
                self._serve(poller, handlers, max(0, int((deadline - time.monotonic()) * 1000)))
                if self._stop_requested or time.monotonic() >= deadline:
                    break
            if self._stop_requested:
                break
            self._run_tick()

    @staticmethod
    def _serve(poller: zmq.Poller, handlers: dict, timeout_ms: int) -> None:
        """Serve readable sockets for up to ``timeout_ms`` (just wait if there are none)."""
        if not handlers:
            time.sleep(timeout_ms / 1000)
            return
        for socket, _ in poller.poll(timeout_ms):
            try:
                handlers[socket]()
            except Exception:  # a bug in a handler must not stop the flight: log it
                log.exception("handling %s", socket)

    def _serve_until_ready(self, poller: zmq.Poller, handlers: dict) -> None:
        began = time.monotonic()
        deadline = began + float(self.topology.clock.get("start_timeout_s", 60.0))
        waiting = [c.name for c in self.components.values() if not c.ready()]
        while waiting and not self._stop_requested and time.monotonic() < deadline:
            self._serve(poller, handlers, 50)
            waiting = [c.name for c in self.components.values() if not c.ready()]
        if waiting:
            log.warning("clock started with components not ready: %s", ", ".join(waiting))
        log.info("clock started %.2f s after the components", time.monotonic() - began)

    def _run_tick(self) -> None:
        tick = self.tick_count
        now = self.clock.mission_time(tick)
        self.beacon.write(now)
        for group in self.rate_groups:
            if tick % group.divider == 0:
                group.run_cycle(tick, now, self.clock.deadline(tick + group.divider))
        self.tick_count += 1
        if not self.clock.simulated:
            behind = int((time.monotonic() - self.clock.deadline(self.tick_count)) / self.clock.period)
            if behind > 0:  # wall time cannot wait: skip the missed ticks and count them
                for group in self.rate_groups:
                    missed = sum(1 for k in range(self.tick_count, self.tick_count + behind)
                                 if k % group.divider == 0)
                    if missed:
                        group.record_slips(missed, tick)
                self.tick_count += behind
