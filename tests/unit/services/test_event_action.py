"""Tests of the event-action service, ST[19] (flight/services/event_action.py), in process with the
real dispatcher and event log (flight.testing's component tester, no sockets), wired as in the
default topology: every event goes from the event log's ``reports`` port to the service, whose
``tc`` port feeds the dispatcher. A ``Target`` component raises events and takes commands.
"""
from __future__ import annotations

import itertools
import struct

import pytest

from flight.core.component import CommandError, Component, Event, command
from flight.core.types import DataType, Field, Severity
from flight.messages import EventReport, RawTelecommand
from flight.testing import ComponentTester, kind_of
from flight.wire import event_action as wa
from flight.wire.event_action import Key
from flight.wire.failure import FailureCode
from flight.wire.pus import AckFlags, Telecommand

APID = 1
_seq = itertools.count(100)


class Target(Component):
    EVENTS = {"Hot": Event(Severity.WARNING_HI, "{card} is hot", (Field("card", DataType.STRING),)),
              "Tick": Event(Severity.ACTIVITY, "tick")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    @command(Field("card", DataType.STRING))
    def PARK(self, card):
        self.calls.append(card)

    @command()
    def FAIL(self):
        raise CommandError("refused")


def build(run_dir, definitions=(), **config) -> ComponentTester:
    h = ComponentTester.build(run_dir, [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "eventLog", "kind": "flight.services.event_log:EventLog"},
        {"name": "ea", "kind": "flight.services.event_action:EventAction", "definitions": list(definitions), **config},
        {"name": "tgt", "kind": kind_of(Target)}],
        connections=["eventLog.reports -> ea.events", "ea.tc -> dispatcher.tc"], mission={"apid": APID})
    h.start("ea")
    return h


HOT1 = {"event": "tgt.Hot", "argument": "card1", "command": "tgt.PARK", "args": ["card1"]}
ANY_TICK = {"event": "tgt.Tick", "command": "tgt.PARK", "args": ["all"]}


def tick(h) -> None:
    h.tick += 1
    h.components["ea"].tick(h.tick, float(h.tick))


def request(h, subtype, data=b"") -> tuple[int | None, list]:
    h.clear()
    h.send("dispatcher.tc", RawTelecommand((Telecommand(APID, next(_seq) & 0x3FFF, 19, subtype, data).encode(),)))
    codes = [struct.unpack(">H", d[4:6])[0] for s, t, d in h.downlinks if s == 1 and t % 2 == 0]
    return (codes[0] if codes else None), [(s, t, d) for s, t, d in h.downlinks if s != 1]


def ok(h, subtype, data=b"") -> list:
    code, tm = request(h, subtype, data)
    assert code is None, FailureCode(code).name
    return tm


def packet(h, name, *args: bytes, seq=5) -> bytes:
    opcode = h.dictionary.command_by_name[name].opcode
    return Telecommand(APID, seq, 8, 1, struct.pack(">H", opcode) + b"".join(args), AckFlags.COMPLETION).encode()


def string(text: str) -> bytes:
    return bytes([len(text)]) + text.encode()


def key(h, event, argument="") -> Key:
    return Key(h.dictionary.event_by_name[event].id, argument)


def test_the_event_log_sends_every_event_out_of_its_reports_port(tmp_path):
    h = ComponentTester.build(tmp_path, [{"name": "eventLog", "kind": "flight.services.event_log:EventLog"},
                                         {"name": "tgt", "kind": kind_of(Target)}])
    h.components["tgt"].event("Hot", card="card2")
    assert h.sent["eventLog.reports"] == [
        EventReport("tgt", "Hot", h.dictionary.event_by_name["tgt.Hot"].id, ("card2",))]


def test_an_enabled_definition_sends_its_request_at_the_next_cycle_reported_in_st1(tmp_path):
    h = build(tmp_path, [HOT1])
    target, ea = h.components["tgt"], h.components["ea"]
    target.event("Hot", card="card0")  # another card: not this definition's
    target.event("Hot", card="card1")
    assert target.calls == []  # queued: sent at the next cycle
    h.clear()
    tick(h)
    assert target.calls == ["card1"]
    assert h.events_named("ActionTriggered") == [("ea", "ActionTriggered", ["tgt.Hot", "card1", "tgt.PARK"])]
    request_id = ea.definitions[key(h, "tgt.Hot", "card1")].request[:4]
    assert struct.unpack(">H", request_id[2:])[0] & 0x3FFF == 0x3FFF  # the first definition's: 16383
    assert [(s, t, d) for s, t, d in h.downlinks if s == 1] == [(1, 1, request_id), (1, 7, request_id)]
    assert ea.telemetry["ActionsTriggered"] == 1
    for _ in range(2):  # once per occurrence
        target.event("Hot", card="card1")
    tick(h)
    assert target.calls == ["card1"] * 3


def test_disabled_definitions_and_a_disabled_function_send_nothing(tmp_path):
    h = build(tmp_path, [HOT1, ANY_TICK])
    target = h.components["tgt"]
    ok(h, wa.DISABLE, wa.pack_keys([key(h, "tgt.Hot", "card1")]))
    target.event("Hot", card="card1")
    target.event("Tick")
    tick(h)
    assert target.calls == ["all"]
    ok(h, wa.DISABLE_FUNCTION)
    target.event("Tick")
    tick(h)
    assert target.calls == ["all"] and h.components["ea"].telemetry["Enabled"] is False
    ok(h, wa.ENABLE_FUNCTION)
    ok(h, wa.ENABLE)  # no data: every definition
    target.event("Hot", card="card1")
    tick(h)
    assert target.calls == ["all", "card1"]


def test_a_failing_action_fails_alone_in_st1_and_a_full_queue_drops_with_an_event(tmp_path):
    h = build(tmp_path, [{"event": "tgt.Hot", "command": "tgt.FAIL"}, ANY_TICK], queue_depth=3)
    target, ea = h.components["tgt"], h.components["ea"]
    target.event("Hot", card="x")
    target.event("Tick")
    h.clear()
    tick(h)
    assert target.calls == ["all"]  # the failing one did not stop the other
    assert [t for s, t, _ in h.downlinks if s == 1] == [1, 8, 1, 7]  # FAIL: accepted, failed; PARK: done
    assert h.events_named("CommandFailed")[0][2][0] == "tgt.FAIL"
    for _ in range(5):
        target.event("Tick")
    tick(h)
    assert target.calls == ["all"] * 4
    assert ea.telemetry["ActionsDropped"] == 2 and len(h.events_named("ActionDropped")) == 2
    assert ea.telemetry["ActionsTriggered"] == 5


def test_the_services_own_events_start_nothing(tmp_path):
    h = build(tmp_path, [ANY_TICK])
    h.components["ea"].events(EventReport("ea", "ActionTriggered", key(h, "ea.ActionTriggered").event_id,
                                           ("tgt.Tick", "", "tgt.PARK")))
    tick(h)
    assert h.components["tgt"].calls == []


def test_added_definitions_start_disabled_then_fire_once_enabled_and_are_reported(tmp_path):
    h = build(tmp_path)
    target = h.components["tgt"]
    request_packet = packet(h, "tgt.PARK", string("card2"))
    hot2 = key(h, "tgt.Hot", "card2")
    ok(h, wa.ADD, wa.pack_additions([(hot2, request_packet)]))
    target.event("Hot", card="card2")
    tick(h)
    assert target.calls == []
    (tm,) = ok(h, wa.REPORT_STATUS)
    assert tm[:2] == (19, 7) and wa.unpack_status_report(tm[2]) == [(hot2, False)]
    ok(h, wa.ENABLE, wa.pack_keys([hot2]))
    target.event("Hot", card="card2")
    tick(h)
    assert target.calls == ["card2"]
    (tm,) = ok(h, wa.REPORT_DEFINITIONS, wa.pack_keys([]))
    assert tm[:2] == (19, 11) and wa.unpack_definition_report(tm[2]) == [(hot2, True, request_packet)]
    assert request(h, wa.DELETE, wa.pack_keys([hot2]))[0] == FailureCode.DEFINITION_ENABLED
    ok(h, wa.DISABLE, wa.pack_keys([hot2]))
    ok(h, wa.DELETE, wa.pack_keys([hot2]))
    assert h.components["ea"].definitions == {} and h.components["ea"].telemetry["Definitions"] == 0


@pytest.mark.parametrize("make, code", [
    (lambda h: wa.pack_additions([(Key(0x7777), packet(h, "tgt.FAIL"))]), FailureCode.ARGUMENT_OUT_OF_RANGE),
    (lambda h: wa.pack_additions([(key(h, "ea.ActionFailed"), packet(h, "tgt.FAIL"))]),
     FailureCode.ARGUMENT_OUT_OF_RANGE),   # its own event: it could loop
    (lambda h: wa.pack_additions([(key(h, "tgt.Tick", "x"), packet(h, "tgt.FAIL"))]),
     FailureCode.ARGUMENT_OUT_OF_RANGE),   # no argument to match
    (lambda h: wa.pack_additions([(key(h, "tgt.Hot", "card1"), packet(h, "tgt.FAIL"))]),
     FailureCode.DUPLICATE_DEFINITION),
    (lambda h: wa.pack_additions([(key(h, "tgt.Hot", "a"), packet(h, "tgt.FAIL")),
                                  (key(h, "tgt.Hot", "a"), packet(h, "tgt.FAIL"))]), FailureCode.DUPLICATE_DEFINITION),
    (lambda h: wa.pack_additions([(key(h, "tgt.Hot", "a"), packet(h, "tgt.FAIL")),
                                  (key(h, "tgt.Hot", "b"), packet(h, "tgt.FAIL"))]), FailureCode.DEFINITIONS_FULL),
    (lambda h: wa.pack_additions([(key(h, "tgt.Hot"), Telecommand(APID, 1, 8, 1, b"\x77\x77").encode())]),
     FailureCode.UNKNOWN_COMMAND),         # the embedded request is accepted as the dispatcher would
    (lambda h: wa.pack_additions([(key(h, "tgt.Hot"), packet(h, "tgt.PARK"))]), FailureCode.BAD_ARGUMENTS),
    (lambda h: wa.pack_additions([(key(h, "tgt.Hot"), packet(h, "tgt.FAIL"))])[:-1], FailureCode.BAD_ARGUMENTS),
    (lambda h: wa.pack_keys([key(h, "tgt.Hot", "zz")]), None),  # (sent as TC[19,2]: below)
])
def test_a_bad_request_is_refused_whole_with_its_code(tmp_path, make, code):
    h = build(tmp_path, [HOT1], max_definitions=2)
    before = dict(h.components["ea"].definitions)
    if code is None:
        assert request(h, wa.DELETE, make(h))[0] == FailureCode.UNKNOWN_DEFINITION
    else:
        assert request(h, wa.ADD, make(h))[0] == code
    assert h.components["ea"].definitions == before
    assert h.events_named("CommandRejected")


def test_delete_all_and_malformed_requests(tmp_path):
    h = build(tmp_path, [HOT1, ANY_TICK])
    assert request(h, wa.DELETE_ALL, b"\0")[0] == FailureCode.BAD_ARGUMENTS
    assert request(h, wa.ENABLE, b"\0\1")[0] == FailureCode.BAD_ARGUMENTS
    assert request(h, 99)[0] == FailureCode.UNKNOWN_SUBTYPE
    ok(h, wa.DELETE_ALL)
    assert h.components["ea"].definitions == {}


@pytest.mark.parametrize("entry, words", [
    ({"event": "tgt.Cold", "command": "tgt.PARK", "args": ["a"]}, "no event 'tgt.Cold'"),
    ({"event": "tgt.Hot", "command": "tgt.MELT"}, "no command 'tgt.MELT'"),
    ({"event": "tgt.Hot", "command": "tgt.PARK", "args": []}, "tgt.PARK []"),
    ({"event": "tgt.Hot", "command": "tgt.PARK", "args": [3]}, "tgt.PARK [3]"),
    ({"event": "ea.ActionFailed", "command": "tgt.FAIL"}, "could loop"),
])
def test_a_bad_definition_of_the_settings_stops_the_start_naming_it(tmp_path, entry, words):
    h = ComponentTester.build(tmp_path, [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "ea", "kind": "flight.services.event_action:EventAction", "definitions": [HOT1, entry]},
        {"name": "tgt", "kind": kind_of(Target)}], mission={"apid": APID})
    problem = h.components["ea"].preflight()
    assert problem is not None and problem.startswith("ea.definitions[1]: ") and words in problem, problem
