"""Tests of the wire codec: CCSDS primary header, PUS-C TC/TM packets, service layouts, CUC time.

References: the golden ping vector from the PUS-C layout worked out by hand, crcmod's
``crc-ccitt-false`` for the packet error control, and bit fields pulled out with masks and
``struct`` for headers.
"""
from __future__ import annotations

import calendar
import struct
import threading

import crcmod.predefined
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from flight.messages import Product
from flight.wire import services as sv
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import (AckFlags, Telecommand, TelemetryPacket, decode_cuc, encode_cuc,
                             request_id_of)
from flight.wire.spacepacket import PacketType, PrimaryHeader, SequenceCounter

SETTINGS = settings(max_examples=80, deadline=None)
crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")

# TC[17,1], APID 1, count 0: packet id 0x1801 (version 0, TC, secondary header, APID 1);
# sequence control 0xC000 (unsegmented, count 0); data length 6 (7 bytes: 5 header + 2 CRC);
# PUS version 2 with all four ack flags = 0x2F; service 17; subtype 1; source id 0; CRC.
GOLDEN_PING = bytes.fromhex("1801c00000062f11010000161d")


def reseal(body: bytes) -> bytes:
    """Replace the last two bytes by the CRC of the rest (crcmod reference)."""
    body = bytes(body[:-2])
    return body + crc16(body).to_bytes(2, "big")


tcs = st.builds(Telecommand, apid=st.integers(0, 0x7FF), sequence_count=st.integers(0, 0x3FFF),
                service=st.integers(0, 255), subtype=st.integers(0, 255),
                app_data=st.binary(max_size=64), ack=st.builds(AckFlags, st.integers(0, 15)),
                source_id=st.integers(0, 0xFFFF))
times = st.builds(lambda coarse, fine: coarse + fine / 65536, st.integers(0, 2**32 - 1),
                  st.integers(0, 0xFFFF))
tms = st.builds(TelemetryPacket, apid=st.integers(0, 0x7FF),
                sequence_count=st.integers(0, 0x3FFF), service=st.integers(0, 255),
                subtype=st.integers(0, 255), app_data=st.binary(max_size=64), time=times,
                message_counter=st.integers(0, 0xFFFF), destination_id=st.integers(0, 0xFFFF),
                time_status=st.integers(0, 15))


# --- golden vector and CRC ---------------------------------------------------------------------
def test_golden_ping_vector():
    assert Telecommand(apid=1, sequence_count=0, service=17, subtype=1).encode() == GOLDEN_PING
    assert GOLDEN_PING.hex(" ") == "18 01 c0 00 00 06 2f 11 01 00 00 16 1d"
    decoded = Telecommand.decode(GOLDEN_PING)
    assert (decoded.apid, decoded.sequence_count, decoded.service, decoded.subtype,
            decoded.app_data, decoded.ack, decoded.source_id) == (1, 0, 17, 1, b"", 0xF, 0)


def test_golden_crc_is_crc16_ccitt_false():
    assert int.from_bytes(GOLDEN_PING[-2:], "big") == crc16(GOLDEN_PING[:-2])


# --- primary header ----------------------------------------------------------------------------
@SETTINGS
@given(st.sampled_from(PacketType), st.integers(0, 0x7FF), st.integers(0, 0x3FFF),
       st.integers(0, 0xFFFF), st.booleans(), st.integers(0, 3))
def test_primary_header_round_trip_and_bit_layout(ptype, apid, count, length, secondary, flags):
    header = PrimaryHeader(ptype, apid, count, length, secondary, flags)
    raw = header.pack()
    word0, word1, word2 = struct.unpack(">HHH", raw)
    assert word0 >> 13 == 0 and (word0 >> 12) & 1 == ptype and (word0 >> 11) & 1 == secondary
    assert word0 & 0x7FF == apid and word1 >> 14 == flags and word1 & 0x3FFF == count
    assert word2 == length
    assert PrimaryHeader.unpack(raw) == header
    assert header.packet_size == 6 + length + 1


@pytest.mark.parametrize("kwargs", [dict(apid=0x800), dict(apid=-1), dict(sequence_count=16384),
                                    dict(data_length=0x10000)])
def test_primary_header_refuses_fields_too_wide(kwargs):
    fields = dict(packet_type=PacketType.TC, apid=1, sequence_count=0, data_length=0)
    fields.update(kwargs)
    with pytest.raises(ValueError):
        PrimaryHeader(**fields).pack()


@pytest.mark.parametrize("version", range(1, 8))
def test_primary_header_wrong_version(version):
    raw = bytes([GOLDEN_PING[0] | (version << 5)]) + GOLDEN_PING[1:6]
    with pytest.raises(PacketError) as caught:
        PrimaryHeader.unpack(raw)
    assert caught.value.code is FailureCode.BAD_HEADER


def test_sequence_count_wraps_at_16384_per_apid():
    counter = SequenceCounter()
    first = [counter.next(5) for _ in range(16384)]
    assert first == list(range(16384))
    assert counter.next(7) == 0  # another APID has its own count
    assert [counter.next(5) for _ in range(3)] == [0, 1, 2]
    assert counter.next(7) == 1


def test_sequence_counter_is_thread_safe():
    counter = SequenceCounter()
    seen: list[list[int]] = [[] for _ in range(4)]

    def work(out: list[int]) -> None:
        for _ in range(2000):
            out.append(counter.next(3))

    threads = [threading.Thread(target=work, args=(out,)) for out in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    counts = sorted(c for out in seen for c in out)
    assert counts == list(range(8000))


# --- TC and TM round trips ---------------------------------------------------------------------
@SETTINGS
@given(tcs)
def test_tc_round_trip(tc):
    raw = tc.encode()
    assert Telecommand.decode(raw) == tc
    assert int.from_bytes(raw[-2:], "big") == crc16(raw[:-2])
    assert struct.unpack_from(">H", raw, 4)[0] == len(raw) - 7
    assert raw[6] == 0x20 | int(tc.ack) and raw[7] == tc.service and raw[8] == tc.subtype
    assert raw[11:-2] == tc.app_data
    assert tc.request_id == raw[:4] == request_id_of(raw)


@SETTINGS
@given(tms)
def test_tm_round_trip(tm):
    raw = tm.encode()
    assert TelemetryPacket.decode(raw) == tm
    assert int.from_bytes(raw[-2:], "big") == crc16(raw[:-2])
    assert (raw[0] >> 4) & 1 == 0  # TM
    assert raw[6] == 0x20 | tm.time_status
    assert struct.unpack_from(">BBHHIH", raw, 7) == (
        tm.service, tm.subtype, tm.message_counter, tm.destination_id, int(tm.time),
        round((tm.time - int(tm.time)) * 65536))
    assert raw[19:-2] == tm.app_data


@SETTINGS
@given(tc=tcs, data=st.data())
def test_any_single_bit_flip_of_a_tc_is_refused(tc, data):
    raw = bytearray(tc.encode())
    bit = data.draw(st.integers(0, 8 * len(raw) - 1))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(PacketError):
        Telecommand.decode(bytes(raw))


@SETTINGS
@given(tm=tms, data=st.data())
def test_any_single_bit_flip_of_a_tm_is_refused(tm, data):
    raw = bytearray(tm.encode())
    bit = data.draw(st.integers(0, 8 * len(raw) - 1))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(PacketError):
        TelemetryPacket.decode(bytes(raw))


def test_every_single_bit_flip_of_the_golden_ping_is_refused():
    for bit in range(8 * len(GOLDEN_PING)):
        raw = bytearray(GOLDEN_PING)
        raw[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(PacketError):
            Telecommand.decode(bytes(raw))


# --- refusals with their codes -------------------------------------------------------------------
def refusal(raw: bytes, decoder=Telecommand.decode, **kwargs) -> FailureCode:
    with pytest.raises(PacketError) as caught:
        decoder(raw, **kwargs)
    return caught.value.code


def sealed_ping_with(byte_index: int, value: int) -> bytes:
    raw = bytearray(GOLDEN_PING)
    raw[byte_index] = value
    return reseal(bytes(raw))


def test_refusal_codes():
    ping = GOLDEN_PING
    cases = {
        "truncated": refusal(ping[:-1]),
        "shorter than a primary header": refusal(ping[:5]),
        "empty": refusal(b""),
        "longer than its length field": refusal(ping + b"\x00"),
        "oversized": refusal(ping, max_size=len(ping) - 1),
        "crc": refusal(ping[:-1] + bytes([ping[-1] ^ 1])),
        "wrong version": refusal(sealed_ping_with(0, ping[0] | 0x20)),
        "TM given as TC": refusal(TelemetryPacket(1, 0, 17, 2, b"", 0.0).encode()),
        "TC given as TM": refusal(ping, TelemetryPacket.decode),
        "no secondary header": refusal(sealed_ping_with(0, ping[0] & ~0x08)),
        "PUS version 1": refusal(sealed_ping_with(6, 0x1F)),
        "PUS version 0": refusal(sealed_ping_with(6, 0x0F)),
    }
    assert cases == {
        "truncated": FailureCode.TRUNCATED,
        "shorter than a primary header": FailureCode.TRUNCATED,
        "empty": FailureCode.TRUNCATED,
        "longer than its length field": FailureCode.LENGTH_MISMATCH,
        "oversized": FailureCode.OVERSIZED,
        "crc": FailureCode.CRC_MISMATCH,
        "wrong version": FailureCode.BAD_HEADER,
        "TM given as TC": FailureCode.BAD_HEADER,
        "TC given as TM": FailureCode.BAD_HEADER,
        "no secondary header": FailureCode.BAD_HEADER,
        "PUS version 1": FailureCode.BAD_HEADER,
        "PUS version 0": FailureCode.BAD_HEADER,
    }
    assert len({cases["truncated"], cases["longer than its length field"], cases["oversized"],
                cases["crc"], cases["wrong version"]}) == 5


def test_length_field_too_small_for_the_secondary_header_is_truncated():
    # A TC whose data field is only 2 bytes (length field 1): a valid header and CRC, no room
    # for the 5-byte secondary header.
    raw = reseal(bytes.fromhex("1801c000000100") + b"\x00")
    assert refusal(raw) is FailureCode.TRUNCATED
    tm = reseal(bytes.fromhex("0801c000000a") + bytes(11))  # 12 < 13 + 2
    assert refusal(tm, TelemetryPacket.decode) is FailureCode.TRUNCATED


def test_request_id_of_a_short_packet_is_zero_padded():
    assert request_id_of(b"\x18") == b"\x18\x00\x00\x00"
    assert request_id_of(GOLDEN_PING) == GOLDEN_PING[:4]


# --- service layouts ---------------------------------------------------------------------------
@SETTINGS
@given(st.integers(1, 8), st.binary(min_size=4, max_size=4), st.integers(0, 0xFFFF))
def test_verification_report_every_subtype(subtype, request_id, code):
    success = subtype % 2 == 1
    stage = sv.Stage((subtype + 1) // 2)
    report = sv.VerificationReport(stage, success, request_id, 0 if success else code)
    assert report.subtype == subtype
    packed = report.pack()
    assert packed == request_id + (b"" if success else code.to_bytes(2, "big"))
    assert sv.VerificationReport.unpack(subtype, packed) == report


@pytest.mark.parametrize("subtype,data", [(0, b"1234"), (9, b"1234"), (1, b"12345"),
                                          (2, b"1234"), (2, b"1234567"), (7, b"")])
def test_verification_report_refuses_bad_layouts(subtype, data):
    with pytest.raises(ValueError):
        sv.VerificationReport.unpack(subtype, data)


@SETTINGS
@given(st.lists(st.integers(0, 0xFFFF), max_size=40))
def test_ids_round_trip(ids):
    packed = sv.pack_ids(ids)
    assert packed == len(ids).to_bytes(2, "big") + b"".join(i.to_bytes(2, "big") for i in ids)
    assert sv.unpack_ids(packed) == ids
    with pytest.raises(ValueError):
        sv.unpack_ids(packed + b"\x00")
    with pytest.raises(ValueError):
        sv.unpack_ids(packed[:-1] if ids else b"\x00")


f32s = st.floats(width=32, allow_nan=False)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 255), f32s, f32s, st.integers(0, 2**32 - 1),
       st.integers(0, 255), st.integers(1, 20), st.data())
def test_inference_product_round_trip(frame, tile_class, confidence, cloud, latency, card,
                                      grid, data):
    cells = np.array(data.draw(st.lists(st.booleans(), min_size=grid * grid,
                                        max_size=grid * grid)), dtype=bool).reshape(grid, grid)
    product = Product(frame, tile_class, confidence, cloud, cells, latency, card)
    packed = sv.pack_product(product)
    # independent reading of the layout: U32 frame, U8 class, F32, F32, U32 latency, U8, U8 grid
    assert int.from_bytes(packed[0:4], "big") == frame and packed[4] == tile_class
    assert struct.unpack(">ff", packed[5:13]) == (np.float32(confidence), np.float32(cloud))
    assert int.from_bytes(packed[13:17], "big") == latency
    assert packed[17] == card and packed[18] == grid
    assert len(packed) == 19 + (grid * grid + 7) // 8
    for index, value in enumerate(cells.ravel()):  # MSB first, row-major
        assert bool(packed[19 + index // 8] & (0x80 >> (index % 8))) == value
    back = sv.unpack_product(packed)
    assert (back.frame_id, back.tile_class, back.latency_us, back.card) == (
        frame, tile_class, latency, card)
    assert (back.confidence, back.cloud_fraction) == (confidence, cloud)
    assert np.array_equal(back.fire_cells, cells) and back.fire_cells.dtype == bool
    with pytest.raises(ValueError):
        sv.unpack_product(packed + b"\x00")
    with pytest.raises(ValueError):
        sv.unpack_product(packed[:10])


def test_inference_product_latency_is_clamped_to_u32():
    product = Product(1, 0, 0.5, 0.5, np.zeros((2, 2), bool), 2**40, 0)
    assert sv.unpack_product(sv.pack_product(product)).latency_us == 0xFFFFFFFF


# --- CUC time ----------------------------------------------------------------------------------
@SETTINGS
@given(st.floats(min_value=0, max_value=2**32 - 1, allow_nan=False))
def test_cuc_round_trip_within_one_fine_tick(seconds):
    raw = encode_cuc(seconds)
    assert len(raw) == 6
    assert abs(decode_cuc(raw) - seconds) <= 1 / 65536


def test_cuc_hand_vectors():
    epoch_2026 = calendar.timegm((2026, 1, 1, 0, 0, 0))
    assert encode_cuc(1.5) == bytes.fromhex("000000018000")
    assert decode_cuc(bytes.fromhex("000000018000")) == 1.5
    assert encode_cuc(epoch_2026 + 0.25) == epoch_2026.to_bytes(4, "big") + b"\x40\x00"
    assert encode_cuc(0) == bytes(6)
    assert decode_cuc(encode_cuc(2**32 + 3.0)) == 3.0  # whole seconds wrap after 2^32
