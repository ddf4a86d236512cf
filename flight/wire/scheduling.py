"""ST[11] time-based scheduling: the service's message numbers and application-data layouts
(ECSS-E-ST-70-41C clause 6.11 and 8.11), shared by the flight (flight.services.time_schedule) and
the ground (ground_sim.commanding, ground_sim.decoder).

This mission flies one schedule, without sub-schedules or scheduling groups (6.11.4.1 leaves both
to the mission), so neither id field is present. Every count N is a U16.

| message | application data |
|---|---|
| TC[11,1] enable, TC[11,2] disable the release function; TC[11,3] reset the schedule; |   |
|   TC[11,16] detail-report all; TC[11,17] summary-report all | none |
| TC[11,4] insert activities | N, then N x (release time, request) |
| TC[11,5] delete activities by request id | N, then N x request id |
| TC[11,7] time-shift activities by request id | offset, N, then N x request id |
| TC[11,15] time-shift all activities | offset |
| TM[11,10] detail report | N, then N x (release time, request) |
| TM[11,13] summary report | N, then N x (release time, request id) |

- release time: absolute, the mission's CUC 4+2 (as the TM time field: 4 octets of seconds and 2
  of 1/65536 s since 1970-01-01, implicit P-field), carried here as an integer count of 1/65536 s;
- request: a whole PUS-C TC packet, whose own primary header gives its length;
- request id: source id, APID, sequence count, a U16 each (Figure 8-92, laid out as Yamcs does);
- offset: relative time, a signed (two's complement) count of 1/65536 s in 6 octets.

A detail or summary report of many activities is split into several TM packets of at most
``REPORT_OCTETS`` of application data each (one activity never splits).

Requirements (verified in tests/unit/wire/test_scheduling.py): every layout round-trips
(property tests); a layout that is short, long or inconsistent with its count is refused with
ValueError naming why; split reports hold every activity once, in order, each within the bound.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple, Sequence, TypeVar

from flight.wire.pus import CUC_TICKS, TC_SECONDARY_HEADER_SIZE
from flight.wire.spacepacket import MAX_APID, PRIMARY_HEADER_SIZE, SEQUENCE_COUNT_MODULO

SCHEDULING = 11
ENABLE = 1
DISABLE = 2
RESET = 3
INSERT = 4
DELETE = 5
TIME_SHIFT = 7
DETAIL_REPORT = 10
SUMMARY_REPORT = 13
TIME_SHIFT_ALL = 15
DETAIL_REPORT_ALL = 16
SUMMARY_REPORT_ALL = 17

TIME_SIZE = 6
MAX_TIME = (1 << 48) - 1
REPORT_OCTETS = 4000
_COUNT = struct.Struct(">H")
_REQUEST_ID = struct.Struct(">HHH")
_SOURCE_OFFSET = PRIMARY_HEADER_SIZE + 3   # after the PUS version and flags, service and subtype
_SMALLEST_TC = PRIMARY_HEADER_SIZE + TC_SECONDARY_HEADER_SIZE + 2


class RequestId(NamedTuple):
    """What names an activity: the source id, APID and sequence count of its request."""

    source: int
    apid: int
    sequence: int

    def __str__(self) -> str:
        return f"{self.source}/{self.apid}/{self.sequence}"


@dataclass(frozen=True)
class Activity:
    """A request and the time it is released, in 1/65536 s since 1970-01-01."""

    release: int
    packet: bytes

    @property
    def request_id(self) -> RequestId:
        return request_id(self.packet)

    @property
    def release_seconds(self) -> float:
        return self.release / CUC_TICKS


def request_id(packet: bytes) -> RequestId:
    """The ST[11] request id of a TC packet of at least its headers' length."""
    packet_id, sequence_control = struct.unpack_from(">HH", packet)
    (source,) = struct.unpack_from(">H", packet, _SOURCE_OFFSET)
    return RequestId(source, packet_id & MAX_APID, sequence_control & (SEQUENCE_COUNT_MODULO - 1))


def ticks(seconds: float) -> int:
    """Seconds as a count of 1/65536 s (the CUC fine time)."""
    return int(round(seconds * CUC_TICKS))


def pack_time(release: int) -> bytes:
    if not 0 <= release <= MAX_TIME:
        raise ValueError(f"release time {release} outside CUC 4+2")
    return struct.pack(">IH", release >> 16, release & 0xFFFF)


def pack_offset(offset: int) -> bytes:
    if not -(1 << 47) <= offset < (1 << 47):
        raise ValueError(f"offset {offset} outside 48 signed bits")
    return (offset & MAX_TIME).to_bytes(TIME_SIZE, "big")


def _need(data: bytes, offset: int, size: int, what: str) -> None:
    if offset + size > len(data):
        raise ValueError(f"{what} needs {size} octets at {offset}, {len(data) - offset} left")


def _count(data: bytes, offset: int = 0) -> int:
    _need(data, offset, 2, "the count N")
    return _COUNT.unpack_from(data, offset)[0]


def _done(data: bytes, offset: int) -> None:
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} octets left over")


# --- activities: TC[11,4] and TM[11,10] ------------------------------------------------------------
def pack_activities(activities: Sequence[Activity]) -> bytes:
    return _COUNT.pack(len(activities)) + b"".join(pack_time(a.release) + a.packet for a in activities)


def unpack_activities(data: bytes) -> list[Activity]:
    """N x (release time, request): each request as long as its primary header says."""
    count, offset, activities = _count(data), 2, []
    for index in range(count):
        _need(data, offset, TIME_SIZE + PRIMARY_HEADER_SIZE, f"activity {index}")
        coarse, fine = struct.unpack_from(">IH", data, offset)
        (length,) = struct.unpack_from(">H", data, offset + TIME_SIZE + 4)
        size = PRIMARY_HEADER_SIZE + length + 1
        if size < _SMALLEST_TC:
            raise ValueError(f"activity {index}: a request of {size} octets cannot hold a TC's headers and CRC")
        _need(data, offset + TIME_SIZE, size, f"activity {index}'s request")
        start = offset + TIME_SIZE
        activities.append(Activity(coarse << 16 | fine, bytes(data[start:start + size])))
        offset = start + size
    _done(data, offset)
    return activities


# --- request ids: TC[11,5], TC[11,7] -------------------------------------------------------------
def pack_ids(ids: Sequence[RequestId]) -> bytes:
    return _COUNT.pack(len(ids)) + b"".join(_REQUEST_ID.pack(*rid) for rid in ids)


def unpack_ids(data: bytes, offset: int = 0) -> list[RequestId]:
    count = _count(data, offset)
    _need(data, offset + 2, count * _REQUEST_ID.size, f"{count} request ids")
    _done(data, offset + 2 + count * _REQUEST_ID.size)
    return [RequestId(*_REQUEST_ID.unpack_from(data, offset + 2 + i * _REQUEST_ID.size)) for i in range(count)]


def unpack_offset(data: bytes) -> int:
    _need(data, 0, TIME_SIZE, "the offset")
    return int.from_bytes(data[:TIME_SIZE], "big", signed=True)


def pack_shift(offset: int, ids: Sequence[RequestId]) -> bytes:
    return pack_offset(offset) + pack_ids(ids)


def unpack_shift(data: bytes) -> tuple[int, list[RequestId]]:
    return unpack_offset(data), unpack_ids(data, TIME_SIZE)


def unpack_shift_all(data: bytes) -> int:
    offset = unpack_offset(data)
    _done(data, TIME_SIZE)
    return offset


# --- summaries: TM[11,13] ------------------------------------------------------------------------
def pack_summary(entries: Sequence[tuple[int, RequestId]]) -> bytes:
    return _COUNT.pack(len(entries)) + b"".join(pack_time(t) + _REQUEST_ID.pack(*rid) for t, rid in entries)


def unpack_summary(data: bytes) -> list[tuple[int, RequestId]]:
    count, size = _count(data), TIME_SIZE + _REQUEST_ID.size
    _need(data, 2, count * size, f"{count} summary entries")
    _done(data, 2 + count * size)
    entries = []
    for i in range(count):
        coarse, fine = struct.unpack_from(">IH", data, 2 + i * size)
        entries.append((coarse << 16 | fine, RequestId(*_REQUEST_ID.unpack_from(data, 2 + i * size + TIME_SIZE))))
    return entries


T = TypeVar("T")


def split(items: Iterable[T], size: Callable[[T], int], limit: int = REPORT_OCTETS) -> list[list[T]]:
    """``items`` in order, cut into runs whose sizes plus a count add up to at most ``limit`` (an
    item larger than that alone in its run); one empty run if there are no items."""
    runs: list[list[T]] = [[]]
    used = _COUNT.size
    for item in items:
        octets = size(item)
        if runs[-1] and used + octets > limit:
            runs.append([])
            used = _COUNT.size
        runs[-1].append(item)
        used += octets
    return runs


def detail_reports(activities: Iterable[Activity]) -> list[bytes]:
    """TM[11,10] application data for ``activities``, in as many reports as the bound needs."""
    return [pack_activities(run) for run in split(activities, lambda a: TIME_SIZE + len(a.packet))]


def summary_reports(entries: Iterable[tuple[int, RequestId]]) -> list[bytes]:
    """TM[11,13] application data for ``entries``, in as many reports as the bound needs."""
    return [pack_summary(run) for run in split(entries, lambda _: TIME_SIZE + _REQUEST_ID.size)]
