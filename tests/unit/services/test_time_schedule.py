"""Tests of the ST[11] time-based schedule (flight/services/time_schedule.py) with the real dispatcher,
in process (flight.testing's component tester, no sockets).

The schedule's ``tc`` port is wired into the dispatcher's, as in the default topology; requests
are built with ``Telecommand.encode`` and flight.wire.scheduling (whose layouts test_scheduling.py
checks), reports read back with struct. Mission time is the tester's; a tick is called by hand. A
restart is a new tester on the same run directory. The oracle of the property test is a plain
list of (release time, insertion number, request id).
"""
from __future__ import annotations

import resource
import signal
import sqlite3
import struct

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from flight.core.component import Component, command
from flight.core.types import DataType, Field
from flight.messages import RawTelecommand
from flight.testing import ComponentTester, kind_of
from flight.wire import scheduling as sched
from flight.wire.failure import FailureCode
from flight.wire.pus import AckFlags, Telecommand
from flight.wire.scheduling import Activity, RequestId, ticks

APID, T0 = 1, 3_000_000_000.0   # late enough that a long shift can pass the end of CUC 4+2
SCHEDULING_CODES = {FailureCode.SCHEDULE_FULL, FailureCode.RELEASE_TIME_PASSED, FailureCode.UNKNOWN_REQUEST,
                    FailureCode.DUPLICATE_REQUEST, FailureCode.BAD_ACTIVITY}


class Target(Component):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[int, float]] = []

    @command(Field("n", DataType.U32), description="record n and the mission time it ran at")
    def RECORD(self, n):
        self.calls.append((n, self.context.now()))

    @command(Field("level", DataType.U8, 1, 10))
    def LEVEL(self, level):
        pass

    @command(test_equipment=True)
    def BREAK(self):
        pass


def build(run_dir, mission=None, **config) -> ComponentTester:
    return ComponentTester.build(run_dir, [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher", "max_tc_size": 1024},
        {"name": "sched", "kind": "flight.services.time_schedule:TimeSchedule", **config},
        {"name": "tgt", "kind": kind_of(Target)}],
        connections=["sched.tc -> dispatcher.tc"], mission={"apid": APID, **(mission or {})})


def make(run_dir, mission=None, **config) -> ComponentTester:
    h = build(run_dir, mission, **config)
    h.time = T0
    h.start("dispatcher", "sched")
    return h


@pytest.fixture
def h(tmp_path):
    tester = make(tmp_path)
    yield tester
    tester.stop()


def restart(h: ComponentTester, run_dir, **config) -> ComponentTester:
    h.stop()
    again = make(run_dir, **config)
    again.time = h.time
    return again


def opcode(h, name):
    return h.dictionary.command_by_name[name].opcode


def cmd(h, name, args=b"", seq=1, source=0, **kwargs) -> bytes:
    return Telecommand(APID, seq, 8, 1, struct.pack(">H", opcode(h, name)) + args, source_id=source,
                       **kwargs).encode()


def record(h, n, seq=None) -> bytes:
    return cmd(h, "tgt.RECORD", struct.pack(">I", n), seq=n if seq is None else seq)


def request(subtype, data=b"", seq=9000) -> bytes:
    return Telecommand(APID, seq % 0x4000, 11, subtype, data, source_id=0x77).encode()


def send(h, raw) -> list[tuple[int, bytes, int | None]]:
    """Deliver one TC to the dispatcher; the ST[1] reports it gave: (subtype, request id, code)."""
    h.clear()
    h.send("dispatcher.tc", RawTelecommand((raw,)))
    return reports(h)


def reports(h):
    return [(subtype, data[:4], struct.unpack(">H", data[4:])[0] if subtype % 2 == 0 else None)
            for service, subtype, data in h.downlinks if service == 1]


def insert(h, activities: list[tuple[float, bytes]], seq=9000) -> list:
    return send(h, request(sched.INSERT, sched.pack_activities([Activity(ticks(t), p) for t, p in activities]), seq))


def completed(result) -> bool:
    return [r[0] for r in result] == [1, 3, 7]


def refused(result) -> FailureCode | None:
    return FailureCode(result[0][2]) if result and result[0][0] == 2 else None


def step(h, seconds, period=0.1):
    """Run ticks of ``period`` until ``seconds`` of mission time have passed."""
    for _ in range(int(round(seconds / period))):
        h.time = round(h.time + period, 6)
        h.tick += 1
        h.components["sched"].tick(h.tick, h.time)


def schedule_of(h):
    return [(a.release, a.request_id) for a in h.components["sched"].store.activities()]


def tgt(h):
    return h.components["tgt"]


# --- release ---------------------------------------------------------------------------------------
def test_activities_are_released_at_the_first_tick_at_or_after_their_time_in_order(h):
    offsets = [3.05, 1.0, 1.0, 0.0, 2.33, 1.0]          # ties at 1.0: insertion order
    assert completed(insert(h, [(T0 + dt, record(h, n)) for n, dt in enumerate(offsets)]))
    assert completed(send(h, request(sched.ENABLE, seq=1)))
    step(h, 4.0)
    ran = tgt(h).calls
    assert [n for n, _ in ran] == [3, 1, 2, 5, 4, 0]
    for n, at in ran:
        assert 0 <= at - (T0 + offsets[n]) < 0.1 + 1e-6   # within one tick
    sched_tm = h.components["sched"].telemetry
    assert (sched_tm["Released"], sched_tm["Pending"], sched_tm["NextRelease"]) == (6, 0, 0.0)


def test_a_released_tc_gets_its_own_st1_reports_and_counts_as_received(h):
    raw = cmd(h, "dispatcher.NO_OP", seq=77, ack=AckFlags.ACCEPTANCE | AckFlags.COMPLETION)
    insert(h, [(T0 + 0.5, raw)])
    send(h, request(sched.ENABLE, seq=1))
    received = h.components["dispatcher"].telemetry["CommandsReceived"]
    h.clear()
    step(h, 1.0)
    assert reports(h) == [(1, raw[:4], None), (7, raw[:4], None)]
    assert h.components["dispatcher"].telemetry["CommandsReceived"] == received + 1
    assert [e[1] for e in h.events] == ["ActivityReleased"]
    assert h.events[0][2][:2] == [int.from_bytes(raw[:4], "big"), T0 + 0.5]


def test_nothing_is_released_while_the_release_function_is_disabled(h):
    insert(h, [(T0 + 0.2, record(h, 1))])
    step(h, 1.0)
    assert tgt(h).calls == [] and h.components["sched"].telemetry["Pending"] == 1
    send(h, request(sched.ENABLE, seq=1))
    step(h, 0.1)
    assert [n for n, _ in tgt(h).calls] == [1]


def test_a_burst_beyond_releases_per_tick_waits_for_the_next_ticks_and_is_not_late(tmp_path):
    h = make(tmp_path, releases_per_tick=2, late_window_s=0.0, enabled=True)
    insert(h, [(T0 + 1.0, record(h, n)) for n in range(5)])
    step(h, 1.0)
    assert [n for n, _ in tgt(h).calls] == [0, 1]
    step(h, 0.2)
    assert [n for n, _ in tgt(h).calls] == [0, 1, 2, 3, 4]
    assert h.components["sched"].telemetry["SkippedLate"] == 0


# --- requests ----------------------------------------------------------------------------------
def test_delete_time_shift_and_reset_by_request_id(h):
    insert(h, [(T0 + 1 + n, record(h, n)) for n in range(4)])
    rid = [RequestId(0, APID, n) for n in range(4)]
    assert completed(send(h, request(sched.DELETE, sched.pack_ids([rid[1]]), seq=1)))
    assert completed(send(h, request(sched.TIME_SHIFT, sched.pack_shift(ticks(10.0), [rid[0], rid[0]]), seq=2)))
    assert schedule_of(h) == [(ticks(T0 + 3), rid[2]), (ticks(T0 + 4), rid[3]), (ticks(T0 + 11), rid[0])]
    assert completed(send(h, request(sched.TIME_SHIFT_ALL, sched.pack_offset(ticks(-2.5)), seq=3)))
    assert [t for t, _ in schedule_of(h)] == [ticks(T0 + 0.5), ticks(T0 + 1.5), ticks(T0 + 8.5)]
    send(h, request(sched.ENABLE, seq=4))
    assert completed(send(h, request(sched.RESET, seq=5)))
    assert schedule_of(h) == [] and h.components["sched"].telemetry["Enabled"] is False
    names = [e[1] for e in h.events]
    assert names == ["ScheduleReset"]


def test_detail_and_summary_reports_list_every_activity_in_release_order(tmp_path):
    h = make(tmp_path)
    many = [(T0 + 400 - n, record(h, n)) for n in range(300)]      # more than one report holds
    for start in range(0, 300, 25):
        assert completed(insert(h, many[start:start + 25], seq=9000 + start))
    expected = sorted(((ticks(t), raw) for t, raw in many))
    send(h, request(sched.DETAIL_REPORT_ALL, seq=1))
    details = [d for s, t, d in h.downlinks if (s, t) == (11, 10)]
    assert len(details) > 1 and all(len(d) <= sched.REPORT_OCTETS for d in details)
    assert [(a.release, a.packet) for d in details for a in sched.unpack_activities(d)] == expected
    assert [s for s, _, _ in h.downlinks][-1] == 1                  # the completion comes after them
    send(h, request(sched.SUMMARY_REPORT_ALL, seq=2))
    summaries = [d for s, t, d in h.downlinks if (s, t) == (11, 13)]
    assert [e for d in summaries for e in sched.unpack_summary(d)] == [(t, sched.request_id(p)) for t, p in expected]


# --- refusals: each its own code, nothing changed ------------------------------------------------------
def refusal_cases(h):
    good = record(h, 50)
    bad_crc = bytearray(record(h, 51))
    bad_crc[-1] ^= 1
    return [
        ("malformed insert", request(sched.INSERT, b"\x00\x01\x00"), FailureCode.BAD_ARGUMENTS),
        ("enable with data", request(sched.ENABLE, b"\x00"), FailureCode.BAD_ARGUMENTS),
        ("shift all too short", request(sched.TIME_SHIFT_ALL, b"\x00"), FailureCode.BAD_ARGUMENTS),
        ("unknown subtype", request(6), FailureCode.UNKNOWN_SUBTYPE),
        ("bad CRC inside", [(T0 + 5, good), (T0 + 5, bytes(bad_crc))], FailureCode.BAD_ACTIVITY),
        ("bad arguments inside", [(T0 + 5, cmd(h, "tgt.RECORD", b"\x00", seq=52))], FailureCode.BAD_ACTIVITY),
        ("ST[11] inside", [(T0 + 5, request(sched.ENABLE, seq=53))], FailureCode.BAD_ACTIVITY),
        ("unknown command inside", [(T0 + 5, Telecommand(APID, 54, 8, 1, b"\xff\xff").encode())],
         FailureCode.UNKNOWN_COMMAND),
        ("unknown APID inside", [(T0 + 5, Telecommand(APID + 1, 55, 17, 1).encode())], FailureCode.UNKNOWN_APID),
        ("test equipment inside", [(T0 + 5, good), (T0 + 5, cmd(h, "tgt.BREAK", seq=56))], FailureCode.NOT_ENABLED),
        ("out of range inside", [(T0 + 5, cmd(h, "tgt.LEVEL", b"\x0b", seq=57))], FailureCode.ARGUMENT_OUT_OF_RANGE),
        ("in the past", [(T0 + 5, good), (T0 - 0.01, record(h, 58))], FailureCode.RELEASE_TIME_PASSED),
        ("full", [(T0 + 5, record(h, 100 + n)) for n in range(3)], FailureCode.SCHEDULE_FULL),
        ("twice in one", [(T0 + 5, good), (T0 + 6, good)], FailureCode.DUPLICATE_REQUEST),
        ("scheduled already", [(T0 + 9, record(h, 1, seq=1))], FailureCode.DUPLICATE_REQUEST),
        ("delete unknown", request(sched.DELETE, sched.pack_ids([RequestId(0, APID, 1), RequestId(0, APID, 99)])),
         FailureCode.UNKNOWN_REQUEST),
        ("shift unknown", request(sched.TIME_SHIFT, sched.pack_shift(1, [RequestId(9, APID, 1)])),
         FailureCode.UNKNOWN_REQUEST),
        ("shift into the past", request(sched.TIME_SHIFT, sched.pack_shift(ticks(-2.5), [RequestId(0, APID, 1)])),
         FailureCode.RELEASE_TIME_PASSED),
        ("shift all into the past", request(sched.TIME_SHIFT_ALL, sched.pack_offset(ticks(-2.5))),
         FailureCode.RELEASE_TIME_PASSED),
        ("shift beyond CUC", request(sched.TIME_SHIFT_ALL, sched.pack_offset((1 << 47) - 1)),
         FailureCode.ARGUMENT_OUT_OF_RANGE),
    ]


CASES = [name for name, _, _ in refusal_cases(build("unused-run-dir"))]


@pytest.mark.parametrize("case", CASES)
def test_each_refusal_has_its_own_code_and_changes_nothing(tmp_path, case):
    h = make(tmp_path, capacity=4)
    assert completed(insert(h, [(T0 + 2, record(h, 1, seq=1)), (T0 + 3, record(h, 2, seq=2))], seq=1))
    _, message, code = next(c for c in refusal_cases(h) if c[0] == case)
    before = (schedule_of(h), h.components["sched"].telemetry["Enabled"])
    result = insert(h, message, seq=2) if isinstance(message, list) else send(h, message)
    assert refused(result) == code and len(result) == 1
    assert (schedule_of(h), h.components["sched"].telemetry["Enabled"]) == before
    assert [e[1] for e in h.events] == ["CommandRejected"]
    if code is not FailureCode.UNKNOWN_SUBTYPE:
        assert h.components["sched"].telemetry["Refused"] == 1
    h.stop()


def test_every_scheduling_code_is_provoked(h):
    assert {code for _, _, code in refusal_cases(h)} >= SCHEDULING_CODES


def test_test_equipment_can_be_scheduled_when_fault_injection_is_on(tmp_path):
    h = make(tmp_path, mission={"fault_injection": True})
    assert completed(insert(h, [(T0 + 1, cmd(h, "tgt.BREAK", seq=3))]))


def test_a_margin_refuses_release_times_too_close(tmp_path):
    h = make(tmp_path, margin_s=2.0)
    assert refused(insert(h, [(T0 + 1.9, record(h, 1))])) == FailureCode.RELEASE_TIME_PASSED
    assert completed(insert(h, [(T0 + 2.0, record(h, 1))]))


# --- at most once, across crashes and restarts ------------------------------------------------------
class Crash(BaseException):
    """The process dying in the middle of a hand-over (nothing catches it)."""


def test_an_activity_is_on_disk_as_released_before_it_is_handed_over(tmp_path):
    h = make(tmp_path, enabled=True)
    insert(h, [(T0 + 0.1, record(h, 1)), (T0 + 0.1, record(h, 2))])
    seen = []

    def look(message):
        with sqlite3.connect(tmp_path / "time_schedule.sqlite") as db:   # another process's view
            seen.append((db.execute("SELECT COUNT(*) FROM activities").fetchone()[0],
                         db.execute("SELECT COUNT(*) FROM in_flight").fetchone()[0]))

    h.components["sched"].outputs["tc"].connect(look)
    step(h, 0.1)
    assert seen == [(0, 2), (0, 2)]


def test_a_crash_during_hand_over_leaves_the_activities_in_doubt_never_run_again(tmp_path):
    h = make(tmp_path, enabled=True)
    insert(h, [(T0 + 0.1, record(h, n)) for n in range(3)] + [(T0 + 0.5, record(h, 3))])

    def die(message):
        raise Crash

    h.components["sched"].outputs["tc"].connect(die)
    with pytest.raises(Crash):
        step(h, 0.1)
    assert [n for n, _ in tgt(h).calls] == [0]                     # the first ran, then the crash
    h = restart(h, tmp_path, enabled=True)
    doubt = [e[2][0] & 0x3FFF for e in h.events_named("ActivityInDoubt")]
    assert doubt == [0, 1, 2] and h.components["sched"].telemetry["InDoubt"] == 3
    step(h, 1.0)
    assert [n for n, _ in tgt(h).calls] == [3]
    h = restart(h, tmp_path)
    assert h.events_named("ActivityInDoubt") == []                 # reported once
    h.stop()


def test_a_hand_over_that_raises_is_reported_and_the_others_go_on(tmp_path):
    h = make(tmp_path, enabled=True)
    insert(h, [(T0 + 0.1, record(h, n)) for n in range(2)])
    calls = []

    def flaky(message):
        calls.append(message)
        if len(calls) == 1:
            raise RuntimeError("bug")

    h.components["sched"].outputs["tc"].connect(flaky)
    step(h, 0.1)
    assert len(calls) == 2 and [e[1] for e in h.events_named("ReleaseFailed")] == ["ReleaseFailed"]
    h = restart(h, tmp_path)
    assert h.events_named("ActivityInDoubt") == []
    h.stop()


@pytest.mark.parametrize("late, released, skipped", [("skip", [2], [1]), ("release", [1, 2], [])])
def test_activities_due_while_the_flight_was_down_follow_the_late_rule(tmp_path, late, released, skipped):
    h = make(tmp_path, enabled=True, late=late, late_window_s=5.0)
    insert(h, [(T0 + 1, record(h, 1)), (T0 + 8, record(h, 2))])
    h.stop()                                                    # down from T0 to T0 + 10
    h.time = T0 + 10
    h = restart(h, tmp_path, enabled=True, late=late, late_window_s=5.0)
    step(h, 0.1)
    assert [n for n, _ in tgt(h).calls] == released
    assert [e[2][0] & 0x3FFF for e in h.events_named("ActivitySkipped")] == skipped
    lates = [round(e[2][2], 1) for e in h.events_named("ActivityReleased")]
    assert lates == [9.1, 2.1][-len(released):]
    counters = h.components["sched"].telemetry
    assert (counters["SkippedLate"], counters["ReleasedLate"]) == (len(skipped), 1 if late == "release" else 0)
    h.stop()


def test_the_late_rule_applies_to_time_spent_disabled(tmp_path):
    h = make(tmp_path, late_window_s=1.0)
    insert(h, [(T0 + 1, record(h, 1)), (T0 + 2.5, record(h, 2))])
    step(h, 3.0)
    send(h, request(sched.ENABLE, seq=1))
    step(h, 0.1)
    assert [n for n, _ in tgt(h).calls] == [2]
    assert h.components["sched"].telemetry["SkippedLate"] == 1


def test_the_release_function_and_the_schedule_survive_a_restart(tmp_path):
    h = make(tmp_path)
    insert(h, [(T0 + 1, record(h, 1))])
    send(h, request(sched.ENABLE, seq=1))
    h = restart(h, tmp_path)
    assert h.components["sched"].telemetry["Enabled"] is True and schedule_of(h) == [(ticks(T0 + 1),
                                                                                      RequestId(0, APID, 1))]
    step(h, 1.0)
    assert [n for n, _ in tgt(h).calls] == [1]
    h.stop()


# --- the schedule equals a model, for any sequence of requests, ticks and restarts ----------------------
class Model:
    def __init__(self):
        self.activities: list[tuple[int, int, RequestId]] = []   # (release, insertion, request id)
        self.enabled, self.inserted, self.released = True, 0, []   # as the schedule is configured

    def ids(self):
        return {rid: release for release, _, rid in self.activities}

    def insert(self, now, batch, capacity) -> FailureCode | None:
        if len(self.activities) + len(batch) > capacity:
            return FailureCode.SCHEDULE_FULL
        seen = set()
        for release, rid, good in batch:
            if not good:
                return FailureCode.NOT_ENABLED
            if release < now:
                return FailureCode.RELEASE_TIME_PASSED
            if rid in seen:
                return FailureCode.DUPLICATE_REQUEST
            seen.add(rid)
        if seen & set(self.ids()):
            return FailureCode.DUPLICATE_REQUEST
        for release, rid, _ in batch:
            self.activities.append((release, self.inserted, rid))
            self.inserted += 1
        return None

    def shift(self, now, offset, ids) -> FailureCode | None:
        scheduled = self.ids()
        if ids is not None and any(rid not in scheduled for rid in ids):
            return FailureCode.UNKNOWN_REQUEST
        chosen = set(scheduled if ids is None else ids)
        if any(scheduled[rid] + offset < now for rid in chosen):
            return FailureCode.RELEASE_TIME_PASSED
        self.activities = [(r + offset if rid in chosen else r, i, rid) for r, i, rid in self.activities]
        return None

    def tick(self, now):
        if self.enabled:
            due = sorted(a for a in self.activities if a[0] <= now)
            self.released += [rid.sequence for _, _, rid in due]
            self.activities = [a for a in self.activities if a[0] > now]


mostly = st.sampled_from([True] * 3 + [False])
inserts = st.tuples(st.just("insert"), st.lists(st.tuples(st.integers(-1, 12), st.integers(0, 12),
                                                           st.sampled_from([True] * 9 + [False])), max_size=3))
KINDS = {
    "insert": inserts,
    "wait": st.tuples(st.just("wait"), st.integers(1, 80)),   # ticks of 0.1 s
    "delete": st.tuples(st.just("delete"), st.lists(st.integers(0, 12), max_size=3)),
    "shift": st.tuples(st.just("shift"), st.integers(-10, 10), st.none() | st.lists(st.integers(0, 12), max_size=3)),
    "switch": st.tuples(st.just("switch"), mostly),
    "reset": st.tuples(st.just("reset"),),
    "restart": st.tuples(st.just("restart"),),
}
operations = st.lists(st.sampled_from(["insert"] * 4 + ["wait"] * 4 + ["switch"] * 2 + ["delete", "shift", "reset",
                                                                                           "restart"])
                      .flatmap(KINDS.__getitem__), min_size=5, max_size=30)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_the_schedule_equals_a_model_for_any_sequence_of_requests(tmp_path_factory, ops):
    run_dir = tmp_path_factory.mktemp("model")
    config = {"capacity": 8, "late_window_s": 1e6, "enabled": True}
    h, model, ran = make(run_dir, **config), Model(), []
    half = ticks(0.5)                                   # times in steps of half a second
    for number, op in enumerate(ops):
        now, seq = ticks(h.time), 10000 + number
        if op[0] == "wait":
            for _ in range(op[1]):
                step(h, 0.1)
                model.tick(ticks(h.time))
        elif op[0] == "restart":
            ran += [n for n, _ in tgt(h).calls]
            h = restart(h, run_dir, **config)
        else:
            expected, result = apply(h, model, op, now, seq, half)
            event(f"{op[0]}: {expected.name if expected else 'done'}")
            assert refused(result) == expected, (op, result)
            assert completed(result) == (expected is None)
        assert schedule_of(h) == [(r, rid) for r, _, rid in sorted(model.activities)]
        assert ran + [n for n, _ in tgt(h).calls] == model.released
    event(f"activities released: {min(len(model.released), 5)}{'+' if len(model.released) >= 5 else ''}")
    h.stop()


def apply(h, model, op, now, seq, half):
    """Send the request ``op`` names and apply it to the model: (the model's verdict, the reports)."""
    if op[0] == "insert":
        batch = [(now + dt * half, RequestId(0, APID, n), good) for dt, n, good in op[1]]
        raws = [(r / 65536, record(h, rid.sequence) if good else cmd(h, "tgt.BREAK", seq=rid.sequence))
                for r, rid, good in batch]
        return model.insert(now, batch, 8), insert(h, raws, seq)
    if op[0] == "delete":
        ids = [RequestId(0, APID, n) for n in op[1]]
        expected = None if set(ids) <= set(model.ids()) else FailureCode.UNKNOWN_REQUEST
        if expected is None:
            model.activities = [a for a in model.activities if a[2] not in ids]
        return expected, send(h, request(sched.DELETE, sched.pack_ids(ids), seq))
    if op[0] == "shift":
        ids = None if op[2] is None else [RequestId(0, APID, n) for n in op[2]]
        data = sched.pack_offset(op[1] * half) if ids is None else sched.pack_shift(op[1] * half, ids)
        return model.shift(now, op[1] * half, ids), send(h, request(sched.TIME_SHIFT_ALL if ids is None
                                                                    else sched.TIME_SHIFT, data, seq))
    if op[0] == "switch":
        model.enabled = op[1]
        return None, send(h, request(sched.ENABLE if op[1] else sched.DISABLE, seq=seq))
    model.activities, model.enabled = [], False
    return None, send(h, request(sched.RESET, seq=seq))


def test_a_request_before_the_schedule_started_is_refused(tmp_path):
    h = build(tmp_path)
    result = send(h, request(sched.ENABLE))
    assert refused(result) == FailureCode.INVALID_STATE


def test_two_components_serving_one_request_are_refused_at_build(tmp_path):
    with pytest.raises(ValueError, match="served already"):
        ComponentTester.build(tmp_path, [
            {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
            {"name": "one", "kind": "flight.services.time_schedule:TimeSchedule"},
            {"name": "two", "kind": "flight.services.time_schedule:TimeSchedule"}])


# --- a full disk ------------------------------------------------------------------------------------
# RLIMIT_FSIZE lowered in this process with SIGXFSZ ignored (as the ground's archive tests do): a
# write that would take a file past the limit fails with EFBIG, as on a full disk.
@pytest.fixture
def disk_limit():
    """Call with the room (octets) each file may still grow by; the limit is restored after the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def limit(run_dir, room: int | None) -> None:
        """room None: no limit; room < 0: no write at all (the WAL is rewritten in place after a
        checkpoint, so a delete may need no more room than the files have)."""
        if room is None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            return
        largest = max(path.stat().st_size for path in run_dir.rglob("*") if path.is_file())
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest + room if room >= 0 else 1, hard))

    yield limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, handler)


def numbers_of(h) -> list[int]:
    return sorted(rid[2] for _, rid in schedule_of(h))


def test_an_insert_a_full_disk_refuses_fails_keeping_nothing_of_itself_and_all_stored_before(tmp_path, disk_limit):
    h = make(tmp_path, enabled=True)
    insert(h, [(T0 + 100.0, record(h, 0))], seq=1)     # the files exist before the limit is set
    disk_limit(tmp_path, 64 * 1024)
    stored, failure, batch = [0], None, 0
    while failure is None and batch < 200:
        batch += 1
        numbers = range(batch * 40, batch * 40 + 40)
        result = insert(h, [(T0 + 100.0 + n / 1000, record(h, n)) for n in numbers], seq=batch + 1)
        if completed(result):
            stored.extend(numbers)
        else:
            failure = result
    assert failure is not None, "the disk never filled"
    assert len(stored) > 1, "no insert fitted before the disk filled: the test tests nothing"
    assert [r[0] for r in failure] == [1, 3, 8] and FailureCode(failure[-1][2]) == FailureCode.INTERNAL_ERROR
    assert numbers_of(h) == stored                              # nothing of the failed insert
    disk_limit(tmp_path, None)
    h = restart(h, tmp_path, enabled=True)
    assert numbers_of(h) == stored                              # on disk: each stored activity, no more
    step(h, 101.0)
    assert sorted(n for n, _ in tgt(h).calls) == stored
    h.stop()


def test_a_release_a_full_disk_refuses_is_deferred_with_an_event_and_goes_on_when_there_is_room(tmp_path,
                                                                                               disk_limit):
    h = make(tmp_path, enabled=True)
    for batch in range(5):
        assert completed(insert(h, [(T0 + 0.5 + n / 1000, record(h, n)) for n in range(batch * 40, batch * 40 + 40)],
                                seq=batch + 1))
    disk_limit(tmp_path, -1)
    step(h, 1.0)                                                # no exception leaves the component
    assert tgt(h).calls == [] and len(schedule_of(h)) == 200
    assert h.components["sched"].telemetry["Deferred"] >= 5 and h.events_named("ReleaseDeferred")
    disk_limit(tmp_path, None)
    step(h, 1.0)
    assert sorted(n for n, _ in tgt(h).calls) == list(range(200))
    h = restart(h, tmp_path, enabled=True)
    assert schedule_of(h) == []
    h.stop()
