"""Tests of TmFramer (flight/services/tm_framer.py): a batch's packets come back whole from the
ground's depacketizers (flight.wire.tm_frame.Depacketizer), on the VC the rule picks (ST[200]
products on VC 1, other reports on VC 0, a packet stored longer than ``playback_after_s`` before
``now`` on VC 2), each VC in order, nothing left waiting between batches; every frame carries the
CLCW assigned last; MC counts run in returned order and VC counts per VC, wrapping at 256;
``clcw_frame`` is idle data on VC 7; a packet whose header length does not match its size is
refused and counted while the rest of its batch goes.

Frame headers are read with ``struct`` from the layout of CCSDS 132.0-B-3 (not with the code under
test) where the check is about a field.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from flight.services.tm_framer import TmFramer, virtual_channel
from flight.wire.clcw import Clcw
from flight.wire.link import TM_IDLE, TM_PLAYBACK, TM_PRODUCTS, TM_REALTIME, LinkParameters
from flight.wire.pus import TelemetryPacket
from flight.wire.tm_frame import Depacketizer, TmFrame

SETTINGS = settings(max_examples=40, deadline=None)
SCID = 0x155
PLAYBACK_AFTER = 10.0
CHANNELS = (TM_REALTIME, TM_PRODUCTS, TM_PLAYBACK)


def link(frame_length: int = 1024) -> LinkParameters:
    return LinkParameters(spacecraft_id=SCID, tm_frame_length=frame_length, playback_after_s=PLAYBACK_AFTER)


def report(seq: int, service: int, size: int, stored: float = 0.0) -> bytes:
    """A PUS-C TM packet, unique by its sequence count and its data."""
    return TelemetryPacket(0x42, seq % 16384, service, 1, bytes((seq + i) % 256 for i in range(size)), stored,
                           seq % 65536).encode()


def fields(raw: bytes) -> tuple[int, int, int, int, int, bytes]:
    """(spacecraft id, VC, MC count, VC count, FHP, OCF) read from a frame's octets by hand."""
    ids, mc, vc, status = struct.unpack_from(">HBBH", raw)
    assert ids >> 14 == 0 and ids & 1 == 1  # version 00, OCF present
    return (ids >> 4) & 0x3FF, (ids >> 1) & 7, mc, vc, status & 0x7FF, raw[-6:-2]


class Ground:
    """The ground's depacketizers, one per VC of data."""

    def __init__(self, parameters: LinkParameters) -> None:
        self.link = parameters
        self.channels = {vcid: Depacketizer(SCID, vcid) for vcid in CHANNELS}

    def push(self, frames: list[bytes]) -> dict[int, list[bytes]]:
        out: dict[int, list[bytes]] = {vcid: [] for vcid in CHANNELS}
        for raw in frames:
            assert len(raw) == self.link.tm_frame_length
            frame = TmFrame.decode(raw, self.link.tm_frame_length, has_ocf=True)
            out[frame.vcid] += self.channels[frame.vcid].push(frame)
        return out


# one batch: (service, data size, how long it was stored before now); a run: batches, each with its `now` step
items = st.tuples(st.sampled_from([1, 3, 5, 17, 200, 200]), st.integers(0, 120),
                  st.sampled_from([0.0, 1.5, PLAYBACK_AFTER, 10.5, 400.0]))
runs = st.lists(st.tuples(st.lists(items, min_size=1, max_size=12), st.floats(0, 30)), min_size=1, max_size=5)
frame_lengths = st.sampled_from([64, 97, 256, 1024])


def batches_of(run) -> list[tuple[float, list[tuple[bytes, int, float]], dict[int, list[bytes]]]]:
    """(now, the batch, the packets expected on each VC by our own reading of the rule) per batch."""
    out, now, seq = [], 100.0, 0
    for content, step in run:
        now += step
        batch, expected = [], {vcid: [] for vcid in CHANNELS}
        for service, size, waited in content:
            packet = report(seq, service, size, now - waited)
            seq += 1
            batch.append((packet, virtual_channel(packet), now - waited))
            if now - (now - waited) > PLAYBACK_AFTER:
                expected[TM_PLAYBACK].append(packet)
            else:
                expected[TM_PRODUCTS if service == 200 else TM_REALTIME].append(packet)
        out.append((now, batch, expected))
    return out


# --- packets -----------------------------------------------------------------------------------
def test_products_go_on_vc_1_and_every_other_report_on_vc_0():
    assert virtual_channel(report(0, 200, 10)) == TM_PRODUCTS
    for service in (1, 3, 5, 17, 20, 199, 201, 255):
        assert virtual_channel(report(0, service, 10)) == TM_REALTIME


@SETTINGS
@given(run=runs, frame_length=frame_lengths)
def test_each_batch_comes_back_whole_on_the_vc_the_rule_picks_in_order(run, frame_length):
    framer, ground = TmFramer(link(frame_length)), Ground(link(frame_length))
    for now, batch, expected in batches_of(run):
        frames, refused = framer.frames(batch, now)
        assert refused == 0
        assert ground.push(frames) == expected  # the whole batch, nothing waiting for the next one
    for channel in ground.channels.values():
        assert channel.gaps == channel.discarded == channel.skipped_octets == 0


def test_playback_is_for_packets_stored_longer_than_playback_after_s():
    framer, ground = TmFramer(link()), Ground(link())
    now = 1000.0
    on_time, at_limit, late = (report(n, 3, 8, stored) for n, stored in
                               enumerate((now - 1.0, now - PLAYBACK_AFTER, now - PLAYBACK_AFTER - 0.25)))
    late_product = report(3, 200, 8, now - 3 * PLAYBACK_AFTER)
    frames, refused = framer.frames([(p, virtual_channel(p), TelemetryPacket.decode(p).time)
                                     for p in (on_time, at_limit, late, late_product)], now)
    assert refused == 0
    assert ground.push(frames) == {TM_REALTIME: [on_time, at_limit], TM_PRODUCTS: [],
                                   TM_PLAYBACK: [late, late_product]}


# --- the CLCW and the counters -----------------------------------------------------------------
@SETTINGS
@given(run=runs, frame_length=frame_lengths, clcws=st.lists(st.integers(0, 255), min_size=5, max_size=5))
def test_every_frame_carries_the_clcw_assigned_last(run, frame_length, clcws):
    framer = TmFramer(link(frame_length))
    for (now, batch, _), value in zip(batches_of(run), clcws):
        framer.clcw = Clcw(vcid=0, report_value=value, retransmit=value % 2 == 1).encode()
        frames, _ = framer.frames(batch, now)
        assert frames and all(fields(raw)[5] == framer.clcw for raw in frames)
        assert fields(framer.clcw_frame())[5] == framer.clcw


def test_the_clcw_before_the_tc_link_reports_is_v_r_0_on_the_tc_channel():
    framer = TmFramer(LinkParameters(spacecraft_id=SCID, tc_vcid=3))
    ocf = fields(framer.clcw_frame())[5]
    assert Clcw.decode(ocf) == Clcw(vcid=3, report_value=0)


@SETTINGS
@given(run=runs, frame_length=frame_lengths, idle_after=st.sets(st.integers(0, 4)))
def test_mc_counts_run_in_returned_order_and_vc_counts_per_vc(run, frame_length, idle_after):
    framer = TmFramer(link(frame_length))
    sent = []
    for index, (now, batch, _) in enumerate(batches_of(run)):
        sent += framer.frames(batch, now)[0]
        if index in idle_after:
            sent.append(framer.clcw_frame())
    read = [fields(raw) for raw in sent]
    assert [mc for _, _, mc, _, _, _ in read] == [n % 256 for n in range(len(read))]
    for vcid in (*CHANNELS, TM_IDLE):
        counts = [vc for _, v, _, vc, _, _ in read if v == vcid]
        assert counts == [n % 256 for n in range(len(counts))]
    assert {scid for scid, *_ in read} == {SCID}


def test_the_counters_wrap_at_256():
    framer, ground = TmFramer(link(64)), Ground(link(64))
    sent, expected = [], []
    for start in range(0, 900, 50):  # 900 packets of 60 octets in 52-octet data fields: > 1000 frames on VC 0
        batch = [(report(seq, 3, 40), TM_REALTIME, 100.0) for seq in range(start, start + 50)]
        expected += [p for p, _, _ in batch]
        sent += framer.frames(batch, 100.0)[0]
    read = [fields(raw) for raw in sent]
    assert len(read) > 1000
    assert [vc for *_, vc, _, _ in read] == [n % 256 for n in range(len(read))]
    assert [mc for _, _, mc, *_ in read] == [n % 256 for n in range(len(read))]
    assert ground.push(sent)[TM_REALTIME] == expected
    assert ground.channels[TM_REALTIME].gaps == 0


def test_the_clcw_frame_is_only_idle_data_on_vc_7():
    framer = TmFramer(link(128))
    framer.clcw = Clcw(vcid=0, report_value=42, lockout=True).encode()
    raw = framer.clcw_frame()
    scid, vcid, mc, vc, fhp, ocf = fields(raw)
    assert (scid, vcid, mc, vc, fhp, ocf) == (SCID, TM_IDLE, 0, 0, 0x7FE, framer.clcw)
    assert len(raw) == 128 and raw[6:-6] == b"\x55" * (128 - 12)
    assert TmFrame.decode(raw, 128, has_ocf=True).only_idle_data
    data, _ = framer.frames([(report(0, 3, 5), TM_REALTIME, 0.0)], 0.0)
    assert [fields(r)[2] for r in data] == [1] and fields(framer.clcw_frame())[2:4] == (2, 1)


# --- refused packets ---------------------------------------------------------------------------
@SETTINGS
@given(run=runs, frame_length=frame_lengths, data=st.data())
def test_a_packet_whose_length_field_does_not_match_its_size_is_refused_and_the_rest_goes(run, frame_length, data):
    framer, ground = TmFramer(link(frame_length)), Ground(link(frame_length))
    for now, batch, expected in batches_of(run):
        victim = data.draw(st.integers(0, len(batch) - 1), label="corrupted packet")
        octet = data.draw(st.sampled_from([4, 5]), label="length field octet")
        mask = data.draw(st.integers(1, 255), label="mask")
        packet, vcid, stored = batch[victim]
        corrupted = bytearray(packet)
        corrupted[octet] ^= mask
        batch[victim] = (bytes(corrupted), vcid, stored)
        for channel in expected.values():
            if packet in channel:
                channel.remove(packet)
        frames, refused = framer.frames(batch, now)
        assert refused == 1
        assert ground.push(frames) == expected
    for channel in ground.channels.values():
        assert channel.gaps == channel.discarded == 0


def test_idle_and_cut_packets_are_refused_and_counted():
    framer, ground = TmFramer(link(128)), Ground(link(128))
    good = [report(n, 3, 20) for n in range(3)]
    idle_apid = bytearray(report(9, 3, 20))
    idle_apid[0:2] = (0x0800 | 0x7FF).to_bytes(2, "big")  # TM, secondary header, APID 0x7FF
    batch = [(good[0], 0, 0.0), (bytes(idle_apid), 0, 0.0), (good[1][:5], 0, 0.0), (good[1][:-1], 0, 0.0),
             (good[2] + b"\x00", 0, 0.0), (good[2], 0, 0.0)]
    frames, refused = framer.frames(batch, 0.0)
    assert refused == 4
    assert ground.push(frames)[TM_REALTIME] == [good[0], good[2]]


def test_a_batch_of_refused_packets_gives_no_frame():
    framer = TmFramer(link())
    broken = bytearray(report(0, 3, 10))
    broken[5] ^= 1
    assert framer.frames([(bytes(broken), TM_REALTIME, 0.0)], 0.0) == ([], 1)
    assert fields(framer.clcw_frame())[2] == 0  # no MC count was used


@pytest.mark.parametrize("frame_length", [64, 1024])
def test_a_packet_larger_than_a_frame_spans_frames_and_comes_back(frame_length):
    framer, ground = TmFramer(link(frame_length)), Ground(link(frame_length))
    big = [report(n, 200, 3000) for n in range(2)]
    frames, refused = framer.frames([(p, TM_PRODUCTS, 0.0) for p in big], 0.0)
    assert refused == 0 and len(frames) >= 2 * 3000 // frame_length
    assert ground.push(frames)[TM_PRODUCTS] == big
