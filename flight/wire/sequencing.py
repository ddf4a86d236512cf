"""PUS-C ST[21] request sequencing: its subtypes and the layouts this mission gives them, shared by
the flight (flight.services.sequencer) and the ground (ground_sim.sequences).

Subtype numbers as ECSS-E-ST-70-41C clause 6.21/8.21 lists them; this mission serves:

| message | application data |
|---|---|
| TC[21,1] direct-load a request sequence | sequence id, N (U16), N x (delay, request) |
| TC[21,3] unload, TC[21,4] activate, TC[21,5] abort a request sequence | sequence id |
| TC[21,6] report the execution status of each request sequence | none |
| TM[21,7] execution status report | N (U16), N x (sequence id, status U8: 0 inactive, 1 active) |

- sequence id: U8 length + UTF-8 (the mission's string), 1 to ``MAX_NAME`` octets;
- delay: U32, milliseconds after the previous step's release (the first step: after activation);
- request: a whole PUS-C TC packet, whose own primary header gives its length.

Not served: TC[21,2] load by reference (no on-board file store yet), TC[21,8] load by reference
and activate, TC[21,9]/TM[21,10] checksum, TC[21,11]/TM[21,12] content, TC[21,13]/TM[21,14]
abort all (TC[21,5] per sequence does it).

Requirements (verified in tests/unit/wire/test_sequencing.py): every layout round-trips; a
truncation, a byte left over or an empty name is refused with BAD_ARGUMENTS.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from flight.wire.cursor import Cursor, pack_string
from flight.wire.failure import FailureCode, PacketError

SERVICE = 21
DIRECT_LOAD, UNLOAD, ACTIVATE, ABORT, REPORT_STATUS, STATUS_REPORT = 1, 3, 4, 5, 6, 7
MAX_NAME = 32
MAX_DELAY_MS = 0xFFFFFFFF


@dataclass(frozen=True)
class Step:
    """A request and how long after the previous step's release (ms) it is released."""

    delay_ms: int
    request: bytes


def pack_name(name: str) -> bytes:
    return pack_string(name)


def read_name(cursor: Cursor) -> str:
    name = cursor.string()
    if not 1 <= len(name.encode()) <= MAX_NAME:
        raise PacketError(FailureCode.BAD_ARGUMENTS, f"a sequence id of 1 to {MAX_NAME} octets, not {name!r}")
    return name


def pack_load(name: str, steps: list[Step]) -> bytes:
    body = b"".join(struct.pack(">I", s.delay_ms) + s.request for s in steps)
    return pack_name(name) + struct.pack(">H", len(steps)) + body


def unpack_load(data: bytes) -> tuple[str, list[Step]]:
    cursor = Cursor(data, "TC[21,1]")
    name = read_name(cursor)
    steps = []
    for _ in range(cursor.u16()):
        delay = int.from_bytes(cursor.octets(4), "big")
        steps.append(Step(delay, cursor.request()))
    cursor.end()
    return name, steps


def unpack_name(data: bytes, what: str) -> str:
    cursor = Cursor(data, what)
    name = read_name(cursor)
    cursor.end()
    return name


def pack_status(entries: list[tuple[str, bool]]) -> bytes:
    return struct.pack(">H", len(entries)) + b"".join(pack_name(n) + bytes([int(a)]) for n, a in entries)


def unpack_status(data: bytes) -> list[tuple[str, bool]]:
    cursor = Cursor(data, "TM[21,7]")
    entries = [(read_name(cursor), bool(cursor.u8())) for _ in range(cursor.u16())]
    cursor.end()
    return entries
