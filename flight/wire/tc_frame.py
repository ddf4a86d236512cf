"""CCSDS TC Transfer Frames (CCSDS 232.0-B-4): the uplink's link-layer frame around PUS packets.

A telecommand reaches the spacecraft inside a TC Transfer Frame. The frame names the spacecraft
and virtual channel it is for, numbers itself for COP-1 (the frame sequence number, N(S)), says
whether it bypasses the FARM's sequence check (Type-B) and whether it carries data (Type-D) or a
COP-1 control command (Type-C), and ends with a CRC over everything before it. This module
encodes and decodes those frames and refuses, with a :class:`FrameError` naming its
:class:`FrameReason`, anything that is not one; it knows nothing of the FARM (another layer).

Byte layout (big-endian; sizes in bits)::

    octet:  0                  1          2               3          4      5 (VCs with one)
           +----+---+---+----+----------+--------+--------+----------+------+---------+----------+------+
           |TFVN|BYP|CC |spar|   SCID   |  VCID  | length |  length  | N(S) | SegHdr  |   data   | FECF |
           | 2  | 1 | 1 | 2  |    10    |   6    |   10 (total-1)    |  8   |  2 | 6  |  field   |  16  |
           +----+---+---+----+----------+--------+--------+----------+------+---------+----------+------+

- TFVN, the transfer frame version, is always 0; BYP is the bypass flag (1 = Type-B), CC the
  control command flag (1 = Type-C); the two spare bits are kept as they come.
- length = total frame octets - 1; a frame is at most 1024 octets (232.0-B-4 §4.1.2.7).
- the segment header (sequence flags 2 bits, MAP id 6 bits) is a per-virtual-channel setting: a
  VC has it in all its Type-D frames or in none. Type-C frames never carry one (§4.1.3.2).
- the data field of a Type-D frame holds one or more space packets back to back
  (:func:`split_packets`); that of a Type-C frame one COP-1 control command (§4.1.3.3):
  Unlock = ``00``, Set V(R) = ``82 00 V(R)``.
- FECF: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over every octet before it, as the PUS
  packets' error control (:mod:`flight.wire.pus`). Its presence is a managed parameter of the
  physical channel (§4.1.4.1); it is on by default and only interoperability tests turn it off.

| requirement | verified by |
|---|---|
| encode/decode round trip: any header fields, segment header or not, 1..n packets | tests/unit/wire/test_tc_frame.py |
| every single-bit flip of an encoded frame is refused by decode | tests/unit/wire/test_tc_frame.py |
| too short, too long, wrong version, length mismatch, bad CRC: each its reason | tests/unit/wire/test_tc_frame.py |
| a data field splits into its packets; a partial packet is refused | tests/unit/wire/test_tc_frame.py |
| Unlock and Set V(R) build, parse and round-trip; other control data refused | tests/unit/wire/test_tc_frame.py |
| the FECF equals CryptoLib's CRC (its CALC_CRC16 vector) | tests/unit/wire/test_tc_frame.py |
"""
from __future__ import annotations

import enum
from collections.abc import Set
from dataclasses import dataclass

from native import crc16_ccitt_false

from flight.wire.cop1 import ControlCommand, ControlCommandError
from flight.wire.failure import PacketError
from flight.wire.spacepacket import PRIMARY_HEADER_SIZE as PACKET_HEADER_SIZE
from flight.wire.spacepacket import PrimaryHeader

PRIMARY_HEADER_SIZE = 5
SEGMENT_HEADER_SIZE = 1
FECF_SIZE = 2
MAX_FRAME_SIZE = 1024
VERSION = 0
MAX_SCID = 0x3FF
MAX_VCID = 0x3F
MAX_MAP_ID = 0x3F
UNSEGMENTED = 0b11


class FrameReason(enum.Enum):
    """Why a frame, a data field or a control command was refused."""

    TOO_SHORT = "too_short"                      # fewer octets than the headers (and FECF) need
    TOO_LONG = "too_long"                        # more than 1024 octets
    BAD_VERSION = "bad_version"                  # transfer frame version not 0
    LENGTH_MISMATCH = "length_mismatch"          # length field + 1 != octets received
    BAD_CRC = "bad_crc"                          # FECF is not the CRC of the frame
    PARTIAL_PACKET = "partial_packet"            # the data field ends inside a packet
    BAD_PACKET = "bad_packet"                    # a packet header that is not a version-0 space packet
    BAD_CONTROL_COMMAND = "bad_control_command"  # neither Unlock nor Set V(R)


class FrameError(ValueError):
    """A frame refused for a :class:`FrameReason`."""

    def __init__(self, reason: FrameReason, message: str) -> None:
        super().__init__(f"{reason.name}: {message}")
        self.reason = reason
        self.message = message


def _check_range(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} {value} outside 0..{maximum}")


@dataclass(frozen=True)
class TcHeader:
    """The five-octet primary header, without the length field (encode computes it)."""

    scid: int
    vcid: int
    sequence: int = 0
    bypass: bool = False
    control: bool = False
    spare: int = 0

    def __post_init__(self) -> None:
        _check_range("spacecraft id", self.scid, MAX_SCID)
        _check_range("virtual channel id", self.vcid, MAX_VCID)
        _check_range("frame sequence number", self.sequence, 0xFF)
        _check_range("spare bits", self.spare, 0b11)

    def pack(self, frame_size: int) -> bytes:
        """The header of a frame of ``frame_size`` octets in all."""
        _check_range("frame size - 1", frame_size - 1, MAX_FRAME_SIZE - 1)
        first = (VERSION << 14) | (int(self.bypass) << 13) | (int(self.control) << 12)
        first |= (self.spare << 10) | self.scid
        second = (self.vcid << 10) | (frame_size - 1)
        return first.to_bytes(2, "big") + second.to_bytes(2, "big") + bytes((self.sequence,))

    @classmethod
    def unpack(cls, raw: bytes | memoryview) -> tuple[TcHeader, int, int]:
        """(header, version, announced frame size) from the first five octets, unchecked."""
        if len(raw) < PRIMARY_HEADER_SIZE:
            raise FrameError(FrameReason.TOO_SHORT, f"{len(raw)} octets, the primary header needs 5")
        first = int.from_bytes(raw[0:2], "big")
        second = int.from_bytes(raw[2:4], "big")
        header = cls(scid=first & MAX_SCID, vcid=second >> 10, sequence=raw[4],
                     bypass=bool(first >> 13 & 1), control=bool(first >> 12 & 1), spare=first >> 10 & 0b11)
        return header, first >> 14, (second & 0x3FF) + 1


@dataclass(frozen=True)
class SegmentHeader:
    """The optional one-octet segment header: sequence flags and MAP id."""

    sequence_flags: int = UNSEGMENTED
    map_id: int = 0

    def __post_init__(self) -> None:
        _check_range("sequence flags", self.sequence_flags, 0b11)
        _check_range("MAP id", self.map_id, MAX_MAP_ID)

    def pack(self) -> bytes:
        return bytes(((self.sequence_flags << 6) | self.map_id,))

    @classmethod
    def unpack(cls, octet: int) -> SegmentHeader:
        return cls(octet >> 6, octet & MAX_MAP_ID)


def has_segment_header(segment_header: bool | Set[int], vcid: int, control: bool) -> bool:
    """Whether a frame of ``vcid`` carries a segment header: ``segment_header`` is True/False for
    every VC or the set of VC ids that carry one; Type-C frames never do."""
    if control:
        return False
    if isinstance(segment_header, bool):
        return segment_header
    return vcid in segment_header


@dataclass(frozen=True)
class TcFrame:
    """A TC Transfer Frame: header, optional segment header, data field, FECF (if ``fecf``)."""

    header: TcHeader
    data: bytes = b""
    segment: SegmentHeader | None = None
    fecf: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", bytes(self.data))
        if self.segment is not None and self.header.control:
            raise ValueError("a Type-C (control command) frame carries no segment header")

    @property
    def size(self) -> int:
        """Total octets of the encoded frame."""
        return (PRIMARY_HEADER_SIZE + (SEGMENT_HEADER_SIZE if self.segment else 0) + len(self.data)
                + (FECF_SIZE if self.fecf else 0))

    def encode(self) -> bytes:
        if self.size > MAX_FRAME_SIZE:
            raise FrameError(FrameReason.TOO_LONG, f"{self.size} octets, a TC frame has at most {MAX_FRAME_SIZE}")
        body = self.header.pack(self.size) + (self.segment.pack() if self.segment else b"") + self.data
        return body + crc16_ccitt_false(body).to_bytes(2, "big") if self.fecf else body

    @classmethod
    def decode(cls, raw: bytes | bytearray | memoryview, *, segment_header: bool | Set[int] = False,
               fecf: bool = True) -> TcFrame:
        """Check and split a received frame. ``segment_header``: True/False for every VC, or the
        set of VC ids that carry one; ``fecf``: whether the physical channel carries the FECF."""
        raw = bytes(raw)
        if len(raw) > MAX_FRAME_SIZE:
            raise FrameError(FrameReason.TOO_LONG, f"{len(raw)} octets, a TC frame has at most {MAX_FRAME_SIZE}")
        header, version, announced = TcHeader.unpack(raw)
        segmented = has_segment_header(segment_header, header.vcid, header.control)
        minimum = PRIMARY_HEADER_SIZE + (SEGMENT_HEADER_SIZE if segmented else 0) + (FECF_SIZE if fecf else 0)
        if len(raw) < minimum:
            raise FrameError(FrameReason.TOO_SHORT, f"{len(raw)} octets, the headers need {minimum}")
        if announced != len(raw):
            raise FrameError(FrameReason.LENGTH_MISMATCH, f"length field announces {announced} octets, "
                             f"{len(raw)} received")
        if fecf and crc16_ccitt_false(raw[:-FECF_SIZE]) != int.from_bytes(raw[-FECF_SIZE:], "big"):
            raise FrameError(FrameReason.BAD_CRC, "FECF does not match the frame")
        if version != VERSION:
            raise FrameError(FrameReason.BAD_VERSION, f"transfer frame version {version}, expected {VERSION}")
        start = PRIMARY_HEADER_SIZE + (SEGMENT_HEADER_SIZE if segmented else 0)
        segment = SegmentHeader.unpack(raw[PRIMARY_HEADER_SIZE]) if segmented else None
        return cls(header, raw[start:len(raw) - (FECF_SIZE if fecf else 0)], segment, fecf)

    def packets(self) -> list[bytes]:
        """The space packets of the data field (see :func:`split_packets`)."""
        return split_packets(self.data)


def split_packets(data: bytes | memoryview) -> list[bytes]:
    """The space packets concatenated in a data field, each cut by its packet length field.

    Refuses (PARTIAL_PACKET) a data field that ends inside a packet or its header, and
    (BAD_PACKET) a packet header that is not version 0. An empty data field has no packets."""
    packets, _, error = cut_packets(data)
    if error is not None:
        raise error
    return packets


def cut_packets(data: bytes | memoryview) -> tuple[list[bytes], bytes, FrameError | None]:
    """The whole packets at the start of a data field, the octets after them that are not one,
    and why (None when every octet belongs to a packet)."""
    data = bytes(data)
    packets = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < PACKET_HEADER_SIZE:
            return packets, data[offset:], FrameError(
                FrameReason.PARTIAL_PACKET, f"{len(data) - offset} octets left at offset {offset}, a packet "
                f"header needs {PACKET_HEADER_SIZE}")
        try:
            header = PrimaryHeader.unpack(data[offset:offset + PACKET_HEADER_SIZE])
        except PacketError as exc:
            return packets, data[offset:], FrameError(FrameReason.BAD_PACKET, f"at offset {offset}: {exc.message}")
        end = offset + header.packet_size
        if end > len(data):
            return packets, data[offset:], FrameError(
                FrameReason.PARTIAL_PACKET, f"packet at offset {offset} announces {header.packet_size} octets, "
                f"{len(data) - offset} left")
        packets.append(data[offset:end])
        offset = end
    return packets, b"", None


def parse_control_command(data: bytes | memoryview) -> ControlCommand:
    """The control command in a Type-C frame's data field (flight.wire.cop1: Unlock, Set V(R));
    anything else is BAD_CONTROL_COMMAND."""
    try:
        return ControlCommand.decode(bytes(data))
    except ControlCommandError:
        raise FrameError(FrameReason.BAD_CONTROL_COMMAND, f"control data {bytes(data).hex()} is neither "
                         "Unlock (00) nor Set V(R) (82 00 xx)") from None


def control_frame(scid: int, vcid: int, command: ControlCommand, *, sequence: int = 0,
                  fecf: bool = True) -> TcFrame:
    """A Type-BC frame (bypass and control command flags set) carrying ``command``."""
    return TcFrame(TcHeader(scid, vcid, sequence, bypass=True, control=True), command.encode(), fecf=fecf)
