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

The summary (every row with its meaning; an ETA on the progress lines): passes (planned and seen
on the link), bytes and frames up and down (lost, corrupted), products produced / delivered /
evicted (with reasons) / still on board, the largest store occupancy, product age at delivery
(p50 / p99), eclipse and SAA fractions of the day, the upsets injected, found, and why the two
differ. ``--json``, ``--junit`` and the report as for a SIL run
(ground_sim.sil.finish). Checks (exit 1 if one fails): the flight's dictionary digest is the
ground's; every product is on the ground or counted (evicted, corrupt); every packet in the
archive is one the flight stored, byte for byte (its CRC-32C as stored); no decode error and no
duplicate row; every alert reached the ground by the end of the first pass to begin after its
capture (one captured during a pass may come down in it: counted); the flight's passes (its
PassStarted / PassEnded events) are those computed here from the orbit, within a second; the
archive is complete.

| requirement | verified by |
|---|---|
| a short day at 5 % bursty loss and BER 1e-6 passes every check above | tests/system/test_day.py |
| its summary has no repr, an ETA, the upsets explained; its JSON and JUnit hold its checks | tests/system/test_day.py |
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
from ground_sim.sil import Outputs, finish, weights_chunk
from ground_sim.sil_output import run_config
from ground_sim.sil_rows import archive_check, dictionary_check, read_injections, upsets
from ground_sim.sil_summary import Check, Row, Summary
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
    weights_chunk: int
    first_seen: tuple[float, float] | None = None   # (wall, mission time) at the first progress line

    @property
    def digest(self) -> int | None:
        """The flight's dictionary digest, as it reported it (None if it never came down)."""
        return self.api.station.latest("executive.DictionaryDigest")

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
        station, now, wall = self.api.station, self.now(), time.monotonic()
        self.first_seen = self.first_seen or (wall, now)
        rate = (now - self.first_seen[1]) / max(wall - self.first_seen[0], 1e-9)   # simulated s per wall s
        eta = f"ETA {(self.end - now) / rate:5.0f} s" if rate > 0 else "ETA --"
        flown = now - self.epoch
        print(f"  +{flown / 3600:5.2f} h  passes {len(self.relay.passes):3d}  "
              f"products on ground {len(station.products):5d}  store depth "
              f"{station.latest('comms.TmStoreDepth', 0):6d}  {eta}", flush=True)


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
               all_passes(orbit, epoch, end), epoch, end, clock, weights_chunk(topology, flight.overrides))


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


def day_rows(day: Day, store: StoreAccount, figures: dict, elapsed: float) -> list[Row]:
    """The day's rows, each with its meaning."""
    station, relay = day.api.station, day.relay
    eclipse, saa = _fractions(day.orbit, day.epoch, day.end)
    up, down = relay.up.stats, relay.down.stats
    refused = sum(station.downlink.stats.bad_frames.values())
    evicted, corrupt, live = (store.products(s) for s in (State.EVICTED, State.CORRUPT, State.LIVE))
    during, same_pass = figures["in_pass"]
    ages = figures["ages"]
    octets, depth = _most(station, "comms.TmStoreOctets"), _most(station, "comms.TmStoreDepth")
    return [
        Row("simulated / wall time", {"simulated_h": (day.end - day.epoch) / 3600, "wall_s": round(elapsed, 1)},
            f"{(day.end - day.epoch) / 3600:.1f} h / {elapsed:.0f} s", "the day flown, and how long it took"),
        Row("eclipse / SAA fraction of the day", {"eclipse": eclipse, "saa": saa}, f"{eclipse:.1%} / {saa:.1%}",
            "from the orbit, sampled every 30 s; the SEU rate is higher in the SAA"),
        Row("passes planned / on the link", {"planned": len(day.plan), "on_link": len(relay.passes)},
            f"{len(day.plan)} / {len(relay.passes)}  (" + ", ".join(
                f"{p.station} {(p.rise - day.epoch) / 3600:.2f} h {p.duration / 60:.1f} min" for p in day.plan) + ")",
            "passes computed from the orbit / seen by the link model"),
        Row("octets up / down (frames)", {"up_octets": up.octets, "up_frames": up.frames,
                                          "down_octets": down.octets, "down_frames": down.frames},
            f"{up.octets:,} ({up.frames:,}) / {down.octets:,} ({down.frames:,})", "what crossed the link in passes"),
        Row("down: lost / corrupted / refused by CRC", {"lost": down.lost, "corrupted": down.corrupted,
                                                        "refused": refused},
            f"{down.lost:,} / {down.corrupted:,} / {refused:,}", "frames the link model lost (bursts) or hit "
            "with bit errors / those the ground's frame check refused; the flight sends again what is not "
            "acknowledged"),
        Row("frames offered outside a pass", dict(relay.outside_pass),
            f"up {relay.outside_pass['up']:,}, down {relay.outside_pass['down']:,}", "discarded by the link model"),
        Row("products produced / on the ground", {"produced": figures["products"], "on_ground": figures["on_ground"]},
            f"{figures['products']:,} / {figures['on_ground']:,}", "products the flight stored / the ground holds"),
        Row("products evicted / corrupt / on board", {"evicted": evicted, "corrupt": corrupt, "on_board": live},
            f"{evicted:,} (store full) / {corrupt:,} (upset in the store) / {live:,}",
            "those not on the ground, by why: counted, not lost"),
        Row("alerts down / late", {"down": figures["alerts"], "late": len(figures["late"])},
            f"{figures['alerts']:,} / {len(figures['late']):,}",
            "late: after the end of the first pass to begin after capture (must be 0)"),
        Row("alerts captured in a pass / down in it", {"captured": during, "down_in_it": same_pass},
            f"{during:,} / {same_pass:,}", "one captured in a pass's last seconds may wait for the next pass"),
        Row("product age at delivery p50 / p99", {"p50_s": _quantile(ages, 50), "p99_s": _quantile(ages, 99)},
            f"{_percentile(ages, 50)} / {_percentile(ages, 99)}", "capture to arrival on the ground"),
        Row("store occupancy, most", {"octets": octets, "packets": depth}, f"{octets:,} octets, {depth:,} packets",
            "the flight's TM store at its fullest, as reported"),
        Row("TM packets received twice (kept once)", station.stats.duplicates, f"{station.stats.duplicates:,}",
            "sent again because an acknowledgement was lost or late; archived once"),
        *upsets(station, read_injections(day.flight.run_dir / "injections.jsonl"), day.weights_chunk),
    ]


def _quantile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarize_day(day: Day, run_dir: Path, elapsed: float) -> Summary:
    """The day's summary and checks."""
    store = read_store(run_dir / "tm_store.sqlite")
    figures = account(day, store, read_archive(day.api.station.archive.path))
    return Summary("SIL day summary", day_rows(day, store, figures, elapsed), day_checks(day, figures))


def day_checks(day: Day, figures: dict) -> list[Check]:
    matched, detail = pass_match(day)
    return [
        dictionary_check(day.digest, day.api.station.dictionary.digest),
        Check("every product down or counted", figures["unaccounted"] == 0,
              f"{figures['unaccounted']} of {figures['products']} neither on the ground nor counted evicted/corrupt"),
        Check("archive holds no corrupted packet", not figures["bad_rows"] and figures["duplicate_rows"] == 0,
              f"{len(figures['bad_rows'])} rows differ from what the flight stored, "
              f"{figures['duplicate_rows']} duplicated"),
        Check("alerts by the first pass after capture", not figures["late"], f"{len(figures['late'])} late"),
        Check("passes as the orbit gives them", matched, detail),
        archive_check(day.api.station),
    ]


def run_day(options: DayOptions, run_dir: Path, topology: str | None, overrides: list[str],
            archive: PacketArchive, outputs: Outputs | None = None) -> int:
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
    elapsed = time.monotonic() - began
    config = run_config(kind="day", hours=options.hours, speedup=options.speedup, seed=options.seed,
                        frame_every=options.frame_every, seu_acceleration=options.seu_acceleration,
                        uplink=str(options.up), downlink=str(options.down), run_dir=run_dir, archive=archive.path,
                        overrides=overrides)
    return finish(summarize_day(day, run_dir, elapsed), config, elapsed, outputs or Outputs(), run_dir, archive,
                  day.api.station.dictionary)
