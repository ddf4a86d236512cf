"""ST[9] and the time correction (flight/services/time_management.py) with the real dispatcher, in
process (flight.testing's component tester). The clock is put in the tester's context by hand: a
wall clock to correct, a simulated one (or none) to be refused. A restart is a new tester on the
same run directory."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from flight.core.clock import SimulatedClock, TimeCorrection, WallClock
from flight.messages import RawTelecommand
from flight.testing import ComponentTester
from flight.wire import time_management as tm9
from flight.wire.failure import FailureCode
from flight.wire.pus import Telecommand

APID, T0 = 1, 1_800_000_000.0


def make(run_dir, clock=None, **config) -> ComponentTester:
    h = ComponentTester.build(run_dir, [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "time", "kind": "flight.services.time_management:TimeManagement", **config}],
        mission={"apid": APID})
    h.context.clock = clock
    h.time = T0
    h.start()
    return h


def send(h, service, subtype, data=b"") -> list[tuple[int, int | None]]:
    """Deliver a TC; its ST[1] reports as (subtype, failure code or None)."""
    h.clear()
    h.send("dispatcher.tc", RawTelecommand((Telecommand(APID, 1, service, subtype, data).encode(),)))
    return [(sub, struct.unpack(">H", data[4:])[0] if sub % 2 == 0 else None)
            for service_, sub, data in h.downlinks if service_ == 1]


def adjust(h, offset, rate) -> list[tuple[int, int | None]]:
    opcode = h.dictionary.command_by_name["time.ADJUST_TIME"].opcode
    return send(h, 8, 1, struct.pack(">Hdd", opcode, offset, rate))


def reports(h, seconds, period=1.0) -> list[tm9.TimeReport]:
    h.clear()
    for _ in range(int(seconds / period)):
        h.time += period
        h.tick += 1
        h.components["time"].tick(h.tick, h.time)
    return [tm9.TimeReport.unpack(d) for s, sub, d in h.downlinks if (s, sub) == (9, 2)]


@pytest.fixture
def h(tmp_path):
    tester = make(tmp_path, rate_exponent=2)
    yield tester
    tester.stop()


def test_time_reports_come_every_2_to_the_exponent_seconds_at_its_multiples(h):
    got = reports(h, 16)
    assert [r.time for r in got] == [T0 + 4 * k for k in range(1, 5)]
    assert {r.exponent for r in got} == {2}


def test_tc_9_1_sets_the_rate_and_refuses_what_is_not_0_to_8(h):
    assert send(h, 9, 1, bytes([0])) == [(1, None), (3, None), (7, None)]
    assert h.events_named("TimeReportRate")[0][2] == [1]
    assert len(reports(h, 5)) == 5
    assert send(h, 9, 1, bytes([9])) == [(2, FailureCode.ARGUMENT_OUT_OF_RANGE)]
    assert send(h, 9, 1, b"") == [(2, FailureCode.BAD_ARGUMENTS)]
    assert send(h, 9, 3) == [(2, FailureCode.UNKNOWN_SUBTYPE)]
    assert h.components["time"].telemetry["RateExponent"] == 0


@pytest.mark.parametrize("clock", [None, SimulatedClock(0.1, T0, 1.0)])
def test_adjust_time_is_refused_on_a_simulated_clock(tmp_path, clock):
    h = make(tmp_path, clock)
    assert adjust(h, 1.0, 0.0)[-1] == (8, FailureCode.INVALID_STATE)
    h.stop()


def test_adjust_time_corrects_a_wall_clocks_offset_and_rate_and_survives_a_restart(tmp_path):
    clock = WallClock(0.1, offset_s=-3.0, drift_ppm=0.0)
    h = make(tmp_path, clock)
    assert clock.mission_time(0) - clock.uncorrected() == pytest.approx(0.0, abs=1e-3)
    assert adjust(h, 3.0, 50.0) == [(1, None), (3, None), (7, None)]     # forwards: a step
    assert h.events_named("TimeAdjusted")[0][2] == [3.0, 50.0]
    correction = clock.correction
    assert correction.offset == pytest.approx(3.0) and correction.rate_ppm == 50.0 and correction.slewing == 0
    assert clock.mission_time(0) - clock.uncorrected() == pytest.approx(3.0, abs=1e-3)
    send(h, 9, 1, bytes([5]))
    h.stop()

    again = WallClock(0.1, offset_s=-3.0)
    h = make(tmp_path, again, slew_ppm=2e5)
    assert again.correction == correction
    assert h.events_named("TimeCorrectionRestored")[0][2] == [correction.offset, 50.0]
    assert h.components["time"].telemetry["RateExponent"] == 5
    assert adjust(h, -0.5, -50.0)[-1] == (7, None)                          # backwards: slewed
    assert again.correction.rate_ppm == 0.0 and again.correction.slew_ppm == 2e5
    assert again.correction.slewing == pytest.approx(-0.5, abs=1e-3)
    assert h.components["time"].telemetry["Slewing"] == pytest.approx(-0.5, abs=1e-3)
    h.stop()

    h = make(tmp_path, SimulatedClock(0.1, T0, 1.0))
    assert h.events_named("TimeCorrectionIgnored")
    h.stop()


@given(st.lists(st.tuples(st.floats(0.0, 10.0), st.floats(-5.0, 5.0), st.floats(-100.0, 100.0)), max_size=6),
       st.floats(1e3, 5e5))
def test_corrected_time_never_runs_backwards_and_settles_where_the_adjustments_add_up(adjustments, slew):
    correction, raw, times, made = TimeCorrection(), T0, [], []
    for wait, offset, rate in adjustments:
        times += [t + correction.at(t) for t in (raw + wait * k / 5 for k in range(6))]
        raw += wait
        correction = correction.adjusted(raw, offset, rate, slew)
        made.append((raw, offset, rate))
    assert all(b >= a - 1e-6 for a, b in zip(times, times[1:]))
    settled = raw + 30.0 * 1e6 / slew * len(made) + 1.0       # every step back taken by then
    expected = sum(offset + rate * 1e-6 * (settled - at) for at, offset, rate in made)
    assert correction.at(settled) == pytest.approx(expected, abs=1e-6)
    assert correction.pending(settled) == 0.0


def test_an_unreadable_record_is_replaced_with_an_event(tmp_path):
    (tmp_path / "time_correction.bin").write_bytes(b"not a record")
    h = make(tmp_path, WallClock(0.1))
    assert h.events_named("TimeCorrectionLost")
    assert (tmp_path / "time_correction.unreadable").exists()
    assert adjust(h, 1.0, 0.0)[-1] == (7, None)
    h.stop()


def test_a_record_of_another_shape_is_replaced_with_an_event(tmp_path):
    from flight.core.durable import DurableRecord
    record = DurableRecord(tmp_path / "time_correction.bin")
    record.save({"correction": {"no such": 1}, "exponent": 3})
    record.close()
    h = make(tmp_path, WallClock(0.1))
    assert h.events_named("TimeCorrectionLost") and h.components["time"].telemetry["RateExponent"] == 6
    h.stop()


def test_a_rate_set_on_a_simulated_clock_restores_quietly(tmp_path):
    h = make(tmp_path, SimulatedClock(0.1, T0, 1.0))
    send(h, 9, 1, bytes([4]))
    h.stop()
    h = make(tmp_path, SimulatedClock(0.1, T0, 1.0))
    assert not h.events_named("TimeCorrectionIgnored") and h.components["time"].telemetry["RateExponent"] == 4
    h.stop()
