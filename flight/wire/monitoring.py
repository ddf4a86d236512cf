"""PUS-C ST[12] on-board parameter monitoring: its subtypes and the layouts this mission gives them.

Requests (TC) and reports (TM), with the ECSS-E-ST-70-41C subtype numbers (clause 6.12/8.12):

- TC[12,1] enable / TC[12,2] disable definitions: N (U16) + N PMON ids (U16);
- TC[12,3] change the maximum transition reporting delay: the delay (U16, monitoring cycles);
- TC[12,4] delete all definitions (no data); TC[12,6] delete definitions: N + N ids;
- TC[12,5] add / TC[12,7] modify definitions: N + N definitions (:func:`pack_definition`);
- TC[12,8] report definitions: N + N ids (N = 0: all) -> TM[12,9]: the maximum reporting delay
  (U16), N, then per definition its enabled flag (U8) and the definition;
- TC[12,10] report the out-of-limits -> TM[12,11]: N + N transitions (:func:`pack_transition`),
  each the one that put the definition out of limits;
- TM[12,12] check transition report: N + N transitions;
- TC[12,13] report the status of each definition -> TM[12,14]: N + N (id U16, enabled U8);
- TC[12,15] enable / TC[12,16] disable the parameter monitoring function (no data).

A definition: PMON id (U16), monitored parameter id (U16: the telemetry channel's id in the
dictionary), monitoring interval (U16, in the monitor's cycles), repetition number (U16), check
type (U8: 1 limit, 2 expected value, 3 delta), then for a limit check the low and high limits
(F64 each), for an expected-value check the mask and the expected value (U64 each), for a delta
check the low and high thresholds of the change per check (F64 each). A transition: PMON id
(U16), parameter id (U16), check type (U8), the value checked (F64; the change, for a delta
check), the limit crossed (F64; the expected value, NaN when there is none), the previous and
the new checking status (U8 each, :class:`Status`), its time (CUC 4+2).

Tailoring of the standard (so the layouts stay fixed-size): limits are F64 whatever the
parameter's type; a definition raises the monitoring service's own events (first argument: the
PMON id), not event ids of its choosing; there is no validity parameter; a delta check compares
consecutive samples (no averaging over several deltas).

Requirements (verified in tests/unit/wire/test_monitoring_layouts.py): every layout round-trips
(property tests); truncations and bytes left over are refused with BAD_ARGUMENTS.
"""
from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass

from flight.wire.cursor import Cursor
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import decode_cuc, encode_cuc

SERVICE = 12
ENABLE, DISABLE, CHANGE_DELAY, DELETE_ALL, ADD, DELETE, MODIFY = 1, 2, 3, 4, 5, 6, 7
REPORT_DEFINITIONS, DEFINITION_REPORT, REPORT_OUT_OF_LIMITS, OUT_OF_LIMITS_REPORT = 8, 9, 10, 11
TRANSITION_REPORT, REPORT_STATUS, STATUS_REPORT, ENABLE_FUNCTION, DISABLE_FUNCTION = 12, 13, 14, 15, 16


class CheckType(enum.IntEnum):
    LIMIT = 1
    EXPECTED_VALUE = 2
    DELTA = 3


class Status(enum.IntEnum):
    """A definition's checking status, numbered as PUS-C numbers them."""

    UNCHECKED = 1
    INVALID = 2
    EXPECTED_VALUE = 3
    UNEXPECTED_VALUE = 4
    WITHIN_LIMITS = 5
    BELOW_LOW_LIMIT = 6
    ABOVE_HIGH_LIMIT = 7
    WITHIN_THRESHOLD = 8
    BELOW_LOW_THRESHOLD = 9
    ABOVE_HIGH_THRESHOLD = 10

    @property
    def violation(self) -> bool:
        """Out of limits: the statuses the out-of-limits list holds and events announce."""
        return self in (Status.UNEXPECTED_VALUE, Status.BELOW_LOW_LIMIT, Status.ABOVE_HIGH_LIMIT,
                        Status.BELOW_LOW_THRESHOLD, Status.ABOVE_HIGH_THRESHOLD)


_HEAD = struct.Struct(">HHHHB")
_TRANSITION = struct.Struct(">HHBddBB")


@dataclass(frozen=True)
class PmonDefinition:
    """One parameter monitoring definition as the wire carries it."""

    pmon_id: int
    channel_id: int
    interval: int
    repetitions: int
    check: CheckType
    low: float = -math.inf       # limit check: low limit; delta check: low threshold
    high: float = math.inf       # limit check: high limit; delta check: high threshold
    mask: int = 0                # expected-value check
    expected: int = 0

    def problem(self) -> str | None:
        """What makes the definition unusable whatever it monitors (None: nothing)."""
        if self.interval < 1 or self.repetitions < 1:
            return f"PMON {self.pmon_id}: interval and repetition number must be at least 1"
        if self.check is not CheckType.EXPECTED_VALUE and not self.low <= self.high:
            return f"PMON {self.pmon_id}: low {self.low} is not at most high {self.high}"
        if self.check is CheckType.EXPECTED_VALUE and self.expected & ~self.mask:
            return f"PMON {self.pmon_id}: expected value 0x{self.expected:x} has bits outside mask 0x{self.mask:x}"
        return None


def pack_definition(d: PmonDefinition) -> bytes:
    head = _HEAD.pack(d.pmon_id, d.channel_id, d.interval, d.repetitions, int(d.check))
    if d.check is CheckType.EXPECTED_VALUE:
        return head + struct.pack(">QQ", d.mask, d.expected)
    return head + struct.pack(">dd", d.low, d.high)


def read_definition(cursor: Cursor) -> PmonDefinition:
    pmon_id, channel_id, interval, repetitions, check = (cursor.u16(), cursor.u16(), cursor.u16(),
                                                         cursor.u16(), cursor.u8())
    try:
        kind = CheckType(check)
    except ValueError:
        raise PacketError(FailureCode.BAD_ARGUMENTS, f"PMON {pmon_id}: no check type {check}") from None
    if kind is CheckType.EXPECTED_VALUE:
        return PmonDefinition(pmon_id, channel_id, interval, repetitions, kind,
                              mask=cursor.u64(), expected=cursor.u64())
    return PmonDefinition(pmon_id, channel_id, interval, repetitions, kind, low=cursor.f64(),
                          high=cursor.f64())


def pack_definitions(definitions: list[PmonDefinition]) -> bytes:
    """TC[12,5] and TC[12,7]."""
    return struct.pack(">H", len(definitions)) + b"".join(pack_definition(d) for d in definitions)


def unpack_definitions(data: bytes) -> list[PmonDefinition]:
    cursor = Cursor(data, "parameter monitoring definitions")
    definitions = [read_definition(cursor) for _ in range(cursor.u16())]
    cursor.end()
    return definitions


def pack_ids(ids: list[int]) -> bytes:
    return struct.pack(f">H{len(ids)}H", len(ids), *ids)


def unpack_ids(data: bytes) -> list[int]:
    cursor = Cursor(data, "PMON ids")
    ids = [cursor.u16() for _ in range(cursor.u16())]
    cursor.end()
    return ids


def pack_definition_report(delay: int, definitions: list[tuple[bool, PmonDefinition]]) -> bytes:
    """TM[12,9]."""
    return struct.pack(">HH", delay, len(definitions)) + b"".join(
        bytes([enabled]) + pack_definition(d) for enabled, d in definitions)


def unpack_definition_report(data: bytes) -> tuple[int, list[tuple[bool, PmonDefinition]]]:
    cursor = Cursor(data, "TM[12,9]")
    delay, count = cursor.u16(), cursor.u16()
    definitions = [(bool(cursor.u8()), read_definition(cursor)) for _ in range(count)]
    cursor.end()
    return delay, definitions


@dataclass(frozen=True)
class Transition:
    """A change of a definition's checking status, as TM[12,11] and TM[12,12] carry it."""

    pmon_id: int
    channel_id: int
    check: CheckType
    value: float
    limit: float
    previous: Status
    current: Status
    time: float


def pack_transitions(transitions: list[Transition]) -> bytes:
    """TM[12,11] and TM[12,12]."""
    return struct.pack(">H", len(transitions)) + b"".join(
        _TRANSITION.pack(t.pmon_id, t.channel_id, int(t.check), t.value, t.limit, int(t.previous),
                         int(t.current)) + encode_cuc(t.time) for t in transitions)


def unpack_transitions(data: bytes) -> list[Transition]:
    cursor = Cursor(data, "check transitions")
    transitions = []
    for _ in range(cursor.u16()):
        raw = cursor.octets(_TRANSITION.size)
        pmon, channel, check, value, limit, previous, current = _TRANSITION.unpack(raw)
        transitions.append(Transition(pmon, channel, CheckType(check), value, limit, Status(previous),
                                      Status(current), decode_cuc(cursor.octets(6))))
    cursor.end()
    return transitions


def pack_status_report(statuses: list[tuple[int, bool]]) -> bytes:
    """TM[12,14]."""
    return struct.pack(">H", len(statuses)) + b"".join(struct.pack(">HB", i, e) for i, e in statuses)


def unpack_status_report(data: bytes) -> list[tuple[int, bool]]:
    cursor = Cursor(data, "TM[12,14]")
    statuses = [(cursor.u16(), bool(cursor.u8())) for _ in range(cursor.u16())]
    cursor.end()
    return statuses
