"""Tests of the definitions kept across a restart (flight/services/saved_state.py, as the ST[12]
monitor, flight/services/monitoring.py, and the ST[19] event-action service,
flight/services/event_action.py, use it), in process with the real dispatcher.

A restart is a second tester built in the same run directory while the first is left as it is
(nothing closed or flushed: what a SIGKILL leaves). "On disk before the completion" is checked at
the instant the dispatcher sends TM[1,7]: the file is read then, by a record of its own.
The oracle of the property test is a model of PUS-C's rules for the same requests (a dict of
id -> enabled, the function's flag), independent of the component. The kill test runs a writer
process sending a fixed sequence of ST[12] and ST[19] requests (printing the count after each
completion) and kills it with SIGKILL at a moment drawn from a seed; the state reloaded must be the
one a run without a kill had after the completions printed, or after the next (a request the kill
cut may or may not have reached the disk), never anything else.
"""
from __future__ import annotations

import itertools
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from flight.core.component import Channel, Component, Event
from flight.core.durable import DurableRecord
from flight.core.types import DataType, Field, Limits, Severity
from flight.messages import EventReport, RawTelecommand, TmPacket
from flight.testing import ComponentTester, kind_of
from flight.wire import event_action as wa
from flight.wire import monitoring as wm
from flight.wire.event_action import Key
from flight.wire.failure import FailureCode
from flight.wire.monitoring import CheckType, PmonDefinition
from flight.wire.pus import AckFlags, Telecommand

APID = 1
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_seq = itertools.count()


class Gauges(Component):
    CHANNELS = {"Temp": Channel(DataType.F32, "degC", Limits(yellow_high=75.0)), "Level": Channel(DataType.F64)}
    EVENTS = {"Hot": Event(Severity.WARNING_HI, "{card} is hot", (Field("card", DataType.STRING),))}


DEFAULT_PMON = {"id": 1, "channel": "gauges.Temp", "limits": "yellow"}
DEFAULT_ACTION = {"event": "gauges.Hot", "argument": "card1", "command": "monitor.RESTORE_DEFAULTS"}


def build(run_dir: Path) -> ComponentTester:
    h = ComponentTester.build(run_dir, [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "monitor", "kind": "flight.services.monitoring:OnboardMonitor", "definitions": [DEFAULT_PMON]},
        {"name": "ea", "kind": "flight.services.event_action:EventAction", "definitions": [DEFAULT_ACTION]},
        {"name": "gauges", "kind": kind_of(Gauges)}],
        connections=["ea.tc -> dispatcher.tc"], mission={"apid": APID})
    h.start("monitor", "ea")
    return h


def request(h, service, subtype, data=b"") -> int | None:
    """Send TC[service,subtype]; its ST[1] failure code, or None."""
    h.clear()
    h.send("dispatcher.tc", RawTelecommand((Telecommand(APID, next(_seq) & 0x3FFF, service, subtype, data,
                                                          AckFlags.ALL).encode(),)))
    codes = [struct.unpack(">H", d[4:6])[0] for s, t, d in h.downlinks if s == 1 and t % 2 == 0]
    return codes[0] if codes else None


def ok(h, service, subtype, data=b"") -> None:
    code = request(h, service, subtype, data)
    assert code is None, FailureCode(code).name


def pmon(h, pmon_id, high=10.0) -> PmonDefinition:
    return PmonDefinition(pmon_id, h.dictionary.channel_by_name["gauges.Level"].id, 1, 1, CheckType.LIMIT, -1.0, high)


def hot_key(h, card) -> Key:
    return Key(h.dictionary.event_by_name["gauges.Hot"].id, card)


def park_request(h) -> bytes:
    opcode = h.dictionary.command_by_name["monitor.RESTORE_DEFAULTS"].opcode
    return Telecommand(APID, 77, 8, 1, struct.pack(">H", opcode), AckFlags.COMPLETION).encode()


def kept(h) -> tuple:
    """What the two services hold, comparable across testers."""
    monitor, ea = h.components["monitor"], h.components["ea"]
    return ({i: (s.definition, s.enabled) for i, s in monitor.pmons.items()}, monitor.function_enabled,
            monitor.max_delay, dict(ea.definitions), ea.function_enabled)


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return tmp_path


def test_definitions_added_and_enabled_by_request_come_back_after_a_restart_and_still_work(run_dir):
    h = build(run_dir)
    ok(h, 12, wm.ADD, wm.pack_definitions([pmon(h, 9)]))
    ok(h, 12, wm.ENABLE, wm.pack_ids([9]))
    ok(h, 12, wm.CHANGE_DELAY, struct.pack(">H", 3))
    ok(h, 19, wa.ADD, wa.pack_additions([(hot_key(h, "card2"), park_request(h))]))
    ok(h, 19, wa.ENABLE, wa.pack_keys([hot_key(h, "card2")]))
    again = build(run_dir)
    assert kept(again) == kept(h)
    assert set(again.components["monitor"].pmons) == {1, 9} and again.components["monitor"].max_delay == 3
    assert again.events_named("SavedStateLost") == []
    again.components["gauges"].telemetry["Level"] = 50.0
    again.components["monitor"].tick(1, 0.1)
    assert again.events_named("AboveHighLimit")[0][2][:2] == [9, "gauges.Level"]
    again.send("ea.events", EventReport("gauges", "Hot", hot_key(h, "card2").event_id, ("card2",)))
    again.components["ea"].tick(1, 0.1)
    assert again.events_named("ActionTriggered") == [("ea", "ActionTriggered",
                                                     ["gauges.Hot", "card2", "monitor.RESTORE_DEFAULTS"])]


def test_each_change_is_on_disk_when_its_completion_is_reported(run_dir):
    h = build(run_dir)
    on_disk: list = []

    class Watch(list):
        def append(self, message) -> None:
            if isinstance(message, TmPacket) and (message.service, message.subtype) == (1, 7):
                for name in ("monitoring.state", "event_action.state"):
                    record = DurableRecord(run_dir / name, h.components["monitor" if name[0] == "m" else "ea"]
                                           .saved.slot_size)
                    on_disk.append((record.load() or {}).get("state"))
                    record.close()
            super().append(message)

    h._sent_in_order = Watch()
    ok(h, 12, wm.ADD, wm.pack_definitions([pmon(h, 4)]))
    assert [row[0] for row in on_disk[0]["pmons"]] == [1, 4]
    ok(h, 12, wm.DISABLE_FUNCTION)
    assert on_disk[2]["enabled"] is False
    ok(h, 19, wa.DISABLE, wa.pack_keys([hot_key(h, "card1")]))
    assert on_disk[5]["definitions"][0][3] is False


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other dictionary", "unknown channel"])
def test_an_unusable_saved_file_is_moved_aside_and_the_defaults_used_with_an_event(run_dir, damage):
    h = build(run_dir)
    ok(h, 12, wm.ADD, wm.pack_definitions([pmon(h, 4)]))
    path = run_dir / "monitoring.state"
    if damage == "garbage":
        path.write_bytes(b"\x55" * path.stat().st_size)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        saved = h.components["monitor"].saved
        state = saved._last
        if damage == "other dictionary":
            saved.digest += 1
        else:
            state = {**state, "pmons": [[7, 0xBEEF, 1, 1, 1, 0.0, 1.0, 0, 0, True]]}
        saved.save(state)
    again = build(run_dir)
    assert set(again.components["monitor"].pmons) == {1}
    assert (run_dir / "monitoring.state.corrupt-1").exists()
    [(_, _, [detail])] = again.events_named("SavedStateLost")
    assert "monitoring.state" in detail and "corrupt-1" in detail
    ok(again, 12, wm.ADD, wm.pack_definitions([pmon(again, 5)]))   # and a fresh file keeps changes
    assert set(build(run_dir).components["monitor"].pmons) == {1, 5}


def test_restore_defaults_returns_to_the_topologys_definitions_now_and_after_a_restart(run_dir):
    h = build(run_dir)
    ok(h, 12, wm.ADD, wm.pack_definitions([pmon(h, 4)]))
    ok(h, 12, wm.DISABLE, wm.pack_ids([1]))
    ok(h, 19, wa.DISABLE, wa.pack_keys([hot_key(h, "card1")]))
    ok(h, 19, wa.ADD, wa.pack_additions([(hot_key(h, "card2"), park_request(h))]))
    for name in ("monitor", "ea"):
        opcode = h.dictionary.command_by_name[f"{name}.RESTORE_DEFAULTS"].opcode
        ok(h, 8, 1, struct.pack(">H", opcode))
    assert set(h.components["monitor"].pmons) == {1} and h.components["monitor"].pmons[1].enabled
    assert h.components["ea"].definitions == {hot_key(h, "card1"): h.components["ea"].definitions[hot_key(h, "card1")]}
    assert h.components["ea"].definitions[hot_key(h, "card1")].enabled
    assert kept(build(run_dir)) == kept(h)


def test_a_pmon_disabled_by_a_failing_check_stays_disabled_after_a_restart(run_dir):
    h = build(run_dir)
    del h.components["gauges"].telemetry["Temp"]       # the check of PMON 1 raises
    h.components["monitor"].tick(1, 0.1)
    assert h.events_named("CheckFailed") and not h.components["monitor"].pmons[1].enabled
    assert not build(run_dir).components["monitor"].pmons[1].enabled


# --- property: random request sequences, then a restart -------------------------------------------
steps = st.lists(st.tuples(st.sampled_from(["add", "delete", "enable", "disable", "on", "off", "delete_all",
                                             "ea_add", "ea_delete", "ea_enable", "ea_disable", "ea_off"]),
                           st.integers(1, 4)), max_size=25)


@PROPERTY
@given(sequence=steps)
def test_for_any_request_sequence_the_restarted_set_equals_a_model(tmp_path, sequence):
    run_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    h = build(run_dir)
    pmons, highs, function, actions, ea_function = {1: True}, {1: 75.0}, True, {"card1": True}, True
    for op, n in sequence:
        card = f"card{n}"
        if op == "add":
            accepted = n not in pmons
            code = request(h, 12, wm.ADD, wm.pack_definitions([pmon(h, n, high=float(n))]))
            pmons.setdefault(n, False)
            highs.setdefault(n, float(n))
        elif op == "delete":
            accepted = pmons.get(n) is False
            code = request(h, 12, wm.DELETE, wm.pack_ids([n]))
            if accepted:
                del pmons[n], highs[n]
        elif op in ("enable", "disable"):
            accepted = n in pmons
            code = request(h, 12, wm.ENABLE if op == "enable" else wm.DISABLE, wm.pack_ids([n]))
            if accepted:
                pmons[n] = op == "enable"
        elif op in ("on", "off"):
            accepted, function = True, op == "on"
            code = request(h, 12, wm.ENABLE_FUNCTION if op == "on" else wm.DISABLE_FUNCTION)
        elif op == "delete_all":
            accepted = not function
            code = request(h, 12, wm.DELETE_ALL)
            pmons, highs = ({}, {}) if accepted else (pmons, highs)
        elif op == "ea_add":
            accepted = card not in actions
            code = request(h, 19, wa.ADD, wa.pack_additions([(hot_key(h, card), park_request(h))]))
            actions.setdefault(card, False)
        elif op == "ea_delete":
            accepted = actions.get(card) is False
            code = request(h, 19, wa.DELETE, wa.pack_keys([hot_key(h, card)]))
            if accepted:
                del actions[card]
        elif op in ("ea_enable", "ea_disable"):
            accepted = card in actions
            code = request(h, 19, wa.ENABLE if op == "ea_enable" else wa.DISABLE, wa.pack_keys([hot_key(h, card)]))
            if accepted:
                actions[card] = op == "ea_enable"
        else:
            accepted, ea_function = True, not ea_function
            code = request(h, 19, wa.DISABLE_FUNCTION if not ea_function else wa.ENABLE_FUNCTION)
        assert (code is None) == accepted, (op, n, code)
    again = build(run_dir)
    monitor, ea = again.components["monitor"], again.components["ea"]
    assert {i: s.enabled for i, s in monitor.pmons.items()} == pmons and monitor.function_enabled == function
    assert {i: s.definition.high for i, s in monitor.pmons.items()} == highs
    assert {k.argument: d.enabled for k, d in ea.definitions.items()} == actions
    assert ea.function_enabled == ea_function


# --- SIGKILL at any instant -------------------------------------------------------------------------
STEPS = '''
import struct
from flight.testing import ComponentTester
from flight.wire import event_action as wa
from flight.wire import monitoring as wm
from flight.wire.event_action import Key
from flight.wire.monitoring import CheckType, PmonDefinition
from flight.wire.pus import AckFlags, Telecommand


def build(run_dir):
    h = ComponentTester.build(run_dir, [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "monitor", "kind": "flight.services.monitoring:OnboardMonitor"},
        {"name": "ea", "kind": "flight.services.event_action:EventAction"}],
        connections=["ea.tc -> dispatcher.tc"], mission={"apid": 1})
    h.start("monitor", "ea")
    return h


def step(h, k):
    """The k-th request (refused or not: the same in every run); its PMON p cycles through 1..40."""
    d, p = h.dictionary, (k // 8) % 40 + 1
    key = Key(d.event_by_name["monitor.AboveHighLimit"].id, str(p))
    request = Telecommand(1, 9, 8, 1, struct.pack(">H", d.command_by_name["monitor.RESTORE_DEFAULTS"].opcode),
                          AckFlags.COMPLETION).encode()
    pmon = PmonDefinition(p, d.channel_by_name["monitor.Transitions"].id, 1, k % 5 + 1, CheckType.LIMIT, 0.0, k)
    service, subtype, data = [
        (12, wm.ADD, wm.pack_definitions([pmon])), (19, wa.ADD, wa.pack_additions([(key, request)])),
        (12, wm.ENABLE, wm.pack_ids([p])), (19, wa.ENABLE, wa.pack_keys([key])),
        (12, wm.DISABLE if p % 2 else wm.CHANGE_DELAY, wm.pack_ids([p]) if p % 2 else struct.pack(">H", k % 99)),
        (19, wa.DISABLE if p % 3 else wa.DISABLE_FUNCTION, wa.pack_keys([key]) if p % 3 else b""),
        (12, wm.DELETE, wm.pack_ids([p])), (19, wa.ENABLE_FUNCTION if k % 16 < 8 else wa.DELETE, wa.pack_keys([key])
                                            if k % 16 >= 8 else b"")][k % 8]
    h.send("dispatcher.tc", RawTelecommand((Telecommand(1, k % 16384, service, subtype, data).encode(),)))


def state(h):
    return h.components["monitor"]._snapshot(), h.components["ea"]._snapshot()
'''
WRITER = STEPS.replace("import struct\n", "import struct, sys\nfrom flight.messages import RawTelecommand\n") + '''
h = build(sys.argv[1])
k = 0
while True:
    step(h, k)
    k += 1
    print(k, flush=True)
'''


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_flight_killed_at_any_instant_restarts_with_the_state_of_the_last_or_the_next_completion(tmp_path, seed):
    run_dir, model_dir = tmp_path / "flight", tmp_path / "model"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.8 + random.Random(seed).uniform(0.0, 0.5))
    writer.send_signal(signal.SIGKILL)
    out, _ = writer.communicate()
    done = int(out.split("\n")[:-1][-1])           # completions reported; a line the kill cut is not one
    namespace = {"RawTelecommand": RawTelecommand}
    exec(STEPS, namespace)
    model = namespace["build"](model_dir)
    states = [namespace["state"](model)]
    for k in range(done + 1):
        namespace["step"](model, k)
        states.append(namespace["state"](model))
    restarted = namespace["build"](run_dir)
    assert restarted.events_named("SavedStateLost") == []
    print(f"\n{done} completions, {len({repr(s) for s in states})} distinct states")
    assert done > 50 and namespace["state"](restarted) in states[done:done + 2]


def test_a_run_directory_that_cannot_be_written_starts_the_defaults_and_fails_each_change_with_an_event(
        run_dir, monkeypatch):
    (run_dir / "monitoring.state").write_bytes(b"\x01" * 10)     # the wrong size: to be set aside

    def refuse(path, suffixes=("",)):
        raise PermissionError(13, "read-only", str(path))

    monkeypatch.setattr("flight.services.saved_state.move_aside", refuse)
    h = build(run_dir)
    assert set(h.components["monitor"].pmons) == {1}
    [(_, _, [detail])] = h.events_named("SavedStateLost")
    assert "could not be set aside" in detail
    assert request(h, 12, wm.DISABLE, wm.pack_ids([1])) == FailureCode.INTERNAL_ERROR
    assert h.events_named("StateNotSaved")
