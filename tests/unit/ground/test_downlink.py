"""Tests of the ground's downlink (ground_sim/downlink.py): the packets of the flight's frames
(built by flight.services.tm_framer.TmFramer) come out whole, each VC in order; with frames
dropped, the master channel and per-VC gaps equal the frames dropped and exactly the packets all
of whose frames arrived come out; a bad frame (wrong length, bit flip, another spacecraft, no OCF,
an unknown VC, random octets) is counted by reason, never fatal; each good frame's CLCW reaches
``on_clcw`` (all property-tested).

The oracle for drops walks the packet headers in the concatenated data fields each VC sent
(read with ``struct``), so it knows which frames every packet lies in.
"""
from __future__ import annotations

import collections
import random
import struct
import tempfile
from pathlib import Path

import crcmod.predefined
import pytest
from hypothesis import given, settings, strategies as st

from flight.services.tm_framer import TmFramer
from flight.services.tm_security import TmSecurity
from flight.wire.clcw import Clcw
from flight.wire.keyfile import KeyRing
from flight.wire.link import (TM_FILES, TM_IDLE, TM_PLAYBACK, TM_PRODUCTS, TM_REALTIME, TM_VIRTUAL_CHANNELS,
                              LinkParameters)
from flight.wire.pus import TelemetryPacket
from flight.wire.tm_frame import MasterChannel, Packetizer
from ground_sim.console import link_security
from ground_sim.downlink import Downlink

SETTINGS = settings(max_examples=40, deadline=None)
crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")
SCID = 0x2A
CHANNELS = (TM_REALTIME, TM_PRODUCTS, TM_PLAYBACK, TM_FILES)


def link(frame_length: int = 1024) -> LinkParameters:
    return LinkParameters(spacecraft_id=SCID, tm_frame_length=frame_length, playback_after_s=10.0, tm_sdls="off")


def report(seq: int, service: int, size: int) -> bytes:
    return TelemetryPacket(0x42, seq % 16384, service, 1, bytes((seq * 7 + i) % 256 for i in range(size)),
                           float(seq), seq % 65536).encode()


def vc_of(raw: bytes) -> int:
    return (raw[1] >> 1) & 7


def reseal(raw: bytes | bytearray) -> bytes:
    return bytes(raw[:-2]) + crc16(bytes(raw[:-2])).to_bytes(2, "big")


# (VC, data size) of each packet of a batch; a run is a few batches, maybe a CLCW frame after each
batches = st.lists(st.lists(st.tuples(st.sampled_from(CHANNELS), st.integers(0, 100)), min_size=1, max_size=10),
                   min_size=1, max_size=4)
frame_lengths = st.sampled_from([64, 100, 512])


def flight(frame_length: int, run, idle_after=frozenset(), framer: TmFramer | None = None):
    """The frames the flight sends for ``run`` and the packets it sent on each VC, in order."""
    framer = framer or TmFramer(link(frame_length))
    frames, sent, seq = [], {vcid: [] for vcid in CHANNELS}, 0
    for index, content in enumerate(run):
        batch = []
        for vcid, size in content:
            packet = report(seq, 200 if vcid == TM_PRODUCTS else 3, size)
            seq += 1
            batch.append((packet, vcid, 100.0 if vcid != TM_PLAYBACK else 0.0))
            sent[vcid].append(packet)
        out, refused = framer.frames(batch, 100.0)
        assert refused == 0
        frames += out
        if index in idle_after:
            frames.append(framer.clcw_frame())
    return frames, sent


def receive(downlink: Downlink, frames: list[bytes]) -> dict[int, list[bytes]]:
    """Every frame through the downlink; the packets that came out, by the VC of their frame."""
    out = {vcid: [] for vcid in (*CHANNELS, TM_IDLE)}
    for raw in frames:
        frame = downlink.frame(raw)
        assert frame is not None, downlink.last_refusal
        out[frame.vcid] += downlink.packets(frame)
    return out


def unseen_before_or_after(kept: list[int], dropped: set[int]) -> int:
    """Dropped frames the receiver can see: those between the first and the last frame kept."""
    return sum(1 for i in dropped if kept and kept[0] < i < kept[-1])


def spans(frames: list[bytes], capacity: int) -> list[tuple[bytes, range]]:
    """The oracle: every non-idle packet in a VC's stream and the indices (in ``frames``, one VC's
    frames in order) of the frames it lies in."""
    stream = b"".join(raw[6:6 + capacity] for raw in frames)
    out, position = [], 0
    while position + 6 <= len(stream):
        packet_id, _, length = struct.unpack_from(">HHH", stream, position)
        end = position + length + 7
        if end > len(stream):  # the head of an idle packet whose tail is still in the packetizer
            assert packet_id & 0x7FF == 0x7FF
            break
        if packet_id & 0x7FF != 0x7FF:
            out.append((stream[position:end], range(position // capacity, (end - 1) // capacity + 1)))
        position = end
    return out


# --- everything arrives ------------------------------------------------------------------------
@SETTINGS
@given(run=batches, frame_length=frame_lengths, idle_after=st.sets(st.integers(0, 3)))
def test_every_packet_comes_out_whole_per_vc_in_order(run, frame_length, idle_after):
    frames, sent = flight(frame_length, run, idle_after)
    downlink = Downlink(link(frame_length))
    received = receive(downlink, frames)
    assert received == {**sent, TM_IDLE: []}
    stats = downlink.stats
    assert stats.frames == len(frames) and not stats.bad_frames
    assert stats.master_gaps == stats.gaps == 0
    for vcid, name in TM_VIRTUAL_CHANNELS.items():
        channel = stats.channels[name]
        assert channel.packets == len(sent[vcid]) and channel.discarded == 0
        assert channel.frames == sum(1 for raw in frames if vc_of(raw) == vcid)


# --- frames lost -------------------------------------------------------------------------------
@SETTINGS
@given(run=batches, frame_length=frame_lengths, idle_after=st.sets(st.integers(0, 3)), data=st.data())
def test_gaps_equal_the_frames_dropped_and_only_whole_packets_come_out(run, frame_length, idle_after, data):
    frames, sent = flight(frame_length, run, idle_after)
    assert len(frames) < 256  # so no run of 256 drops can hide in the 8-bit counts
    dropped = data.draw(st.sets(st.integers(0, len(frames) - 1)), label="dropped frames")
    kept = [i for i in range(len(frames)) if i not in dropped]
    downlink = Downlink(link(frame_length))
    received = receive(downlink, [frames[i] for i in kept])

    assert downlink.stats.master_gaps == unseen_before_or_after(kept, dropped)
    expected_gaps = 0
    for vcid, name in TM_VIRTUAL_CHANNELS.items():
        mine = [i for i in range(len(frames)) if vc_of(frames[i]) == vcid]  # this VC's frames, in order
        lost = {n for n, i in enumerate(mine) if i in dropped}
        got = [n for n in range(len(mine)) if n not in lost]
        assert downlink.stats.channels[name].gaps == unseen_before_or_after(got, lost)
        expected_gaps += unseen_before_or_after(got, lost)
        # only whole packets, each one that was sent, in the order sent ...
        assert all(packet in sent[vcid] for packet in received[vcid])
        assert [p for p in sent[vcid] if p in received[vcid]] == received[vcid]
        # ... and exactly those all of whose frames arrived
        layout = spans([frames[i] for i in mine], frame_length - 12)
        assert [p for p, _ in layout] == sent[vcid]
        assert received[vcid] == [p for p, where in layout if not lost & set(where)]
    assert downlink.stats.gaps == expected_gaps


def test_a_frame_lost_on_one_vc_is_a_gap_there_and_on_the_master_channel_only():
    frames, sent = flight(64, [[(TM_REALTIME, 10), (TM_PRODUCTS, 10)]] * 3)
    assert [vc_of(raw) for raw in frames] == [0, 1, 0, 1, 0, 1]
    downlink = Downlink(link(64))
    received = receive(downlink, frames[:3] + frames[4:])  # the second products frame is lost
    stats = downlink.stats
    assert stats.master_gaps == 1
    assert (stats.channels["realtime"].gaps, stats.channels["products"].gaps, stats.channels["playback"].gaps) == (
        0, 1, 0)
    assert received[TM_REALTIME] == sent[TM_REALTIME]
    assert received[TM_PRODUCTS] == [sent[TM_PRODUCTS][0], sent[TM_PRODUCTS][2]]


def test_gaps_wrap_with_the_8_bit_counts():
    framer = TmFramer(link(64))
    run = [[(TM_REALTIME, 30)] * 40] * 16  # > 600 frames, all on VC 0: both counts wrap twice
    frames, sent = flight(64, run, framer=framer)
    assert len(frames) > 600
    dropped = set(range(100, 600, 9))
    downlink = Downlink(link(64))
    received = receive(downlink, [raw for i, raw in enumerate(frames) if i not in dropped])
    assert downlink.stats.master_gaps == downlink.stats.gaps == len(dropped)
    layout = spans(frames, 64 - 12)
    assert [p for p, _ in layout] == sent[TM_REALTIME]
    assert received[TM_REALTIME] == [p for p, where in layout if not dropped & set(where)]


# --- bad frames --------------------------------------------------------------------------------
def good_frames(frame_length: int = 100) -> tuple[list[bytes], dict[int, list[bytes]]]:
    return flight(frame_length, [[(TM_REALTIME, 40), (TM_PRODUCTS, 60), (TM_PLAYBACK, 20), (TM_REALTIME, 90)]])


def foreign(kind: str, frame_length: int = 100) -> bytes:
    """A well-formed frame that is not this link's."""
    if kind == "WRONG_SPACECRAFT":
        return TmFramer(LinkParameters(spacecraft_id=SCID + 1, tm_frame_length=frame_length)).frames(
            [(report(0, 3, 10), TM_REALTIME, 0.0)], 0.0)[0][0]
    vcid, ocf = (4, lambda: b"\x01\x00\x00\x00") if kind == "UNKNOWN_VIRTUAL_CHANNEL" else (TM_REALTIME, None)
    packetizer = Packetizer(SCID, vcid, frame_length, ocf)
    packetizer.add(report(0, 3, 10))
    return MasterChannel(SCID).stamp(packetizer.flush()).encode()


@pytest.mark.parametrize("kind", ["WRONG_SPACECRAFT", "UNKNOWN_VIRTUAL_CHANNEL", "OCF_FLAG_MISMATCH"])
def test_a_frame_of_another_link_is_counted_and_takes_no_place_in_the_sequence(kind):
    frames, sent = good_frames()
    downlink = Downlink(link(100))
    mixed = [frames[0], foreign(kind), *frames[1:], foreign(kind)]
    out = {vcid: [] for vcid in CHANNELS}
    for raw in mixed:
        frame = downlink.frame(raw)
        if frame is not None:
            out[frame.vcid] += downlink.packets(frame)
    assert downlink.stats.bad_frames == collections.Counter({kind: 2})
    assert downlink.last_refusal.startswith(kind)
    assert out == sent and downlink.stats.master_gaps == downlink.stats.gaps == 0
    assert downlink.stats.frames == len(mixed)


@pytest.mark.parametrize("cut, reason", [(-1, "TOO_SHORT"), (1, "WRONG_LENGTH"), (-100, "TOO_SHORT"),
                                         (900, "WRONG_LENGTH")])
def test_a_frame_of_the_wrong_length_is_counted_by_reason(cut, reason):
    raw = good_frames()[0][0]
    downlink = Downlink(link(100))
    assert downlink.frame(raw[:cut] if cut < 0 else raw + bytes(cut)) is None
    assert downlink.stats.bad_frames == collections.Counter({reason: 1})
    assert downlink.frame(raw) is not None


@SETTINGS
@given(bit=st.integers(0, 100 * 8 - 1))
def test_a_bit_flip_is_counted_and_the_frame_lost_shows_as_a_gap(bit):
    frames, sent = good_frames()
    assert len(frames) >= 3
    corrupted = bytearray(frames[1])
    corrupted[bit // 8] ^= 0x80 >> (bit % 8)
    downlink = Downlink(link(100))
    received = {vcid: [] for vcid in CHANNELS}
    for raw in [frames[0], bytes(corrupted), *frames[2:]]:
        frame = downlink.frame(raw)
        assert (frame is None) is (raw == bytes(corrupted))
        if frame is not None:
            received[frame.vcid] += downlink.packets(frame)
    assert downlink.stats.bad_frames == collections.Counter({"BAD_CRC": 1})
    assert downlink.last_refusal.startswith("BAD_CRC")
    assert downlink.stats.master_gaps == 1  # the refused frame is a frame lost
    for vcid in CHANNELS:
        assert [p for p in sent[vcid] if p in received[vcid]] == received[vcid]
    assert sum(map(len, received.values())) < sum(map(len, sent.values()))


def plausible_frames(frame_length: int):
    """Frames with a good FECF and header fields mostly in range, random data: they pass the
    checks of decode often enough to reach the depacketizers."""
    capacity = frame_length - 12
    header = st.tuples(st.sampled_from([0, 0, 0, 1, 3]), st.sampled_from([SCID, SCID, SCID + 1]),
                       st.integers(0, 7), st.sampled_from([1, 1, 1, 0]), st.integers(0, 255), st.integers(0, 255),
                       st.sampled_from([0b00011, 0b00011, 0b00011, 0b10011, 0b00010]),
                       st.integers(0, capacity - 1) | st.sampled_from([0x7FF, 0x7FE]) | st.integers(0, 0x7FF))

    def build(fields, seed):
        version, scid, vcid, ocf_flag, mc, vc, status, fhp = fields
        ids = version << 14 | scid << 4 | vcid << 1 | ocf_flag
        body = struct.pack(">HBBH", ids, mc, vc, status << 11 | fhp) + random.Random(seed).randbytes(frame_length - 8)
        return reseal(body + b"\x00\x00")
    return st.builds(build, header, st.integers(0, 2**32))


@SETTINGS
@given(data=st.data(), frame_length=frame_lengths)
def test_random_octets_are_counted_never_fatal(data, frame_length):
    good, sent = flight(frame_length, [[(TM_REALTIME, 50), (TM_PRODUCTS, 30), (TM_PLAYBACK, 70)]] * 2)
    junk = data.draw(st.lists(st.binary(max_size=2 * frame_length) | plausible_frames(frame_length), max_size=25))
    stream = data.draw(st.permutations(good + junk))
    downlink = Downlink(link(frame_length))
    accepted = 0
    for raw in stream:
        frame = downlink.frame(raw)
        assert frame is not None or raw not in good  # a good frame is never refused, wherever it comes
        if frame is not None:
            accepted += 1
            for packet in downlink.packets(frame):
                assert isinstance(packet, bytes) and len(packet) >= 7
    stats = downlink.stats
    assert stats.frames == len(stream)
    assert sum(stats.bad_frames.values()) == len(stream) - accepted
    assert set(stats.bad_frames) <= {"TOO_SHORT", "WRONG_LENGTH", "BAD_CRC", "WRONG_VERSION", "OCF_FLAG_MISMATCH",
                                      "BAD_DATA_FIELD_STATUS", "BAD_FIRST_HEADER_POINTER", "WRONG_SPACECRAFT",
                                      "UNKNOWN_VIRTUAL_CHANNEL"}


# --- the CLCW ----------------------------------------------------------------------------------
def test_the_clcw_of_each_good_frame_reaches_on_clcw_in_order():
    framer = TmFramer(link(64))
    clcws, sent_ocfs, frames = [], [], []
    for value in range(6):
        framer.clcw = Clcw(vcid=0, report_value=value * 40, wait=value % 2 == 1).encode()
        out, _ = framer.frames([(report(value, 3, 60), TM_REALTIME, 100.0)], 100.0)
        out.append(framer.clcw_frame())
        frames += out
        sent_ocfs += [framer.clcw] * len(out)
    downlink = Downlink(link(64), on_clcw=clcws.append)
    bad = bytearray(frames[2])
    bad[-1] ^= 1
    for raw in [frames[0], frames[1], bytes(bad), *frames[3:]]:
        frame = downlink.frame(raw)
        if frame is not None:
            packets = downlink.packets(frame)
            if frame.vcid == TM_IDLE:
                assert packets == []
    assert clcws == sent_ocfs[:2] + sent_ocfs[3:]
    assert [Clcw.decode(c).report_value for c in clcws][-1] == 200
    assert downlink.stats.bad_frames == collections.Counter({"BAD_CRC": 1})


# --- TM SDLS (tm_sdls, flight.services.tm_security) ---------------------------------------------
def sealed_link(service: str, frame_length: int) -> LinkParameters:
    return LinkParameters(spacecraft_id=SCID, tm_frame_length=frame_length, playback_after_s=10.0, tm_sdls=service)


@SETTINGS
@given(run=batches, frame_length=st.sampled_from([100, 512]), idle_after=st.sets(st.integers(0, 3)),
       service=st.sampled_from(["authentication", "authenticated_encryption"]), data=st.data())
def test_sealed_frames_come_out_whole_and_an_altered_one_is_refused_unused(run, frame_length, idle_after, service,
                                                                           data):
    with tempfile.TemporaryDirectory() as folder:
        ring = KeyRing.create()
        security = TmSecurity(sealed_link(service, frame_length), ring, Path(folder) / "tm_sa.bin")
        frames, sent = flight(frame_length, run, idle_after, TmFramer(sealed_link(service, frame_length), security))
        security.close()
    clcws: list[bytes] = []
    downlink = Downlink(sealed_link(service, frame_length), on_clcw=clcws.append, keys=ring)
    victim = data.draw(st.integers(0, len(frames) - 1))
    octet = data.draw(st.integers(0, frame_length - 7))          # anywhere but the OCF and the FECF
    altered = bytearray(frames[victim])
    altered[octet] ^= 1 << data.draw(st.integers(0, 7))
    assert downlink.frame(reseal(altered)) is None              # FECF redone: the MAC (or the SPI) refuses it
    assert set(downlink.stats.bad_frames) <= {"BAD_MAC", "UNKNOWN_SPI", "BAD_FRAME", "WRONG_SPACECRAFT",
                                              "UNKNOWN_VIRTUAL_CHANNEL", "OUTSIDE_WINDOW", "REPLAY"}
    assert downlink.stats.master_gaps == 0 and clcws == []      # nothing of it was used
    received = receive(downlink, frames)
    assert received == {**sent, TM_IDLE: []}
    assert len(clcws) == len(frames) and downlink.stats.unverified == 0
    for raw in frames[:3]:
        assert downlink.frame(raw) is None                      # a replayed frame
    assert downlink.stats.bad_frames["REPLAY"] == min(3, len(frames))
    listener = Downlink(sealed_link(service, frame_length))    # no key file: reads unverified, or nothing
    if service == "authentication":
        assert receive(listener, frames) == {**sent, TM_IDLE: []}
        assert listener.stats.unverified == len(frames)
    else:
        assert all(listener.frame(raw) is None for raw in frames)
        assert listener.stats.bad_frames["KEY_UNAVAILABLE"] == len(frames)


def test_a_ground_with_tm_sdls_refuses_plain_frames():
    frames, _ = flight(512, [[(TM_REALTIME, 10)]])                 # the flight sends them unsealed
    downlink = Downlink(sealed_link("authentication", 512), keys=KeyRing.create())
    assert all(downlink.frame(raw) is None for raw in frames)
    assert sum(downlink.stats.bad_frames.values()) == len(frames)


@pytest.mark.parametrize("tc, tm, keyed, words", [
    ("on", "authentication", True, ["TC authenticated (SDLS)", "TM verified (SDLS)"]),
    ("on", "authentication", False, ["LISTENING ONLY", "TM NOT VERIFIED"]),
    ("off", "off", False, ["TC NOT authenticated", "TM not authenticated"]),
])
def test_the_console_says_how_the_link_is_protected(tc, tm, keyed, words):
    banner = link_security(LinkParameters(sdls=tc, tm_sdls=tm), keyed)
    assert all(word in banner for word in words), banner
