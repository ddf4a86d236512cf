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
        if not 0 <= self.apid <= MAX_APID:
            raise ValueError(f"APID {self.apid} outside 0..{MAX_APID}")
        if not 0 <= self.sequence_count < SEQUENCE_COUNT_MODULO:
            raise ValueError(f"sequence count {self.sequence_count} outside 14 bits")
        if not 0 <= self.data_length <= 0xFFFF:
            raise ValueError(f"data length {self.data_length} outside 16 bits")
        packet_id = (int(self.packet_type) << 12) | (int(self.secondary_header) << 11) | self.apid
        sequence_control = (self.sequence_flags << 14) | self.sequence_count
        return struct.pack(">HHH", packet_id, sequence_control, self.data_length)

    @classmethod
    def unpack(cls, raw: bytes | memoryview) -> "PrimaryHeader":
        if len(raw) < PRIMARY_HEADER_SIZE:
            raise PacketError(FailureCode.TRUNCATED, f"{len(raw)} bytes, primary header needs 6")
        packet_id, sequence_control, data_length = struct.unpack_from(">HHH", raw)
        version = packet_id >> 13
        if version != 0:
            raise PacketError(FailureCode.BAD_HEADER, f"packet version {version}, expected 0")
        return cls(PacketType((packet_id >> 12) & 1), packet_id & MAX_APID,
                   sequence_control & (SEQUENCE_COUNT_MODULO - 1), data_length,
                   bool((packet_id >> 11) & 1), sequence_control >> 14)

    @property
    def packet_size(self) -> int:
        """Total size of the packet this header announces."""
        return PRIMARY_HEADER_SIZE + self.data_length + 1


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
