"""Executive: builds a topology, starts its components, and drives the rate groups from one clock.

Between ticks the executive polls the sockets components offer (``poll_sockets``), so a
telecommand is served as soon as it arrives rather than at the next tick. Tick k runs every rate
group whose divider divides k. With a wall clock, ticks missed by an overrun are skipped and
counted as slips (real time cannot be caught up); with a simulated clock no tick is ever skipped,
since mission time is virtual, so a run is reproducible tick for tick.

Start: components start in topology order (rate groups last); then the dictionary and a ready
file (endpoints, pid, dictionary digest) are written to the run directory, and the sockets are
served while the executive waits (at most ``clock.start_timeout_s``) for every component to say
it is ready (card workers booting, for instance); only then does the clock start, so the first
cycles are not slipped by the start-up load. Stop (SHUTDOWN
command, SIGTERM/SIGINT, or ``max_ticks``): components stop in reverse order, so comms, listed
first, flushes its TM store last.

| requirement | verified by |
| rate groups run at their dividers from one clock; a slow cycle counts a slip | tests/test_executive.py |
| events become ST[5] reports with their dictionary id and arguments | tests/test_executive.py |
| SHUTDOWN stops cleanly with exit status 0 | tests/test_integration.py |
| the clock waits for every component to be ready, at most start_timeout_s | tests/test_executive.py |
| a component that cannot start stops the started ones; the reason is printed | tests/test_executive.py |
"""
from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import zmq

from flight.bus import Bus
from flight.clock import Clock, SimulatedClock, WallClock, parse_epoch
from flight.component import Component
from flight.components.rate_group import RateGroup
from flight.ports import Ports
from flight.topology import Topology, build_dictionary
from flight.types import encode_fields
from flight.wire import services as st

log = logging.getLogger("flight.executive")


def make_clock(topology: Topology) -> Clock:
    settings = topology.clock
    period = 1.0 / topology.base_rate_hz
    if settings.get("kind", "simulated") == "wall":
        return WallClock(period)
    return SimulatedClock(period, parse_epoch(str(settings.get("epoch", "2026-01-01T00:00:00Z"))),
                          float(settings.get("speedup", 1.0)))


class Executive:
    def __init__(self, topology: Topology, run_dir: str | Path) -> None:
        self.topology = topology
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.dictionary = build_dictionary(topology)
        self.clock = make_clock(topology)
        self.bus = Bus()
        self.tick_count = 0
        self._stop_requested = False
        self.components: dict[str, Component] = {}
        self.ports = Ports(self.bus, self.dictionary, self.components, self._now, self._downlink,
                           self._emit_event, self.run_dir, topology.seed, lambda: self.tick_count)
        for spec in topology.all_components():
            self.components[spec.name] = spec.cls(spec.name, self.ports, dict(spec.config))
        self.rate_groups = [c for c in self.components.values() if isinstance(c, RateGroup)]
        self.comms = next((c for c in self.components.values() if hasattr(c, "send_tm")), None)
        if self.comms is None:
            log.warning("no comms component in the topology: telemetry and events go nowhere")
        self.bus.subscribe("executive.shutdown", lambda source: self.request_stop())

    # --- ports ------------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.mission_time(self.tick_count)

    def _downlink(self, service: int, subtype: int, app_data: bytes) -> None:
        if self.comms is not None:
            self.comms.send_tm(service, subtype, app_data)

    def _emit_event(self, component: str, name: str, values: list[Any]) -> None:
        definition = self.dictionary.event_by_name[f"{component}.{name}"]
        text = definition.render(values)
        log.log(logging.INFO if definition.severity == 1 else logging.WARNING, "EVENT %s %s: %s",
                definition.severity.name, definition.name, text)
        self._downlink(st.EVENT, int(definition.severity),
                       definition.id.to_bytes(2, "big") + encode_fields(definition.args, values))

    # --- lifecycle --------------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop_requested = True

    def start(self) -> None:
        """Start every component in order; if one cannot start, stop those already started and
        raise (StartError carries the reason for the operator)."""
        started = []
        for component in self.components.values():
            try:
                component.start()
            except Exception:
                for done in reversed(started):
                    done.stop()
                raise
            started.append(component)
        self.dictionary.write(self.run_dir / "dictionary.json")
        ready = {"pid": os.getpid(), "dictionary": str(self.run_dir / "dictionary.json"),
                 "digest": self.dictionary.digest}
        if self.comms is not None:
            ready.update(tc_endpoint=self.comms.tc_endpoint, tm_endpoint=self.comms.tm_endpoint)
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

    def run(self, max_ticks: int | None = None) -> int:
        """Start, run until stopped (or ``max_ticks``), stop. Returns the exit status."""
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[signum] = signal.signal(signum, lambda *_: self.request_stop())
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
            for socket, handler in getattr(component, "poll_sockets", lambda: [])():
                poller.register(socket, zmq.POLLIN)
                handlers[socket] = handler
        self._serve_until_ready(poller, handlers)
        self.clock.start()
        while not self._stop_requested and (max_ticks is None or self.tick_count < max_ticks):
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
