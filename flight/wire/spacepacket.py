"""CCSDS Space Packet primary header (CCSDS 133.0-B-2), version 0, and per-APID sequence counts.

Requirements (verified in tests/unit/wire/test_wire.py):
- pack/unpack round-trip for every field value (property test);
- sequence counts are per APID, 14 bits, wrapping at 16384;
- an impossible header (wrong version) is refused with a PacketError naming BAD_HEADER.
"""
from __future__ import annotations

import enum
import struct
import threading
from dataclasses import dataclass

from flight.wire.failure import FailureCode, PacketError

PRIMARY_HEADER_SIZE = 6
SEQUENCE_COUNT_MODULO = 1 << 14
MAX_APID = 0x7FF
UNSEGMENTED = 0b11


class PacketType(enum.IntEnum):
    TM = 0
    TC = 1


_PACKET_TYPES = (PacketType.TM, PacketType.TC)  # by the type bit, without an enum lookup per packet
PRIMARY_HEADER = struct.Struct(">HHH")  # packet id, sequence control, data length (minus one)


@dataclass(frozen=True)
class PrimaryHeader:
    """The six-byte primary header. ``data_length`` is the packet data field length minus one."""

    packet_type: PacketType
    apid: int
    sequence_count: int
    data_length: int
    secondary_header: bool = True
    sequence_flags: int = UNSEGMENTED

    def pack(self) -> bytes:
        return pack_header(self.packet_type, self.apid, self.sequence_count, self.data_length,
                           self.secondary_header, self.sequence_flags)

    @classmethod
    def unpack(cls, raw: bytes | memoryview) -> "PrimaryHeader":
        packet_id, sequence_control, data_length = read_header(raw)
        return cls(_PACKET_TYPES[(packet_id >> 12) & 1], packet_id & MAX_APID,
                   sequence_control & (SEQUENCE_COUNT_MODULO - 1), data_length,
                   bool((packet_id >> 11) & 1), sequence_control >> 14)

    @property
    def packet_size(self) -> int:
        """Total size of the packet this header announces."""
        return PRIMARY_HEADER_SIZE + self.data_length + 1


def read_header(raw: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int, int]:
    """The primary header at ``offset`` as its three words (packet id, sequence control, data
    length), without building a :class:`PrimaryHeader` (packets are read at the downlink's rate);
    PacketError when fewer than 6 octets are there or the version is not 0."""
    if len(raw) - offset < PRIMARY_HEADER_SIZE:
        raise PacketError(FailureCode.TRUNCATED, f"{len(raw) - offset} bytes, primary header needs 6")
    packet_id, sequence_control, data_length = PRIMARY_HEADER.unpack_from(raw, offset)
    if packet_id >> 13:
        raise PacketError(FailureCode.BAD_HEADER, f"packet version {packet_id >> 13}, expected 0")
    return packet_id, sequence_control, data_length


def pack_header(packet_type: int, apid: int, sequence_count: int, data_length: int,
                secondary_header: bool = True, sequence_flags: int = UNSEGMENTED) -> bytes:
    """The six octets of a primary header (what :meth:`PrimaryHeader.pack` gives, without building
    one: packets are encoded at the downlink's rate); ValueError for a field out of range."""
    if not 0 <= apid <= MAX_APID:
        raise ValueError(f"APID {apid} outside 0..{MAX_APID}")
    if not 0 <= sequence_count < SEQUENCE_COUNT_MODULO:
        raise ValueError(f"sequence count {sequence_count} outside 14 bits")
    if not 0 <= data_length <= 0xFFFF:
        raise ValueError(f"data length {data_length} outside 16 bits")
    return PRIMARY_HEADER.pack((packet_type << 12) | (secondary_header << 11) | apid,
                        (sequence_flags << 14) | sequence_count, data_length)


class SequenceCounter:
    """Thread-safe per-APID 14-bit source sequence counts."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}
        self._lock = threading.Lock()

    def next(self, apid: int) -> int:
        with self._lock:
            count = self._next.get(apid, 0)
            self._next[apid] = (count + 1) % SEQUENCE_COUNT_MODULO
            return count
