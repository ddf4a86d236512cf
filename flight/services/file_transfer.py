"""FileTransfer: files up and down over the link (CFDP class 2), the on-board file store, and the
PUS-C ST[23] file management subset.

CFDP (CCSDS 727.0-B-5, acknowledged mode, through cfdp-py: flight.services.cfdp_entity): the
flight is entity ``[mission.link] flight_entity_id``, the ground ``ground_entity_id``. PDUs come
up in space packets of ``file_apid`` inside TC frames (the TC link hands them to the ``pdus``
port) and go down out of ``to_ground`` into comms' files queue and the files VC (never the
durable TM store). Up, they travel in COP-1 AD frames, not bypass (BD) frames: COP-1 paces the
ground to what the flight takes and its retransmission makes uplink NAKs rare, while BD frames
have no flow control. Measured once by hand (2 MB up over loopback, no loss): AD in 3.6 s; BD
outran the flight's TC intake (``comms.tc_queue_per_peer``) and the transfer failed on its
positive acknowledgement limit. CFDP's own NAKs recover the downlink, which has no COP. Each PDU
carries a CRC-16 and each file a CRC-32C, checked whole before the file takes its name. One file
goes each way at a time.

Received files land in the bounded store (``directory``, relative to the run directory:
flight.services.file_store): at most ``max_files`` files and ``max_bytes`` octets; a file that
would pass either, or has no plain name, is refused when its Metadata arrives (CFDP filestore
rejection, in the Finished PDU the ground gets), with ``FileRefused`` and ``FilesRefused``. A
file is written under a temporary name and renamed only once whole and checked.

Passes: the ``transmitter`` port says when the downlink may send. While it is off the CFDP
entity is paused: no PDU is made and cfdp-py's timers (host clock) are held, restarted at the
next pass, so a transfer a pass end interrupts goes on in the next pass instead of running out
its retries in between. The ground does the same with its link's pass state (ground_sim.files).

ST[23] (flight.wire.file_management): TC[23,2] deletes a file of the store; TC[23,12] reports
the content of the store (repository ``directory``) or of any folder under the run directory
in TM[23,13]; TC[23,128] (this mission's) sends any file under the run directory (the store,
logs, ``injections.jsonl``, products) to the ground. A path that is absolute, has ``..`` or
leads outside the run directory is refused with PATH_REFUSED, a missing one FILE_NOT_FOUND, a
downlink while one is going (or deleting the file being sent) FILE_IN_USE.

Faults stay in a transaction: a bad PDU is counted (``PdusRefused``), a PDU that finds the
component's queue full is dropped and counted (``PdusDropped``, throttled event), a filestore
error or a CFDP fault ends that transaction with ``TransferFailed``; nothing raises into the
executive, and the thread goes on.

| requirement | verified by |
|---|---|
| a file up and down through the real processes at 1 % frame loss, a pass ending in the middle, |   |
|   arrives byte-identical | tests/system/test_file_transfer.py |
| the store's bounds refuse a file at Metadata, with an event and a counter; nothing of it stays |   |
|   | tests/unit/services/test_file_component.py |
| ST[23]: delete, repository report, downlink; each refusal with its code |   |
|   | tests/unit/services/test_file_component.py |
| while the transmitter is off nothing is sent and no retry is spent; the transfer completes |   |
|   when it is on again | tests/unit/services/test_file_component.py |
| a flood of garbage PDUs is counted and contained, the transfer after it completes |   |
|   | tests/unit/services/test_file_component.py |
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from flight.core.completion import Pending
from flight.core.component import ActiveComponent, Channel, CommandBusy, Event
from flight.core.context import Context
from flight.core.ports import OutputPort, input_port
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity
from flight.messages import FilePdu, FileSave, TmPacket, TransmitterState
from flight.services.cfdp_entity import CfdpEntity, CfdpTimers, Finished
from flight.services.dispatcher import Action, Route, ServiceProvider
from flight.services.file_store import FileStore, PathRefused, listing, name_refusal, run_path
from flight.wire import file_management as fm
from flight.wire.failure import FailureCode, PacketError
from flight.wire.link import LinkParameters
from flight.wire.pus import Telecommand


def _counter(description: str, limits: Limits | None = None) -> Channel:
    return Channel(DataType.U32, "", limits, description=description)


class FileTransfer(ActiveComponent, ServiceProvider):
    QUEUE_DEPTH = 1024
    SETTINGS = {
        "directory": Setting(str, "files", description="the on-board file store, relative to the run directory"),
        "max_bytes": Setting(int, 256 << 20, 1, 1 << 40, description="octets the store holds at most"),
        "max_files": Setting(int, 64, 1, 100_000, description="files the store holds at most"),
        "max_pdu": Setting(int, 1000, 128, 4000, description="octets of a CFDP PDU the flight sends at most"),
        "ack_interval_s": Setting(float, 5.0, 0.01, 3600.0, description="CFDP positive acknowledgement timer "
                                                                        "(host seconds, in pass)"),
        "ack_limit": Setting(int, 20, 1, 10_000, description="expiries of that timer before the transaction fails"),
        "nak_interval_s": Setting(float, 5.0, 0.01, 3600.0, description="CFDP NAK timer (host seconds, in pass)"),
        "nak_limit": Setting(int, 20, 1, 10_000, description="expiries of that timer before the transaction fails"),
        "inactivity_s": Setting(float, 60.0, 0.1, 86_400.0, description="host seconds in pass without a PDU "
                                                                        "from the ground before a transaction ends"),
    }
    CHANNELS = {
        "FilesStored": Channel(DataType.U32, "files", description="files in the store"),
        "StoreOctets": Channel(DataType.U64, "bytes", description="octets of the files in the store"),
        "FilesReceived": _counter("files that came up whole and took their name"),
        "FilesSent": _counter("files the ground reported whole"),
        "TransfersFailed": _counter("transactions that ended otherwise (either way)", Limits(yellow_high=0)),
        "FilesRefused": _counter("files the store refused at Metadata (bounds, name)", Limits(yellow_high=0)),
        "PdusIn": _counter("CFDP PDUs from the ground"),
        "PdusOut": _counter("CFDP PDUs to the ground"),
        "PdusRefused": _counter("PDUs refused: damaged (CRC), foreign, stale", Limits(yellow_high=0)),
        "PdusDropped": _counter("PDUs dropped: this component's queue was full", Limits(yellow_high=0)),
        "Naks": _counter("NAK PDUs sent or received"),
        "FileDataResent": _counter("file data PDUs sent again on a NAK"),
        "LinkUp": Channel(DataType.BOOL, description="the transmitter is on: CFDP runs (its timers held otherwise)"),
    }
    EVENTS = {
        "FileReceived": Event(Severity.ACTIVITY, "File {name} received whole ({size} octets)",
                              (Field("name", DataType.STRING), Field("size", DataType.U64))),
        "FileSent": Event(Severity.ACTIVITY, "File {name} delivered to the ground", (Field("name", DataType.STRING),)),
        "TransferFailed": Event(Severity.WARNING_LO, "File transfer {direction} of {name} failed: {reason}",
                                (Field("direction", DataType.STRING), Field("name", DataType.STRING),
                                 Field("reason", DataType.STRING))),
        "FileRefused": Event(Severity.WARNING_LO, "File refused by the store: {reason}",
                             (Field("reason", DataType.STRING),)),
        "PdusDropped": Event(Severity.WARNING_LO, "CFDP PDU dropped, the queue is full: {dropped} so far",
                             (Field("dropped", DataType.U32),), throttle=10),
        "PduRefused": Event(Severity.WARNING_LO, "CFDP PDU refused: {reason}", (Field("reason", DataType.STRING),),
                            throttle=10),
        "FileDeleted": Event(Severity.ACTIVITY, "File {name} deleted from the store",
                             (Field("name", DataType.STRING),)),
        "DownlinkStarted": Event(Severity.ACTIVITY, "Sending {path} to the ground as {name}",
                                 (Field("path", DataType.STRING), Field("name", DataType.STRING))),
    }
    to_ground = OutputPort(FilePdu, "CFDP PDUs to send down (comms answers its queue's room)", required=True)
    tm = OutputPort(TmPacket, "TM[23,13] repository reports", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.link = LinkParameters.of(context.mission)
        self.store = FileStore(context.run_file(self.config["directory"]), self.config["max_bytes"],
                               self.config["max_files"])
        self.entity: CfdpEntity | None = None
        self._room = 1              # comms' files queue, as last heard
        self._pumping = False       # a pump is queued
        self._dropped = 0
        self._refused = 0           # PduRefused already said for these

    # --- lifecycle ---------------------------------------------------------------------------
    def preflight(self) -> str | None:
        if self.link.file_apid == self.context.catalog.apid:
            return f"mission.link.file_apid = {self.link.file_apid} is the flight's own APID: files need their own"
        try:
            self.store.open()
        except OSError as error:
            return f"{self.name}.directory: cannot use {self.store.root}: {error.strerror}"
        timers = CfdpTimers(self.config["ack_interval_s"], self.config["ack_limit"], self.config["nak_interval_s"],
                            self.config["nak_limit"], inactivity_s=self.config["inactivity_s"])
        self.entity = CfdpEntity(self.link.flight_entity_id, self.link.ground_entity_id, self.store.partial,
                                 max_pdu=self.config["max_pdu"], deliver=self.store.deliver, admit=self._admit,
                                 finished=self._finished, timers=timers)
        return None

    def start(self) -> None:
        self.tlm("LinkUp", True)
        self._report_store()
        super().start()

    def tick(self, tick: int, now: float) -> None:
        if not self._pumping:
            self._pumping = self.post(self._pump)

    # --- ports -------------------------------------------------------------------------------
    @input_port(FilePdu, "a CFDP PDU from the ground (the TC link: packets of the file APID)")
    def pdus(self, message: FilePdu) -> None:
        if not self.post(self._receive, message.pdu):
            self._dropped += 1
            self.tlm("PdusDropped", self._dropped & 0xFFFFFFFF)
            self.event("PdusDropped", dropped=self._dropped & 0xFFFFFFFF)

    @input_port(FileSave, "a component's file to keep in the store (an image asked for)", required=False)
    def save(self, message: FileSave) -> Pending:
        """Kept on this component's thread; the Pending finishes when it is (or with the refusal)."""
        return self._on_thread(lambda: self.store.save(message.name, message.data))()

    @input_port(TransmitterState, "whether the downlink may send: CFDP runs only then", required=False)
    def transmitter(self, state: TransmitterState) -> None:
        self.post(self._link_state, state.on)

    # --- the component's thread ----------------------------------------------------------------
    def _link_state(self, on: bool) -> None:
        assert self.entity is not None
        if on:
            self.entity.resume()
        else:
            self.entity.pause()
        self.tlm("LinkUp", on)

    def _receive(self, pdu: bytes) -> None:
        assert self.entity is not None
        self.entity.receive(pdu)
        self._report()

    def _pump(self) -> None:
        """Timers and the source, as many PDUs as comms' queue has room for."""
        self._pumping = False
        entity = self.entity
        assert entity is not None
        if self._room <= 0:
            self._room = self.to_ground.call(FilePdu(b""))
        for pdu in entity.poll(self._room):
            self._room = self.to_ground.call(FilePdu(pdu))
        self._report()

    def _admit(self, name: str, size: int) -> str | None:
        refusal = self.store.admit(name, size)
        if refusal is not None:
            self.increment("FilesRefused")
            self.event("FileRefused", reason=refusal)
        return refusal

    def _finished(self, end: Finished) -> None:
        direction = "down" if end.sent else "up"
        if end.ok and end.sent:
            self.increment("FilesSent")
            self.event("FileSent", name=end.name)
        elif end.ok:
            self.increment("FilesReceived")
            path = self.store.root / end.name
            self.event("FileReceived", name=end.name, size=path.stat().st_size if path.exists() else 0)
            self._report_store()
        else:
            assert self.entity is not None
            self.increment("TransfersFailed")
            detail = self.entity.last_fault or self.entity.last_refusal
            self.event("TransferFailed", direction=direction, name=end.name,
                       reason=f"{end}" + (f" ({detail})" if detail else ""))

    def _report(self) -> None:
        assert self.entity is not None
        stats, u32 = self.entity.stats, 0xFFFFFFFF
        self.tlm("PdusIn", stats.pdus_in & u32)
        self.tlm("PdusOut", stats.pdus_out & u32)
        self.tlm("PdusRefused", stats.refused & u32)
        self.tlm("Naks", stats.naks & u32)
        self.tlm("FileDataResent", stats.resent & u32)
        if stats.refused > self._refused:
            self._refused = stats.refused
            self.event("PduRefused", reason=self.entity.last_refusal)

    def _report_store(self) -> None:
        entries = self.store.entries()
        self.tlm("FilesStored", len(entries))
        self.tlm("StoreOctets", sum(e.size for e in entries))

    # --- ST[23] --------------------------------------------------------------------------------
    def service_routes(self, vet: Callable[[bytes], Telecommand]) -> Mapping[tuple[int, int], Route]:
        return {(fm.SERVICE, fm.DELETE_FILE): self._accept_delete,
                (fm.SERVICE, fm.SUMMARY_REPORT): self._accept_summary,
                (fm.SERVICE, fm.DOWNLINK_FILE): self._accept_downlink}

    def _strings(self, tc: Telecommand, count: int) -> list[str]:
        try:
            return fm.unpack_strings(tc.app_data, count)
        except ValueError as error:
            raise PacketError(FailureCode.BAD_ARGUMENTS, f"TC[23,{tc.subtype}]: {error}") from None

    def _path(self, path: str) -> Path:
        try:
            return run_path(self.context.run_dir, path)
        except PathRefused as refusal:
            raise PacketError(FailureCode.PATH_REFUSED, str(refusal)) from None

    def _on_thread(self, work: Callable[[], None]) -> Action:
        """An action that runs ``work`` on this component's thread; the TC completes when it ran."""
        def action() -> Pending:
            pending = Pending()

            def run() -> None:
                try:
                    work()
                except Exception as error:  # reported as the TC's completion failure
                    pending.finish(error)
                    return
                pending.finish()

            if not self.post(run):
                raise CommandBusy(f"{self.name}'s queue is full: send it again")
            return pending
        return action

    def _accept_delete(self, tc: Telecommand) -> tuple[str, Action]:
        repository, name = self._strings(tc, 2)
        if self._path(repository) != self.store.root.resolve():
            raise PacketError(FailureCode.PATH_REFUSED, f"{repository!r}: files are deleted from the store "
                                                        f"({self.config['directory']!r}) only")
        refusal = name_refusal(name)
        if refusal:
            raise PacketError(FailureCode.PATH_REFUSED, refusal)
        if not (self.store.root / name).is_file():
            raise PacketError(FailureCode.FILE_NOT_FOUND, f"the store has no file {name!r}")

        def delete() -> None:
            assert self.entity is not None
            if self.entity.sending_path == (self.store.root / name).resolve():
                raise CommandBusy(f"{name} is being sent")
            self.store.delete(name)
            self.event("FileDeleted", name=name)
            self._report_store()

        return f"delete {name}", self._on_thread(delete)

    def _accept_summary(self, tc: Telecommand) -> tuple[str, Action]:
        (repository,) = self._strings(tc, 1)
        folder = self._path(repository)
        if not folder.is_dir():
            raise PacketError(FailureCode.FILE_NOT_FOUND, f"no folder {repository!r}")

        def report() -> None:
            self.tm.send(TmPacket(fm.SERVICE, fm.CONTENT_REPORT, fm.pack_content_report(repository, listing(folder))))

        return f"report {repository}", report

    def _accept_downlink(self, tc: Telecommand) -> tuple[str, Action]:
        path, name = self._strings(tc, 2)
        source = self._path(path)
        refusal = name_refusal(name)
        if refusal:
            raise PacketError(FailureCode.PATH_REFUSED, refusal)
        if not source.is_file():
            raise PacketError(FailureCode.FILE_NOT_FOUND, f"no file {path!r}")
        if self.entity is not None and self.entity.sending:
            raise PacketError(FailureCode.FILE_IN_USE, "a file is being sent already: one at a time")

        def put() -> None:
            assert self.entity is not None
            try:
                self.entity.put(source, name)
            except ValueError as error:
                raise CommandBusy(str(error)) from None
            self.event("DownlinkStarted", path=path, name=name)

        return f"downlink {path}", self._on_thread(put)
