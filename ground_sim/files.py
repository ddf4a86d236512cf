"""GroundFiles: the ground's CFDP entity (flight.services.cfdp_entity), pumped by a thread of its own.

It is entity ``[mission.link] ground_entity_id``; the flight is ``flight_entity_id``. PDUs go up
through the station's uplink (COP-1 AD frames: flight.services.file_transfer says why), each in a
space packet of ``file_apid`` without secondary header, at most ``backlog`` packets queued in the
uplink at a time (the rest wait in the entity: the uplink is not flooded); they come down on the
files VC (:meth:`GroundFiles.packet`, from the station's receiving thread).

:meth:`GroundFiles.upload` sends a local file to the flight's store; :meth:`GroundFiles.expect`
names a file the flight is about to send (TC[23,128] names it so) and where it goes on the
ground: it is written under a staging folder and moved to that path only once whole and checked.
A file the flight sends that nobody expects is refused (CFDP filestore rejection). Each returns a
:class:`Transfer` whose ``done`` is set at the transaction's end (``result``).

Passes: while ``contact()`` is false (ground_sim.link_relay.LinkRelay.in_pass) the entity is
paused: nothing is sent, cfdp-py's timers are held, and restarted in the next pass, as on board.

| requirement | verified by |
|---|---|
| a file up and down through the real flight at 1 % frame loss with a pass ending in the middle |   |
|   arrives byte-identical | tests/system/test_file_transfer.py |
| an unexpected file from the flight is refused; a file expected lands at its path only whole |   |
|   | tests/unit/ground/test_ground_files.py |
| a bad packet from the flight is counted, the thread goes on | tests/unit/ground/test_ground_files.py |
"""
from __future__ import annotations

import collections
import itertools
import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from flight.services.cfdp_entity import DEFAULT_TIMERS, CfdpEntity, CfdpTimers, Finished
from flight.wire.failure import PacketError
from flight.wire.link import LinkParameters
from flight.wire.spacepacket import PRIMARY_HEADER_SIZE, SEQUENCE_COUNT_MODULO, PacketType, PrimaryHeader

log = logging.getLogger(__name__)


@dataclass
class Transfer:
    """One file going up or down: its name at the destination, and its end once ``done``."""

    name: str
    local: Path
    done: threading.Event = field(default_factory=threading.Event)
    result: Finished | None = None
    reason: str = ""              # why it ended badly, when the entity knows more than the result says

    def wait(self, timeout: float) -> Finished:
        """The transaction's end once it came whole (delivery complete, file retained); AssertionError
        naming what happened otherwise, or at the timeout."""
        if not self.done.wait(timeout):
            raise AssertionError(f"file transfer of {self.name} not finished after {timeout:g} s")
        if self.result is None or not self.result.ok:
            raise AssertionError(f"file transfer of {self.name} failed: {self.result or self.reason}")
        return self.result


class GroundFiles:
    POLL_S = 0.01

    def __init__(self, link: LinkParameters, submit: Callable[[bytes], object], queued: Callable[[], int],
                 contact: Callable[[], bool] = lambda: True, max_pdu: int = 900, backlog: int = 16,
                 timers: CfdpTimers = DEFAULT_TIMERS) -> None:
        """``submit``: hands one packet to the uplink; ``queued``: packets the uplink holds unsent."""
        self.link, self._submit, self._queued, self._contact = link, submit, queued, contact
        self.backlog = backlog
        self._staging = Path(tempfile.mkdtemp(prefix="orbitfs-cfdp-"))
        self.entity = CfdpEntity(link.ground_entity_id, link.flight_entity_id, self._staging, max_pdu=max_pdu,
                                 deliver=self._deliver, admit=self._admit, finished=self._finished, timers=timers)
        self.bad_packets = 0
        self.errors = 0
        self._lock = threading.Condition()
        self._inbox: collections.deque[bytes] = collections.deque()
        self._puts: collections.deque[Transfer] = collections.deque()
        self._expected: dict[str, Transfer] = {}       # downloads, by the name the flight sends them as
        self._uploads: dict[tuple[int, int], Transfer] = {}
        self._sequence = itertools.count()
        self._running = False
        self._thread = threading.Thread(target=self._loop, name="ground-files", daemon=True)

    def start(self) -> "GroundFiles":
        self._running = True
        self._thread.start()
        return self

    def close(self) -> None:
        with self._lock:
            self._running = False
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        shutil.rmtree(self._staging, ignore_errors=True)

    # --- requests (any thread) -------------------------------------------------------------------
    def upload(self, local: Path, name: str) -> Transfer:
        """Send ``local`` to the flight's store as ``name`` (after the uploads queued before it)."""
        transfer = Transfer(name, Path(local))
        with self._lock:
            self._puts.append(transfer)
            self._lock.notify_all()
        return transfer

    def expect(self, name: str, local: Path) -> Transfer:
        """The flight will send a file as ``name``: it goes to ``local`` once whole."""
        transfer = Transfer(name, Path(local))
        with self._lock:
            self._expected[name] = transfer
        return transfer

    def packet(self, raw: bytes) -> None:
        """A packet from the files VC (the station's receiving thread): its PDU, for the pump."""
        try:
            header = PrimaryHeader.unpack(raw)
        except PacketError:
            header = None
        if header is None or header.apid != self.link.file_apid or header.packet_size != len(raw):
            self.bad_packets += 1
            return
        with self._lock:
            self._inbox.append(raw[PRIMARY_HEADER_SIZE:])
            self._lock.notify_all()

    # --- the pump ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._running:
                    return
                if not self._inbox:
                    self._lock.wait(self.POLL_S)
                inbox, self._inbox = self._inbox, collections.deque()
            try:
                self._round(inbox)
            except Exception as error:  # said, never fatal: the next round goes on
                self.errors += 1
                log.exception("ground files: %s", error)

    def _round(self, inbox: collections.deque[bytes]) -> None:
        entity = self.entity
        for pdu in inbox:
            entity.receive(pdu)
        if self._contact():
            entity.resume()
        else:
            entity.pause()
        if not entity.sending and not entity.paused:
            self._next_put()
        for pdu in entity.poll(max(0, self.backlog - self._queued())):
            header = PrimaryHeader(PacketType.TC, self.link.file_apid, next(self._sequence) % SEQUENCE_COUNT_MODULO,
                                   len(pdu) - 1, secondary_header=False)
            self._submit(header.pack() + pdu)

    def _next_put(self) -> None:
        with self._lock:
            transfer = self._puts.popleft() if self._puts else None
        if transfer is None:
            return
        try:
            key = self.entity.put(transfer.local, transfer.name)
        except ValueError as error:
            transfer.reason = str(error)
            transfer.done.set()
            return
        with self._lock:
            self._uploads[key] = transfer

    # --- the entity's callbacks (the pump's thread) --------------------------------------------------
    def _admit(self, name: str, size: int) -> str | None:
        with self._lock:
            return None if name in self._expected else f"no download of {name!r} was asked for"

    def _deliver(self, name: str, staged: Path) -> str | None:
        with self._lock:
            transfer = self._expected.get(name)
        if transfer is None:
            return f"no download of {name!r} was asked for"
        try:
            transfer.local.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staged), str(transfer.local))
        except OSError as error:
            return f"{transfer.local}: {error.strerror}"
        return None

    def _finished(self, end: Finished) -> None:
        with self._lock:
            transfer = self._uploads.pop(end.transaction, None) if end.sent else self._expected.pop(end.name, None)
        if transfer is not None:
            transfer.result = end
            transfer.done.set()
