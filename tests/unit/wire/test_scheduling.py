"""Tests of the ST[11] layouts (flight/wire/scheduling.py).

References: requests built with ``Telecommand.encode`` (verified against the golden vector in
test_wire.py); times and offsets checked against ``struct`` and two's complement by hand.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from flight.wire import scheduling as sched
from flight.wire.pus import AckFlags, Telecommand
from flight.wire.scheduling import Activity, RequestId

SETTINGS = settings(max_examples=80, deadline=None)

tcs = st.builds(Telecommand, apid=st.integers(0, 0x7FF), sequence_count=st.integers(0, 0x3FFF),
                service=st.integers(0, 255), subtype=st.integers(0, 255), app_data=st.binary(max_size=40),
                ack=st.sampled_from(list(AckFlags)), source_id=st.integers(0, 0xFFFF))
activities = st.builds(lambda t, tc: Activity(t, tc.encode()), st.integers(0, sched.MAX_TIME), tcs)
ids = st.builds(RequestId, st.integers(0, 0xFFFF), st.integers(0, 0x7FF), st.integers(0, 0x3FFF))


@SETTINGS
@given(st.lists(activities, max_size=8))
def test_activities_round_trip_and_each_request_keeps_its_id(batch):
    assert sched.unpack_activities(sched.pack_activities(batch)) == batch
    for activity in batch:
        tc = Telecommand.decode(activity.packet)
        assert activity.request_id == RequestId(tc.source_id, tc.apid, tc.sequence_count)


@SETTINGS
@given(st.lists(ids, max_size=8), st.integers(-(1 << 47), (1 << 47) - 1))
def test_ids_shifts_and_summaries_round_trip(request_ids, offset):
    assert sched.unpack_ids(sched.pack_ids(request_ids)) == request_ids
    assert sched.unpack_shift(sched.pack_shift(offset, request_ids)) == (offset, request_ids)
    assert sched.unpack_shift_all(sched.pack_offset(offset)) == offset
    entries = [(i * 70000, rid) for i, rid in enumerate(request_ids)]
    assert sched.unpack_summary(sched.pack_summary(entries)) == entries


def test_times_are_cuc_4_2_and_offsets_48_bit_twos_complement():
    assert sched.pack_time(5 << 16 | 0x8000) == struct.pack(">IH", 5, 0x8000)
    assert sched.pack_offset(-1) == b"\xff" * 6
    assert sched.pack_offset(-(3 << 16)) == bytes.fromhex("fffffffd0000")
    assert sched.ticks(1.5) == 0x18000
    with pytest.raises(ValueError):
        sched.pack_time(-1)
    with pytest.raises(ValueError):
        sched.pack_offset(1 << 47)


ping = Telecommand(1, 3, 17, 1).encode()


@pytest.mark.parametrize("data, reason", [
    (b"", "count"),
    (b"\x00\x01", "activity 0"),
    (b"\x00\x01" + bytes(6) + ping[:-1], "request"),
    (b"\x00\x01" + bytes(6) + ping + b"\x00", "left over"),
    (b"\x00\x01" + bytes(6) + ping[:4] + b"\x00\x01" + ping[6:], "cannot hold"),
])
def test_a_bad_activity_list_is_refused_with_its_reason(data, reason):
    with pytest.raises(ValueError, match=reason):
        sched.unpack_activities(data)


@pytest.mark.parametrize("unpack, data", [
    (sched.unpack_ids, b"\x00\x02" + bytes(6)), (sched.unpack_ids, b"\x00\x00\x00"),
    (sched.unpack_shift, bytes(5)), (sched.unpack_shift_all, bytes(7)), (sched.unpack_summary, b"\x00\x01"),
])
def test_short_or_long_layouts_are_refused(unpack, data):
    with pytest.raises(ValueError):
        unpack(data)


@SETTINGS
@given(st.lists(activities, max_size=300), st.integers(200, 5000))
def test_split_reports_hold_every_activity_once_in_order_within_the_bound(batch, limit):
    runs = sched.split(batch, lambda a: sched.TIME_SIZE + len(a.packet), limit)
    assert [a for run in runs for a in run] == batch
    for run in runs:
        assert len(sched.pack_activities(run)) <= limit or len(run) == 1
    assert sched.detail_reports([]) == [b"\x00\x00"]
