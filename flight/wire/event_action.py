"""PUS-C ST[19] event-action: its subtypes and the layouts this mission gives them.

Requests (TC) and reports (TM), with the ECSS-E-ST-70-41C subtype numbers (clause 6.19/8.19):

- TC[19,1] add definitions: N (U16) + N x (key, request);
- TC[19,2] delete definitions: N + N keys; TC[19,3] delete all (no data);
- TC[19,4] enable / TC[19,5] disable definitions: N + N keys (no data at all: every definition);
- TC[19,6] report the status of each definition -> TM[19,7]: N + N x (key, enabled U8);
- TC[19,8] enable / TC[19,9] disable the event-action function (no data);
- TC[19,10] report definitions: N + N keys (N = 0: all) -> TM[19,11]: N + N x (key, enabled U8,
  request).

A key names the event a definition waits for: the event definition id (U16, the event's id in
the dictionary, as TM[5] carries it), then an argument (U8 length + UTF-8): empty for any
occurrence of the event, or the text its first argument must have (a card's name, a monitoring
definition's id in decimal), so one card's or one PMON's event can have its own action. The
request is a whole PUS-C TC packet (its own primary header gives its length), sent as it is
when the event occurs.

Tailoring of the standard: the argument is this mission's addition to the key (PUS-C keys a
definition by APID and event definition id only); the flight has one APID, so none is carried.

Requirements (verified in tests/unit/wire/test_monitoring_layouts.py): every layout round-trips
(property tests); truncations and bytes left over are refused with BAD_ARGUMENTS.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from flight.wire.cursor import Cursor, pack_string

SERVICE = 19
ADD, DELETE, DELETE_ALL, ENABLE, DISABLE, REPORT_STATUS, STATUS_REPORT = 1, 2, 3, 4, 5, 6, 7
ENABLE_FUNCTION, DISABLE_FUNCTION, REPORT_DEFINITIONS, DEFINITION_REPORT = 8, 9, 10, 11


@dataclass(frozen=True, order=True)
class Key:
    """The event an event-action definition waits for."""

    event_id: int
    argument: str = ""

    def pack(self) -> bytes:
        return struct.pack(">H", self.event_id) + pack_string(self.argument)

    @classmethod
    def read(cls, cursor: Cursor) -> "Key":
        return cls(cursor.u16(), cursor.string())


def pack_keys(keys: list[Key]) -> bytes:
    return struct.pack(">H", len(keys)) + b"".join(k.pack() for k in keys)


def unpack_keys(data: bytes) -> list[Key]:
    cursor = Cursor(data, "event-action keys")
    keys = [Key.read(cursor) for _ in range(cursor.u16())]
    cursor.end()
    return keys


def pack_additions(definitions: list[tuple[Key, bytes]]) -> bytes:
    """TC[19,1]."""
    return struct.pack(">H", len(definitions)) + b"".join(k.pack() + request for k, request in definitions)


def unpack_additions(data: bytes) -> list[tuple[Key, bytes]]:
    cursor = Cursor(data, "event-action definitions")
    definitions = [(Key.read(cursor), cursor.request()) for _ in range(cursor.u16())]
    cursor.end()
    return definitions


def pack_status_report(statuses: list[tuple[Key, bool]]) -> bytes:
    """TM[19,7]."""
    return struct.pack(">H", len(statuses)) + b"".join(k.pack() + bytes([e]) for k, e in statuses)


def unpack_status_report(data: bytes) -> list[tuple[Key, bool]]:
    cursor = Cursor(data, "TM[19,7]")
    statuses = [(Key.read(cursor), bool(cursor.u8())) for _ in range(cursor.u16())]
    cursor.end()
    return statuses


def pack_definition_report(definitions: list[tuple[Key, bool, bytes]]) -> bytes:
    """TM[19,11]."""
    return struct.pack(">H", len(definitions)) + b"".join(
        k.pack() + bytes([e]) + request for k, e, request in definitions)


def unpack_definition_report(data: bytes) -> list[tuple[Key, bool, bytes]]:
    cursor = Cursor(data, "TM[19,11]")
    definitions = [(Key.read(cursor), bool(cursor.u8()), cursor.request()) for _ in range(cursor.u16())]
    cursor.end()
    return definitions
