"""The ground station's receiving side (ground_sim/station.py, decoder.py).

Verifies: any bytes at all coming down are archived and either decoded or counted as a decode
error, never an exception out of the receive path (property test); sequence-count gaps are
counted as lost packets; a limit excursion is counted once; when the archive fails (a full disk),
the station keeps receiving and counting, each packet it can no longer archive is counted lost,
and ``close`` returns the archive's error.
"""
from __future__ import annotations

import json

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.app import load_flight_topology
from flight.wire.dictionary import build_dictionary
from flight.wire import services as svc
from flight.wire.pus import TelemetryPacket
from ground_sim.decoder import TmDecoder
from ground_sim.station import GroundStation

DICTIONARY = build_dictionary(load_flight_topology())


def _station(tmp_path) -> GroundStation:
    return GroundStation(DICTIONARY, "tcp://127.0.0.1:1", "tcp://127.0.0.1:2", tmp_path / "a.sqlite")


def _tm(seq: int, service: int, subtype: int, data: bytes) -> bytes:
    """A TM packet as the flight numbers them: its time (here, ``seq`` seconds) names it with its APID."""
    return TelemetryPacket(DICTIONARY.apid, seq, service, subtype, data, float(seq)).encode()


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from([(1, 1), (1, 8), (3, 25), (5, 1), (5, 4), (20, 2), (17, 2), (200, 1),
                               (9, 9)]), st.binary(max_size=80)).map(
        lambda t: _tm(0, t[0][0], t[0][1], t[1]))))
def test_any_bytes_coming_down_are_counted_never_fatal(tmp_path_factory, raw):
    station = _station(tmp_path_factory.mktemp("g"))
    try:
        station._receive(raw, 0.0)
        assert station.stats.packets == 1
    finally:
        station.archive.close()
    rows = station.archive.query("SELECT raw, error FROM packets")
    assert len(rows) == 1 and rows[0][0] == raw


def test_sequence_gaps_count_lost_packets_and_limits_count_excursions(tmp_path):
    station = _station(tmp_path)
    try:
        health = DICTIONARY.housekeeping_by_id[DICTIONARY.components["health"]]
        def hk(seq: int, unresponsive: int) -> bytes:
            values = {"health.PingsSent": 1, "health.UnresponsiveComponents": unresponsive,
                      "health.WatchdogStrokes": 1}  # any other channel of the structure: 0
            body = struct.pack(">H", health.structure_id) + b"".join(
                DICTIONARY.channel_by_id[c].type.encode(values.get(DICTIONARY.channel_by_id[c].name, 0))
                for c in health.channels)
            return _tm(seq, svc.HOUSEKEEPING, svc.HK_REPORT, body)
        for seq, unresponsive in ((0, 0), (1, 1), (2, 2), (5, 0), (6, 1)):
            station._receive(hk(seq, unresponsive), 0.0)
        assert station.stats.sequence_gaps == 2  # 3 and 4 never came
        assert station.stats.limit_violations["health.UnresponsiveComponents"] == 2
        assert station.stats.limit_states["health.UnresponsiveComponents"] == "yellow"
    finally:
        station.archive.close()


def test_a_failed_archive_is_visible_and_the_station_keeps_receiving(tmp_path, full_disk):
    station = _station(tmp_path).start()  # its link connects to nothing; packets come in by _receive
    full_disk(station.archive)
    lost = station.archive.lost
    for seq in range(5):
        station._receive(_tm(seq, svc.TEST, svc.PING_REPLY, b""), 0.0)
    assert station.stats.packets == 5 and station.pings == 5
    assert station.archive.lost == lost + 5
    assert station.archive.alarm.startswith(f"ARCHIVE FAILED: {tmp_path / 'a.sqlite'}: ")
    assert station.close() == station.archive.error is not None


def test_a_packet_received_again_is_kept_once_also_by_a_new_station_on_the_same_archive(tmp_path):
    station = _station(tmp_path)
    for seq in (0, 1, 1, 2):                                    # 1 comes twice (sent again)
        station._receive(_tm(seq, svc.TEST, svc.PING_REPLY, b""), 0.0)
    assert (station.stats.packets, station.stats.duplicates, station.pings) == (3, 1, 3)
    station.archive.close()
    later = _station(tmp_path)                                  # a new ground process, the same archive
    for seq in (2, 3):
        later._receive(_tm(seq, svc.TEST, svc.PING_REPLY, b""), 0.0)
    assert (later.stats.packets, later.stats.duplicates) == (1, 1)
    assert [r.count for r in later.stats.completeness.runs(DICTIONARY.apid)] == [4]
    later.archive.close()
    rows = later.archive.query("SELECT sequence FROM packets WHERE direction = 'down' ORDER BY id")
    assert [seq for (seq,) in rows] == [0, 1, 2, 3]


def _reference(structure, data: bytes) -> dict:
    """Channel by channel, the way the flight's DataType decodes one value."""
    offset, values = 2, {}
    for cid in structure.channels:
        channel = DICTIONARY.channel_by_id[cid]
        values[channel.name], offset = channel.type.decode(data, offset)
    assert offset == len(data)
    return values


def _random_value(data_type, draw):
    if data_type.name == "BOOL":
        return draw(st.booleans())
    if data_type.name == "STRING":
        return draw(st.text(max_size=10))
    if data_type.is_integer:
        low, high = data_type.bounds
        return draw(st.integers(low, high))
    return draw(st.floats(allow_nan=False, width=32 if data_type.name == "F32" else 64))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_housekeeping_decodes_as_the_channels_do_and_bad_reports_are_refused(data):
    decoder = TmDecoder(DICTIONARY)
    structure = data.draw(st.sampled_from(sorted(DICTIONARY.housekeeping, key=lambda h: h.structure_id)))
    body = struct.pack(">H", structure.structure_id) + b"".join(
        DICTIONARY.channel_by_id[cid].type.encode(_random_value(DICTIONARY.channel_by_id[cid].type, data.draw))
        for cid in structure.channels)
    report = _tm(0, svc.HOUSEKEEPING, svc.HK_REPORT, body)
    assert decoder.decode(report).value == _reference(structure, body)
    for bad in (body[:-1], body + b"\0"):
        with pytest.raises(ValueError):
            decoder.decode(_tm(0, svc.HOUSEKEEPING, svc.HK_REPORT, bad))
    booleans = [i for i, cid in enumerate(structure.channels) if DICTIONARY.channel_by_id[cid].type.name == "BOOL"]
    if booleans:
        offset = 2 + sum(struct.calcsize(">" + DICTIONARY.channel_by_id[cid].type.value)
                         for cid in structure.channels[:booleans[0]])
        with pytest.raises(ValueError, match="bool byte"):
            decoder.decode(_tm(0, svc.HOUSEKEEPING, svc.HK_REPORT, body[:offset] + b"\x02" + body[offset + 1:]))


def test_a_pass_on_the_link_is_ground_telemetry_and_an_archive_row(tmp_path):
    from ground_sim.link_relay import PassRecord

    station = _station(tmp_path)
    record = PassRecord("svalbard", 100.0)
    station.link_pass("AOS", record)
    record.los = 700.0
    station.link_pass("LOS", record)
    assert station.passes == [("AOS", "svalbard", 100.0), ("LOS", "svalbard", 700.0)]
    assert station.telemetry["ground.InPass"] == [(100.0, True), (700.0, False)]
    assert station.latest("ground.PassCount") == 1
    station.archive.close()
    rows = station.archive.query("SELECT decoded FROM packets WHERE direction = 'pass' ORDER BY id")
    assert [json.loads(d)["event"] for (d,) in rows] == ["AOS", "LOS"]


def test_await_telemetry_since_skips_what_was_sampled_before(tmp_path):
    from ground_sim.api import IntegrationApi

    station = _station(tmp_path)
    station.telemetry["cluster.Mode"] += [(100.0, 1), (700.0, 2)]     # (on-board time, value) as decoded
    api = IntegrationApi(station, default_timeout=0.2)
    assert api.await_telemetry("cluster.Mode") == 1
    assert api.await_telemetry("cluster.Mode", since=100.0) == 2        # sampled at 700, after 100
    with pytest.raises(AssertionError, match="timed out"):
        api.await_telemetry("cluster.Mode", since=700.0)                # nothing sampled after 700
    station.archive.close()


def test_packet_kept_sees_each_new_packet_once_in_order(tmp_path):
    station = _station(tmp_path)
    kept: list[bytes] = []
    station.packet_kept = kept.append
    first, second = _tm(1, 17, 2, b""), _tm(2, 17, 2, b"")
    for raw in (first, b"\x00 not a packet", second, first):     # garbage, then the first sent again
        station._receive(raw, 0.0)
    assert kept == [first, second]
    assert (station.stats.decode_errors, station.stats.duplicates) == (1, 1)
    station.archive.close()
