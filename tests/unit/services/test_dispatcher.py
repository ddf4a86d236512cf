"""Tests of the CommandDispatcher in process (flight.testing's component tester, no sockets).

TCs are built with ``Telecommand.encode`` (its encoding is verified against the golden vector and
crcmod in test_wire.py) or by hand; reports are read back with struct. Request ids are the first
four bytes of the TC as sent (ECSS-E-ST-70-41C: packet id and sequence control of the request).
"""
from __future__ import annotations

import struct
import threading

import crcmod.predefined
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from flight.core.completion import Pending
from flight.core.component import (CommandBusy, CommandDisabled, CommandError, CommandRefused,
                                   Component, Parameter, command)
from flight.core.types import DataType, Field
from flight.wire.failure import FailureCode
from flight.wire.pus import AckFlags, Telecommand, TelemetryPacket
from flight.messages import RawTelecommand
from flight.testing import ComponentTester, kind_of

crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")
APID = 1
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


class Target(Component):
    PARAMETERS = {
        "Gain": Parameter(DataType.U16, 10, 5, 100),
        "Scale": Parameter(DataType.F32, 1.0, -2.0, 2.0),
        "Label": Parameter(DataType.STRING, "x"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple] = []
        self.changes: list[tuple] = []

    def on_parameter(self, name, value):
        self.changes.append((name, value))

    @command(Field("level", DataType.U8, 1, 10), Field("label", DataType.STRING))
    def SET_LEVEL(self, level, label):
        self.calls.append(("SET_LEVEL", level, label))

    @command()
    def FAIL(self):
        raise CommandError("refused by the handler")

    @command()
    def CRASH(self):
        raise RuntimeError("handler crashed")

    @command()
    def REFUSE(self):
        raise CommandRefused("the card is already off")

    @command()
    def BUSY(self):
        raise CommandBusy("its queue is full")

    @command()
    def DISABLED(self):
        raise CommandDisabled("fault injection is not enabled")

    @command()
    def CODED(self):
        raise CommandError("inputs/outputs differ", failure="MODEL_SIGNATURE")

    @command(test_equipment=True)
    def BREAK_THINGS(self):
        self.calls.append(("BREAK_THINGS",))

    @command()
    def LATER(self):
        """Hands its work to another thread: completes when that thread finishes it."""
        self.pending = Pending()
        return self.pending


class Loud(Component):
    @command(Field("text", DataType.STRING))
    def FAIL_WITH(self, text):
        raise CommandError(text * 200)


def make(run_dir, *extra):
    h = ComponentTester.build(run_dir, [{"name": "dispatcher", "kind": "flight.services.dispatcher:"
                                                        "CommandDispatcher", "max_tc_size": 256},
                          {"name": "tgt", "kind": kind_of(Target)}, *extra], mission={"apid": APID})
    h.components["dispatcher"].start()
    return h


@pytest.fixture
def h(tmp_path):
    return make(tmp_path)


def tc(service, subtype, data=b"", ack=AckFlags.ALL, apid=APID, seq=7) -> bytes:
    return Telecommand(apid, seq, service, subtype, data, AckFlags(ack), 0x0102).encode()


def reseal(body: bytes) -> bytes:
    body = bytes(body[:-2])
    return body + crc16(body).to_bytes(2, "big")


def opcode(h, name):
    return h.dictionary.command_by_name[name].opcode


def pid(h, name):
    return h.dictionary.parameter_by_name[name].id


def cmd(h, name, args=b"", **kwargs) -> bytes:
    return tc(8, 1, struct.pack(">H", opcode(h, name)) + args, **kwargs)


def send(h, message) -> None:
    """Deliver a message to the dispatcher's tc port as comms does: its frames."""
    frames = message if isinstance(message, list) else [message]
    h.clear()
    h.send("dispatcher.tc", RawTelecommand(tuple(frames)))


def reports(h):
    """(subtype, request id, code) of every ST[1] report, in order."""
    out = []
    for service, subtype, data in h.downlinks:
        if service == 1:
            code = struct.unpack(">H", data[4:])[0] if subtype % 2 == 0 else None
            assert len(data) == (6 if subtype % 2 == 0 else 4)
            out.append((subtype, data[:4], code))
    return out


def others(h):
    return [d for d in h.downlinks if d[0] != 1]


# --- one failure report per failure code ------------------------------------------------------
def failure_cases(h):
    ping = tc(17, 1)
    big = cmd(h, "dispatcher.NO_OP_STRING", b"\xff" + b"a" * 255)
    bad_version = reseal(bytes([ping[0] | 0x20]) + ping[1:])
    return [
        ("crc", ping[:-1] + bytes([ping[-1] ^ 0x01]), FailureCode.CRC_MISMATCH),
        ("truncated", ping[:-1], FailureCode.TRUNCATED),
        ("three bytes", ping[:3], FailureCode.TRUNCATED),
        ("empty frame", b"", FailureCode.TRUNCATED),
        ("over-long", ping + b"\x00", FailureCode.LENGTH_MISMATCH),
        ("oversized", big, FailureCode.OVERSIZED),
        ("version", bad_version, FailureCode.BAD_HEADER),
        ("TM as TC", TelemetryPacket(APID, 0, 17, 2, b"", 0.0).encode(), FailureCode.BAD_HEADER),
        ("PUS v1", reseal(ping[:6] + b"\x1f" + ping[7:]), FailureCode.BAD_HEADER),
        ("apid", tc(17, 1, apid=APID + 1), FailureCode.UNKNOWN_APID),
        ("service", tc(99, 1), FailureCode.UNKNOWN_SERVICE),
        ("service 1 (TM only)", tc(1, 1), FailureCode.UNKNOWN_SERVICE),
        ("subtype 17", tc(17, 5), FailureCode.UNKNOWN_SUBTYPE),
        ("subtype 8", tc(8, 2), FailureCode.UNKNOWN_SUBTYPE),
        ("subtype 20", tc(20, 2), FailureCode.UNKNOWN_SUBTYPE),
        ("opcode", tc(8, 1, b"\xff\xff"), FailureCode.UNKNOWN_COMMAND),
        ("no function id", tc(8, 1, b"\x01"), FailureCode.BAD_ARGUMENTS),
        ("extra byte", cmd(h, "dispatcher.NO_OP", b"\x00"), FailureCode.BAD_ARGUMENTS),
        ("missing arg", cmd(h, "tgt.SET_LEVEL", b"\x05"), FailureCode.BAD_ARGUMENTS),
        ("bad utf-8", cmd(h, "tgt.SET_LEVEL", b"\x05\x01\xff"), FailureCode.BAD_ARGUMENTS),
        ("ping with data", tc(17, 1, b"\x00"), FailureCode.BAD_ARGUMENTS),
        ("20,1 bad count", tc(20, 1, b"\x00\x02\x02\x01"), FailureCode.BAD_ARGUMENTS),
        ("20,3 no count", tc(20, 3, b"\x00"), FailureCode.BAD_ARGUMENTS),
        ("20,3 short", tc(20, 3, struct.pack(">HHH", 2, pid(h, "tgt.Gain"), 20)),
         FailureCode.BAD_ARGUMENTS),
        ("20,3 left over", tc(20, 3, struct.pack(">HHHB", 1, pid(h, "tgt.Gain"), 20, 0)),
         FailureCode.BAD_ARGUMENTS),
        ("level 11", cmd(h, "tgt.SET_LEVEL", b"\x0b\x00"), FailureCode.ARGUMENT_OUT_OF_RANGE),
        ("level 0", cmd(h, "tgt.SET_LEVEL", b"\x00\x00"), FailureCode.ARGUMENT_OUT_OF_RANGE),
        ("20,1 unknown", tc(20, 1, struct.pack(">HH", 1, 0xFFFF)), FailureCode.UNKNOWN_PARAMETER),
        ("20,3 unknown", tc(20, 3, struct.pack(">HHH", 1, 0xFFFF, 1)),
         FailureCode.UNKNOWN_PARAMETER),
        ("20,3 range", tc(20, 3, struct.pack(">HHH", 1, pid(h, "tgt.Gain"), 101)),
         FailureCode.PARAMETER_OUT_OF_RANGE),
        ("20,3 NaN", tc(20, 3, struct.pack(">HHf", 1, pid(h, "tgt.Scale"), float("nan"))),
         FailureCode.PARAMETER_OUT_OF_RANGE),
        ("two frames", [tc(17, 1), b"more"], FailureCode.MULTIPART_MESSAGE),
        ("no frames", [], FailureCode.MULTIPART_MESSAGE),
    ]


CASE_NAMES = [name for name, _, _ in failure_cases(make("unused-run-dir"))]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_each_acceptance_failure_gives_one_report_and_an_event(h, case):
    _, message, code = next(c for c in failure_cases(h) if c[0] == case)
    first = message[0] if isinstance(message, list) and message else (
        b"" if isinstance(message, list) else message)
    send(h, message)
    assert reports(h) == [(2, first[:4].ljust(4, b"\0"), int(code))]
    assert others(h) == []
    assert [(e[1], e[2][:2]) for e in h.events] == [("CommandRejected", [int(code), code.name])]
    dispatcher = h.components["dispatcher"]
    assert dispatcher.telemetry["CommandsRejected"] == 1
    assert dispatcher.telemetry["LastFailureCode"] == int(code)
    assert h.components["tgt"].calls == [] and h.components["tgt"].changes == []


HANDLER_FAILURES = [("tgt.FAIL", "refused by the handler", FailureCode.EXECUTION_FAILED),
                    ("tgt.CRASH", "RuntimeError: handler crashed", FailureCode.INTERNAL_ERROR),
                    ("tgt.REFUSE", "already off", FailureCode.INVALID_STATE),
                    ("tgt.BUSY", "queue is full", FailureCode.BUSY),
                    ("tgt.DISABLED", "not enabled", FailureCode.NOT_ENABLED),
                    ("tgt.CODED", "inputs/outputs differ", FailureCode.MODEL_SIGNATURE)]  # the handler's own code


# codes a service of its own gives, each provoked in that service's tests
SERVICE_CODES = {FailureCode.SCHEDULE_FULL, FailureCode.RELEASE_TIME_PASSED, FailureCode.UNKNOWN_REQUEST,
                 FailureCode.DUPLICATE_REQUEST, FailureCode.BAD_ACTIVITY}   # tests/unit/services/test_time_schedule.py
SERVICE_CODES |= {FailureCode.UNKNOWN_DEFINITION, FailureCode.DUPLICATE_DEFINITION, FailureCode.DEFINITION_ENABLED,
                  FailureCode.DEFINITIONS_FULL}  # tests/unit/services/test_monitoring.py, test_event_action.py
SERVICE_CODES |= {FailureCode.UNKNOWN_SEQUENCE, FailureCode.DUPLICATE_SEQUENCE, FailureCode.SEQUENCES_FULL,
                  FailureCode.SEQUENCE_ACTIVE, FailureCode.BAD_STEP}   # tests/unit/services/test_sequencer.py
SERVICE_CODES |= {FailureCode.MODEL_CRC_MISMATCH, FailureCode.MODEL_UNLOADABLE,
                  FailureCode.MODEL_TEST_VECTOR}   # tests/unit/payload/test_model_validation.py
SERVICE_CODES |= {FailureCode.FILE_NOT_FOUND, FailureCode.PATH_REFUSED,
                  FailureCode.FILE_IN_USE}   # tests/unit/services/test_file_component.py


def test_every_failure_code_is_provoked(h):
    provoked = {code for _, _, code in failure_cases(h)} | {code for _, _, code in HANDLER_FAILURES}
    assert provoked == set(FailureCode) - SERVICE_CODES


@pytest.mark.parametrize("command_name,detail,code", HANDLER_FAILURES)
@pytest.mark.parametrize("ack", [AckFlags.ALL, AckFlags.NONE])
def test_handler_failure_gives_tm_1_8_with_its_own_code(h, command_name, detail, code, ack):
    raw = cmd(h, command_name, ack=ack)
    send(h, raw)
    expected = [(1, raw[:4], None), (3, raw[:4], None)] if ack else []
    assert reports(h) == expected + [(8, raw[:4], int(code))]
    assert [e[1] for e in h.events] == ["CommandFailed"]
    assert h.events[0][2][0] == command_name and detail in h.events[0][2][1]
    assert h.components["dispatcher"].telemetry["CommandsFailed"] == 1
    assert h.components["dispatcher"].telemetry["LastFailureCode"] == int(code)


@pytest.mark.parametrize("error, code", [(None, None), (CommandRefused("off"), FailureCode.INVALID_STATE),
                                         (KeyError("card9"), FailureCode.INTERNAL_ERROR)])
def test_a_command_done_on_another_thread_completes_when_its_work_has_run(h, error, code):
    raw = cmd(h, "tgt.LATER")
    send(h, raw)
    assert reports(h) == [(1, raw[:4], None), (3, raw[:4], None)]  # accepted, started: not done
    worker = threading.Thread(target=h.components["tgt"].pending.finish, args=(error,))
    worker.start()
    worker.join()
    completion = (7, raw[:4], None) if error is None else (8, raw[:4], int(code))
    assert reports(h) == [(1, raw[:4], None), (3, raw[:4], None), completion]
    counters = h.components["dispatcher"].telemetry
    assert (counters["CommandsCompleted"], counters["CommandsFailed"]) == ((1, 0) if error is None else (0, 1))


def test_handler_failure_with_a_long_non_ascii_message_is_still_reported(tmp_path):
    h = make(tmp_path, {"name": "loud", "kind": kind_of(Loud)})
    raw = cmd(h, "loud.FAIL_WITH", b"\x03\xe2\x82\xac")  # "€": 3 bytes, repeated 200 times
    send(h, raw)
    assert reports(h)[-1] == (8, raw[:4], int(FailureCode.EXECUTION_FAILED))
    assert [e[1] for e in h.events] == ["CommandFailed"]


def test_request_id_is_copied_from_the_tc_whatever_its_sequence_flags(h):
    ping = tc(17, 1)
    first_segment = reseal(ping[:2] + bytes([ping[2] & 0x3F | 0x40]) + ping[3:])
    send(h, first_segment)
    assert reports(h) and all(r[1] == first_segment[:4] for r in reports(h))


# --- successes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("ack", range(16))
def test_success_reports_follow_the_ack_flags(h, ack):
    raw = cmd(h, "dispatcher.NO_OP", ack=ack, seq=ack)
    send(h, raw)
    expected = [subtype for bit, subtype in ((1, 1), (2, 3), (8, 7)) if ack & bit]
    assert reports(h) == [(s, raw[:4], None) for s in expected]
    assert h.events == []
    assert h.components["dispatcher"].telemetry["CommandsCompleted"] == 1


def test_command_with_arguments_runs_with_decoded_values(h):
    raw = cmd(h, "tgt.SET_LEVEL", b"\x0a\x04h\xc3\xa9!", ack=AckFlags.COMPLETION)
    send(h, raw)
    assert reports(h) == [(7, raw[:4], None)]
    assert h.components["tgt"].calls == [("SET_LEVEL", 10, "hé!")]


def test_no_op_string_echoes_its_text_as_an_event(h):
    send(h, cmd(h, "dispatcher.NO_OP_STRING", b"\x05hello", ack=AckFlags.NONE))
    assert h.events == [("dispatcher", "NoOpString", ["hello"])]
    assert reports(h) == []


def test_ping_gives_tm_17_2(h):
    raw = tc(17, 1)
    send(h, raw)
    assert [(s, t) for s, t, _ in h.downlinks] == [(1, 1), (1, 3), (17, 2), (1, 7)]
    assert h.downlinks[2][2] == b""
    assert all(d[2] == raw[:4] for d in h.downlinks if d[0] == 1)


def test_parameter_report_gives_current_values(h):
    target = h.components["tgt"]
    target.apply_parameter("Gain", 42)
    target.apply_parameter("Label", "né")
    ids = [pid(h, "tgt.Scale"), pid(h, "tgt.Gain"), pid(h, "tgt.Label")]
    send(h, tc(20, 1, struct.pack(">4H", 3, *ids), ack=AckFlags.NONE))
    [(service, subtype, body)] = others(h)
    assert (service, subtype) == (20, 2)
    count, id1, scale, id2, gain, id3, length = struct.unpack_from(">HHfHHHB", body)
    assert (count, id1, scale, id2, gain, id3) == (3, ids[0], 1.0, ids[1], 42, ids[2])
    assert body[struct.calcsize(">HHfHHHB"):] == "né".encode() and length == 3


def test_parameter_set_applies_every_pair(h):
    body = struct.pack(">HHHHf", 2, pid(h, "tgt.Gain"), 55, pid(h, "tgt.Scale"), -1.5)
    send(h, tc(20, 3, body))
    assert [r[0] for r in reports(h)] == [1, 3, 7]
    target = h.components["tgt"]
    assert (target.param("Gain"), target.param("Scale")) == (55, -1.5)
    assert target.changes == [("Gain", 55), ("Scale", -1.5)]
    send(h, tc(20, 1, struct.pack(">HH", 1, pid(h, "tgt.Gain")), ack=AckFlags.NONE))
    assert others(h) == [(20, 2, struct.pack(">HHH", 1, pid(h, "tgt.Gain"), 55))]


@pytest.mark.parametrize("bad_pair,code", [
    ((">HH", "tgt.Gain", 500), FailureCode.PARAMETER_OUT_OF_RANGE),
    ((">Hf", "tgt.Scale", 9.0), FailureCode.PARAMETER_OUT_OF_RANGE),
    ((">HH", None, 1), FailureCode.UNKNOWN_PARAMETER),
])
@pytest.mark.parametrize("bad_first", [False, True])
def test_parameter_set_is_all_or_nothing(h, bad_pair, code, bad_first):
    layout, name, value = bad_pair
    bad = struct.pack(layout, pid(h, name) if name else 0xFFFE, value)
    good = struct.pack(">HH", pid(h, "tgt.Gain"), 60) + struct.pack(
        ">HB2s", pid(h, "tgt.Label"), 2, b"ok")
    pairs = bad + good if bad_first else good + bad
    send(h, tc(20, 3, struct.pack(">H", 3) + pairs))
    assert [(r[0], r[2]) for r in reports(h)] == [(2, int(code))]
    target = h.components["tgt"]
    assert (target.param("Gain"), target.param("Label"), target.param("Scale")) == (10, "x", 1.0)
    assert target.changes == []


# --- nothing a ground sends escapes handle -----------------------------------------------------
def check_outcome(h, first_frame: bytes, completed_before: int) -> None:
    """Exactly one failure report and its event, or none and a completed command."""
    dispatcher = h.components["dispatcher"]
    failures = [r for r in reports(h) if r[0] % 2 == 0]
    for r in reports(h):
        assert r[1] == first_frame[:4].ljust(4, b"\0")
    if failures:
        assert len(failures) == 1
        kinds = [e[1] for e in h.events if e[1] in ("CommandRejected", "CommandFailed")]
        assert kinds == ["CommandRejected" if failures[0][0] == 2 else "CommandFailed"]
        assert failures[0][2] in set(FailureCode)
        assert dispatcher.telemetry["CommandsCompleted"] == completed_before
    else:
        assert dispatcher.telemetry["CommandsCompleted"] == completed_before + 1
        assert not [e for e in h.events if e[1] in ("CommandRejected", "CommandFailed")]


@PROPERTY
@given(st.lists(st.binary(max_size=40), max_size=3))
def test_arbitrary_frames_never_escape(tmp_path, frames):
    h = make(tmp_path)
    send(h, frames)
    check_outcome(h, frames[0] if frames else b"", 0)
    assert h.components["dispatcher"].telemetry["CommandsReceived"] == 1


@st.composite
def plausible_tcs(draw):
    """Valid headers and CRC; mostly known services and subtypes, random application data."""
    mostly = lambda likely, anything: draw(  # noqa: E731
        st.sampled_from(likely) if draw(st.integers(0, 9)) < 8 else anything)
    service = mostly([8, 8, 17, 20], st.integers(0, 255))
    subtype = mostly([3] if service == 20 and draw(st.booleans()) else [1], st.integers(0, 255))
    args = st.just(b"") | st.binary(max_size=12)
    if service == 8 and draw(st.integers(0, 9)) < 8:
        data = struct.pack(">H", draw(st.sampled_from([0x101, 0x102, 0x201, 0x202, 0x203])))
        data += draw(args)
    elif service == 20 and draw(st.integers(0, 9)) < 8:
        count = draw(st.integers(0, 3))
        data = struct.pack(">H", count) + b"".join(
            struct.pack(">H", draw(st.sampled_from([0x201, 0x202, 0x203, 0x999])))
            + draw(st.binary(max_size=5)) for _ in range(count))
    else:
        data = draw(args)
    return Telecommand(mostly([APID], st.integers(0, 0x7FF)), draw(st.integers(0, 0x3FFF)),
                       service, subtype, data, AckFlags(draw(st.integers(0, 15))),
                       draw(st.integers(0, 0xFFFF))).encode()


@PROPERTY
@given(plausible_tcs())
def test_valid_headers_with_random_bodies_never_escape(tmp_path, raw):
    h = make(tmp_path)
    assert opcode(h, "tgt.CRASH") == 0x203 and pid(h, "tgt.Label") == 0x203  # as drawn above
    send(h, raw)
    check_outcome(h, raw, 0)
    failures = [r for r in reports(h) if r[0] % 2 == 0]
    if not failures:  # a success: the reports are exactly what the ack flags asked for
        ack = raw[6] & 0x0F
        assert [r[0] for r in reports(h)] == [s for bit, s in ((1, 1), (2, 3), (8, 7))
                                               if ack & bit]


@pytest.mark.parametrize("enabled", [False, True])
def test_a_test_equipment_command_is_refused_unless_fault_injection_is_enabled(tmp_path, enabled):
    h = ComponentTester.build(tmp_path, [{"name": "dispatcher", "kind": "flight.services.dispatcher:"
                                                                       "CommandDispatcher"},
                                         {"name": "tgt", "kind": kind_of(Target)}],
                              mission={"apid": APID, "fault_injection": enabled})
    assert h.dictionary.command_by_name["tgt.BREAK_THINGS"].test_equipment
    assert not h.dictionary.command_by_name["tgt.SET_LEVEL"].test_equipment
    raw = cmd(h, "tgt.BREAK_THINGS")
    send(h, raw)
    if enabled:
        assert [r[0] for r in reports(h)] == [1, 3, 7]
        assert h.components["tgt"].calls == [("BREAK_THINGS",)]
    else:
        assert reports(h) == [(2, raw[:4], int(FailureCode.NOT_ENABLED))]
        assert h.components["tgt"].calls == []
        assert h.events[0][1] == "CommandRejected" and "test equipment" in h.events[0][2][2]
