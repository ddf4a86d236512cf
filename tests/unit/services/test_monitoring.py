"""Tests of on-board monitoring, ST[12] (flight/services/monitoring.py, flight/services/pmon.py),
in process with the real dispatcher (flight.testing's component tester, no sockets).

A ``Gauges`` component stands for any component with channels: the test writes its telemetry and
calls the monitor's tick by hand, one call per monitoring cycle. Requests are built with
``Telecommand.encode`` and flight.wire.monitoring (whose layouts test_monitoring_layouts.py
checks). The oracle of the property test is a run-length model: a status is confirmed at the
``repetitions``-th sample of a run of equal raw statuses that differs from the confirmed one.
"""
from __future__ import annotations

import itertools
import math
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from flight.core.component import Channel, Component
from flight.core.types import DataType, Limits
from flight.messages import RawTelecommand
from flight.testing import ComponentTester, kind_of
from flight.wire import monitoring as wm
from flight.wire.failure import FailureCode
from flight.wire.monitoring import CheckType, PmonDefinition, Status
from flight.wire.pus import AckFlags, Telecommand

APID = 1
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_seq = itertools.count()


class Gauges(Component):
    CHANNELS = {"Temp": Channel(DataType.F32, "degC", Limits(yellow_high=75.0, red_high=85.0)),
                "Flags": Channel(DataType.U8), "Level": Channel(DataType.F64), "Name": Channel(DataType.STRING)}


def build(run_dir, definitions=(), **config) -> ComponentTester:
    """A fresh monitor in a fresh directory under ``run_dir`` (hypothesis reuses a test's tmp_path,
    and the PMONs are kept in the run directory)."""
    h = ComponentTester.build(tempfile.mkdtemp(dir=run_dir), [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "monitor", "kind": "flight.services.monitoring:OnboardMonitor", "definitions": list(definitions),
         **config},
        {"name": "gauges", "kind": kind_of(Gauges)}], mission={"apid": APID})
    h.start("monitor")
    return h


@pytest.fixture
def h(tmp_path):
    return build(tmp_path)


def cid(h, name="Temp") -> int:
    return h.dictionary.channel_by_name[f"gauges.{name}"].id


def cycle(h, n=1) -> None:
    for _ in range(n):
        h.tick += 1
        h.time += 0.1
        h.components["monitor"].tick(h.tick, h.time)


def sample(h, value, channel="Temp") -> None:
    h.components["gauges"].telemetry[channel] = value
    cycle(h)


def request(h, subtype, data=b"") -> tuple[int | None, list]:
    """Send TC[12,subtype]; (its ST[1] failure code or None, the other TM it caused)."""
    h.clear()
    h.send("dispatcher.tc", RawTelecommand((Telecommand(APID, next(_seq) & 0x3FFF, 12, subtype, data,
                                                          AckFlags.ALL).encode(),)))
    codes = [struct.unpack(">H", d[4:6])[0] for s, t, d in h.downlinks if s == 1 and t % 2 == 0]
    return (codes[0] if codes else None), [(s, t, d) for s, t, d in h.downlinks if s != 1]


def ok(h, subtype, data=b"") -> list:
    code, tm = request(h, subtype, data)
    assert code is None, FailureCode(code).name
    return tm


def add(h, *definitions: PmonDefinition, enable=True) -> None:
    ok(h, wm.ADD, wm.pack_definitions(list(definitions)))
    if enable:
        ok(h, wm.ENABLE, wm.pack_ids([d.pmon_id for d in definitions]))


def limit(h, pmon=1, low=-10.0, high=10.0, repetitions=1, interval=1, channel="Temp") -> PmonDefinition:
    return PmonDefinition(pmon, cid(h, channel), interval, repetitions, CheckType.LIMIT, low, high)


def monitor_events(h) -> list[tuple[str, list]]:
    return [(name, values) for component, name, values in h.events if component == "monitor"]


# --- checks and repetition -------------------------------------------------------------------------
def model(values, low, high, repetitions) -> list[tuple[Status, Status, int]]:
    """Transitions (previous, new, sample index) by runs of equal raw statuses."""
    raw = [Status.BELOW_LOW_LIMIT if v < low else Status.ABOVE_HIGH_LIMIT if v > high else Status.WITHIN_LIMITS
           for v in values]
    confirmed, out, start = Status.UNCHECKED, [], 0
    for status, run in itertools.groupby(raw):
        length = len(list(run))
        if status is not confirmed and length >= repetitions:
            out.append((confirmed, status, start + repetitions - 1))
            confirmed = status
        start += length
    return out


@PROPERTY
@given(values=st.lists(st.sampled_from([-3.0, -2.0, 0.5, 3.0, 4.0, math.nextafter(3.0, 9)]), max_size=40),
       repetitions=st.integers(1, 4))
def test_a_limit_check_transitions_and_events_equal_the_run_model(tmp_path, values, repetitions):
    h = build(tmp_path)
    add(h, limit(h, low=-2.0, high=3.0, repetitions=repetitions))
    seen, names = [], []
    for index, value in enumerate(values):
        h.clear()
        sample(h, value)  # the maximum reporting delay is 0: this cycle's transitions are reported
        seen += [(t.previous, t.current, index) for s, u, d in h.downlinks if (s, u) == (12, 12)
                 for t in wm.unpack_transitions(d)]
        names += [name for name, _ in monitor_events(h)]
    expected = model(values, -2.0, 3.0, repetitions)
    assert seen == expected
    wanted = [{Status.BELOW_LOW_LIMIT: "BelowLowLimit", Status.ABOVE_HIGH_LIMIT: "AboveHighLimit"}.get(
        new, "CheckRecovered") for old, new, _ in expected if new.violation or old.violation]
    assert names == wanted


def test_limit_events_carry_the_pmon_the_value_and_the_limit_crossed(h):
    add(h, limit(h, pmon=7, low=0.0, high=75.0, repetitions=2))
    h.clear()
    sample(h, 80.0)
    assert monitor_events(h) == []  # once is not yet a violation
    sample(h, 80.0)
    assert monitor_events(h) == [("AboveHighLimit", [7, "gauges.Temp", 80.0, 75.0])]
    sample(h, 20.0)
    sample(h, 20.0)
    assert monitor_events(h)[-1] == ("CheckRecovered", [7, "gauges.Temp", 20.0, "within limits"])
    assert h.components["monitor"].telemetry["Transitions"] == 2  # unchecked -> above -> within


def test_an_expected_value_check_compares_under_its_mask(h):
    add(h, PmonDefinition(2, cid(h, "Flags"), 1, 1, CheckType.EXPECTED_VALUE, mask=0x0F, expected=0x05))
    h.clear()
    for value in (0x05, 0xF5, 0x07, 0x07, 0x15):
        sample(h, value, "Flags")
    assert monitor_events(h) == [("UnexpectedValue", [2, "gauges.Flags", 7.0, 5.0]),
                                 ("CheckRecovered", [2, "gauges.Flags", 21.0, "expected value"])]


def test_a_delta_check_judges_the_change_between_checks_with_repetition(h):
    add(h, PmonDefinition(3, cid(h, "Level"), 1, 2, CheckType.DELTA, -1.0, 2.0))
    h.clear()
    for value in (0.0, 1.0, 4.0, 7.0, 10.0, 10.5, 11.0, 8.0):
        sample(h, value, "Level")
    events = monitor_events(h)
    assert events[0] == ("DeltaAboveHighThreshold", [3, "gauges.Level", 3.0, 2.0])  # confirmed at 7 (2nd +3)
    assert events[1] == ("CheckRecovered", [3, "gauges.Level", 0.5, "within threshold"])  # at 11.0
    assert len(events) == 2  # one drop of -3 is not confirmed


def test_the_interval_spaces_the_checks(h):
    add(h, limit(h, high=10.0, repetitions=2, interval=3))
    h.clear()
    for value in (50.0, 0.0, 0.0, 50.0, 0.0, 0.0):  # checked: cycles 1 and 4, both 50
        sample(h, value)
    assert [name for name, _ in monitor_events(h)] == ["AboveHighLimit"]


def test_a_value_that_is_not_a_number_is_invalid_and_a_failing_check_is_contained(h):
    add(h, limit(h, pmon=1), limit(h, pmon=2, channel="Level"))
    sample(h, float("nan"))
    assert ("CheckInvalid", [1, "gauges.Temp"]) in monitor_events(h)
    del h.components["gauges"].telemetry["Level"]  # the check of PMON 2 raises
    sample(h, 1.0)
    monitor = h.components["monitor"]
    assert monitor_events(h)[-1][0] == "CheckFailed" and monitor_events(h)[-1][1][0] == 2
    assert not monitor.pmons[2].enabled and monitor.pmons[1].enabled
    assert monitor.telemetry["ChecksFailed"] == 1
    sample(h, 1.0)  # the others go on
    assert monitor.pmons[1].status is Status.WITHIN_LIMITS


# --- the transition report --------------------------------------------------------------------
def test_transitions_go_down_in_tm_12_12_within_the_maximum_reporting_delay(h):
    add(h, limit(h, pmon=1), limit(h, pmon=2, channel="Level"))
    ok(h, wm.CHANGE_DELAY, struct.pack(">H", 2))
    h.clear()
    sample(h, 50.0)  # both confirmed this cycle (Level is 0: within); reported 2 cycles later
    assert not [d for s, t, d in h.downlinks if (s, t) == (12, 12)]
    cycle(h)
    assert not [d for s, t, d in h.downlinks if (s, t) == (12, 12)]
    cycle(h)
    reports = [wm.unpack_transitions(d) for s, t, d in h.downlinks if (s, t) == (12, 12)]
    assert len(reports) == 1
    assert {(t.pmon_id, t.previous, t.current) for t in reports[0]} == {
        (1, Status.UNCHECKED, Status.ABOVE_HIGH_LIMIT), (2, Status.UNCHECKED, Status.WITHIN_LIMITS)}
    assert all(t.limit == 10.0 for t in reports[0] if t.pmon_id == 1)


def test_a_full_transition_list_goes_down_at_once(h):
    add(h, *[limit(h, pmon=i) for i in range(33)])
    ok(h, wm.CHANGE_DELAY, struct.pack(">H", 100))
    h.clear()
    sample(h, 50.0)  # 33 transitions in one cycle: the list holds 32
    reports = [wm.unpack_transitions(d) for s, t, d in h.downlinks if (s, t) == (12, 12)]
    assert [len(r) for r in reports] == [32]


# --- requests and refusals --------------------------------------------------------------------------
def test_added_definitions_start_disabled_and_are_reported(h):
    d = limit(h, pmon=5, low=1.0, high=2.0, repetitions=3, interval=2)
    ok(h, wm.ADD, wm.pack_definitions([d]))
    sample(h, 50.0)
    assert h.components["monitor"].pmons[5].status is Status.UNCHECKED  # disabled: not checked
    (tm,) = ok(h, wm.REPORT_DEFINITIONS, wm.pack_ids([]))
    assert tm[:2] == (12, 9) and wm.unpack_definition_report(tm[2]) == (0, [(False, d)])
    (tm,) = ok(h, wm.REPORT_STATUS)
    assert wm.unpack_status_report(tm[2]) == [(5, False)]
    assert h.components["monitor"].telemetry["Definitions"] == 1


def test_the_out_of_limits_report_lists_the_definitions_out_of_limits(h):
    add(h, limit(h, pmon=1), limit(h, pmon=2, channel="Level"))
    sample(h, 50.0)
    (tm,) = ok(h, wm.REPORT_OUT_OF_LIMITS)
    (entry,) = wm.unpack_transitions(tm[2])
    assert (entry.pmon_id, entry.current, entry.value, entry.limit) == (1, Status.ABOVE_HIGH_LIMIT, 50.0, 10.0)
    assert h.components["monitor"].telemetry["OutOfLimits"] == 1


@pytest.mark.parametrize("make, code", [
    (lambda h: wm.pack_definitions([limit(h)])[:-3], FailureCode.BAD_ARGUMENTS),
    (lambda h: wm.pack_definitions([limit(h)]) + b"\0", FailureCode.BAD_ARGUMENTS),
    (lambda h: wm.pack_definitions([PmonDefinition(9, 0x7777, 1, 1, CheckType.LIMIT)]), FailureCode.UNKNOWN_PARAMETER),
    (lambda h: wm.pack_definitions([limit(h, low=5.0, high=1.0)]), FailureCode.ARGUMENT_OUT_OF_RANGE),
    (lambda h: wm.pack_definitions([limit(h, repetitions=0)]), FailureCode.ARGUMENT_OUT_OF_RANGE),
    (lambda h: wm.pack_definitions([limit(h, channel="Name")]), FailureCode.ARGUMENT_OUT_OF_RANGE),
    (lambda h: wm.pack_definitions([PmonDefinition(9, cid(h), 1, 1, CheckType.EXPECTED_VALUE, mask=1, expected=1)]),
     FailureCode.ARGUMENT_OUT_OF_RANGE),  # an expected value on a float channel
    (lambda h: wm.pack_definitions([limit(h, pmon=4), limit(h, pmon=4)]), FailureCode.DUPLICATE_DEFINITION),
    (lambda h: wm.pack_definitions([limit(h, pmon=3)]), FailureCode.DUPLICATE_DEFINITION),
    (lambda h: wm.pack_definitions([limit(h, pmon=8), limit(h, pmon=9)]), FailureCode.DEFINITIONS_FULL),
])
def test_a_bad_addition_is_refused_whole_with_its_code(tmp_path, make, code):
    h = build(tmp_path, max_definitions=2)
    add(h, limit(h, pmon=3))
    before = dict(h.components["monitor"].pmons)
    assert request(h, wm.ADD, make(h))[0] == code
    assert h.components["monitor"].pmons == before  # nothing of it took effect
    assert h.components["dispatcher"].telemetry["CommandsRejected"] >= 1
    assert h.events_named("CommandRejected")


def test_delete_modify_enable_refusals_and_effects(h):
    add(h, limit(h, pmon=1), limit(h, pmon=2, channel="Level"))
    assert request(h, wm.DELETE, wm.pack_ids([1]))[0] == FailureCode.DEFINITION_ENABLED
    assert request(h, wm.ENABLE, wm.pack_ids([1, 99]))[0] == FailureCode.UNKNOWN_DEFINITION
    assert request(h, wm.DELETE_ALL)[0] == FailureCode.DEFINITION_ENABLED  # the function is enabled
    moved = PmonDefinition(1, cid(h, "Level"), 1, 1, CheckType.LIMIT, 0.0, 1.0)
    assert request(h, wm.MODIFY, wm.pack_definitions([moved]))[0] == FailureCode.ARGUMENT_OUT_OF_RANGE
    assert request(h, wm.MODIFY, wm.pack_definitions([limit(h, pmon=77)]))[0] == FailureCode.UNKNOWN_DEFINITION
    sample(h, 50.0)
    assert h.components["monitor"].pmons[1].status is Status.ABOVE_HIGH_LIMIT
    ok(h, wm.MODIFY, wm.pack_definitions([limit(h, pmon=1, high=100.0)]))
    assert h.components["monitor"].pmons[1].status is Status.UNCHECKED  # modified: checked afresh
    sample(h, 50.0)
    assert h.components["monitor"].pmons[1].status is Status.WITHIN_LIMITS
    ok(h, wm.DISABLE, wm.pack_ids([1]))
    ok(h, wm.DELETE, wm.pack_ids([1]))
    assert list(h.components["monitor"].pmons) == [2]
    ok(h, wm.DISABLE_FUNCTION)
    sample(h, 1e9, "Level")
    assert h.components["monitor"].pmons[2].status is Status.WITHIN_LIMITS  # not checked while disabled
    ok(h, wm.DELETE_ALL)
    assert h.components["monitor"].pmons == {} and h.components["monitor"].telemetry["Enabled"] is False
    assert request(h, wm.REPORT_STATUS, b"\0")[0] == FailureCode.BAD_ARGUMENTS
    assert request(h, 99)[0] == FailureCode.UNKNOWN_SUBTYPE


# --- definitions from the settings --------------------------------------------------------------
def test_definitions_of_the_settings_take_the_channels_declared_limits(tmp_path):
    h = build(tmp_path, [{"id": 1, "channel": "gauges.Temp", "limits": "yellow", "repetitions": 2},
                         {"id": 2, "channel": "gauges.Temp", "limits": "red", "low": -40.0, "enabled": False}])
    pmons = h.components["monitor"].pmons
    assert (pmons[1].definition.low, pmons[1].definition.high, pmons[1].enabled) == (-math.inf, 75.0, True)
    assert (pmons[2].definition.low, pmons[2].definition.high, pmons[2].enabled) == (-40.0, 85.0, False)


@pytest.mark.parametrize("entry, words", [
    ({"id": 1, "channel": "gauges.Nope"}, "no channel 'gauges.Nope'"),
    ({"id": 1, "channel": "gauges.Name"}, "is a string"),
    ({"id": 1, "channel": "gauges.Temp", "low": 3.0, "high": 1.0}, "is not at most high"),
])
def test_a_bad_definition_of_the_settings_stops_the_start_naming_it(tmp_path, entry, words):
    h = ComponentTester.build(tmp_path, [
        {"name": "monitor", "kind": "flight.services.monitoring:OnboardMonitor", "definitions": [entry]},
        {"name": "gauges", "kind": kind_of(Gauges)}])
    problem = h.components["monitor"].preflight()
    assert problem.startswith("monitor.definitions[0]: ") and words in problem
