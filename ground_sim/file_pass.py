"""File transfer across a pass end: a real flight and a ground over the link relay, for the system
test (tests/system/test_file_transfer.py) and the benchmark (tools/bench_files.py).

The orbit is the default one shifted so that a Svalbard pass begins within a minute of the epoch
(mean anomaly 80 deg), and a second station (50 N, 85 E) sees the satellite about 100 s of mission
time after that pass ends: a pass end and the next pass in well under an hour of wall time.
:func:`transfer_across_pass_end` starts a file up and another down (together, or one after the
other), ``lead_s`` mission seconds before the first pass ends, and waits for both: the pass ends
in the middle, each end holds its CFDP timers through the gap, and the transfer goes on in the
next pass.

The figures (:class:`TransferFigures`): the mission time each transfer took, the part of it spent
in a pass, the rate over that part against the link's configured rate, and the PDUs NAKed and sent
again at both ends.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight.app import load_flight_topology
from flight.core.clock import BEACON_FILE, BeaconReader, parse_epoch
from flight.environment.orbit import mission_orbit
from flight.environment.passes import Pass, all_passes
from flight.services.cfdp_entity import CfdpTimers
from flight.wire import file_management as fm
from ground_sim.api import IntegrationApi
from ground_sim.flight_process import FlightProcess
from ground_sim.link_model import LinkConditions
from ground_sim.link_relay import LinkRelay

STATIONS = ('[{name="svalbard", lat_deg=78.23, lon_deg=15.41, alt_m=500.0, min_elevation_deg=5.0}, '
            '{name="second", lat_deg=50.0, lon_deg=85.0, alt_m=0.0, min_elevation_deg=5.0}]')


@dataclass
class PassOptions:
    speedup: float = 20.0
    base_rate_hz: int = 10
    up: LinkConditions = field(default_factory=lambda: LinkConditions(64e3, 0.01))
    down: LinkConditions = field(default_factory=lambda: LinkConditions(128e3, 0.01))
    seed: int = 7
    timers: CfdpTimers = field(default_factory=lambda: CfdpTimers(0.5, 60, 0.5, 60, 0.5, 30.0))  # host s

    def overrides(self, model: Path) -> list[str]:
        rates = ([] if self.base_rate_hz == 10 else
                 [f"clock.base_rate_hz={self.base_rate_hz}", f"rgFast.rate_hz={self.base_rate_hz}",
                  f"rgSlow.rate_hz={self.base_rate_hz / 10}"])
        return [f'cluster.model="{model}"', *rates, f"clock.speedup={self.speedup}",
                'transmitter.schedule="passes"', "comms.tm_hwm=64", "mission.orbit.mean_anomaly_deg=80.0",
                f"mission.orbit.stations={STATIONS}", f"files.ack_interval_s={self.timers.ack_interval_s}",
                f"files.ack_limit={self.timers.ack_limit}", f"files.nak_interval_s={self.timers.nak_interval_s}",
                f"files.nak_limit={self.timers.nak_limit}", f"files.inactivity_s={self.timers.inactivity_s}"]


@dataclass
class PassRun:
    flight: FlightProcess
    relay: LinkRelay
    api: IntegrationApi
    clock: BeaconReader
    plan: list[Pass]
    epoch: float

    def now(self) -> float:
        return self.clock.read() or self.epoch

    def wait_until(self, mission_time: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.now() < mission_time:
            if not self.flight.alive() or time.monotonic() > deadline:
                raise AssertionError(f"mission time {mission_time - self.epoch:.0f} s not reached (now "
                                     f"{self.now() - self.epoch:.0f} s, flight alive: {self.flight.alive()})")
            time.sleep(0.02)

    def close(self) -> None:
        self.relay.close()      # first: its PUSH to a station that has gone would block its thread
        self.api.station.close()
        self.flight.kill()
        self.clock.close()


def start(run_dir: Path, model: Path, options: PassOptions) -> PassRun:
    """The flight started, the relay between, the ground connected through it."""
    flight = FlightProcess(run_dir, None, options.overrides(model))
    ready = flight.start()
    settings = load_flight_topology(None, flight.overrides)
    orbit, epoch = mission_orbit(settings.settings), parse_epoch(str(settings.clock["epoch"]))
    clock = BeaconReader(run_dir / BEACON_FILE)
    holder: list = []
    relay = LinkRelay(ready["tc_endpoint"], ready["tm_endpoint"], orbit, options.up, options.down, clock.read,
                      options.seed, on_pass=lambda kind, record: holder[0].link_pass(kind, record)).start()
    station = flight.connect("archive.sqlite", via=(relay.tc_endpoint, relay.tm_endpoint),
                             contact=lambda: relay.in_pass, ack_interval=0.1, retransmit_after=0.3,
                             mission_clock=clock.read, file_timers=options.timers)
    holder.append(station)
    return PassRun(flight, relay, IntegrationApi(station, default_timeout=60.0), clock,
                   all_passes(orbit, epoch, epoch + 3000), epoch)


@dataclass
class TransferFigures:
    direction: str
    octets: int
    started: float             # mission time
    finished: float
    in_pass_s: float           # mission seconds of the transfer during which a pass was on
    link_bps: float

    @property
    def rate_bps(self) -> float:
        return 8 * self.octets / self.in_pass_s if self.in_pass_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "mission_s": self.finished - self.started, "rate_bps": self.rate_bps,
                "ratio": self.rate_bps / self.link_bps}


def in_pass(run: PassRun, start: float, end: float) -> float:
    """Mission seconds between ``start`` and ``end`` during which the link was in a pass."""
    return sum(max(0.0, min(end, p.los if p.los is not None else end) - max(start, p.aos))
               for p in run.relay.passes)


@dataclass
class Crossing:
    """Both transfers of :func:`transfer_across_pass_end`: their figures, and whether each file
    arrived byte-identical."""

    up: TransferFigures
    down: TransferFigures
    up_intact: bool
    down_intact: bool


def transfer_across_pass_end(run: PassRun, size: int, lead_s: float, options: PassOptions, timeout: float,
                             together: bool = True) -> Crossing:
    """A file of ``size`` random octets up and another down, started ``lead_s`` mission seconds
    before the first pass ends: both at once (``together``), or the download once the upload is
    done; AssertionError if either fails or is not done in ``timeout`` s."""
    data = {"up": os.urandom(size), "down": os.urandom(size)}
    local, run_dir = run.flight.run_dir.parent, run.flight.run_dir
    (local / "up.bin").write_bytes(data["up"])
    (run_dir / "down.bin").write_bytes(data["down"])
    run.wait_until(run.plan[0].set - lead_s, timeout=timeout)
    station, starts, ends = run.api.station, {"up": run.now()}, {}
    transfers = {"up": station.files.upload(local / "up.bin", "up.bin")}

    def download() -> None:
        starts["down"] = run.now()
        transfers["down"] = station.files.expect("down.bin", local / "down.bin")
        station.send(station.encoder.service(fm.SERVICE, fm.DOWNLINK_FILE, fm.pack_strings("down.bin", "down.bin")),
                     "downlink down.bin")

    if together:
        download()
    deadline = time.monotonic() + timeout
    while len(ends) < 2 and time.monotonic() < deadline:
        ends.update({name: run.now() for name, t in transfers.items() if t.done.is_set() and name not in ends})
        if ends and "down" not in transfers:
            download()
        time.sleep(0.01)
    for transfer in transfers.values():
        transfer.wait(0)
    figures = {name: TransferFigures(name, size, starts[name], ends[name], in_pass(run, starts[name], ends[name]),
                                     (options.up if name == "up" else options.down).rate_bps) for name in ends}
    return Crossing(figures["up"], figures["down"], (run_dir / "files" / "up.bin").read_bytes() == data["up"],
                    (local / "down.bin").read_bytes() == data["down"])
