"""Tests of the CCSDS TM Transfer Frames (flight/wire/tm_frame.py).

References independent of the code under test: frames written out bit field by bit field from
CCSDS 132.0-B-3, crcmod's ``crc-ccitt-false`` for the FECF, spacepackets' ``TmTransferFrame``,
and an oracle that concatenates the data fields a virtual channel sent and walks the packet
headers in it (where every packet starts and ends, and which are idle), against which the first
header pointers, the packets delivered and the counts of gaps and discards are checked.
"""
from __future__ import annotations

import random
import struct

import crcmod.predefined
import pytest
from hypothesis import given, settings, strategies as st

from flight.wire.tm_frame import (IDLE_APID, MAX_FRAME_LENGTH, MIN_FRAME_LENGTH, NO_PACKET_START, ONLY_IDLE_DATA,
                                  Depacketizer, FrameFault, MasterChannel, MasterChannelMonitor, Packetizer,
                                  TmFrame, TmFrameError, idle_packet)

SETTINGS = settings(max_examples=120, deadline=None)
crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")
SCID = 0x2A5


def packet(apid: int, size: int, seed: int, count: int = 0) -> bytes:
    """A version-0 TM space packet of ``size`` octets (at least 7) with random data, built by hand."""
    packet_id = (0 << 13) | (0 << 12) | (1 << 11) | apid        # version 0, TM, secondary header flag
    header = struct.pack(">HHH", packet_id, 0xC000 | count, size - 7)  # unsegmented; length - 1
    return header + random.Random(seed).randbytes(size - 6)


def reseal(frame: bytes | bytearray) -> bytes:
    """Replace the FECF by the CRC of the rest (crcmod reference)."""
    body = bytes(frame[:-2])
    return body + crc16(body).to_bytes(2, "big")


def ocf_source():
    """An OCF callable returning a different 4 octets for each frame, and the list of what it gave."""
    given_out: list[bytes] = []

    def ocf() -> bytes:
        given_out.append(struct.pack(">I", 0x01000000 + len(given_out)))
        return given_out[-1]
    return ocf, given_out


def layout(frames: list[TmFrame], capacity: int) -> tuple[list[tuple[int, int, int]], list[int]]:
    """The oracle: (start, end, APID) of every packet in the VC's stream, and the VC-local index of the
    frame holding each ``capacity`` octets of the stream. Checks each frame's FHP along the way."""
    carrying = [i for i, f in enumerate(frames) if f.first_header_pointer != ONLY_IDLE_DATA]
    stream = b"".join(frames[i].data for i in carrying)
    packets, position = [], 0
    while position < len(stream):
        packet_id, _, length = struct.unpack_from(">HHH", stream, position)
        assert packet_id >> 13 == 0, "the stream holds something else than packets back to back"
        packets.append((position, position + length + 7, packet_id & 0x7FF))
        position += length + 7
    assert position == len(stream), "the last packet runs past the frames sent"
    starts = [s for s, _, _ in packets]
    for j, i in enumerate(carrying):
        inside = [s - j * capacity for s in starts if j * capacity <= s < (j + 1) * capacity]
        assert frames[i].first_header_pointer == (inside[0] if inside else NO_PACKET_START)
    for f in frames:
        if f.first_header_pointer == ONLY_IDLE_DATA:
            assert f.data == b"\x55" * capacity
    return packets, carrying


# --- scenarios -------------------------------------------------------------------------------------
frame_lengths = st.one_of(st.integers(MIN_FRAME_LENGTH, 90), st.integers(MIN_FRAME_LENGTH, MAX_FRAME_LENGTH),
                          st.sampled_from([1024, 1115]))


@st.composite
def scenarios(draw, max_vcs: int = 1):
    """(frame length, OCF or not, operations): ("add", vc, size, seed) or ("flush", vc, times); a
    flush repeated is idle frames on a quiet channel, and takes the counters past 256."""
    frame_length = draw(frame_lengths)
    sizes = st.one_of(st.integers(7, 24), st.integers(7, 4 * frame_length))
    vcs = st.integers(0, max_vcs - 1)
    adds = st.tuples(st.just("add"), vcs, sizes, st.integers(0, 2**32))
    flushes = st.tuples(st.just("flush"), vcs, st.one_of(st.just(1), st.integers(1, 4), st.integers(1, 300)))
    op = st.one_of(adds, adds, flushes)                         # two adds for one flush
    count = draw(st.integers(0, 60))
    return frame_length, draw(st.booleans()), draw(st.lists(op, min_size=count, max_size=count))


def transmit(frame_length: int, with_ocf: bool, ops, vcs: int = 1):
    """Run the flight side: packetizers and one master channel. Returns the packets added per VC,
    the frames sent (in order, stamped, through encode and decode), the OCFs given per VC."""
    master = MasterChannel(SCID)
    sources = [ocf_source() for _ in range(vcs)]
    packetizers = [Packetizer(SCID, vc, frame_length, sources[vc][0] if with_ocf else None) for vc in range(vcs)]
    added: list[list[bytes]] = [[] for _ in range(vcs)]
    sent: list[TmFrame] = []

    def send(frame: TmFrame) -> None:
        sent.append(TmFrame.decode(master.stamp(frame).encode(), frame_length, with_ocf))

    for op in ops:
        vc = op[1]
        if op[0] == "add":
            added[vc].append(packet(random.Random(op[3]).randrange(IDLE_APID), op[2], op[3], len(added[vc])))
            packetizers[vc].add(added[vc][-1])
            for frame in packetizers[vc].frames():
                send(frame)
        else:
            for _ in range(op[2]):
                send(packetizers[vc].flush())
    for p in packetizers:                    # at the end, everything waiting goes out
        while p.pending:
            send(p.flush())
    return added, sent, [given for _, given in sources], packetizers


# --- round trip ------------------------------------------------------------------------------------
@SETTINGS
@given(scenarios())
def test_any_packets_come_back_byte_for_byte_and_in_order(scenario):
    frame_length, with_ocf, ops = scenario
    (added,), sent, (ocfs,), (packetizer,) = transmit(frame_length, with_ocf, ops)
    packets, _ = layout(sent, packetizer.capacity)
    stream = b"".join(f.data for f in sent if f.first_header_pointer != ONLY_IDLE_DATA)
    assert [stream[s:e] for s, e, apid in packets if apid != IDLE_APID] == added  # the oracle agrees
    assert all(len(f.encode()) == frame_length for f in sent)
    assert [f.vc_frame_count for f in sent] == [i % 256 for i in range(len(sent))]
    assert [f.mc_frame_count for f in sent] == [i % 256 for i in range(len(sent))]
    assert [f.ocf for f in sent] == (ocfs if with_ocf else [None] * len(sent))

    ground = Depacketizer(SCID, 0)
    received = [p for f in sent for p in ground.push(f)]
    assert received == added
    assert all(int.from_bytes(p[:2], "big") & 0x7FF != IDLE_APID for p in received)
    idle = sum(apid == IDLE_APID for _, _, apid in packets)
    assert (ground.frames, ground.packets, ground.idle_packets) == (len(sent), len(added), idle)
    assert (ground.gaps, ground.discarded, ground.skipped_octets) == (0, 0, 0)


@SETTINGS
@given(scenarios(max_vcs=3))
def test_virtual_channels_interleaved_on_one_master_channel_stay_apart(scenario):
    frame_length, with_ocf, ops = scenario
    added, sent, _, _ = transmit(frame_length, with_ocf, ops, vcs=3)
    grounds = [Depacketizer(SCID, vc) for vc in range(3)]
    monitor = MasterChannelMonitor(SCID)
    received: list[list[bytes]] = [[], [], []]
    for frame in sent:
        monitor.push(frame)
        received[frame.vcid] += grounds[frame.vcid].push(frame)
    assert received == added
    assert monitor.gaps == 0 and monitor.frames == len(sent)
    for vc in range(3):
        mine = [f.vc_frame_count for f in sent if f.vcid == vc]
        assert mine == [i % 256 for i in range(len(mine))]


def test_counters_wrap_at_256_without_a_gap():
    master, monitor = MasterChannel(SCID), MasterChannelMonitor(SCID)
    packetizers = {vc: Packetizer(SCID, vc, 64) for vc in (1, 6)}
    grounds = {vc: Depacketizer(SCID, vc) for vc in (1, 6)}
    added: dict[int, list[bytes]] = {1: [], 6: []}
    received: dict[int, list[bytes]] = {1: [], 6: []}
    sent: list[TmFrame] = []
    for i in range(900):
        vc = 6 if i % 3 == 0 else 1
        added[vc].append(packet(5, 7 + i % 90, i, i % 16384))
        packetizers[vc].add(added[vc][-1])
        for frame in [*packetizers[vc].frames(), packetizers[vc].flush()] if i % 5 == 0 else packetizers[vc].frames():
            sent.append(master.stamp(frame))
            monitor.push(sent[-1])
            received[vc] += grounds[vc].push(sent[-1])
    for vc in (1, 6):
        counts = [f.vc_frame_count for f in sent if f.vcid == vc]
        assert len(counts) > 256 and counts == [n % 256 for n in range(len(counts))]
        assert received[vc] == added[vc][:len(received[vc])] and len(added[vc]) - len(received[vc]) <= 3
        assert (grounds[vc].gaps, grounds[vc].discarded) == (0, 0)
    assert [f.mc_frame_count for f in sent] == [n % 256 for n in range(len(sent))] and len(sent) > 2 * 256
    assert monitor.gaps == 0


# --- corruption ------------------------------------------------------------------------------------
@pytest.mark.parametrize("frame_length, with_ocf", [(MIN_FRAME_LENGTH, True), (48, False)])
def test_every_single_bit_flip_is_refused(frame_length, with_ocf):
    packetizer = Packetizer(SCID, 3, frame_length, (lambda: b"\x12\x34\x56\x78") if with_ocf else None)
    packetizer.add(packet(0x123, 15, 1))
    encoded = packetizer.flush().encode()
    assert TmFrame.decode(encoded, frame_length, with_ocf).encode() == encoded
    for bit in range(8 * frame_length):
        flipped = bytearray(encoded)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(TmFrameError):
            TmFrame.decode(bytes(flipped), frame_length, with_ocf)


def frame_bytes(fhp: int = 0, data: bytes = bytes(24), first: int = 0x2A, second: int = 0x5A,
                status_high: int = 0b00011) -> bytes:
    """A 32-octet frame without OCF, built by hand (version and flags adjustable), sealed with crcmod."""
    return reseal(bytes([first, second, 7, 9, (status_high << 3) | (fhp >> 8), fhp & 0xFF]) + data + b"\0\0")


@pytest.mark.parametrize("raw, fault", [
    (frame_bytes()[:-1], FrameFault.TOO_SHORT),
    (b"", FrameFault.TOO_SHORT),
    (frame_bytes() + b"\0", FrameFault.WRONG_LENGTH),
    (frame_bytes()[:-1] + bytes([frame_bytes()[-1] ^ 1]), FrameFault.BAD_CRC),
    (frame_bytes(first=0x6A), FrameFault.WRONG_VERSION),       # version 01
    (frame_bytes(first=0xAA), FrameFault.WRONG_VERSION),       # version 10
    (frame_bytes(second=0x5B), FrameFault.OCF_FLAG_MISMATCH),
    (frame_bytes(status_high=0b10011), FrameFault.BAD_DATA_FIELD_STATUS),  # secondary header flag
    (frame_bytes(status_high=0b01011), FrameFault.BAD_DATA_FIELD_STATUS),  # synchronisation flag
    (frame_bytes(status_high=0b00111), FrameFault.BAD_DATA_FIELD_STATUS),  # packet order flag
    (frame_bytes(status_high=0b00001), FrameFault.BAD_DATA_FIELD_STATUS),  # segment length id 01
    (frame_bytes(fhp=24), FrameFault.BAD_FIRST_HEADER_POINTER),  # the data field is 0..23
    (frame_bytes(fhp=0x7FD), FrameFault.BAD_FIRST_HEADER_POINTER),
], ids=lambda value: value.name if isinstance(value, FrameFault) else "")
def test_decode_names_why_a_frame_is_refused(raw, fault):
    assert TmFrame.decode(frame_bytes(), 32, False).first_header_pointer == 0  # the base frame is good
    with pytest.raises(TmFrameError) as caught:
        TmFrame.decode(raw, 32, False)
    assert caught.value.reason is fault and str(caught.value).startswith(fault.name)


@pytest.mark.parametrize("length", [MIN_FRAME_LENGTH - 1, MAX_FRAME_LENGTH + 1, 0])
def test_a_frame_length_outside_the_range_is_refused(length):
    with pytest.raises(ValueError, match="frame length"):
        Packetizer(SCID, 0, length)
    with pytest.raises(ValueError, match="frame length"):
        TmFrame.decode(bytes(max(length, 0)), length, False)


# --- losses ----------------------------------------------------------------------------------------
def drop_pattern(rng: random.Random, sent: list[TmFrame], rate: float, burst: int) -> list[bool]:
    """Which frames are lost: at ``rate``, plus one burst; never 200 in a row on the MC or a VC (the 8-bit
    counters would not tell), and never the first or last frame of a VC (a loss is seen between two frames
    received)."""
    last = {f.vcid: i for i, f in enumerate(sent)}
    first = {f.vcid: i for i, f in reversed(list(enumerate(sent)))}
    start = rng.randrange(len(sent)) if sent else 0
    lost, mc_run, vc_run = [], 0, {vc: 0 for vc in last}
    for i, f in enumerate(sent):
        drop = (rng.random() < rate or start <= i < start + burst) and i not in (first[f.vcid], last[f.vcid])
        drop = drop and mc_run < 199 and vc_run[f.vcid] < 199
        mc_run, vc_run[f.vcid] = (mc_run + 1, vc_run[f.vcid] + 1) if drop else (0, 0)
        lost.append(drop)
    return lost


def expected_at_the_ground(frames: list[TmFrame], kept: list[bool], capacity: int) -> tuple[list[bytes], int]:
    """What a VC's depacketizer must deliver and discard, by the oracle: a packet comes out when every
    frame holding part of it arrived; it is discarded when its start arrived and a later part did not,
    unless it is idle fill whose whole header arrived."""
    packets, carrying = layout(frames, capacity)
    stream = b"".join(frames[i].data for i in carrying)
    delivered, discarded = [], 0
    for s, e, apid in packets:
        holding = [kept[carrying[j]] for j in range(s // capacity, (e - 1) // capacity + 1)]
        header = [kept[carrying[j]] for j in range(s // capacity, (s + 5) // capacity + 1)]
        if all(holding):
            delivered += [stream[s:e]] if apid != IDLE_APID else []
        elif holding[0] and not (apid == IDLE_APID and all(header)):
            discarded += 1
    return delivered, discarded


@SETTINGS
@given(scenarios(max_vcs=3), st.sampled_from([0.0, 0.05, 0.2, 0.5, 0.9]), st.integers(0, 300),
       st.integers(0, 2**32))
def test_with_frames_lost_only_intact_packets_come_out_and_losses_are_counted(scenario, rate, burst, seed):
    frame_length, with_ocf, ops = scenario
    added, sent, _, packetizers = transmit(frame_length, with_ocf, ops, vcs=3)
    lost = drop_pattern(random.Random(seed), sent, rate, burst)
    grounds = [Depacketizer(SCID, vc) for vc in range(3)]
    monitor = MasterChannelMonitor(SCID)
    received: list[list[bytes]] = [[], [], []]
    for frame, dropped in zip(sent, lost):
        if not dropped:
            monitor.push(frame)
            received[frame.vcid] += grounds[frame.vcid].push(frame)
    assert monitor.gaps == sum(lost)
    for vc in range(3):
        frames = [f for f in sent if f.vcid == vc]
        kept = [not d for f, d in zip(sent, lost) if f.vcid == vc]
        delivered, discarded = expected_at_the_ground(frames, kept, packetizers[vc].capacity)
        assert received[vc] == delivered
        it = iter(added[vc])
        assert all(p in it for p in received[vc])     # a subsequence of what went in: intact, in order
        assert grounds[vc].gaps == kept.count(False)
        assert grounds[vc].discarded == discarded
        assert grounds[vc].packets == len(delivered) and grounds[vc].frames == sum(kept)


def test_a_packet_cut_by_a_loss_is_discarded_and_the_next_frame_s_fhp_resumes():
    p = Packetizer(SCID, 0, 32)                      # data field of 24 octets
    a, b, c = packet(1, 40, 1), packet(2, 30, 2), packet(3, 10, 3)
    for x in (a, b, c):
        p.add(x)
    frames = [*p.frames(), p.flush()]                # a: 0-39, b: 40-69, c: 70-79, idle: 80-95
    assert [f.first_header_pointer for f in frames] == [0, 16, 22, 8]
    ground = Depacketizer(SCID, 0)
    assert ground.push(frames[0]) == []              # a begins
    assert ground.push(frames[2]) == []              # frame 1 lost: a is discarded; b's start was lost
    assert (ground.gaps, ground.discarded, ground.skipped_octets) == (1, 1, 22)
    assert ground.push(frames[3]) == [c]             # c starts at octet 22 of frame 2 and ends in frame 3
    assert (ground.packets, ground.idle_packets) == (1, 1)


def test_a_loss_inside_a_long_packet_discards_it_at_once_not_when_an_fhp_disagrees():
    p = Packetizer(SCID, 0, 32)                      # data field of 24 octets
    long, short = packet(1, 100, 1), packet(2, 20, 2)
    p.add(long)
    p.add(short)
    frames = p.frames()                              # long: 0-99 (FHP 0, 7FF, 7FF, 7FF, 4); short: 100-119
    assert [f.first_header_pointer for f in frames] == [0, NO_PACKET_START, NO_PACKET_START, NO_PACKET_START, 4]
    ground = Depacketizer(SCID, 0)
    ground.push(frames[0])
    assert ground.push(frames[2]) == []              # frame 1 lost: frame 2 would fit as a continuation
    assert (ground.gaps, ground.discarded, ground.skipped_octets) == (1, 1, 24)
    assert ground.push(frames[3]) == [] and ground.push(frames[4]) == [short]
    assert (ground.discarded, ground.skipped_octets) == (1, 24 + 24 + 4)


@pytest.mark.parametrize("room, discarded", [(6, 0), (3, 1)])
def test_an_idle_packet_cut_by_a_loss_counts_as_discarded_only_if_its_header_was_not_all_received(room, discarded):
    p = Packetizer(SCID, 0, 40)                      # data field of 32 octets
    p.add(packet(1, 32 - room, 1))
    frames = [p.flush(), p.flush(), p.flush()]       # a 7-octet idle packet starts in the last `room` octets
    assert frames[0].data[32 - room:] == bytes.fromhex("07ffc0000000")[:room]
    ground = Depacketizer(SCID, 0)
    assert ground.push(frames[0]) == [packet(1, 32 - room, 1)]
    assert ground.push(frames[2]) == []              # the idle packet's tail was in frame 1, lost
    assert (ground.gaps, ground.discarded, ground.packets) == (1, discarded, 1)


def test_a_burst_of_256_lost_frames_is_invisible_to_the_counter_and_257_reads_as_1():
    """The documented limit of an 8-bit frame count."""
    for lost, seen in ((255, 255), (256, 0), (257, 1)):
        p, ground = Packetizer(SCID, 2, 64), Depacketizer(SCID, 2)
        frames = [p.flush() for _ in range(lost + 2)]
        ground.push(frames[0])
        ground.push(frames[-1])
        assert ground.gaps == seen


def test_an_fhp_that_disagrees_with_the_packet_in_assembly_resynchronises_there():
    a, b = packet(1, 30, 1), packet(2, 13, 2)
    first = TmFrame(SCID, 0, 0, 0, 0, a[:24])
    second = TmFrame(SCID, 0, 1, 1, 4, a[24:28] + b + idle_packet(7))  # claims a ends after 4 octets
    ground = Depacketizer(SCID, 0)
    assert ground.push(first) == []
    assert ground.push(second) == [b]                # not a with b's octets in it
    assert (ground.gaps, ground.discarded) == (0, 1)


def test_idle_data_in_the_middle_of_a_packet_discards_it():
    a, b = packet(1, 30, 1), packet(2, 10, 2)
    frames = [TmFrame(SCID, 0, 0, 0, 0, a[:24]), TmFrame(SCID, 0, 1, 1, ONLY_IDLE_DATA, b"\x55" * 24),
              TmFrame(SCID, 0, 2, 2, 6, a[24:] + b + idle_packet(8))]
    ground = Depacketizer(SCID, 0)
    assert [ground.push(f) for f in frames] == [[], [], [b]]
    assert (ground.gaps, ground.discarded, ground.skipped_octets) == (0, 1, 6)


def test_the_master_channel_counts_gaps_across_virtual_channels():
    master, monitor = MasterChannel(SCID), MasterChannelMonitor(SCID)
    frames = [master.stamp(Packetizer(SCID, vc, 40).flush()) for vc in (0, 1, 2, 0, 1)]
    assert [f.mc_frame_count for f in frames] == [0, 1, 2, 3, 4]
    assert [monitor.push(f) for f in (frames[0], frames[3], frames[4])] == [0, 2, 0]
    assert (monitor.frames, monitor.gaps) == (3, 2)


# --- hand-made vectors and the FHP's special values ------------------------------------------------
def test_a_frame_built_byte_by_byte_from_the_standard_equals_encode():
    data = bytes(i % 256 for i in range(1103))                        # 1115 - 6 header - 4 OCF - 2 FECF
    ocf = bytes.fromhex("01020304")
    frame = TmFrame(spacecraft_id=0x2A5, vcid=5, mc_frame_count=0x9C, vc_frame_count=0x3E,
                    first_header_pointer=0x123, data=data, ocf=ocf)
    by_hand = bytes([
        (0b00 << 6) | (0x2A5 >> 4),                  # version 00, spacecraft id bits 9-4 (101010)
        ((0x2A5 & 0xF) << 4) | (5 << 1) | 1,         # spacecraft id bits 3-0 (0101), VCID 101, OCF flag 1
        0x9C,                                        # master channel frame count
        0x3E,                                        # virtual channel frame count
        (0 << 7) | (0 << 6) | (0 << 5) | (0b11 << 3) | (0x123 >> 8),  # no sec. header, sync 0, order 0,
        0x123 & 0xFF,                                # segment length id 11, FHP 0x123
    ]) + data + ocf
    by_hand += crc16(by_hand).to_bytes(2, "big")     # FECF: CRC-16/CCITT-FALSE of all before
    assert by_hand[:6].hex(" ") == "2a 5b 9c 3e 19 23"
    assert frame.encode() == by_hand and len(by_hand) == 1115
    assert TmFrame.decode(by_hand, 1115, True) == frame


def test_a_short_vector_written_out_in_hex():
    # SCID 1, VC 0, no OCF, counts 0 and 0, FHP 0; the 24-octet data field is one idle packet:
    # 07 ff (version 0, TM, no secondary header, APID 7ff), c0 00 (unsegmented, count 0), 00 11
    # (24 - 7), then 18 octets of 0x55.
    data = bytes.fromhex("07ffc0000011") + b"\x55" * 18
    assert idle_packet(24) == data
    frame = TmFrame(1, 0, 0, 0, 0, data)
    encoded = frame.encode()
    assert encoded[:6] == bytes.fromhex("001000001800")
    assert encoded[6:30] == data and encoded[30:] == crc16(encoded[:30]).to_bytes(2, "big")
    assert Depacketizer(1, 0).push(frame) == []


def test_fhp_0x7ff_marks_a_frame_inside_one_packet():
    p = Packetizer(SCID, 4, 40)                      # data field of 32 octets
    big = packet(9, 100, 4)
    p.add(big)
    frames = [*p.frames(), p.flush()]
    assert [f.first_header_pointer for f in frames] == [0, NO_PACKET_START, NO_PACKET_START, 4]
    ground = Depacketizer(SCID, 4)
    assert [ground.push(f) for f in frames] == [[], [], [], [big]]
    late = Depacketizer(SCID, 4)                     # joining mid-packet: 0x7FF frames are skipped
    assert [late.push(f) for f in frames[1:]] == [[], [], []]
    assert (late.skipped_octets, late.packets, late.idle_packets, late.discarded) == (64 + 4, 0, 1, 0)


def test_fhp_0x7fe_marks_a_frame_of_only_idle_data():
    p = Packetizer(SCID, 1, 48, lambda: b"CLCW")
    frame = p.flush()                                # nothing waiting
    assert frame.first_header_pointer == ONLY_IDLE_DATA == 0x7FE and frame.only_idle_data
    assert frame.data == b"\x55" * 36 and frame.ocf == b"CLCW"
    decoded = TmFrame.decode(frame.encode(), 48, True)
    assert decoded == frame
    ground = Depacketizer(SCID, 1)
    assert ground.push(decoded) == [] and (ground.frames, ground.packets, ground.idle_packets) == (1, 0, 0)
    small = packet(2, 10, 1)
    p.add(small)
    assert ground.push(p.flush()) == [small]         # in sync after an idle frame: FHP 0


def test_flush_fills_with_an_idle_packet_whose_tail_may_open_the_next_frame():
    p = Packetizer(SCID, 0, 40)                      # data field of 32 octets
    p.add(packet(3, 20, 1))
    frame = p.flush()                                # 12 octets left: one 12-octet idle packet
    assert frame.data[20:].hex() == "07ff" "c000" "0005" + "55" * 6
    p.add(packet(3, 28, 2))
    frame = p.flush()                                # 4 octets left: a 7-octet idle packet spans
    assert frame.data[28:] == bytes.fromhex("07ffc001")
    assert p.pending == 3
    p.add(last := packet(3, 10, 3))
    frame = p.flush()
    assert frame.first_header_pointer == 3 and frame.data[:3] == bytes.fromhex("000055")
    assert frame.data[3:13] == last


def test_spacepackets_reads_our_frames_and_we_read_its_own():
    tm = pytest.importorskip("spacepackets.ccsds.tm_frame")
    frame = TmFrame(0x3C1, 6, 200, 17, 0x2B, bytes(range(256)) * 4 + bytes(79), b"\xc0\x01\x02\x03")
    theirs = tm.TmTransferFrame.unpack(frame.encode(), 1115, True)
    header = theirs.primary_header
    assert (header.master_channel_id.transfer_frame_version, header.master_channel_id.spacecraft_id,
            header.vc_id, header.ocf_flag, header.master_ch_frame_count, header.vc_frame_count) == \
        (0, 0x3C1, 6, True, 200, 17)
    status = header.frame_datafield_status
    assert (status.secondary_header_flag, status.sync_flag, status.packet_order_flag, status.segment_len_id,
            status.first_header_pointer) == (False, False, False, 0b11, 0x2B)
    assert (theirs.data_field, theirs.op_ctrl_field) == (frame.data, frame.ocf)
    assert bytes(theirs.pack()) == frame.encode()
    header = tm.TmFramePrimaryHeader(tm.MasterChannelId(0, 77), 2, False, 5, 6,
                                     tm.TransferFrameDataFieldStatus(False, False, False, 0b11, NO_PACKET_START))
    fecf = crc16(header.pack() + bytes(1016)).to_bytes(2, "big")
    raw = bytes(tm.TmTransferFrame(1024, header, None, bytes(1016), None, fecf).pack())
    assert TmFrame.decode(raw, 1024, False) == TmFrame(77, 2, 5, 6, NO_PACKET_START, bytes(1016))


# --- refusals on the flight side -------------------------------------------------------------------
@pytest.mark.parametrize("raw, why", [
    (packet(IDLE_APID, 9, 1), "idle"),
    (packet(1, 9, 1)[:-1], "announces"),
    (packet(1, 9, 1) + b"\0", "announces"),
    (bytes([0x20]) + packet(1, 9, 1)[1:], "not a space packet"),   # version 1
    (b"\x08\x01", "not a space packet"),
])
def test_the_packetizer_refuses_what_is_not_one_whole_packet(raw, why):
    with pytest.raises(ValueError, match=why):
        Packetizer(SCID, 0, 64).add(raw)


def test_frames_reach_only_their_own_channel():
    frame = Packetizer(SCID, 1, 64).flush()
    with pytest.raises(ValueError, match="VC 1"):
        Depacketizer(SCID, 2).push(frame)
    with pytest.raises(ValueError, match="spacecraft"):
        MasterChannel(SCID + 1).stamp(frame)
    with pytest.raises(ValueError, match="spacecraft"):
        MasterChannelMonitor(SCID + 1).push(frame)
    with pytest.raises(ValueError, match="first header pointer"):
        TmFrame(SCID, 0, 0, 0, 24, bytes(24))


def test_a_bad_ocf_source_is_refused_without_losing_what_waits():
    ocfs = iter([b"abc", b"abcd"])
    p = Packetizer(SCID, 0, 40, lambda: next(ocfs))
    p.add(small := packet(1, 10, 1))
    with pytest.raises(ValueError, match="OCF"):
        p.flush()
    frame = p.flush()
    assert frame.ocf == b"abcd" and frame.vc_frame_count == 0 and Depacketizer(SCID, 0).push(frame) == [small]


@SETTINGS
@given(sizes=st.lists(st.integers(7, 300), max_size=20), frame_length=st.integers(MIN_FRAME_LENGTH, 400),
       ocf=st.booleans(), reserve=st.tuples(st.integers(0, 6), st.integers(0, 6)), mc=st.integers(0, 255))
def test_frames_made_without_checks_pass_every_check(sizes, frame_length, ocf, reserve, mc):
    """The packetizer makes its frames (and MasterChannel stamps them) without running TmFrame's
    checks again: each one still passes them, built field by field through the checking constructor."""
    packetizer = Packetizer(SCID, 3, frame_length + sum(reserve), ocf_source()[0] if ocf else None,
                            reserve=reserve)
    for i, size in enumerate(sizes):
        packetizer.add(packet(1, size, i))
    frames = packetizer.frames() + [packetizer.flush()]
    for frame in frames:
        stamped = frame.with_mc_frame_count(mc)
        checked = TmFrame(**vars(stamped))
        assert checked == stamped and checked.mc_frame_count == mc and checked.data == frame.data
    with pytest.raises(ValueError, match="MC frame count"):
        frames[0].with_mc_frame_count(256)
