"""Interoperability: our packets are what a standard tool makes and reads (spacepackets, the
library under tmtccmd).

Verifies, for arbitrary field values (property tests): a PUS-C TC and a PUS-C TM with a 6-octet
time field are byte-identical when built by spacepackets and by flight.wire.pus, and each side
decodes the other's packets to the same fields.
"""
from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.wire.pus import AckFlags, TelemetryPacket, Telecommand, decode_cuc, encode_cuc

spacepackets = pytest.importorskip("spacepackets.ecss")
PusTc, PusTm = spacepackets.PusTc, spacepackets.PusTm

apids = st.integers(0, 0x7FF)
counts = st.integers(0, 0x3FFF)
octets = st.integers(0, 255)
data = st.binary(max_size=200)


@settings(max_examples=150)
@given(apids, counts, octets, octets, st.integers(0, 0xFFFF), st.integers(0, 15), data)
def test_telecommands_are_byte_identical_both_ways(apid, seq, service, subtype, source, ack, app_data):
    ours = Telecommand(apid, seq, service, subtype, app_data, AckFlags(ack), source).encode()
    theirs = PusTc(service=service, message_subtype=subtype, apid=apid, seq_count=seq,
                   app_data=app_data, source_id=source, ack_flags=ack).pack()
    assert ours == bytes(theirs)
    back = PusTc.unpack(ours)
    assert (back.apid, back.seq_count, back.service, back.app_data) == (apid, seq, service, app_data)
    assert Telecommand.decode(bytes(theirs)) == Telecommand(apid, seq, service, subtype, app_data,
                                                            AckFlags(ack), source)


@settings(max_examples=150)
@given(apids, counts, octets, octets, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
       st.floats(0, 2**32 - 1, allow_nan=False), data)
def test_telemetry_is_byte_identical_both_ways(apid, seq, service, subtype, counter, destination,
                                               seconds, source_data):
    time = decode_cuc(encode_cuc(seconds))  # what 4+2 octets can say
    ours = TelemetryPacket(apid, seq, service, subtype, source_data, time, counter,
                           destination).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = PusTm(service=service, message_subtype=subtype, timestamp=encode_cuc(time),
                       source_data=source_data, apid=apid, seq_count=seq, message_counter=counter,
                       destination_id=destination).pack()
    assert ours == bytes(theirs)
    back = PusTm.unpack(ours, 6)
    assert (back.apid, back.seq_count, back.service, back.source_data, bytes(back.timestamp)) == (
        apid, seq, service, source_data, encode_cuc(time))
    decoded = TelemetryPacket.decode(bytes(theirs))
    assert (decoded.apid, decoded.sequence_count, decoded.message_counter, decoded.time) == (
        apid, seq, counter, time)
