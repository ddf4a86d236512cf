"""CfdpEntity: one CFDP class 2 (acknowledged) entity over cfdp-py, as both ends of the link run it.

One :class:`cfdppy.handler.SourceHandler` sends files (one transaction at a time) and one
:class:`cfdppy.handler.DestHandler` receives them (one at a time). The owner gives it every PDU
that came from the peer (:meth:`CfdpEntity.receive`) and takes the PDUs to send
(:meth:`CfdpEntity.poll`, at most ``room`` of them: new file data is read only while the path
down or up has room, so nothing is made that would wait behind a full queue); both from one
thread. Every PDU carries its CRC-16 (the PDU header's CRC flag: a chunk damaged on the way is
refused, and NAKed); each file carries a CRC-32C in its EOF, which this entity checks again on
the whole received file before it hands it on, whatever path cfdp-py took (cfdp-py 0.7 checks it
only when segments were NAKed).

Received files are written under a staging directory (:class:`StagingFilestore`) and handed to
``deliver`` (which moves them to their final name) only once complete and checked, so a partial
or damaged file never appears under its final name; ``admit`` may refuse a file when its
Metadata arrives (a bound, a bad name): the transaction then ends in a filestore rejection
(CFDP's own fault, reported to the sender in its Finished PDU).

Passes: cfdp-py's acknowledgement, NAK and check timers run on the host's clock. While the link
is down (:meth:`pause`) nothing is polled, so no timer fires and no retry is spent; on
:meth:`resume` every running timer starts again from its full interval. A transfer a pass end
interrupts thus goes on where it stopped in the next pass.

A PDU that cannot be parsed, is not for this entity, or belongs to a transaction this entity
finished already, is counted (``stats.refused``, ``last_refusal``) and dropped (a Finished PDU of
a transaction this source ended is acknowledged again: its ACK was lost): CFDP recovers what was
lost by NAK or by its positive acknowledgement; an exception in cfdp-py is contained the same
way. A transaction waiting on a peer that says nothing for ``inactivity_s`` (in pass) ends, so a
vanished peer never blocks the next transfer; one cfdp-py abandons ends with ``finished`` too.
Where cfdp-py 0.7 falls short of CCSDS 727.0-B-5 the entity fills in: a Finished PDU received
while waiting for the EOF's ACK stands for that ACK; an EOF that arrives before the Metadata
keeps its checksum and is given again after it.

| requirement | verified by |
|---|---|
| random loss of up to half the PDUs both ways, any file size from 0, delivers the file intact |   |
|   (hypothesis) | tests/unit/services/test_file_cfdp.py |
| a damaged PDU is refused by its CRC; garbage and foreign PDUs are counted, never raised |   |
|   | tests/unit/services/test_file_cfdp.py |
| a file refused at Metadata, or failing its checksum, never appears under its final name |   |
|   | tests/unit/services/test_file_cfdp.py |
| paused, no timer fires however long; resumed, the transfer completes; not paused, the same |   |
|   silence fails it, and both ends give it up (retry limits, inactivity) | tests/unit/services/test_file_cfdp.py |
"""
from __future__ import annotations

import collections
import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import fastcrc
from cfdppy import CfdpState, IndicationConfig, LocalEntityConfig, PutRequest, RemoteEntityConfig
from cfdppy import RemoteEntityConfigTable
from cfdppy.filestore import NativeFilestore
from cfdppy.handler import DestHandler, ProvidesSeqCount, SourceHandler
from cfdppy.handler import DestTransactionStep as DestStep
from cfdppy.handler import SourceTransactionStep as SourceStep
from cfdppy.mib import CheckTimerProvider, DefaultFaultHandlerBase, EntityType
from cfdppy.user import CfdpUserBase, TransactionFinishedParams
from spacepackets.cfdp import (ChecksumType, ConditionCode, DeliveryCode, DirectiveType, FileStatus, PduFactory,
                               TransactionId, TransmissionMode)
from spacepackets.cfdp.defs import Direction
from spacepackets.cfdp.pdu import AckPdu, EofPdu, FileDataPdu, FinishedPdu
from spacepackets.cfdp.pdu.ack import TransactionStatus
from spacepackets.countdown import Countdown
from spacepackets.util import ByteFieldU16, UnsignedByteField

CHECKSUM = ChecksumType.CRC_32C
RECENT = 64                 # transactions remembered as finished: their late PDUs are dropped


@dataclass(frozen=True)
class CfdpTimers:
    """cfdp-py's retry timers (host seconds) and limits, for both directions."""

    ack_interval_s: float = 5.0
    ack_limit: int = 20
    nak_interval_s: float = 5.0
    nak_limit: int = 20
    check_interval_s: float = 5.0
    inactivity_s: float = 60.0    # a transaction waiting on the peer that hears nothing this long (in pass) ends


DEFAULT_TIMERS = CfdpTimers()


@dataclass(frozen=True)
class Finished:
    """A transaction's end: ``sent`` (this entity was the source) or received, its file name at the
    destination, and the outcome (NO_ERROR, DATA_COMPLETE, FILE_RETAINED when it arrived whole)."""

    transaction: tuple[int, int]
    sent: bool
    name: str
    condition: ConditionCode
    delivery: DeliveryCode
    status: FileStatus

    @property
    def ok(self) -> bool:
        return (self.condition == ConditionCode.NO_ERROR and self.delivery == DeliveryCode.DATA_COMPLETE
                and self.status == FileStatus.FILE_RETAINED)

    def __str__(self) -> str:
        return f"{self.name}: {self.condition.name}, {self.delivery.name}, {self.status.name}"


@dataclass
class CfdpStats:
    pdus_in: int = 0
    pdus_out: int = 0
    refused: int = 0          # PDUs dropped: unparsable (CRC), not for us, stale, or refused by cfdp-py
    naks: int = 0             # NAK PDUs received (as source) or sent (as destination)
    resent: int = 0           # file data PDUs sent again on a NAK
    faults: int = 0           # CFDP faults declared (both handlers)


def crc32c_of(path: Path) -> bytes:
    """The CRC-32C of a whole file, as a CFDP EOF carries it."""
    crc = fastcrc.crc32.iscsi(b"")
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            crc = fastcrc.crc32.iscsi(chunk, crc)
    return crc.to_bytes(4, "big")


class StagingFilestore(NativeFilestore):
    """The destination's filestore: every file name lands as ``staging/NAME``; only plain names
    (no folder, no ``..``) that ``admit`` let in are created (PermissionError otherwise, which
    cfdp-py turns into a filestore rejection)."""

    def __init__(self, staging: Path) -> None:
        super().__init__()
        self.staging = staging
        self.admitted: str | None = None

    def path(self, file: Path) -> Path:
        return self.staging / Path(file).name

    def is_directory(self, path: Path) -> bool:
        return False

    def file_exists(self, path: Path) -> bool:
        return self.path(path).exists()

    def truncate_file(self, file: Path) -> None:
        self.create_file(file)

    def create_file(self, file: Any) -> Any:
        if str(Path(file)) != self.admitted:
            raise PermissionError(f"{file} was not admitted")
        self.staging.mkdir(parents=True, exist_ok=True)
        self.path(file).write_bytes(b"")

    def write_data(self, file: Path, data: bytes, offset: int | None) -> None:
        super().write_data(self.path(file), data, offset)

    def read_data(self, file: Path, offset: int | None, read_len: int | None = None) -> bytes:
        return super().read_data(self.path(file), offset, read_len)

    def file_size(self, file: Path) -> int:
        return super().file_size(self.path(file))

    def delete_file(self, file: Path) -> Any:
        self.path(file).unlink(missing_ok=True)

    def calculate_checksum(self, checksum_type: ChecksumType, file_path: Path, size_to_verify: int,
                           segment_len: int = 4096) -> bytes:
        return super().calculate_checksum(checksum_type, self.path(file_path), size_to_verify, 1 << 16)


class _SequenceNumbers(ProvidesSeqCount):
    """Transaction sequence numbers, 32 bits, starting from the host clock: a restarted entity does
    not reuse the numbers its peer remembers as finished."""

    def __init__(self) -> None:
        self._next = int(time.time() * 10) & 0xFFFFFFFF

    @property
    def max_bit_width(self) -> int:
        return 32

    @max_bit_width.setter
    def max_bit_width(self, width: int) -> None:
        raise ValueError("the width is fixed at 32 bits")

    def get_and_increment(self) -> int:
        value, self._next = self._next, (self._next + 1) & 0xFFFFFFFF
        return value


class _Timers(CheckTimerProvider):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def provide_check_timer(self, local_entity_id: UnsignedByteField, remote_entity_id: UnsignedByteField,
                            entity_type: EntityType) -> Countdown:
        return Countdown.from_seconds(self.seconds)


class _Faults(DefaultFaultHandlerBase):
    def __init__(self, entity: "CfdpEntity") -> None:
        super().__init__()
        self.entity = entity

    def _fault(self, transaction_id: TransactionId, cond: ConditionCode, progress: int) -> None:
        self.entity.stats.faults += 1
        self.entity.last_fault = f"{cond.name} at {progress} octets"

    notice_of_suspension_cb = notice_of_cancellation_cb = _fault

    def abandoned_cb(self, transaction_id: TransactionId, cond: ConditionCode, progress: int) -> None:
        self._fault(transaction_id, cond, progress)
        self.entity.abandoned(transaction_id, cond)

    def ignore_cb(self, transaction_id: TransactionId, cond: ConditionCode, progress: int) -> None:
        pass


class _User(CfdpUserBase):
    """The indications cfdp-py gives: only a transaction's end matters here."""

    def __init__(self, vfs: NativeFilestore, finished: Callable[[TransactionFinishedParams], None]) -> None:
        super().__init__(vfs)
        self._finished = finished

    def transaction_finished_indication(self, params: TransactionFinishedParams) -> None:
        self._finished(params)

    def _ignore(self, *args: Any, **kwargs: Any) -> None:
        pass

    transaction_indication = eof_sent_indication = metadata_recv_indication = _ignore
    file_segment_recv_indication = report_indication = suspended_indication = _ignore
    resumed_indication = fault_indication = abandoned_indication = eof_recv_indication = _ignore


class CfdpEntity:
    def __init__(self, local_id: int, remote_id: int, staging: Path, *, max_pdu: int,
                 deliver: Callable[[str, Path], str | None], admit: Callable[[str, int], str | None],
                 finished: Callable[[Finished], None], timers: CfdpTimers = DEFAULT_TIMERS) -> None:
        """``deliver(name, staged)``: put a checked file in place (a reason if it cannot);
        ``admit(name, size)``: a reason to refuse a file announced, or None; ``finished``: each
        transaction's end."""
        self.local, self.remote = ByteFieldU16(local_id), ByteFieldU16(remote_id)
        self._deliver, self._admit, self._finished = deliver, admit, finished
        self.staging = StagingFilestore(staging)
        self.stats = CfdpStats()
        self.last_refusal = self.last_fault = ""
        self.paused = False
        self._heard = {"source": time.monotonic(), "dest": time.monotonic()}   # the last PDU each side got
        self._inactivity = timers.inactivity_s
        self._outbox: collections.deque[bytes] = collections.deque()
        self._recent: collections.deque[tuple[int, int]] = collections.deque(maxlen=RECENT)
        self._eofs: dict[tuple[int, int], bytes] = {}   # each transaction's EOF as it came (cfdp-py alters PDUs)
        self._names: dict[tuple[int, int], str] = {}
        remote = RemoteEntityConfig(
            self.remote, max_file_segment_len=None, max_packet_len=max_pdu, closure_requested=True,
            crc_on_transmission=True, default_transmission_mode=TransmissionMode.ACKNOWLEDGED, crc_type=CHECKSUM,
            positive_ack_timer_interval_seconds=timers.ack_interval_s,
            positive_ack_timer_expiration_limit=timers.ack_limit, check_limit=2,
            disposition_on_cancellation=True, immediate_nak_mode=True,
            nak_timer_interval_seconds=timers.nak_interval_s, nak_timer_expiration_limit=timers.nak_limit)
        local = LocalEntityConfig(self.local, IndicationConfig(), _Faults(self))
        table = RemoteEntityConfigTable([remote])
        self._source_path: Path | None = None
        self._sent_to = 0           # the highest offset the source sent: file data below it is a resend
        self.source = SourceHandler(local, _User(NativeFilestore(), self._source_finished), table,
                                    _Timers(timers.check_interval_s), _SequenceNumbers())
        self.dest = DestHandler(local, _User(self.staging, self._dest_finished), table,
                                _Timers(timers.check_interval_s))

    # --- requests ------------------------------------------------------------------------------
    @property
    def sending(self) -> bool:
        return self.source.state != CfdpState.IDLE

    @property
    def receiving(self) -> bool:
        return self.dest.state != CfdpState.IDLE

    @property
    def sending_path(self) -> Path | None:
        """The file being sent (resolved), or None."""
        return self._source_path if self.sending else None

    def put(self, source: Path, dest_name: str) -> tuple[int, int]:
        """Start sending ``source`` to the peer as ``dest_name``; its transaction id. ValueError if a
        transfer is going already or the file cannot be read."""
        if self.sending:
            raise ValueError("a file is being sent already: one at a time")
        if not source.is_file():
            raise ValueError(f"{source} is not a file")
        request = PutRequest(self.remote, source, Path(dest_name), TransmissionMode.ACKNOWLEDGED, True)
        if not self.source.put_request(request):
            raise ValueError(f"cfdp-py refused the put request of {source}")
        self._sent_to, self._source_path = 0, source.resolve()
        self._heard["source"] = time.monotonic()
        self.source.state_machine()            # the transaction starts: its id, its Metadata PDU
        self._drain(self.source)
        key = self._key(self.source.transaction_id)
        self._names[key] = dest_name
        return key

    def pause(self) -> None:
        """The link is down: nothing is polled, so no timer fires and no retry is spent."""
        self.paused = True

    def resume(self) -> None:
        """The link is up again: every running timer starts again from its full interval."""
        if self.paused:
            self.paused = False
            self._heard = {side: time.monotonic() for side in self._heard}
            for handler in (self.source, self.dest):
                for countdown in _countdowns(handler._params):
                    countdown.start()

    # --- PDUs ------------------------------------------------------------------------------------
    def receive(self, raw: bytes) -> None:
        """One PDU from the peer: to the handler it is for; counted and dropped if it is bad or stale."""
        self.stats.pdus_in += 1
        try:
            pdu = PduFactory.from_raw(raw)
            if pdu is None:
                raise ValueError("not a PDU")
            key = (pdu.source_entity_id.value, pdu.transaction_seq_num.value)
            to_source = pdu.source_entity_id.value == self.local.value
            handler = self.source if to_source else self.dest
            current = self._key(handler.transaction_id) if handler.state != CfdpState.IDLE else None
            if key != current and key in self._recent:
                if to_source and isinstance(pdu, FinishedPdu):
                    self._ack_finished_again(pdu)
                    return
                raise ValueError(f"transaction {key} has finished")
            if key != current and current is not None:
                raise ValueError(f"transaction {key} while {current} runs")
            self._heard["source" if to_source else "dest"] = time.monotonic()
            if not to_source:
                self._before_dest(pdu, key, raw)
            self._count_nak(pdu, to_source)
            if to_source and isinstance(pdu, FinishedPdu) and handler.step == SourceStep.WAITING_FOR_EOF_ACK:
                handler.state_machine(AckPdu(pdu.pdu_header.pdu_conf, DirectiveType.EOF_PDU, ConditionCode.NO_ERROR,
                                             TransactionStatus.ACTIVE))   # a Finished says the EOF arrived
                self._drain(handler)
            handler.state_machine(pdu)
            if not to_source and key in self._eofs:
                self._after_eof(key)
        except Exception as error:  # a bad PDU, or cfdp-py refusing it: that PDU only
            self.stats.refused += 1
            self.last_refusal = f"{type(error).__name__}: {error}"
        finally:
            self._drain(self.source)
            self._drain(self.dest)

    def _before_dest(self, pdu: Any, key: tuple[int, int], raw: bytes) -> None:
        """Admission at Metadata; the EOF's checksum kept for the final check."""
        if getattr(pdu, "directive_type", None) == DirectiveType.METADATA_PDU and pdu.dest_file_name:
            name = Path(pdu.dest_file_name).name
            refusal = self._admit(pdu.dest_file_name, pdu.file_size)
            self.staging.admitted = None if refusal else str(Path(pdu.dest_file_name))
            self._names[key] = name
            if refusal:
                self.last_refusal = refusal
        elif isinstance(pdu, EofPdu):
            self._eofs[key] = bytes(raw)

    def _after_eof(self, key: tuple[int, int]) -> None:
        """Two gaps of cfdp-py 0.7 when the EOF comes before the Metadata (acknowledged mode): it does
        not keep the EOF's checksum (the file would fail its check), and the Metadata sets it back to
        wait for an EOF that will not come again (the transfer would hang)."""
        dest, eof = self.dest, EofPdu.unpack(self._eofs[key])
        if dest.state != CfdpState.IDLE and not dest._params.fp.crc32:
            dest._params.fp.crc32 = eof.file_checksum
        if dest.step == DestStep.RECEIVING_FILE_DATA:
            self._drain(dest)
            dest.state_machine(eof)       # given again: its ACK goes again too

    def _ack_finished_again(self, finished: FinishedPdu) -> None:
        """A Finished of a transaction this source ended: its ACK was lost, so it goes again."""
        conf = copy.copy(finished.pdu_header.pdu_conf)
        conf.direction = Direction.TOWARDS_RECEIVER
        self._outbox.append(AckPdu(conf, DirectiveType.FINISHED_PDU, finished.condition_code,
                                   TransactionStatus.TERMINATED).pack())

    def _count_nak(self, pdu: Any, to_source: bool) -> None:
        if to_source and getattr(pdu, "directive_type", None) == DirectiveType.NAK_PDU:
            self.stats.naks += 1

    def poll(self, room: int) -> list[bytes]:
        """Run the timers and the source; at most ``room`` PDUs to send (the rest wait here).
        Paused: nothing (what waits goes when the link is back)."""
        if self.paused:
            return []
        now = time.monotonic()
        for side, handler in (("dest", self.dest), ("source", self.source)):
            waiting = handler is self.dest or handler.step == SourceStep.WAITING_FOR_FINISHED   # on the peer
            if handler.state != CfdpState.IDLE and waiting and now - self._heard[side] > self._inactivity:
                self.stats.faults += 1
                self.last_fault = f"nothing from the peer in {self._inactivity:g} s"
                self._abandon(handler, ConditionCode.INACTIVITY_DETECTED)
            self._step(handler)
        while self.sending and len(self._outbox) < room:
            if not self._step(self.source):
                break
        out = []
        while self._outbox and len(out) < room:
            out.append(self._outbox.popleft())
        self.stats.pdus_out += len(out)
        return out

    def _step(self, handler: SourceHandler | DestHandler) -> bool:
        """One state machine call; whether it made PDUs."""
        if handler.state == CfdpState.IDLE:
            return False
        before = len(self._outbox)
        try:
            handler.state_machine()
        except Exception as error:  # e.g. the source file vanished: that transaction fails
            self.stats.faults += 1
            self.last_fault = f"{type(error).__name__}: {error}"
            self._abandon(handler)
        self._drain(handler)
        return len(self._outbox) > before

    def _abandon(self, handler: SourceHandler | DestHandler,
                 condition: ConditionCode = ConditionCode.FILESTORE_REJECTION) -> None:
        transaction = handler.transaction_id
        handler.reset()
        if transaction is not None:
            self.abandoned(transaction, condition, handler is self.source)

    def abandoned(self, transaction: TransactionId, condition: ConditionCode, sent: bool | None = None) -> None:
        """A transaction cfdp-py drops without a Finished (abandoned): it ends here, its partial file gone."""
        key = self._key(transaction)
        if key is None or key in self._recent:
            return
        if sent is None:
            sent = self.sending and key == self._key(self.source.transaction_id)
        self._recent.append(key)
        name = self._names.pop(key, "")
        if not sent and name:
            _remove(self.staging.path(Path(name)))
        self._finished(Finished(key, sent, name, condition, DeliveryCode.DATA_INCOMPLETE,
                                FileStatus.FILE_STATUS_UNREPORTED))

    def _drain(self, handler: SourceHandler | DestHandler) -> None:
        while (holder := handler.get_next_packet()) is not None:
            pdu = holder.pdu
            if getattr(pdu, "directive_type", None) == DirectiveType.NAK_PDU:
                self.stats.naks += 1
            elif isinstance(pdu, FileDataPdu) and handler is self.source:
                end = pdu.offset + len(pdu.file_data)
                self.stats.resent += end <= self._sent_to
                self._sent_to = max(self._sent_to, end)
            self._outbox.append(pdu.pack())

    # --- ends ------------------------------------------------------------------------------------
    @staticmethod
    def _key(transaction: TransactionId | None) -> tuple[int, int] | None:
        if transaction is None:
            return None
        return (transaction.source_id.value, transaction.seq_num.value)

    def _source_finished(self, params: TransactionFinishedParams) -> None:
        key = self._key(params.transaction_id)
        self._recent.append(key)
        result = params.finished_params
        self._finished(Finished(key, True, self._names.pop(key, ""), result.condition_code, result.delivery_code,
                                result.file_status))

    def _dest_finished(self, params: TransactionFinishedParams) -> None:
        """The file checked whole against its EOF's CRC-32C, then delivered; the outcome written
        into the Finished PDU cfdp-py sends next."""
        key = self._key(params.transaction_id)
        if key in self._recent:   # cfdp-py ends it again when the ACK of its Finished never came: decided already
            return
        self._recent.append(key)
        result, name = params.finished_params, self._names.pop(key, "")
        staged = self.staging.path(Path(name)) if name else None
        eof = self._eofs.pop(key, None)
        expected = bytes(EofPdu.unpack(eof).file_checksum) if eof is not None else None
        if staged is not None and result.condition_code == ConditionCode.NO_ERROR and staged.exists():
            if expected is None or crc32c_of(staged) != expected:
                result.condition_code, result.delivery_code = (ConditionCode.FILE_CHECKSUM_FAILURE,
                                                               DeliveryCode.DATA_INCOMPLETE)
            else:
                refusal = self._deliver(name, staged)
                if refusal is not None:
                    self.last_fault = refusal
                    result.condition_code = ConditionCode.FILESTORE_REJECTION
        if result.condition_code != ConditionCode.NO_ERROR:
            result.file_status = (FileStatus.DISCARDED_FILESTORE_REJECTION
                                  if result.condition_code == ConditionCode.FILESTORE_REJECTION
                                  else FileStatus.DISCARDED_DELIBERATELY)
            if staged is not None:
                _remove(staged)
        self.staging.admitted = None
        self._finished(Finished(key, False, name, result.condition_code, result.delivery_code, result.file_status))


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _countdowns(params: Any, depth: int = 2) -> list[Countdown]:
    """The timers a cfdp-py handler's transaction holds (its fields, and their fields)."""
    found = []
    for value in vars(params).values():
        if isinstance(value, Countdown):
            found.append(value)
        elif depth and hasattr(value, "__dict__") and not isinstance(value, type):
            found += _countdowns(value, depth - 1)
    return found
