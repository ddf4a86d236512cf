"""ECSS PUS-C telecommand and telemetry packets with CRC-16/CCITT-FALSE packet error control.

TC secondary header (5 bytes): PUS version 2 and acknowledgement flags, service, subtype, 16-bit
source id. TM secondary header (13 bytes): PUS version 2 and spacecraft time reference status,
service, subtype, 16-bit message type counter, 16-bit destination id, and a CUC 4+2 timestamp
with an implicit P-field (4 octets of whole seconds, 2 of binary fraction, epoch 1970-01-01 UTC).
The last two bytes of every packet are CRC-16/CCITT-FALSE over all bytes before them.

Requirements (verified in tests/unit/wire/test_wire.py; interoperability with spacepackets, the library
under tmtccmd, in tests/unit/wire/test_interop.py):
- the ping TC[17,1] to APID 1, sequence count 0, encodes to 18 01 c0 00 00 06 2f 11 01 00 00 16 1d;
- TC and TM round-trip through encode/decode for any field values (property test);
- any single-bit corruption of an encoded packet is refused (property test);
- truncated, over-long, oversized, wrong-version and wrong-type packets are refused with distinct
  FailureCodes.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from native import crc16_ccitt_false

from flight.wire.failure import FailureCode, PacketError
from flight.wire.spacepacket import (MAX_APID, PRIMARY_HEADER_SIZE, SEQUENCE_COUNT_MODULO, UNSEGMENTED, PacketType,
                                     PrimaryHeader, pack_header, read_header)

PUS_VERSION = 2
TC_SECONDARY_HEADER_SIZE = 5
TIME_SIZE = 6
TM_SECONDARY_HEADER_SIZE = 7 + TIME_SIZE
CRC_SIZE = 2
TC_OVERHEAD = PRIMARY_HEADER_SIZE + TC_SECONDARY_HEADER_SIZE + CRC_SIZE
TM_OVERHEAD = PRIMARY_HEADER_SIZE + TM_SECONDARY_HEADER_SIZE + CRC_SIZE
MAX_PACKET_SIZE = PRIMARY_HEADER_SIZE + 0x10000
_TM_SECONDARY = struct.Struct(">BBBHHIH")  # the TM secondary header, its CUC time included


class AckFlags(enum.IntFlag):
    """Which successful verification stages the sender asks to be reported (failures always are)."""

    NONE = 0
    ACCEPTANCE = 0b0001
    START = 0b0010
    PROGRESS = 0b0100
    COMPLETION = 0b1000
    ALL = 0b1111


CUC_TICKS = 65536  # CUC 4+2: the fine time counts 1/65536 s


def cuc_ticks(seconds: float) -> int:
    """``seconds`` in CUC 4+2 ticks of 1/65536 s, wrapped to the field's 48 bits (after 2^32 s)."""
    return int(round(seconds * CUC_TICKS)) & 0xFFFF_FFFF_FFFF


def encode_cuc(seconds: float) -> bytes:
    """CUC 4+2: whole seconds and 1/65536 fractions since the epoch (wraps after 2^32 s)."""
    ticks = cuc_ticks(seconds)
    return struct.pack(">IH", ticks >> 16, ticks & 0xFFFF)


def decode_cuc(raw: bytes | memoryview) -> float:
    coarse, fine = struct.unpack_from(">IH", raw)
    return coarse + fine / CUC_TICKS


def _seal(body: bytes) -> bytes:
    return body + crc16_ccitt_false(body).to_bytes(2, "big")


def _open(raw: bytes, packet_type: PacketType, secondary_size: int,
          max_size: int) -> tuple[int, int, int]:
    """Check size, header and CRC of a raw packet: its (APID, sequence count, sequence flags)."""
    size = len(raw)
    if size > max_size:
        raise PacketError(FailureCode.OVERSIZED, f"{size} bytes, maximum is {max_size}")
    packet_id, sequence_control, data_length = read_header(raw)
    if (packet_id >> 12) & 1 != packet_type:
        raise PacketError(FailureCode.BAD_HEADER, f"packet type {PacketType((packet_id >> 12) & 1).name}, "
                          f"expected {packet_type.name}")
    if not (packet_id >> 11) & 1:
        raise PacketError(FailureCode.BAD_HEADER, "secondary header flag is 0")
    announced = PRIMARY_HEADER_SIZE + data_length + 1
    if size < announced:
        raise PacketError(FailureCode.TRUNCATED, f"{size} bytes, header announces {announced}")
    if size > announced:
        raise PacketError(FailureCode.LENGTH_MISMATCH, f"{size} bytes, header announces {announced}")
    if announced < PRIMARY_HEADER_SIZE + secondary_size + CRC_SIZE:
        raise PacketError(FailureCode.TRUNCATED, f"{announced} bytes cannot hold the secondary header and CRC")
    if crc16_ccitt_false(raw) != 0:
        expected = crc16_ccitt_false(memoryview(raw)[:-CRC_SIZE])
        raise PacketError(FailureCode.CRC_MISMATCH, f"CRC {raw[-2:].hex()} , contents give {expected:04x}")
    pus_version = raw[PRIMARY_HEADER_SIZE] >> 4
    if pus_version != PUS_VERSION:
        raise PacketError(FailureCode.BAD_HEADER, f"PUS version {pus_version}, expected 2")
    return packet_id & MAX_APID, sequence_control & (SEQUENCE_COUNT_MODULO - 1), sequence_control >> 14


@dataclass(frozen=True)
class Telecommand:
    """A PUS-C telecommand TC[service, subtype]."""

    apid: int
    sequence_count: int
    service: int
    subtype: int
    app_data: bytes = b""
    ack: AckFlags = AckFlags.ALL
    source_id: int = 0

    def encode(self) -> bytes:
        data_field = struct.pack(">BBBH", (PUS_VERSION << 4) | int(self.ack), self.service,
                                 self.subtype, self.source_id) + self.app_data
        header = PrimaryHeader(PacketType.TC, self.apid, self.sequence_count,
                               len(data_field) + CRC_SIZE - 1)
        return _seal(header.pack() + data_field)

    @classmethod
    def decode(cls, raw: bytes, max_size: int = MAX_PACKET_SIZE) -> "Telecommand":
        apid, sequence_count, sequence_flags = _open(raw, PacketType.TC, TC_SECONDARY_HEADER_SIZE, max_size)
        if sequence_flags != UNSEGMENTED:
            raise PacketError(FailureCode.BAD_HEADER, f"sequence flags {sequence_flags:02b}: "
                              "a telecommand is one unsegmented packet")
        flags, service, subtype, source_id = struct.unpack_from(">BBBH", raw, PRIMARY_HEADER_SIZE)
        return cls(apid, sequence_count, service, subtype,
                   bytes(raw[PRIMARY_HEADER_SIZE + TC_SECONDARY_HEADER_SIZE:-CRC_SIZE]),
                   AckFlags(flags & 0x0F), source_id)

    @property
    def request_id(self) -> bytes:
        """The four-byte request id that ST[1] reports echo: packet id and sequence control."""
        return PrimaryHeader(PacketType.TC, self.apid, self.sequence_count, 0).pack()[:4]


def request_id_of(raw: bytes) -> bytes:
    """Request id from the first four bytes of a (possibly malformed) TC, zero-padded."""
    return bytes(raw[:4]).ljust(4, b"\0")


@dataclass(frozen=True)
class TelemetryPacket:
    """A PUS-C telemetry packet TM[service, subtype] stamped with mission time."""

    apid: int
    sequence_count: int
    service: int
    subtype: int
    app_data: bytes
    time: float
    message_counter: int = 0
    destination_id: int = 0
    time_status: int = 0

    def encode(self) -> bytes:
        ticks = cuc_ticks(self.time)
        body = b"".join((
            pack_header(PacketType.TM, self.apid, self.sequence_count,
                        TM_SECONDARY_HEADER_SIZE + len(self.app_data) + CRC_SIZE - 1),
            _TM_SECONDARY.pack((PUS_VERSION << 4) | self.time_status, self.service, self.subtype,
                               self.message_counter, self.destination_id, ticks >> 16, ticks & 0xFFFF),
            self.app_data))
        return _seal(body)

    @classmethod
    def decode(cls, raw: bytes, max_size: int = MAX_PACKET_SIZE) -> "TelemetryPacket":
        apid, sequence_count, _ = _open(raw, PacketType.TM, TM_SECONDARY_HEADER_SIZE, max_size)
        status, service, subtype, counter, destination, coarse, fine = _TM_SECONDARY.unpack_from(
            raw, PRIMARY_HEADER_SIZE)
        return cls(apid, sequence_count, service, subtype,
                   bytes(raw[PRIMARY_HEADER_SIZE + TM_SECONDARY_HEADER_SIZE:-CRC_SIZE]), coarse + fine / CUC_TICKS,
                   counter, destination, status & 0x0F)
