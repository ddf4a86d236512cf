"""Tests of the simulated clock and of the Executive: building a topology (roles, wiring, rate
groups) and driving its rate groups from one clock.

``Recorder`` holds the events role and records every event it is given; ``Source`` and ``Sink``
are joined by the topology's wiring.
"""
from __future__ import annotations

import calendar
import multiprocessing
import signal
import time

import pytest
from hypothesis import given, settings, strategies as st

from flight.core.clock import BeaconReader, SimulatedClock, TimeBeacon, parse_epoch
from flight.core.component import Channel, Component, Event, StartError
from flight.core.executive import Executive
from flight.core.ports import OutputPort, input_port
from flight.core.roles import EventSink, HealthMonitor
from flight.core.topology import parse_topology
from flight.core.types import DataType, Field, Severity
from flight.testing import ComponentTester, kind_of

EPOCH = "2026-01-01T00:00:00Z"
EPOCH_SECONDS = calendar.timegm((2026, 1, 1, 0, 0, 0))


class TickLog(Component):
    """Appends (name, tick, mission time) to the list given in its config as ``log``."""

    CHANNELS = {"Ticks": Channel(DataType.U32)}

    def tick(self, tick, now):
        self.config["log"].append((self.name, tick, now))
        self.tlm("Ticks", self.telemetry["Ticks"] + 1)
        if self.config.get("sleep"):
            time.sleep(self.config["sleep"])


class Talker(Component):
    EVENTS = {
        "Said": Event(Severity.WARNING_HI, "{text} at {tick} ({value})",
                      (Field("text", DataType.STRING), Field("tick", DataType.U32),
                       Field("value", DataType.F64), Field("flag", DataType.BOOL))),
        "Hello": Event(Severity.ACTIVITY, "hello"),
    }

    def tick(self, tick, now):
        if tick == 2:
            self.event("Hello")
            self.event("Said", text="héllo", tick=tick, value=now, flag=True)


class Recorder(Component, EventSink):
    """Holds the events role: records every event as (component, name, values)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.logged: list[tuple[str, str, list]] = []

    def serve(self, roster):
        self.roster = roster

    def log_event(self, component, name, values):
        self.logged.append((component, name, list(values)))


class Note:
    """A message type of these tests."""

    def __init__(self, text):
        self.text = text


class Source(Component):
    out = OutputPort(Note, required=True)


class Sink(Component):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.got: list[str] = []

    @input_port(Note)
    def notes(self, note):
        self.got.append(f"{self.name}:{note.text}")


class Watcher(Component, HealthMonitor):
    def serve(self, roster):
        self.roster = roster


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    """Executive.run installs SIGTERM/SIGINT handlers in the main thread: put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def topology(components, rate_groups, base=10, speedup=0.0, roles=None, connections=(), **clock):
    return parse_topology({
        "mission": {"name": "exec-test", "apid": 5},
        "clock": {"kind": "simulated", "base_rate_hz": base, "speedup": speedup,
                  "epoch": EPOCH, **clock},
        "roles": roles or {}, "wiring": {"connections": list(connections)},
        "components": components, "rate_groups": rate_groups})


RECORDER = {"name": "recorder", "kind": kind_of(Recorder)}
EVENTS_TO_RECORDER = {"events": "recorder"}


# --- simulated clock ---------------------------------------------------------------------------
def test_parse_epoch():
    assert parse_epoch(EPOCH) == EPOCH_SECONDS
    assert parse_epoch("2026-01-01T01:00:00+01:00") == EPOCH_SECONDS


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**9), st.sampled_from([0.001, 0.1, 0.25, 1.0]),
       st.sampled_from([0.0, 0.5, 2.0, 100.0]))
def test_simulated_mission_time_depends_only_on_the_tick(tick, period, speedup):
    first = SimulatedClock(period, EPOCH_SECONDS, speedup)
    second = SimulatedClock(period, EPOCH_SECONDS, 0.0 if speedup else 3.0)
    second.start()
    assert first.mission_time(tick) == second.mission_time(tick)
    assert first.mission_time(tick) == pytest.approx(EPOCH_SECONDS + tick * period, abs=1e-6)
    assert first.simulated


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([0.01, 0.1, 1.0]),
       st.sampled_from([0.5, 1.0, 2.0, 100.0]))
def test_deadlines_are_spaced_by_period_over_speedup(tick, period, speedup):
    clock = SimulatedClock(period, 0.0, speedup)
    clock.start()
    assert clock.deadline(tick + 1) - clock.deadline(tick) == pytest.approx(period / speedup)
    assert clock.deadline(tick) - clock.deadline(0) == pytest.approx(tick * period / speedup)


def test_speedup_zero_never_waits():
    clock = SimulatedClock(0.1, 0.0, 0.0)
    clock.start()
    assert all(clock.deadline(k) <= time.monotonic() for k in (0, 1, 10**6, 10**12))


def test_negative_speedup_is_refused():
    with pytest.raises(ValueError):
        SimulatedClock(0.1, 0.0, -1.0)


def _write_beacon(path, count):
    beacon = TimeBeacon(path)
    for k in range(1, count + 1):
        beacon.write(k + k / 2**20)      # every bit of the double changes often
    beacon.close()


def test_a_beacon_reader_in_another_process_sees_the_written_times_in_order(tmp_path):
    path, count = tmp_path / "beacon", 300_000
    reader = BeaconReader(path)
    assert reader.read() is None                         # no file yet
    writer = multiprocessing.get_context("fork").Process(target=_write_beacon, args=(path, count))
    writer.start()
    seen = []
    while writer.is_alive() or not seen:
        value = reader.read()
        if value is not None:
            seen.append(value)
    writer.join()
    seen.append(reader.read())
    assert all(v == int(v) + int(v) / 2**20 for v in seen)          # only values that were written
    assert all(a <= b for a, b in zip(seen, seen[1:]))
    assert seen[-1] == count + count / 2**20 and len(set(seen)) > 10
    reader.close()


def test_simulated_time_goes_on_across_a_restart_in_the_same_run_directory(tmp_path):
    log: list[tuple[str, int, float]] = []
    make = lambda: Executive(topology([{"name": "a", "kind": kind_of(TickLog), "log": log}],  # noqa: E731
                                      [{"name": "g", "rate_hz": 10, "members": ["a"]}]), tmp_path)
    make().run(max_ticks=7)
    make().run(max_ticks=3)                               # a new flight process, the same run directory
    assert [tick for _, tick, _ in log] == list(range(10))
    assert [now for _, _, now in log] == pytest.approx([EPOCH_SECONDS + 0.1 * k for k in range(10)])
    (tmp_path / "mission_time.bin").unlink()              # a fresh run starts at the epoch
    make().run(max_ticks=1)
    assert log[-1][1:] == (0, EPOCH_SECONDS)


def test_a_torn_beacon_record_is_never_read_the_last_whole_value_is(tmp_path):
    import struct

    beacon = TimeBeacon(tmp_path / "beacon")
    reader = BeaconReader(tmp_path / "beacon")
    beacon.write(5.0)
    assert reader.read() == 5.0
    with open(tmp_path / "beacon", "r+b") as file:        # a writer stopped halfway through
        file.write(struct.pack("<Qdd", 2, 7.0, 5.0))
    assert reader.read() == 5.0
    beacon.write(8.0)
    assert reader.read() == 8.0
    reader.close()
    beacon.close()


def test_a_reader_follows_a_new_beacon_made_by_a_restarted_flight(tmp_path):
    first = TimeBeacon(tmp_path / "beacon")
    first.write(5.0)
    reader = BeaconReader(tmp_path / "beacon")
    assert reader.read() == 5.0
    second = TimeBeacon(tmp_path / "beacon")             # the flight restarted
    assert reader.read() is None                         # nothing written by the new one yet
    second.write(1.0)
    first.write(9.0)                                     # the old one's writes no longer count
    assert reader.read() == 1.0
    reader.close()
    first.close()
    second.close()


def test_the_executive_publishes_each_tick_mission_time(tmp_path):
    log: list[tuple[str, int, float]] = []
    exe = Executive(topology([{"name": "a", "kind": kind_of(TickLog), "log": log}],
                             [{"name": "g", "rate_hz": 10, "members": ["a"]}]), tmp_path)
    exe.run(max_ticks=7)
    assert BeaconReader(tmp_path / "mission_time.bin").read() == pytest.approx(log[-1][2]) == EPOCH_SECONDS + 0.6


# --- rate groups -------------------------------------------------------------------------------
def test_rate_groups_run_at_their_dividers(tmp_path):
    log: list[tuple[str, int, float]] = []
    entry = lambda name: {"name": name, "kind": kind_of(TickLog), "log": log}  # noqa: E731
    topo = topology([entry("a"), entry("b"), entry("c"), entry("d")],
                    [{"name": "fast", "rate_hz": 10, "members": ["b", "a"]},
                     {"name": "mid", "rate_hz": 2, "members": ["c"]},
                     {"name": "slow", "rate_hz": 1, "members": ["d"]}])
    executive = Executive(topo, tmp_path)
    assert executive.run(max_ticks=25) == 0
    assert executive.tick_count == 25
    expected = []
    for k in range(25):  # groups in topology order, members in configured order
        expected += [("b", k), ("a", k)]
        if k % 5 == 0:
            expected.append(("c", k))
        if k % 10 == 0:
            expected.append(("d", k))
    assert [(name, k) for name, k, _ in log] == expected
    for _, k, now in log:
        assert now == pytest.approx(EPOCH_SECONDS + k * 0.1, abs=1e-6)
    cycles = {g.name: g.telemetry["Cycles"] for g in executive.rate_groups}
    assert cycles == {"fast": 25, "mid": 5, "slow": 3}
    assert all(g.telemetry["CycleSlips"] == 0 for g in executive.rate_groups)
    assert not (tmp_path / "flight-ready.json").exists()  # removed at stop


def test_a_slow_member_makes_its_group_slip(tmp_path):
    log: list = []
    # base 10 Hz at speedup 10: one base tick every 10 ms of wall time. The member sleeps 30 ms,
    # so every cycle ends after the next cycle's deadline, whatever the speed of the host.
    topo = topology([RECORDER,
                     {"name": "sleepy", "kind": kind_of(TickLog), "log": log, "sleep": 0.03}],
                    [{"name": "rg", "rate_hz": 10, "members": ["sleepy"]}],
                    speedup=10.0, roles=EVENTS_TO_RECORDER)
    executive = Executive(topo, tmp_path)
    executive.run(max_ticks=4)
    groups = {g.name: g for g in executive.rate_groups}
    assert groups["rg"].telemetry["CycleSlips"] == 4
    assert groups["rg"].telemetry["Cycles"] == 4
    assert groups["rg"].telemetry["MaxCycleTime"] >= 0.03
    # each slip became a CycleSlip event (cycle, slips so far) in the event sink
    slips = [values for _, name, values in executive.components["recorder"].logged
             if name == "CycleSlip"]
    assert slips == [[cycle, cycle] for cycle in (1, 2, 3, 4)]
    slip_id = executive.catalog.event_by_name["rg.CycleSlip"].id
    assert slip_id == 3 << 8 | 1  # rg is the 3rd component: after the two declared ones
    assert [k for name, k, _ in log if name == "sleepy"] == [0, 1, 2, 3]


def test_without_wall_deadlines_nothing_slips(tmp_path):
    log: list = []
    topo = topology([{"name": "sleepy", "kind": kind_of(TickLog), "log": log, "sleep": 0.01}],
                    [{"name": "rg", "rate_hz": 10, "members": ["sleepy"]}], speedup=0.0)
    executive = Executive(topo, tmp_path)
    executive.run(max_ticks=3)
    assert executive.rate_groups[0].telemetry["CycleSlips"] == 0
    assert executive.rate_groups[0].telemetry["Cycles"] == 3


def test_slip_event_is_throttled_at_ten(tmp_path):
    topo = topology([RECORDER], [{"name": "rg", "rate_hz": 10, "members": []}],
                    roles=EVENTS_TO_RECORDER)
    executive = Executive(topo, tmp_path)
    group = executive.rate_groups[0]
    for cycle in range(1, 15):
        group.record_slips(1, cycle)
    assert group.telemetry["CycleSlips"] == 14
    assert [name for _, name, _ in executive.components["recorder"].logged] == ["CycleSlip"] * 10


# --- events, stop requests, wiring, roles --------------------------------------------------------
def test_events_go_to_the_event_sink_in_order(tmp_path):
    topo = topology([RECORDER, {"name": "talker", "kind": kind_of(Talker)}],
                    [{"name": "rg", "rate_hz": 10, "members": ["talker"]}], roles=EVENTS_TO_RECORDER)
    executive = Executive(topo, tmp_path)
    executive.run(max_ticks=4)
    assert executive.components["recorder"].logged == [
        ("talker", "Hello", []), ("talker", "Said", ["héllo", 2, EPOCH_SECONDS + 2 * 0.1, True])]
    # talker is component 2: Said is its event 1 (0x0201), Hello its event 2 (0x0202)
    assert executive.catalog.event_by_name["talker.Said"].id == 0x0201
    assert executive.catalog.event_by_name["talker.Hello"].id == 0x0202


def test_without_an_event_sink_events_are_logged_and_the_flight_runs(tmp_path, caplog):
    topo = topology([{"name": "talker", "kind": kind_of(Talker)}],
                    [{"name": "rg", "rate_hz": 10, "members": ["talker"]}])
    executive = Executive(topo, tmp_path)
    with caplog.at_level("INFO", logger="flight.events"):
        assert executive.run(max_ticks=4) == 0 and executive.tick_count == 4
    assert "EVENT ACTIVITY talker.Hello: hello" in caplog.text
    assert f"EVENT WARNING_HI talker.Said: héllo at 2 ({EPOCH_SECONDS + 0.2})" in caplog.text


class Stopper(Component):
    def tick(self, tick, now):
        if tick == 3:
            self.context.request_stop("test")


def test_a_stop_request_ends_the_loop_after_its_cycle(tmp_path):
    topo = topology([{"name": "stopper", "kind": kind_of(Stopper)}],
                    [{"name": "rg", "rate_hz": 10, "members": ["stopper"]}])
    executive = Executive(topo, tmp_path)
    assert executive.run(max_ticks=100) == 0
    assert executive.tick_count == 4  # tick 3 completed, then the loop stopped


def test_ports_are_connected_as_the_wiring_says_and_roles_get_the_roster(tmp_path):
    topo = topology([{"name": "source", "kind": kind_of(Source)},
                     {"name": "left", "kind": kind_of(Sink)}, {"name": "right", "kind": kind_of(Sink)},
                     {"name": "watcher", "kind": kind_of(Watcher)}],
                    [{"name": "rg", "rate_hz": 10, "members": []}], roles={"health": "watcher"},
                    connections=["source.out -> right.notes", "source.out -> left.notes"])
    executive = Executive(topo, tmp_path)
    components = executive.components
    assert components["source"].out.send(Note("hi")) == 2
    assert components["left"].got == ["left:hi"] and components["right"].got == ["right:hi"]
    roster = components["watcher"].roster
    assert list(roster) == ["source", "left", "right", "watcher", "rg"]
    assert roster["left"] is components["left"]
    with pytest.raises(TypeError):
        roster["intruder"] = components["left"]  # read-only


class Faulty(Component):
    def tick(self, tick, now):
        raise RuntimeError("boom")


class Counting(Component):
    ticks = 0

    def tick(self, tick, now):
        self.ticks += 1


def test_a_member_that_raises_is_reported_and_the_others_still_run(tmp_path):
    h = ComponentTester.build(tmp_path, [{"name": "faulty", "kind": kind_of(Faulty)},
                           {"name": "counter", "kind": kind_of(Counting)}],
                rate_groups=[{"name": "rg", "rate_hz": 1, "members": ["faulty", "counter"]}])
    group = h.components["rg"]
    group.start()
    for tick in range(3):
        group.run_cycle(tick, 0.0, 0.0)
    assert h.components["counter"].ticks == 3
    assert group.telemetry["MemberFailures"] == 3
    assert h.events_named("MemberFailed")[0][2] == ["faulty", "RuntimeError('boom')"]


class Booting(Component):
    """Ready only after ``boot_s`` seconds (like card workers loading their models)."""

    def start(self):
        self.booted_at = time.monotonic() + self.config["boot_s"]
        self.first_tick_at = None

    def ready(self):
        return time.monotonic() >= self.booted_at

    def tick(self, tick, now):
        if self.first_tick_at is None:
            self.first_tick_at = time.monotonic()


@pytest.mark.parametrize("timeout, waits", [(5.0, True), (0.1, False)])
def test_the_clock_starts_when_every_component_is_ready_or_the_timeout_passes(tmp_path, timeout, waits):
    topo = topology([{"name": "board", "kind": kind_of(Booting), "boot_s": 0.4}],
                    [{"name": "rg", "rate_hz": 10, "members": ["board"]}], start_timeout_s=timeout)
    executive = Executive(topo, tmp_path)
    executive.run(max_ticks=2)
    board = executive.components["board"]
    assert (board.first_tick_at >= board.booted_at) == waits


class Starts(Component):
    def start(self):
        self.config["log"].append(("start", self.name))

    def stop(self):
        self.config["log"].append(("stop", self.name))


class CannotStart(Component):
    def start(self):
        raise StartError("no model here")


def test_a_component_that_cannot_start_stops_the_started_ones_and_says_why(tmp_path):
    log: list = []
    topo = topology([{"name": "a", "kind": kind_of(Starts), "log": log},
                     {"name": "b", "kind": kind_of(Starts), "log": log},
                     {"name": "broken", "kind": kind_of(CannotStart)}],
                    [{"name": "rg", "rate_hz": 10, "members": ["a"]}])
    with pytest.raises(StartError, match="no model here"):
        Executive(topo, tmp_path).run(max_ticks=2)
    assert log == [("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a")]


class NotReady(Component):
    def preflight(self):
        return "needs a file that is not there"


def test_a_component_whose_preflight_fails_starts_nothing_at_all(tmp_path):
    log: list = []
    topo = topology([{"name": "a", "kind": kind_of(Starts), "log": log},
                     {"name": "unready", "kind": kind_of(NotReady)}],
                    [{"name": "rg", "rate_hz": 10, "members": ["a"]}])
    with pytest.raises(StartError, match="needs a file that is not there"):
        Executive(topo, tmp_path).run(max_ticks=2)
    assert log == []
