"""TmDownlink: comms' durable TM store (flight.services.tm_store) and the thread that numbers,
stores, frames and sends what it holds, until the ground acknowledges it.

A report handed to :meth:`TmDownlink.put` waits in a bounded queue (``pending_max``) until the
downlink thread commits it. The thread numbers each report as it commits it (the APID's source
sequence count, a time strictly after the APID's last, the service's message counter) and
commits the packets and the counters in one transaction: a packet counts as produced
(``stored``) only once it is on disk, and a crash before that loses only packets that were never
numbered for the ground to see. The store sends what it holds alert first, then products, then
events, then housekeeping (flight.services.tm_store.StoreClass); a packet that waited longer
than ``playback_after_s`` goes on the playback virtual channel.

A packet stays in the store after it is sent. The ground acknowledges ranges it holds whole
(:meth:`acknowledge`, the ``comms.ACKNOWLEDGE`` command): only then does it leave. A packet sent
and not acknowledged within ``ack_timeout`` seconds is sent again, and so is a range the ground
asks for (:meth:`retransmit`), so a ground that vanished with frames in its queue, or a flight
that crashed, loses nothing: the ground's archive keeps a packet once however often it comes.

Sending never blocks the thread: a frame the PUSH socket cannot take (no ground, or the ground
behind) waits, with the frames after it, while the thread goes on committing; frames of a batch
go in order and all of them, so the virtual channel counts have no gaps of the flight's making.
Nothing is framed while the socket cannot send, so the order is chosen when packets can go.
A thread that dies is started again by :meth:`restart` (comms' health hook), the store untouched.

File PDUs (:meth:`put_file`: CFDP, flight.services.file_transfer) do not go into the store: CFDP
class 2 recovers its own losses, and a durable, acknowledged copy would only halve the rate. They
wait in a bounded queue of ``files_max`` packets (one that finds it full is refused, for comms to
count) and go on the files VC each round, after the store's batch, while the transmitter is on.

| requirement | verified by |
|---|---|
| a packet counts as stored once it is on disk; the counters continue across restarts |   |
|   | tests/unit/services/test_comms.py |
| a packet leaves the store only when acknowledged; unacknowledged ones are sent again after |   |
|   ``ack_timeout``; a range the ground asks for is sent again at once | tests/unit/services/test_comms.py |
| alerts go first, then products, events, housekeeping | tests/unit/services/test_comms.py |
| a dead thread is restarted and sends what the store kept | tests/unit/services/test_comms.py |
| file packets go down on the files VC, never through the store; a full queue refuses them |   |
|   | tests/unit/services/test_file_component.py |
"""
from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import zmq

from flight.core.types import Severity
from flight.services.tm_framer import TmFramer
from flight.services.tm_store import NewRecord, StoreClass, StoredRecord, TmStore
from flight.wire import services as st
from flight.wire.link import TM_FILES, TM_PRODUCTS, TM_REALTIME
from flight.wire.pus import CUC_TICKS, TelemetryPacket
from flight.wire.spacepacket import SEQUENCE_COUNT_MODULO


def store_class(service: int, subtype: int) -> StoreClass:
    """The class a report is stored in unless its producer says (a product with a fire is an alert):
    high-severity events are alerts, housekeeping is housekeeping, other reports are events."""
    if service == st.HOUSEKEEPING:
        return StoreClass.HOUSEKEEPING
    if service == st.PRODUCT:
        return StoreClass.PRODUCT
    if service == st.EVENT and subtype >= Severity.WARNING_HI:
        return StoreClass.ALERT
    return StoreClass.EVENT


@dataclass(frozen=True)
class Report:
    """A report waiting to be numbered and stored."""

    apid: int
    service: int
    subtype: int
    app_data: bytes
    cls: StoreClass
    now: float


class TmDownlink:
    BATCH = 256            # records framed per round
    POLL_S = 0.05          # the longest the thread waits for the socket or new work

    def __init__(self, name: str, framer: TmFramer, *, pending_max: int, ack_timeout: float,
                 now: Callable[[], float], log: logging.Logger, files_max: int = 64) -> None:
        self.name, self.framer, self.log, self._now = name, framer, log, now
        self.store: TmStore | None = None            # opened by comms' preflight
        self.pending_max, self.ack_timeout = pending_max, ack_timeout
        self._pending: collections.deque[Report] = collections.deque()
        self._files: collections.deque[bytes] = collections.deque()   # file packets: not stored
        self.files_max = files_max
        self.lock = threading.Lock()                 # the pending queue and the CLCW
        self.store_lock = threading.Lock()           # the store (this thread, and commands)
        self._wake = threading.Condition(self.lock)
        self.running = False
        self.socket: zmq.Socket | None = None
        self.thread = threading.Thread(target=self._loop, name=f"{name}-downlink", daemon=True)
        # record id -> when its frames went (monotonic), in the order they went: a record sent
        # again leaves it first, so the oldest are always at the front
        self._in_flight: dict[int, tuple[float, StoreClass]] = {}
        self._cursor: dict[StoreClass, int] = {}     # per class, the last record taken: read on from there
        self._unsent: collections.deque[bytes] = collections.deque()   # frames of the batch going out
        self._batch: list[tuple[int, StoreClass]] = []   # the records of those frames
        self._clcw_changed = False
        self._resend_all = False                     # at stop: everything not acknowledged goes once more
        self._again: set[int] = set()                # records the ground asked for again
        self._acked: set[int] = set()                # records acknowledged since the last round
        self.idle = False                            # nothing pending, nothing unsent or unsent-to
        self.transmitting = True                     # off between passes (flight.services.transmitter)
        self.sent = self.sent_bytes = self.frames_sent = self.resent = self.refused = self.corrupt = 0
        self.send_failures = 0
        self.files_sent = 0

    # --- producers (any thread) ------------------------------------------------------------------
    def put(self, apid: int, service: int, subtype: int, app_data: bytes, cls: StoreClass, now: float) -> bool:
        """Queue a report to be numbered and stored; False when the queue is full (counted by comms)."""
        with self.lock:
            if len(self._pending) >= self.pending_max:
                return False
            self._pending.append(Report(apid, service, subtype, app_data, cls, now))
            self.idle = False
            self._wake.notify_all()
            return True

    def put_file(self, packet: bytes) -> int:
        """Queue a file packet (not stored); the room left after it, -1 if the queue was full."""
        with self.lock:
            if len(self._files) >= self.files_max:
                return -1
            self._files.append(packet)
            self.idle = False
            self._wake.notify_all()
            return self.files_max - len(self._files)

    def file_room(self) -> int:
        with self.lock:
            return self.files_max - len(self._files)

    def set_transmitting(self, on: bool) -> None:
        """The transmitter on (a pass) or off: nothing is framed while it is off."""
        with self.lock:
            self.transmitting = on
            self._wake.notify_all()

    def set_clcw(self, clcw: bytes) -> None:
        if clcw != self.framer.clcw:
            with self.lock:
                self.framer.clcw = clcw
                self._clcw_changed = True
                self._wake.notify()

    # --- the ground's requests (the executive thread, by command) ---------------------------------
    def acknowledge(self, apid: int, first: int, last: int, count: int) -> int:
        """The ground holds these packets: they leave the store (AckRefused if the store disagrees)."""
        with self.store_lock:
            removed = self.store.acknowledge(apid, first, last, count)
        with self.lock:
            self._acked.update(removed)              # the downlink thread forgets them
        return len(removed)

    def retransmit(self, apid: int, after: int, before: int) -> int:
        """Send again, at once, the live packets of ``apid`` stamped strictly between ``after`` and ``before``."""
        with self.store_lock:
            ids = set(self.store.ids_between(apid, after, before))
        with self.lock:
            self._again |= ids                       # the downlink thread lets them go again
            self._wake.notify()
        return len(ids)

    # --- the thread --------------------------------------------------------------------------------
    def start(self, socket: zmq.Socket) -> None:
        self.socket, self.running = socket, True
        self.thread.start()

    def stop(self, flush_timeout: float) -> None:
        """Store what is pending and send everything the store holds once more (what went before and
        was not acknowledged too: the ground may have lost it), for up to ``flush_timeout`` seconds;
        what is not acknowledged stays in the store for the next run."""
        deadline = time.monotonic() + flush_timeout
        with self.lock:
            self._resend_all, self.idle = True, False   # what went and was not acknowledged goes once more
            self._wake.notify_all()
            while not self.idle and time.monotonic() < deadline and self.thread.is_alive():
                self._wake.wait(0.05)
            self.running = False
            self._wake.notify_all()
        self.thread.join(timeout=flush_timeout + 1)
        if self.thread.is_alive():
            return
        self._commit()                               # what came after the last round is kept too
        with self.store_lock:
            self.store.close()

    def restart(self) -> bool:
        """The thread again if it died while running (the store is kept)."""
        if self.thread.is_alive() or not self.running:
            return False
        self.thread = threading.Thread(target=self._loop, name=f"{self.name}-downlink", daemon=True)
        self.thread.start()
        return True

    def _loop(self) -> None:
        while self.running:
            self._commit()
            if self._unsent:
                if not self._send_unsent():
                    continue
            self._expire()
            if not self.transmitting or not self.socket.poll(0, zmq.POLLOUT):
                with self.lock:      # no pass, no ground, or it is behind: frame nothing yet, so
                    self.idle = not self._pending        # what goes first is chosen when it can go
                    self._wake.notify_all()
                    if not self.transmitting:
                        self._wake.wait(self.POLL_S)
                if self.transmitting:
                    self.socket.poll(int(self.POLL_S * 1000), zmq.POLLOUT)
                continue
            if not self._frame_next():
                with self.lock:
                    if self.running and not self._pending and not self._clcw_changed:
                        self.idle = True
                        self._wake.notify_all()
                        self._wake.wait(self.POLL_S)

    def _commit(self) -> None:
        """Number and store what is pending, in one transaction."""
        with self.lock:
            reports = list(self._pending)
            self._pending.clear()
        if not reports:
            return
        with self.store_lock:
            counters = dict(self.store.counters)
            records = [self._number(report, counters) for report in reports]
            ids = self.store.append(records, counters)
        self.refused += ids.count(None)

    @staticmethod
    def _number(report: Report, counters: dict[str, int]) -> NewRecord:
        apid = report.apid
        n = counters.get(f"seq:{apid}", 0)
        stamp = max(int(round(report.now * CUC_TICKS)), counters.get(f"time:{apid}", -1) + 1)
        message = counters.get(f"msg:{apid}:{report.service}", 0)
        counters.update({f"seq:{apid}": n + 1, f"time:{apid}": stamp,
                         f"msg:{apid}:{report.service}": (message + 1) & 0xFFFF})
        packet = TelemetryPacket(apid, n % SEQUENCE_COUNT_MODULO, report.service, report.subtype, report.app_data,
                                 stamp / CUC_TICKS, message).encode()
        vcid = TM_PRODUCTS if report.service == st.PRODUCT else TM_REALTIME
        return NewRecord(packet, apid, n, stamp, report.cls, vcid, report.now)

    def _expire(self) -> None:
        """Packets sent longer than ``ack_timeout`` ago (or asked for again, or all at stop) and not
        acknowledged: to be sent again; each class's cursor goes back to the oldest of them."""
        horizon = time.monotonic() - self.ack_timeout
        with self.lock:
            again, self._again = self._again, set()
            acked, self._acked = self._acked, set()
            if self._resend_all:
                horizon, self._resend_all = float("inf"), False
        for rid in acked:
            self._in_flight.pop(rid, None)
        stale = dict.fromkeys(rid for rid in again if rid in self._in_flight)
        for rid, (sent, _) in self._in_flight.items():   # in the order they went: the oldest first
            if sent >= horizon:
                break
            stale[rid] = None
        for rid in stale:
            _, cls = self._in_flight.pop(rid)
            self._cursor[cls] = min(self._cursor.get(cls, 0), rid - 1)
        self.resent += len(stale)

    def _frame_next(self) -> bool:
        """Frame the next batch the store gives (or a CLCW frame); False if there was nothing."""
        with self.store_lock:
            records: list[StoredRecord] = self.store.take(self.BATCH, self._in_flight, self._cursor)
        with self.lock:
            clcw, self._clcw_changed = self._clcw_changed, False
            files = [self._files.popleft() for _ in range(min(self.BATCH, len(self._files)))]
        frames, now = [], self._now()
        for _, group in itertools.groupby(records, key=lambda r: r.cls):  # a class's frames before the next's
            framed, corrupt = self.framer.frames([(r.packet, r.vcid, r.stored) for r in group], now)
            frames += framed
            self.corrupt += corrupt
        if files:
            frames += self.framer.frames([(packet, TM_FILES, now) for packet in files], now)[0]
            self.files_sent += len(files)
        if not frames and clcw:
            frames = [self.framer.clcw_frame()]
        elif not frames:
            return False
        self._unsent.extend(frames)
        self._batch = [(r.id, r.cls) for r in records]
        for record in records:
            self._cursor[record.cls] = max(self._cursor.get(record.cls, 0), record.id)
        return True

    def _send_unsent(self) -> bool:
        """Offer the waiting frames in order; True once all went (their records are then in flight)."""
        while self._unsent and self.running:
            try:
                self.socket.send(self._unsent[0], flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                self.socket.poll(int(self.POLL_S * 1000), zmq.POLLOUT)
                return False
            except zmq.ZMQError as error:        # the socket failed: keep the frame, count, try again
                self.send_failures += 1
                self.log.warning("TM send failed (%s): the frame is offered again", error)
                time.sleep(self.POLL_S)
                return False
            frame = self._unsent.popleft()
            self.frames_sent += 1
            self.sent_bytes += len(frame)
        if self._unsent:
            return False
        sent_at = time.monotonic()
        for rid, cls in self._batch:
            self._in_flight.pop(rid, None)           # to the back: the order is the order they went
            self._in_flight[rid] = (sent_at, cls)
        self.sent += len(self._batch)
        self._batch = []
        return True


class StoreRegion:
    """The store's live packets as one run of octets, for the SEU injector (``tm_store``): an upset
    there is found by the record's CRC when the packet is read, and the record skipped, counted."""

    kind = "buffer"
    recover = None
    name = "tm_store"

    def __init__(self, downlink: TmDownlink) -> None:
        self._downlink = downlink

    @property
    def size(self) -> int:
        return self._downlink.store.live_bytes

    def targets(self) -> tuple[str, ...]:
        return ("packets",)

    def flip(self, offset: int, bit: int, target: str = "") -> tuple[int, int]:
        with self._downlink.store_lock:
            return self._downlink.store.flip(offset, bit)
