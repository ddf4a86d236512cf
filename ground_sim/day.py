"""``orbitfs-sil --day``: one accelerated orbital day, flight and ground talking only during passes.

The flight runs on simulated time (1 s ticks, ``--speedup`` times real time) with the default
orbit and stations of its topology; its transmitter is on only during passes, its camera images
only over land (a frame every ``--frame-every`` seconds there), and the SEU rate model follows the
orbit into the SAA. Between the two ends a link model (ground_sim.link_relay) lets frames cross
only in a pass, at the configured rates, with Gilbert-Elliott burst loss and bit errors. The
ground commands imaging in the first pass, stops it when the day's last pass begins (so what was
imaged can come down in it), acknowledges what it holds each round it is in contact, and stops
the flight after that pass. Then it reads the flight's store (its SQLite file: what the flight
produced, acknowledged, evicted, dropped as corrupt, still holds) against its own archive.

The summary: passes (planned and seen on the link), bytes and frames up and down (lost, corrupted),
products produced / delivered / evicted (with reasons) / still on board, the largest store
occupancy, product age at delivery (p50 / p99), eclipse and SAA fractions of the day. Checks (exit
1 if one fails): every product is on the ground or counted (evicted, corrupt); every packet in the
archive is one the flight stored, byte for byte (its CRC-32C as stored); no decode error and no
duplicate row; every alert reached the ground by the end of the first pass to begin after its
capture (one captured during a pass may come down in it: counted); the flight's passes (its
PassStarted / PassEnded events) are those computed here from the orbit, within a second; the
archive is complete.

| requirement | verified by |
|---|---|
| a short day at 5 % bursty loss and BER 1e-6 passes every check above | tests/system/test_day.py |
"""
from __future__ import annotations

import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flight.app import load_flight_topology
from flight.core.clock import BEACON_FILE, BeaconReader, parse_epoch
from flight.environment.orbit import Orbit, mission_orbit
from flight.environment.passes import Pass, all_passes
from flight.services.tm_store import State, StoreClass
from ground_sim.api import IntegrationApi
from ground_sim.archive import PacketArchive
from ground_sim.flight_process import FlightProcess, FlightStartError
from ground_sim.link_model import LinkConditions
from ground_sim.link_relay import LinkRelay
from ground_sim.sil import Check, archive_check
from native import crc32c

PRODUCT_CLASSES = (StoreClass.ALERT, StoreClass.PRODUCT)
ACK_TIMEOUT_S = 240.0     # simulated seconds before the flight sends a packet not acknowledged again


@dataclass
class DayOptions:
    hours: float = 24.0
    speedup: float = 300.0
    seed: int = 1
    frame_every: int = 20                   # simulated seconds between frames over land
    seu_acceleration: float = 1e4
    up: LinkConditions = field(default_factory=lambda: LinkConditions(64e3))
    down: LinkConditions = field(default_factory=lambda: LinkConditions(2e6, 0.05, 4.0, 1e-6))

    def overrides(self) -> list[str]:
        """The flight's settings for the day (before the user's own ``--set``)."""
        return ["clock.base_rate_hz=1", "rgFast.rate_hz=1", "rgSlow.rate_hz=0.1",
                f"clock.speedup={self.speedup}", f"mission.seed={self.seed}", "mission.fault_injection=true",
                'transmitter.schedule="passes"', 'camera.image_over="land"',
                f"camera.frame_divider={self.frame_every}", 'cluster.mode="TMR"',
                'cluster.model="demo_model.onnx"', "comms.tm_hwm=64",
                f"comms.ack_timeout={max(0.2, ACK_TIMEOUT_S / self.speedup):.3f}"]


@dataclass
class Day:
    """What a day needs while it runs: the two ends, the link, the plan and the flight's clock."""

    flight: FlightProcess
    relay: LinkRelay
    api: IntegrationApi
    orbit: Orbit
    plan: list[Pass]
    epoch: float
    end: float
    clock: BeaconReader

    def now(self) -> float:
        return self.clock.read() or self.epoch

    def wait_until(self, mission_time: float, what: str, timeout: float) -> None:
        deadline, last = time.monotonic() + timeout, 0.0
        while self.now() < mission_time:
            if not self.flight.alive():
                raise AssertionError(f"the flight exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not reached in {timeout:.0f} s (mission time "
                                     f"+{self.now() - self.epoch:.0f} s)")
            if time.monotonic() - last > 5:
                last = time.monotonic()
                self.progress()
            time.sleep(0.05)

    def progress(self) -> None:
        station = self.api.station
        print(f"  +{(self.now() - self.epoch) / 3600:5.2f} h  passes {len(self.relay.passes):3d}  "
              f"products on ground {len(station.products):5d}  store depth "
              f"{station.latest('comms.TmStoreDepth', 0):6d}", flush=True)


def start_day(run_dir: Path, topology: str | None, overrides: list[str], options: DayOptions,
              archive: PacketArchive, flight: FlightProcess) -> Day:
    """The flight started, the link between, the ground connected through it."""
    ready = flight.start()
    settings = load_flight_topology(topology, flight.overrides)
    orbit, epoch = mission_orbit(settings.settings), parse_epoch(str(settings.clock["epoch"]))
    end = epoch + options.hours * 3600
    clock = BeaconReader(run_dir / BEACON_FILE)
    holder: list = []
    relay = LinkRelay(ready["tc_endpoint"], ready["tm_endpoint"], orbit, options.up, options.down, clock.read,
                      options.seed, on_pass=lambda kind, record: holder[0].link_pass(kind, record)).start()
    station = flight.connect(archive, via=(relay.tc_endpoint, relay.tm_endpoint), contact=lambda: relay.in_pass,
                             ack_interval=0.1, retransmit_after=0.3, mission_clock=clock.read)
    holder.append(station)
    return Day(flight, relay, IntegrationApi(station, default_timeout=60.0), orbit,
               all_passes(orbit, epoch, end), epoch, end, clock)


def fly_day(day: Day, options: DayOptions) -> None:
    """Image from the first pass to the last one's start; stop the flight after the last pass."""
    if len(day.plan) < 2:
        raise AssertionError(f"{len(day.plan)} passes in {options.hours} h: a day needs two at least")
    wall = lambda simulated: 120 + 3 * simulated / options.speedup  # noqa: E731  (bounds, not speeds)
    first, last = day.plan[0], day.plan[-1]
    day.wait_until(first.rise + 5, "the first pass", wall(first.rise - day.epoch))
    print(f"first pass over {first.station}: commanding the day's imaging")
    day.api.send_and_assert_command("camera.START_IMAGING", [1_000_000, 0])
    day.api.set_parameters({"seu.Acceleration": options.seu_acceleration})
    day.wait_until(last.rise, "the last pass", wall(last.rise - day.epoch))
    record = day.api.station.send_command("camera.STOP_IMAGING")
    day.wait_until(last.set + 5, "the end of the last pass", wall(last.set - last.rise))
    print(f"last pass over; imaging stop {record}")
    day.flight.kill()   # SIGTERM: the flight stops, its store stays on disk


@dataclass
class StoreAccount:
    """The flight's store after the day: per class and state, and each packet's CRC-32C by key."""

    counts: dict[tuple[StoreClass, State], int]
    crcs: dict[tuple[int, int], tuple[StoreClass, int]]     # (apid, time) -> (class, crc)

    def products(self, *states: State) -> int:
        return sum(n for (cls, state), n in self.counts.items() if cls in PRODUCT_CLASSES
                   and (not states or state in states))


def read_store(path: Path) -> StoreAccount:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        counts = {(StoreClass(c), State(s)): n for c, s, n in
                  db.execute("SELECT class, state, COUNT(*) FROM records GROUP BY class, state")}
        crcs = {(a, t): (StoreClass(c), crc)
                for a, t, c, crc in db.execute("SELECT apid, time, class, crc FROM records")}
    return StoreAccount(counts, crcs)


def read_archive(path: Path) -> list[tuple[int, int, bytes, str | None]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return list(db.execute("SELECT apid, time_cuc, raw, error FROM packets WHERE direction = 'down'"))


def _fractions(orbit: Orbit, start: float, end: float, step: float = 30.0) -> tuple[float, float]:
    """The share of [start, end) in eclipse and over the SAA, sampled every ``step`` seconds."""
    times = np.arange(start, end, step)
    return (float(np.mean([not orbit.sunlit(t) for t in times])), float(np.mean([orbit.in_saa(t) for t in times])))


def flight_passes(day: Day) -> list[tuple[float, float | None]]:
    """(start, end) of each pass as the flight reported it (its PassStarted / PassEnded events: the
    crossing times); the end of the last pass is None (it is reported after the pass, so it waits
    on board)."""
    out: list[tuple[float, float | None]] = []
    for event in sorted(day.api.station.events, key=lambda e: e.time):
        if event.name == "transmitter.PassStarted":
            out.append((event.args["at"], None))
        elif event.name == "transmitter.PassEnded" and out and out[-1][1] is None:
            out[-1] = (out[-1][0], event.args["at"])
    return out


def late_alerts(day: Day) -> tuple[int, list[float], tuple[int, int]]:
    """How many alerts came down; the capture times of those that came after the end of the first
    pass to begin after their capture; and, of the alerts captured during a pass, how many came
    down in that same pass (one captured in a pass's last seconds may have to wait for the next)."""
    windows = [(p.rise, p.set) for p in day.plan]
    late, during, same_pass = [], 0, 0
    arrivals = [(t, arrival) for t, arrival, alert in day.api.station.product_arrivals if alert]
    for captured, arrival in arrivals:
        following = next((los for rise, los in windows if rise > captured), None)
        current = next((los for rise, los in windows if rise <= captured <= los), None)
        deadline = following or current          # in the day's last pass: that pass
        if deadline is None or arrival > deadline + 2.0:   # two ticks of slack: the light time, the last tick
            late.append(captured)
        if current is not None:
            during += 1
            same_pass += arrival <= current + 2.0
    return len(arrivals), late, (during, same_pass)


def account(day: Day, store: StoreAccount, rows: list[tuple[int, int, bytes, str | None]]) -> dict[str, object]:
    """What the day's checks and summary need, from the store, the archive and the station."""
    station = day.api.station
    keys = [(apid, stamp) for apid, stamp, _, _ in rows]
    bad_rows = [key for key, (_, _, raw, error) in zip(keys, rows, strict=True)
                if error is not None or key not in store.crcs or crc32c(bytes(raw)) != store.crcs[key][1]]
    on_ground = {key for key in keys if key in store.crcs and store.crcs[key][0] in PRODUCT_CLASSES}
    products = sum(1 for cls, _ in store.crcs.values() if cls in PRODUCT_CLASSES)
    lost = products - len(on_ground) - store.products(State.EVICTED, State.CORRUPT)
    ages = [arrival - captured for captured, arrival, _ in station.product_arrivals]
    alerts, late, in_pass = late_alerts(day)
    return {"bad_rows": bad_rows, "duplicate_rows": len(keys) - len(set(keys)), "products": products,
            "on_ground": len(on_ground), "unaccounted": lost, "ages": ages, "alerts": alerts, "late": late,
            "in_pass": in_pass}


def pass_match(day: Day) -> tuple[bool, str]:
    """Whether the flight's passes are those computed here from the orbit, within a second."""
    seen = flight_passes(day)
    if len(seen) != len(day.plan):
        return False, f"the flight saw {len(seen)} passes, the orbit gives {len(day.plan)}"
    worst = max(max(abs(start - p.rise), abs((end if end is not None else p.set) - p.set))
                for (start, end), p in zip(seen, day.plan, strict=True))
    return worst <= 1.0, f"{len(seen)} passes, start and end within {worst:.2f} s of the orbit's"


def _most(station, channel: str) -> int:
    return max((value for _, value in station.telemetry[channel]), default=0)


def _percentile(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q) / 60:.1f} min" if values else "n/a"


def summarize_day(day: Day, run_dir: Path, elapsed: float) -> list[Check]:
    """Print the day's summary; its checks."""
    station, relay = day.api.station, day.relay
    store = read_store(run_dir / "tm_store.sqlite")
    figures = account(day, store, read_archive(station.archive.path))
    eclipse, saa = _fractions(day.orbit, day.epoch, day.end)
    latest = station.latest
    rows = [
        ("simulated / wall time", f"{(day.end - day.epoch) / 3600:.1f} h / {elapsed:.0f} s"),
        ("eclipse / SAA fraction of the day", f"{eclipse:.1%} / {saa:.1%}"),
        ("passes planned / on the link", f"{len(day.plan)} / {len(relay.passes)}  (" + ", ".join(
            f"{p.station} {(p.rise - day.epoch) / 3600:.2f} h {p.duration / 60:.1f} min" for p in day.plan) + ")"),
        ("octets up / down (frames)", f"{relay.up.stats.octets:,} ({relay.up.stats.frames:,}) / "
                                      f"{relay.down.stats.octets:,} ({relay.down.stats.frames:,})"),
        ("down: lost / corrupted / refused by CRC", f"{relay.down.stats.lost:,} / {relay.down.stats.corrupted:,} / "
                                                    f"{sum(station.downlink.stats.bad_frames.values()):,}"),
        ("frames offered outside a pass", f"up {relay.outside_pass['up']:,}, down {relay.outside_pass['down']:,}"),
        ("products produced / on the ground", f"{figures['products']:,} / {figures['on_ground']:,}"),
        ("products evicted / corrupt / on board", f"{store.products(State.EVICTED):,} (store full) / "
                                                  f"{store.products(State.CORRUPT):,} (upset in the store) / "
                                                  f"{store.products(State.LIVE):,}"),
        ("alerts down / late", f"{figures['alerts']} / {len(figures['late'])} (late: after the end of the "
                               "first pass to begin after capture)"),
        ("alerts captured in a pass / down in it", "{} / {}".format(*figures["in_pass"])),
        ("product age at delivery p50 / p99", f"{_percentile(figures['ages'], 50)} / "
                                              f"{_percentile(figures['ages'], 99)}"),
        ("store occupancy, most", f"{_most(station, 'comms.TmStoreOctets'):,} octets, "
                                  f"{_most(station, 'comms.TmStoreDepth'):,} packets"),
        ("TM packets received twice (kept once)", f"{station.stats.duplicates:,}"),
        ("upsets injected / repaired / uncorr.", f"{latest('seu.Injected', 0)} / {latest('scrubber.Repaired', 0)} "
                                                 f"/ {latest('scrubber.Uncorrectable', 0)}"),
    ]
    print("\n================ SIL day summary ================")
    for name, value in rows:
        print(f"  {name:<40} {value}")
    return day_checks(day, figures)


def day_checks(day: Day, figures: dict) -> list[Check]:
    matched, detail = pass_match(day)
    checks = [
        Check("every product down or counted", figures["unaccounted"] == 0,
              f"{figures['unaccounted']} of {figures['products']} neither on the ground nor counted evicted/corrupt"),
        Check("archive holds no corrupted packet", not figures["bad_rows"] and figures["duplicate_rows"] == 0,
              f"{len(figures['bad_rows'])} rows differ from what the flight stored, "
              f"{figures['duplicate_rows']} duplicated"),
        Check("alerts by the first pass after capture", not figures["late"], f"{len(figures['late'])} late"),
        Check("passes as the orbit gives them", matched, detail),
        archive_check(day.api.station),
    ]
    for check in checks:
        print(f"  [{'PASS' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
    return checks


def run_day(options: DayOptions, run_dir: Path, topology: str | None, overrides: list[str],
            archive: PacketArchive) -> int:
    """One accelerated day in ``run_dir`` (prepared by ground_sim.sil.prepare); the exit status."""
    from flight.payload.demo_model import write_demo_model

    write_demo_model(run_dir / "demo_model.onnx")
    flight = FlightProcess(run_dir, topology, [*options.overrides(), *overrides])
    print(f"orbitfs SIL day: {options.hours:g} h at {options.speedup:g}x, seed {options.seed}, run directory "
          f"{run_dir}; downlink {options.down}, uplink {options.up}")
    began = time.monotonic()
    try:
        day = start_day(run_dir, topology, overrides, options, archive, flight)
    except FlightStartError as error:
        print(f"orbitfs-sil: the flight did not start: {error.reason}", file=sys.stderr)
        return 2 if error.returncode == 2 else 1
    try:
        fly_day(day, options)
    finally:
        day.api.station.close()
        day.relay.close()
        flight.kill()
    checks = summarize_day(day, run_dir, time.monotonic() - began)
    print(f"\narchive: {archive.path}   flight log: {run_dir / 'flight.log'}")
    failed = [c.name for c in checks if not c.passed]
    print("RESULT: " + ("PASS" if not failed else "FAIL: " + ", ".join(failed)))
    return 1 if failed else 0
