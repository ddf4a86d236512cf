"""Tests of the ST[21] request sequencer (flight/services/sequencer.py) with the real dispatcher, in
process (flight.testing's component tester, no sockets).

Wiring as in the default topology: the sequencer's ``tc`` into the dispatcher's, the dispatcher's
ST[1] reports back into ``verification`` (and recorded here). Mission time is the tester's, a tick
is called by hand every ``TICK`` s. A restart is a new tester on the same run directory.
"""
from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as hst

from flight.core.component import Component, CommandError, Event, command
from flight.core.types import DataType, Field, Severity
from flight.messages import RawTelecommand
from flight.testing import ComponentTester, kind_of
from flight.wire import event_action as wa
from flight.wire import scheduling as sched
from flight.wire import sequencing as sq
from flight.wire.event_action import Key
from flight.wire.failure import FailureCode
from flight.wire.pus import AckFlags, Telecommand
from flight.wire.sequencing import Step

APID, T0, TICK = 1, 1_000_000.0, 0.1
_seq = itertools.count(1)


class Target(Component):
    EVENTS = {"Trigger": Event(Severity.ACTIVITY, "trigger")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[int, float]] = []

    @command(Field("n", DataType.U32, 0, 1000))
    def RECORD(self, n):
        self.calls.append((n, self.context.now()))

    @command()
    def FAIL(self):
        raise CommandError("refused")

    @command()
    def TRIGGER(self):
        self.event("Trigger")


def build(run_dir, **config) -> ComponentTester:
    h = ComponentTester.build(run_dir, [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "seq", "kind": "flight.services.sequencer:Sequencer", **config},
        {"name": "eventLog", "kind": "flight.services.event_log:EventLog"},
        {"name": "ea", "kind": "flight.services.event_action:EventAction"},
        {"name": "sched", "kind": "flight.services.time_schedule:TimeSchedule", "enabled": True},
        {"name": "tgt", "kind": kind_of(Target)}],
        connections=["seq.tc -> dispatcher.tc", "dispatcher.tm -> seq.verification", "eventLog.reports -> ea.events",
                     "ea.tc -> dispatcher.tc", "sched.tc -> dispatcher.tc"], mission={"apid": APID})
    h.reports = []
    h.components["dispatcher"].outputs["tm"].connect(h.reports.append)
    h.time = T0
    h.start("dispatcher", "seq", "ea", "sched")
    return h


@pytest.fixture
def h(tmp_path):
    tester = build(tmp_path)
    yield tester
    tester.stop()


def tc(service, subtype, data=b"", ack=AckFlags.ALL) -> bytes:
    return Telecommand(APID, next(_seq) & 0x3FFF, service, subtype, data, ack).encode()


def step(h, name, *args, delay_ms=0, ack=AckFlags.COMPLETION) -> Step:
    opcode = h.dictionary.command_by_name[name].opcode
    data = struct.pack(">H", opcode) + b"".join(struct.pack(">I", a) for a in args)
    return Step(delay_ms, tc(8, 1, data, ack))


def request(h, subtype, data=b"") -> int | None:
    """Send TC[21,subtype]; its ST[1] failure code, None if it succeeded."""
    raw = tc(sq.SERVICE, subtype, data)
    h.reports.clear()
    h.send("dispatcher.tc", RawTelecommand((raw,)))
    codes = [struct.unpack(">H", r.app_data[4:6])[0] for r in h.reports
             if r.service == 1 and r.subtype % 2 == 0 and r.app_data[:4] == raw[:4]]
    return codes[0] if codes else None


def load(h, name, steps) -> int | None:
    return request(h, sq.DIRECT_LOAD, sq.pack_load(name, steps))


def named(h, subtype, name) -> int | None:
    return request(h, subtype, sq.pack_name(name))


def run_for(h, seconds):
    for _ in range(round(seconds / TICK)):
        h.time += TICK
        h.tick += 1
        h.components["seq"].tick(h.tick, h.time)


def status(h) -> list[tuple[str, bool]]:
    h.clear()
    assert request(h, sq.REPORT_STATUS) is None
    (report,) = [d for s, t, d in h.downlinks if (s, t) == (sq.SERVICE, sq.STATUS_REPORT)]
    return sq.unpack_status(report)


def test_load_activate_releases_each_step_within_one_tick_of_its_time(h):
    steps = [step(h, "tgt.RECORD", 1, delay_ms=250), step(h, "tgt.RECORD", 2, delay_ms=0),
             step(h, "tgt.RECORD", 3, delay_ms=1030)]
    assert load(h, "pass", steps) is None
    assert status(h) == [("pass", False)]
    start = h.time
    assert named(h, sq.ACTIVATE, "pass") is None
    assert status(h) == [("pass", True)]
    h.reports.clear()
    run_for(h, 2)
    target = h.components["tgt"].calls
    assert [n for n, _ in target] == [1, 2, 3]
    completions = [r.app_data[:4] for r in h.reports if (r.service, r.subtype) == (1, 7)]
    assert completions == [s.request[:4] for s in steps]   # each step its own ST[1] report
    for (_, at), due in zip(target, [0.25, 0.25, 1.28]):
        assert start + due <= at < start + due + TICK + 1e-9
    seq = h.components["seq"]
    assert seq.telemetry["StepsReleased"] == 3 and seq.telemetry["Completed"] == 1
    assert seq.telemetry["Running"] == 0 and status(h) == [("pass", False)]
    assert named(h, sq.ACTIVATE, "pass") is None   # runs again
    run_for(h, 2)
    assert len(target) == 6


def test_a_failing_step_aborts_its_sequence_with_an_event(h):
    assert load(h, "s", [step(h, "tgt.RECORD", 1), step(h, "tgt.FAIL", delay_ms=100),
                         step(h, "tgt.RECORD", 2, delay_ms=100)]) is None
    assert named(h, sq.ACTIVATE, "s") is None
    h.clear()
    run_for(h, 1)
    assert [n for n, _ in h.components["tgt"].calls] == [1]
    assert [e[2][:2] for e in h.events_named("StepFailed")] == [["s", 1]]
    assert h.events_named("SequenceAborted")[0][2][:2] == ["s", 1]
    assert h.components["seq"].telemetry["Aborted"] == 1 and h.components["seq"].telemetry["Running"] == 0


def test_abort_stops_the_remaining_steps_and_unload_removes(h):
    assert load(h, "s", [step(h, "tgt.RECORD", 1, delay_ms=500)]) is None
    assert named(h, sq.ACTIVATE, "s") is None
    assert named(h, sq.UNLOAD, "s") == FailureCode.SEQUENCE_ACTIVE
    assert named(h, sq.ACTIVATE, "s") == FailureCode.SEQUENCE_ACTIVE
    assert named(h, sq.ABORT, "s") is None
    assert named(h, sq.ABORT, "s") == FailureCode.INVALID_STATE
    run_for(h, 1)
    assert h.components["tgt"].calls == []
    assert named(h, sq.UNLOAD, "s") is None
    assert status(h) == []
    assert named(h, sq.ACTIVATE, "s") == FailureCode.UNKNOWN_SEQUENCE


@pytest.mark.parametrize("case,code", [
    ("duplicate", FailureCode.DUPLICATE_SEQUENCE), ("too many steps", FailureCode.SEQUENCES_FULL),
    ("too many sequences", FailureCode.SEQUENCES_FULL), ("malformed step", FailureCode.BAD_STEP),
    ("st21 step", FailureCode.BAD_STEP), ("out of range", FailureCode.ARGUMENT_OUT_OF_RANGE),
    ("unknown command", FailureCode.UNKNOWN_COMMAND), ("empty", FailureCode.BAD_ARGUMENTS),
    ("truncated", FailureCode.BAD_ARGUMENTS)])
def test_a_refused_load_changes_nothing_and_has_its_code(tmp_path, case, code):
    h = build(tmp_path, max_steps=3, max_sequences=2)
    assert load(h, "a", [step(h, "tgt.RECORD", 1)]) is None
    good = step(h, "tgt.RECORD", 2)
    data = {"duplicate": lambda: sq.pack_load("a", [good]),
            "too many steps": lambda: sq.pack_load("b", [good] * 4),
            "malformed step": lambda: sq.pack_load("b", [good, Step(0, good.request[:-1] + b"\0")]),
            "st21 step": lambda: sq.pack_load("b", [Step(0, tc(sq.SERVICE, sq.ACTIVATE, sq.pack_name("a")))]),
            "out of range": lambda: sq.pack_load("b", [good, step(h, "tgt.RECORD", 1001)]),
            "unknown command": lambda: sq.pack_load("b", [Step(0, tc(8, 1, b"\xff\xff"))]),
            "empty": lambda: sq.pack_load("b", []),
            "truncated": lambda: sq.pack_load("b", [good])[:-3]}
    if case == "too many sequences":
        assert load(h, "b", [good]) is None
        payload = sq.pack_load("c", [good])
    else:
        payload = data[case]()
    before = dict(h.components["seq"].store.sequences)
    assert request(h, sq.DIRECT_LOAD, payload) == code
    assert h.components["seq"].store.sequences == before
    assert h.components["seq"].telemetry["Refused"] == 1
    h.stop()


def test_at_most_max_running_sequences_run_at_once(tmp_path):
    h = build(tmp_path, max_running=2)
    for name in "abc":
        assert load(h, name, [step(h, "tgt.RECORD", 1, delay_ms=1000)]) is None
    assert named(h, sq.ACTIVATE, "a") is None and named(h, sq.ACTIVATE, "b") is None
    assert named(h, sq.ACTIVATE, "c") == FailureCode.BUSY
    run_for(h, 1.5)
    assert len(h.components["tgt"].calls) == 2
    h.stop()


def test_loaded_sequences_survive_a_restart_and_a_running_one_is_reported_not_resumed(tmp_path):
    h = build(tmp_path)
    assert load(h, "keep", [step(h, "tgt.RECORD", 1, delay_ms=100)]) is None
    assert load(h, "cut", [step(h, "tgt.RECORD", 2, delay_ms=100), step(h, "tgt.RECORD", 3, delay_ms=900)]) is None
    assert named(h, sq.ACTIVATE, "cut") is None
    run_for(h, 0.5)
    assert [n for n, _ in h.components["tgt"].calls] == [2]
    h.components["seq"].store.close()   # as a SIGKILL: nothing more is written
    again = build(tmp_path)
    assert again.events_named("SequenceInterrupted") == [("seq", "SequenceInterrupted", ["cut"])]
    assert again.components["seq"].telemetry["Interrupted"] == 1
    assert status(again) == [("cut", False), ("keep", False)]
    run_for(again, 2)
    assert again.components["tgt"].calls == []   # not resumed
    again.stop()
    third = build(tmp_path)
    assert third.events_named("SequenceInterrupted") == []   # reported once
    third.stop()


def test_an_event_action_and_the_schedule_activate_a_sequence(h):
    assert load(h, "resp", [step(h, "tgt.RECORD", 7)]) is None
    trigger = Key(h.dictionary.event_by_name["tgt.Trigger"].id)
    activate = tc(sq.SERVICE, sq.ACTIVATE, sq.pack_name("resp"))
    for subtype, data in ((wa.ADD, struct.pack(">H", 1) + trigger.pack() + activate),
                          (wa.ENABLE, wa.pack_keys([trigger]))):
        h.send("dispatcher.tc", RawTelecommand((tc(wa.SERVICE, subtype, data),)))
    opcode = h.dictionary.command_by_name["tgt.TRIGGER"].opcode
    h.send("dispatcher.tc", RawTelecommand((tc(8, 1, struct.pack(">H", opcode)),)))
    h.components["ea"].tick(h.tick, h.time)   # the event-action's cycle sends TC[21,4]
    run_for(h, 0.2)
    assert [n for n, _ in h.components["tgt"].calls] == [7]
    activity = sched.Activity(sched.ticks(h.time + 1), tc(sq.SERVICE, sq.ACTIVATE, sq.pack_name("resp")))
    h.send("dispatcher.tc", RawTelecommand((tc(sched.SCHEDULING, sched.INSERT, sched.pack_activities([activity])),)))
    for _ in range(15):
        h.time += TICK
        h.components["sched"].tick(h.tick, h.time)
        h.components["seq"].tick(h.tick, h.time)
    assert [n for n, _ in h.components["tgt"].calls] == [7, 7]


names = hst.sampled_from(["a", "b", "c"])
operations = hst.lists(hst.tuples(hst.sampled_from(["load", "unload", "restart"]), names,
                                  hst.integers(1, 3)), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_loaded_sequences_equal_a_model_across_requests_and_restarts(tmp_path_factory, ops):
    run_dir = tmp_path_factory.mktemp("seq")
    h, model = build(run_dir), {}
    for op, name, n in ops:
        if op == "restart":
            h.stop()
            h = build(run_dir)
        elif op == "load":
            code = load(h, name, [step(h, "tgt.RECORD", i) for i in range(n)])
            assert (code is None) == (name not in model)
            model.setdefault(name, n)
        else:
            assert (named(h, sq.UNLOAD, name) is None) == (name in model)
            model.pop(name, None)
        assert {k: len(v) for k, v in h.components["seq"].store.sequences.items()} == model
    assert status(h) == [(name, False) for name in sorted(model)]
    h.stop()
