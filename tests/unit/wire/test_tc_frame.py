"""Tests of CCSDS TC Transfer Frames (flight/wire/tc_frame.py, CCSDS 232.0-B-4).

References: header octets worked out by hand from the bit layout in 232.0-B-4 §4.1.2, crcmod's
``crc-ccitt-false`` for the FECF, CryptoLib's CALC_CRC16 vector (test/unit/ut_crypto.c), and
space packets built with ``struct`` (not with the project's packet code).
"""
from __future__ import annotations

import struct

import crcmod.predefined
import pytest
from hypothesis import given, settings, strategies as st

from flight.wire.cop1 import ControlCommand
from flight.wire.tc_frame import (MAX_FRAME_SIZE, FrameError, FrameReason, SegmentHeader, TcFrame, TcHeader,
                                  control_frame, parse_control_command, split_packets)

SETTINGS = settings(max_examples=80, deadline=None)
crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")


def reseal(frame: bytes) -> bytes:
    """Replace the last two octets by the CRC of the rest (crcmod reference)."""
    body = bytes(frame[:-2])
    return body + crc16(body).to_bytes(2, "big")


def packet(apid: int, count: int, body: bytes) -> bytes:
    """A version-0 TC space packet with secondary header flag set, unsegmented."""
    return struct.pack(">HHH", 0x1800 | apid, 0xC000 | count, len(body) - 1) + body


packets = st.builds(packet, st.integers(0, 0x7FF), st.integers(0, 0x3FFF), st.binary(min_size=1, max_size=40))
headers = st.builds(TcHeader, scid=st.integers(0, 0x3FF), vcid=st.integers(0, 0x3F), sequence=st.integers(0, 255),
                    bypass=st.booleans(), control=st.just(False), spare=st.integers(0, 3))
segments = st.none() | st.builds(SegmentHeader, st.integers(0, 3), st.integers(0, 0x3F))


# --- golden vectors ----------------------------------------------------------------------------
def test_header_bits_worked_out_by_hand():
    # version 00, bypass 1, control 0, spare 10, SCID 0x2AB = 10 1010 1011 -> 0010 1010 1010 1011 = 2A AB;
    # VCID 0x15 = 010101, length 12 - 1 = 00 0000 1011 -> 0101 0100 0000 1011 = 54 0B; N(S) 7E;
    # segment header: flags 01, MAP 0x2A = 101010 -> 0110 1010 = 6A.
    frame = TcFrame(TcHeader(scid=0x2AB, vcid=0x15, sequence=0x7E, bypass=True, spare=0b10), b"\xde\xad\xbe\xef",
                    SegmentHeader(0b01, 0x2A))
    encoded = frame.encode()
    assert encoded[:-2].hex() == "2aab540b7e6adeadbeef"
    assert encoded == reseal(encoded) and len(encoded) == 12
    assert TcFrame.decode(encoded, segment_header=True) == frame


def test_fecf_matches_cryptolib_calc_crc16():
    # CryptoLib test/unit/ut_crypto.c, UTEST(CRYPTO_C, CALC_CRC16): CRC of these 31 octets is 0x73EC.
    body = bytes.fromhex("2003002000ff000100001980d2c9000e197f0b001b0004000400003040d95e")
    frame = TcFrame.decode(body + b"\x73\xec", segment_header=True)
    assert frame.header == TcHeader(scid=3, vcid=0, sequence=0, bypass=True)
    assert frame.segment == SegmentHeader(0b11, 0x3F)
    assert frame.data == body[6:]
    assert frame.encode() == body + b"\x73\xec"


# --- round trips -------------------------------------------------------------------------------
@SETTINGS
@given(header=headers, segment=segments, content=st.lists(packets, min_size=1, max_size=5), fecf=st.booleans())
def test_round_trip(header, segment, content, fecf):
    frame = TcFrame(header, b"".join(content), segment, fecf)
    encoded = frame.encode()
    assert len(encoded) == frame.size
    assert ((encoded[2] & 3) << 8 | encoded[3]) + 1 == len(encoded)
    decoded = TcFrame.decode(encoded, segment_header=segment is not None, fecf=fecf)
    assert decoded == frame
    assert decoded.packets() == content


@SETTINGS
@given(header=headers, content=st.lists(packets, min_size=1, max_size=3), segmented=st.sets(st.integers(0, 0x3F)))
def test_segment_header_is_per_virtual_channel(header, content, segmented):
    segment = SegmentHeader() if header.vcid in segmented else None
    encoded = TcFrame(header, b"".join(content), segment).encode()
    decoded = TcFrame.decode(encoded, segment_header=frozenset(segmented))
    assert decoded.segment == segment and decoded.packets() == content


# --- corruption --------------------------------------------------------------------------------
def test_every_single_bit_flip_is_refused():
    frame = TcFrame(TcHeader(scid=0x123, vcid=5, sequence=9), packet(0x42, 7, b"\x01\x02"), SegmentHeader())
    encoded = frame.encode()
    for bit in range(len(encoded) * 8):
        corrupted = bytearray(encoded)
        corrupted[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(FrameError):
            TcFrame.decode(bytes(corrupted), segment_header=True)


@SETTINGS
@given(header=headers, segment=segments, content=st.lists(packets, min_size=1, max_size=5), data=st.data())
def test_random_single_bit_flip_is_refused(header, segment, content, data):
    encoded = TcFrame(header, b"".join(content), segment).encode()
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    corrupted = bytearray(encoded)
    corrupted[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(FrameError):
        TcFrame.decode(bytes(corrupted), segment_header=segment is not None)


GOOD = TcFrame(TcHeader(scid=3, vcid=1), packet(1, 0, b"\x2f\x11\x01\x00\x00")).encode()


@pytest.mark.parametrize("raw, reason", [
    (GOOD[:4], FrameReason.TOO_SHORT),
    (reseal(bytes.fromhex("2003000600") + b"\x00\x00")[:6], FrameReason.TOO_SHORT),
    (reseal(bytes([0x20, 0x03, 0x07, 0xFF, 0]) + bytes(1020)), FrameReason.TOO_LONG),
    (reseal(bytes([GOOD[0] | 0x40]) + GOOD[1:]), FrameReason.BAD_VERSION),
    (reseal(bytes([GOOD[0] | 0x80]) + GOOD[1:]), FrameReason.BAD_VERSION),
    (reseal(GOOD[:3] + bytes([GOOD[3] + 1]) + GOOD[4:]), FrameReason.LENGTH_MISMATCH),
    (GOOD + b"\x00", FrameReason.LENGTH_MISMATCH),
    (GOOD[:-3] + GOOD[-2:], FrameReason.LENGTH_MISMATCH),
    (GOOD[:-1] + bytes([GOOD[-1] ^ 1]), FrameReason.BAD_CRC),
    (GOOD[:7] + bytes([GOOD[7] ^ 0x10]) + GOOD[8:], FrameReason.BAD_CRC),
], ids=["4-octets", "no-room-for-fecf", "1025-octets", "version-1", "version-2", "length-field+1", "extra-octet",
        "missing-octet", "fecf-bit", "data-bit"])
def test_malformed_frames_refused_with_their_reason(raw, reason):
    with pytest.raises(FrameError) as refused:
        TcFrame.decode(raw)
    assert refused.value.reason is reason
    assert isinstance(refused.value, ValueError)


def test_segmented_frame_needs_room_for_its_segment_header():
    with pytest.raises(FrameError) as refused:
        TcFrame.decode(TcFrame(TcHeader(scid=3, vcid=1)).encode(), segment_header=True)
    assert refused.value.reason is FrameReason.TOO_SHORT


def test_largest_frame_encodes_and_one_more_octet_is_refused():
    header = TcHeader(scid=3, vcid=1)
    largest = TcFrame(header, bytes(MAX_FRAME_SIZE - 7))
    assert TcFrame.decode(largest.encode()) == largest
    with pytest.raises(FrameError) as refused:
        TcFrame(header, bytes(MAX_FRAME_SIZE - 6)).encode()
    assert refused.value.reason is FrameReason.TOO_LONG


def test_header_fields_out_of_range_are_refused():
    for fields in ({"scid": 0x400, "vcid": 0}, {"scid": 0, "vcid": 0x40}, {"scid": 0, "vcid": 0, "sequence": 256},
                   {"scid": 0, "vcid": 0, "spare": 4}):
        with pytest.raises(ValueError):
            TcHeader(**fields)
    with pytest.raises(ValueError):
        SegmentHeader(4, 0)
    with pytest.raises(ValueError):
        TcFrame(TcHeader(0, 0, bypass=True, control=True), b"\x00", SegmentHeader())


# --- packets in the data field -----------------------------------------------------------------
@SETTINGS
@given(content=st.lists(packets, min_size=1, max_size=5), data=st.data())
def test_a_partial_packet_is_refused(content, data):
    joined = b"".join(content)
    cut = data.draw(st.integers(1, len(content[-1]) - 1))
    with pytest.raises(FrameError) as refused:
        split_packets(joined[:-cut])
    assert refused.value.reason is FrameReason.PARTIAL_PACKET


def test_packet_split_edges():
    assert split_packets(b"") == []
    one = packet(5, 1, b"\xaa")
    assert split_packets(one + one) == [one, one]
    with pytest.raises(FrameError) as refused:
        split_packets(one + one[:5])
    assert refused.value.reason is FrameReason.PARTIAL_PACKET
    with pytest.raises(FrameError) as refused:
        split_packets(bytes([one[0] | 0x20]) + one[1:])
    assert refused.value.reason is FrameReason.BAD_PACKET


# --- COP-1 control commands --------------------------------------------------------------------
def test_control_command_octets():
    assert ControlCommand.unlock().encode() == b"\x00"
    assert ControlCommand.set_vr(0x5A).encode() == b"\x82\x00\x5a"
    # bypass 1 + control 1 + SCID 3 -> 30 03; VCID 1, 10 octets -> 0000 0100 0000 1001 = 04 09; N(S) 00.
    encoded = control_frame(3, 1, ControlCommand.set_vr(7)).encode()
    assert encoded == reseal(bytes.fromhex("3003040900" "820007") + b"\0\0")


@pytest.mark.parametrize("command", [ControlCommand.unlock()]
                         + [ControlCommand.set_vr(vr) for vr in (0, 1, 0x7F, 0x80, 0xFF)])
def test_control_commands_round_trip(command):
    assert parse_control_command(command.encode()) == command
    frame = control_frame(0x3FF, 0x3F, command, sequence=0)
    decoded = TcFrame.decode(frame.encode(), segment_header=True)  # Type-C frames never carry one
    assert decoded == frame and decoded.segment is None
    assert decoded.header.bypass and decoded.header.control
    assert parse_control_command(decoded.data) == command


@SETTINGS
@given(st.binary(max_size=8))
def test_anything_else_is_not_a_control_command(raw):
    if raw == b"\x00" or (len(raw) == 3 and raw[:2] == b"\x82\x00"):
        assert parse_control_command(raw).encode() == raw
    else:
        with pytest.raises(FrameError) as refused:
            parse_control_command(raw)
        assert refused.value.reason is FrameReason.BAD_CONTROL_COMMAND
