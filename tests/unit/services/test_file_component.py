"""Tests of the file transfer path on board: flight.services.file_transfer (in flight.testing's
component tester, with the dispatcher for ST[23] and a CFDP entity in the test as the ground),
the TC link's routing of the file APID, comms' files queue and VC, and flight.wire.file_management."""
from __future__ import annotations

import collections
import os
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import given, strategies as st
from spacepackets.cfdp import ConditionCode

from flight.core.component import Component
from flight.core.ports import input_port
from flight.messages import FilePdu, RawTelecommand, TransmitterState
from flight.services.cfdp_entity import CfdpEntity, CfdpTimers, Finished
from flight.testing import ComponentTester, kind_of
from flight.wire import file_management as fm
from flight.wire.failure import FailureCode
from flight.wire.keyfile import KeyRing
from flight.wire.link import TM_FILES, LinkParameters
from flight.wire.pus import Telecommand
from flight.wire.spacepacket import PacketType, PrimaryHeader
from flight.wire.tc_frame import SegmentHeader, TcFrame, TcHeader
from ground_sim.downlink import Downlink
from ground_sim.flight_process import make_keys

APID = 1
FAST = CfdpTimers(0.02, 500, 0.02, 500, 0.02, 10.0)
FILES_CONFIG = {"ack_interval_s": 0.02, "ack_limit": 500, "nak_interval_s": 0.02, "nak_limit": 500,
                "inactivity_s": 10.0}


class Comms(Component):
    """Comms' files port as the file transfer sees it: takes PDUs while it has room."""

    def __init__(self, name: str, context: Any, config: dict | None = None) -> None:
        super().__init__(name, context, config)
        self.pdus: collections.deque[bytes] = collections.deque()
        self.room = 64

    @input_port(FilePdu, "PDUs to the ground")
    def files(self, message: FilePdu) -> int:
        if message.pdu:
            self.pdus.append(message.pdu)
        return self.room


@pytest.fixture
def h(tmp_path):
    tester = ComponentTester.build(tmp_path / "run", [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "files", "kind": "flight.services.file_transfer:FileTransfer", "max_files": 2,
         "max_bytes": 100_000, "queue_depth": 256, **FILES_CONFIG},
        {"name": "comms", "kind": kind_of(Comms)}],
        connections=["files.to_ground -> comms.files"], mission={"apid": APID})
    assert tester.components["files"].preflight() is None
    tester.start()
    tester.ends = []
    tester.ground = CfdpEntity(2, 1, tmp_path / "ground" / ".partial", max_pdu=900,
                               deliver=lambda name, staged: os.replace(staged, tmp_path / "ground" / name),
                               admit=lambda name, size: None, finished=tester.ends.append, timers=FAST)
    yield tester
    tester.stop()


def exchange(h, until, seconds: float = 20.0, drop=lambda pdu: False) -> None:
    """PDUs both ways between the ground entity and the component until ``until()``."""
    files, comms = h.components["files"], h.components["comms"]
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, f"not done: {h.ends}, {h.ground.stats}, {files.telemetry}"
        for pdu in h.ground.poll(64):
            if not drop(pdu):
                files.pdus(FilePdu(bytes(pdu)))
        files.tick(0, h.time)
        time.sleep(0.002)
        while comms.pdus:
            h.ground.receive(comms.pdus.popleft())


def upload(h, tmp_path, name: str, size: int, **kwargs) -> Finished:
    source = tmp_path / f"{name}.src"
    source.write_bytes(os.urandom(size))
    h.ground.put(source, name)
    before = len(h.ends)
    exchange(h, lambda: len(h.ends) > before and not h.ground.sending, **kwargs)
    return h.ends[-1]


def tc(h, subtype: int, data: bytes, seq: int = 1) -> list[tuple[int, int | None]]:
    """One TC[23,subtype]; the ST[1] reports it gave (subtype, failure code), once it ended."""
    h.clear()
    h.send("dispatcher.tc", RawTelecommand((Telecommand(APID, seq, fm.SERVICE, subtype, data).encode(),)))
    deadline = time.monotonic() + 5
    while True:   # the work may run on the component's thread
        reports = [(sub, struct.unpack(">H", d[4:6])[0] if sub % 2 == 0 else None)
                   for s, sub, d in h.downlinks if s == 1]
        if any(sub in (2, 7, 8) for sub, _ in reports) or time.monotonic() > deadline:
            return reports
        time.sleep(0.01)


def refused(reports) -> FailureCode | None:
    return next((FailureCode(code) for sub, code in reports if code is not None), None)


def test_an_upload_lands_in_the_store_and_the_repository_report_lists_it(h, tmp_path):
    end = upload(h, tmp_path, "model.onnx", 20_000)
    assert end.ok and end.sent
    store = Path(h.context.run_dir) / "files"
    assert (store / "model.onnx").read_bytes() == (tmp_path / "model.onnx.src").read_bytes()
    assert h.components["files"].telemetry["FilesReceived"] == 1
    assert h.components["files"].telemetry["FilesStored"] == 1
    assert h.events_named("FileReceived")
    assert [sub for sub, _ in tc(h, fm.SUMMARY_REPORT, fm.pack_strings("files"))] == [1, 3, 7]
    (report,) = [d for s, sub, d in h.downlinks if (s, sub) == (fm.SERVICE, fm.CONTENT_REPORT)]
    assert fm.unpack_content_report(report) == ("files", [fm.Entry("model.onnx", 20_000)])


def test_a_file_past_the_store_bounds_is_refused_at_metadata_with_an_event_and_nothing_stays(h, tmp_path):
    assert upload(h, tmp_path, "a", 60_000).ok
    end = upload(h, tmp_path, "b", 50_000)          # 110,000 > max_bytes
    assert end.condition == ConditionCode.FILESTORE_REJECTION
    files = h.components["files"]
    assert files.telemetry["FilesRefused"] == 1 and files.telemetry["TransfersFailed"] == 1
    assert "do not fit" in h.events_named("FileRefused")[0][2][0]
    store = Path(h.context.run_dir) / "files"
    assert sorted(p.name for p in store.iterdir()) == [".partial", "a"] and not any((store / ".partial").iterdir())
    assert upload(h, tmp_path, "a", 90_000).ok      # a replacement fits


def test_st23_refusals_each_have_their_code(h, tmp_path):
    run_dir = Path(h.context.run_dir)
    (run_dir / "flight.log").write_text("log")
    cases = [(fm.DELETE_FILE, fm.pack_strings("files", "../keys"), FailureCode.PATH_REFUSED),
             (fm.DELETE_FILE, fm.pack_strings("files", "none"), FailureCode.FILE_NOT_FOUND),
             (fm.DELETE_FILE, fm.pack_strings(".", "flight.log"), FailureCode.PATH_REFUSED),
             (fm.DOWNLINK_FILE, fm.pack_strings("/etc/passwd", "x"), FailureCode.PATH_REFUSED),
             (fm.DOWNLINK_FILE, fm.pack_strings("files/../../x", "x"), FailureCode.PATH_REFUSED),
             (fm.DOWNLINK_FILE, fm.pack_strings("nothing.bin", "x"), FailureCode.FILE_NOT_FOUND),
             (fm.DOWNLINK_FILE, fm.pack_strings("flight.log", "../x"), FailureCode.PATH_REFUSED),
             (fm.SUMMARY_REPORT, fm.pack_strings(".."), FailureCode.PATH_REFUSED),
             (fm.SUMMARY_REPORT, fm.pack_strings("nowhere"), FailureCode.FILE_NOT_FOUND),
             (fm.DOWNLINK_FILE, b"\x05ab", FailureCode.BAD_ARGUMENTS)]
    for n, (subtype, data, code) in enumerate(cases):
        assert refused(tc(h, subtype, data, seq=n + 1)) == code, (subtype, data)
    assert upload(h, tmp_path, "a", 1_000).ok
    assert [sub for sub, _ in tc(h, fm.DELETE_FILE, fm.pack_strings("files", "a"), seq=50)] == [1, 3, 7]
    assert not (run_dir / "files" / "a").exists() and h.events_named("FileDeleted")


def test_any_file_under_the_run_directory_goes_down_one_at_a_time(h, tmp_path):
    log = Path(h.context.run_dir) / "flight.log"
    log.write_bytes(os.urandom(30_000))
    assert [sub for sub, _ in tc(h, fm.DOWNLINK_FILE, fm.pack_strings("flight.log", "log.bin"))] == [1, 3, 7]
    assert refused(tc(h, fm.DOWNLINK_FILE, fm.pack_strings("flight.log", "again"), seq=2)) == FailureCode.FILE_IN_USE
    exchange(h, lambda: len(h.ends) == 1 and not h.components["files"].entity.sending)
    assert h.ends[0].ok and (tmp_path / "ground" / "log.bin").read_bytes() == log.read_bytes()
    assert h.components["files"].telemetry["FilesSent"] == 1 and h.events_named("FileSent")


def test_while_the_transmitter_is_off_nothing_goes_and_no_retry_is_spent(h, tmp_path):
    files = h.components["files"]
    files.transmitter(TransmitterState(False, ""))
    source = tmp_path / "x.src"
    source.write_bytes(os.urandom(20_000))
    h.ground.put(source, "x")
    deadline = time.monotonic() + 1.0               # 50 ack intervals: a running transfer would retry
    while time.monotonic() < deadline:
        for pdu in h.ground.poll(64):
            files.pdus(FilePdu(bytes(pdu)))
        files.tick(0, h.time)
        time.sleep(0.01)
    assert not h.components["comms"].pdus and files.telemetry["LinkUp"] is False
    h.ground.pause()
    time.sleep(0.2)
    h.ground.resume()
    files.transmitter(TransmitterState(True, "svalbard"))
    exchange(h, lambda: len(h.ends) == 1 and not h.ground.sending)
    assert h.ends[0].ok and files.entity.stats.faults == 0


def test_a_flood_of_garbage_pdus_is_counted_and_contained_and_a_transfer_after_it_completes(h, tmp_path):
    files = h.components["files"]
    garbage = [FilePdu(os.urandom(1 + n % 300)) for n in range(20_000)]
    for pdu in garbage:                              # faster than the thread: its queue overflows
        files.pdus(pdu)
    deadline = time.monotonic() + 20
    while files.queue_depth and time.monotonic() < deadline:
        time.sleep(0.01)
    files.tick(0, h.time)
    time.sleep(0.1)
    assert files.telemetry["PdusDropped"] > 0 and h.events_named("PdusDropped")
    assert files.telemetry["PdusRefused"] + files.telemetry["PdusDropped"] >= 19_900
    assert h.events_named("PduRefused") and files.work_failures == 0
    assert upload(h, tmp_path, "after", 10_000).ok


# --- the TC link: packets of the file APID go to the files port ---------------------------------
def test_the_tc_link_hands_packets_of_the_file_apid_to_the_files_port(tmp_path):
    t = ComponentTester.build(tmp_path, [{"name": "link", "kind": "flight.services.tc_link:TcLink"}],
                              mission={"apid": APID, "link": {"sdls": "off"}})
    link = t.components["link"]
    assert link.preflight() is None
    link.start()
    pdu = b"\x24" + os.urandom(40)
    file_packet = PrimaryHeader(PacketType.TC, LinkParameters().file_apid, 0, len(pdu) - 1,
                                secondary_header=False).pack() + pdu
    command = Telecommand(APID, 5, 17, 1, b"").encode()
    frame = TcFrame(TcHeader(66, 0, 0, bypass=True), file_packet + command, SegmentHeader(0)).encode()
    t.send("link.frames", RawTelecommand((frame,)))
    assert [m.pdu for m in t.sent["link.files"]] == [pdu]
    assert [m.frames for m in t.sent["link.tc"]] == [(command,)]
    link.stop()


# --- comms: the files queue and VC ---------------------------------------------------------------
@pytest.fixture
def comms(tmp_path):
    keys = make_keys(tmp_path / "keys")
    t = ComponentTester.build(tmp_path, [{"name": "comms", "kind": "flight.services.comms:Comms",
                                          "tc_endpoint": "tcp://127.0.0.1:*", "tm_endpoint": "tcp://127.0.0.1:*",
                                          "flush_timeout": 0.5, "file_queue": 8}], mission={"apid": APID})
    component = t.components["comms"]
    component.start()
    socket = zmq.Context.instance().socket(zmq.PULL)
    socket.connect(component.tm_endpoint)
    t.pull, t.ground = socket, Downlink(LinkParameters(), keys=KeyRing.load(keys))
    yield t
    socket.close(linger=0)
    component.stop()


def test_file_pdus_go_down_on_the_files_vc_in_packets_of_the_file_apid_never_stored(comms):
    component = comms.components["comms"]
    pdus = [os.urandom(100 + n) for n in range(5)]
    for pdu in pdus:
        assert comms.send("comms.files", FilePdu(pdu)) >= 0
    got, deadline = [], time.monotonic() + 5
    while len(got) < 5 and time.monotonic() < deadline:
        if comms.pull.poll(100):
            frame = comms.ground.frame(comms.pull.recv())
            if frame is not None and frame.vcid == TM_FILES:
                got += comms.ground.packets(frame)
            elif frame is not None:
                comms.ground.packets(frame)
    assert [PrimaryHeader.unpack(p).apid for p in got] == [LinkParameters().file_apid] * 5
    assert [p[6:] for p in got] == pdus
    assert component.downlink.store.live_count == 0


def test_a_full_files_queue_refuses_a_pdu_with_a_count_and_an_event(comms):
    component = comms.components["comms"]
    comms.send("comms.transmitter", TransmitterState(False, ""))
    time.sleep(0.1)
    rooms = [comms.send("comms.files", FilePdu(b"\x01" * 50)) for _ in range(9)]
    assert rooms == [7, 6, 5, 4, 3, 2, 1, 0, -1]
    assert comms.send("comms.files", FilePdu(b"")) == 0
    assert component.telemetry["FilePdusRefused"] == 1 and comms.events_named("FilePduRefused")


# --- ST[23] layouts -----------------------------------------------------------------------------
names = st.text(min_size=0, max_size=60)


@given(repository=names, entries=st.lists(st.builds(fm.Entry, names, st.integers(0, 2**64 - 1), st.booleans()),
                                          max_size=10))
def test_the_repository_report_round_trips(repository, entries):
    assert fm.unpack_content_report(fm.pack_content_report(repository, entries)) == (repository, entries)


@given(values=st.lists(names, min_size=1, max_size=3), cut=st.integers(1, 10))
def test_strings_round_trip_and_a_truncated_or_overlong_request_is_refused(values, cut):
    packed = fm.pack_strings(*values)
    assert fm.unpack_strings(packed, len(values)) == values
    with pytest.raises(ValueError):
        fm.unpack_strings(packed + b"x", len(values))
    if len(packed) >= cut:
        with pytest.raises(ValueError):
            fm.unpack_strings(packed[:-cut], len(values))
