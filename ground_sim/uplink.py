"""Uplink: the ground's sending side of the link: packets into TC frames, through FOP-1 and SDLS.

Packets handed to :meth:`Uplink.submit` wait in order; a pump thread packs as many as fit (or
``packets_per_frame``) into one TC transfer frame (flight.wire.tc_frame), gives it to FOP-1 (flight.wire.fop1: numbered,
at most K unacknowledged, retransmitted on the CLCW's Retransmit flag or when T1 runs out),
protects each transmission with the SA (flight.wire.sdls: every transmission, retransmissions
too, takes a fresh IV, so the flight's anti-replay never mistakes one for a replay) and sends
it. The CLCW in every TM frame (:meth:`on_clcw`, from the downlink) acknowledges frames: each
packet's :class:`Ticket` then says ``received`` (the flight's FARM accepted its frame in
sequence), and :meth:`wait_received` waits for that.

Initiating and recovering the AD service is automatic, from the latest CLCW: at the first CLCW
(and after any alert, at the first CLCW after it) V(S) is set to the flight's V(R) and the service
initiated, with Unlock first if the FARM is in lockout. Frames an alert purged are sorted with
that fresh CLCW: those below its N(R) arrived (their packets are ``received``), the others are
sent again, first and in order, so every packet runs exactly once and in order across alerts.

The SA's IV (and ARSN) must only grow, across ground restarts too: the uplink reserves them
ahead in ``state_path`` (flight.wire.iv_reservation) a quarter of the anti-replay window at a
time, and a restarted ground continues from the reservation, within the flight's window.

| requirement | verified by |
|---|---|
| over a link dropping 10 % and corrupting 1 % of TC frames, 1,000 packets run once each, in order |   |
|   | tests/unit/ground/test_uplink.py, tests/system/test_link_layer.py |
| every transmission has a fresh IV; a restarted ground continues above the flight's last IV |   |
|   | tests/unit/ground/test_uplink.py |
| a lockout is recovered with Unlock; purged frames below N(R) count as received, the others resent |   |
|   | tests/unit/ground/test_uplink.py |
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from flight.wire import sdls
from flight.wire.clcw import Clcw, ClcwError
from flight.wire.cop1 import ControlCommand, seq_distance
from flight.wire.fop1 import EventKind, Fop1, FopEvent, FopFrame, FopState
from flight.wire.keyfile import KeyRing
from flight.wire.iv_reservation import IvReservation
from flight.wire.failure import PacketError
from flight.wire.link import LinkParameters
from flight.wire.spacepacket import PrimaryHeader
from flight.wire.tc_frame import (FECF_SIZE, PRIMARY_HEADER_SIZE, SEGMENT_HEADER_SIZE, SegmentHeader, TcFrame,
                                  TcHeader, control_frame)

log = logging.getLogger(__name__)
ACTIVE_STATES = (FopState.ACTIVE, FopState.RETRANSMIT_WITHOUT_WAIT, FopState.RETRANSMIT_WITH_WAIT)


@dataclass
class Ticket:
    """One packet handed to the uplink, and what COP-1 knows of it."""

    packet: bytes
    submitted: float
    received: bool = False        # the flight's FARM accepted its frame in sequence (CLCW)
    sequence: int | None = None   # N(S) of the frame that carried it last
    transmissions: int = 0
    expedited: bool = False       # sent Type-BD: no acknowledgement exists
    whole: bool = True            # one whole space packet; other octets (tests' garbage) travel alone


@dataclass
class UplinkStats:
    frames: int = 0            # transmissions, retransmissions included
    retransmissions: int = 0
    control_frames: int = 0    # Unlock and Set V(R)
    alerts: int = 0
    last_alert: str | None = None
    bad_clcws: int = 0
    errors: int = 0            # rounds or sends of the pump that failed (the reason in last_error); it goes on
    last_error: str | None = None


class Uplink:
    POLL_S = 0.02

    def __init__(self, link: LinkParameters, keys: KeyRing | None, send: Callable[[bytes], None], *,
                 state_path: str | Path | None = None, fop_window: int = 5, t1: float = 1.0,
                 transmission_limit: int = 10, packets_per_frame: int = 0,
                 on_frame: Callable[[bytes, list[Ticket]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.link, self.keys, self._on_frame, self._clock = link, keys, on_frame, clock
        self.send_frame = send  # puts one frame on the link (a test may put a lossy channel in between)
        self.fop = Fop1(link.tc_vcid, fop_window, t1, transmission_limit)
        self.packets_per_frame = packets_per_frame  # 0: as many as fit
        self.sa = link.security_association(keys.key_id_of(link.spi)) if link.authenticated and keys else None
        self.stats = UplinkStats()
        self.capacity = self._capacity()
        self._cond = threading.Condition()
        self._queue: collections.deque[Ticket] = collections.deque()
        self._requests: dict[int, list[Ticket]] = {}   # frames FOP-1 holds until acknowledged
        self._expedited: dict[int, list[Ticket]] = {}  # Type-BD frames until they are sent
        self._limbo: list[tuple[int | None, list[Ticket]]] = []  # purged (N(S)) / rejected (None), in order
        self._clcw: Clcw | None = None
        self._clcw_serial = 0
        self._alert_serial = -1   # a CLCW newer than this one is needed to initiate
        self._reservation = (IvReservation(self.sa, state_path, max(1, self.sa.window // 4))
                             if self.sa is not None and state_path is not None else None)
        self._running = False
        self._thread = threading.Thread(target=self._pump, name="ground-uplink", daemon=True)

    def _capacity(self) -> int:
        overhead = PRIMARY_HEADER_SIZE + SEGMENT_HEADER_SIZE + FECF_SIZE
        if self.link.authenticated:
            sa = self.link.security_association(0)
            overhead += sa.header_size + sa.mac_len
        return self.link.tc_frame_max - overhead

    # --- the caller's side --------------------------------------------------------------------------
    def start(self) -> "Uplink":
        self._running = True
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        if self._reservation is not None:
            self._reservation.close()

    def submit(self, packet: bytes, expedited: bool = False) -> Ticket:
        """Queue one packet (a Type-BD frame of its own if ``expedited``); ValueError if it cannot fit a frame."""
        if self.link.authenticated and self.keys is None:
            raise ValueError("the link is authenticated (sdls = on) and this ground has no key file: it can "
                             "only listen")
        if len(packet) > self.capacity:
            raise ValueError(f"a packet of {len(packet)} octets: a TC frame carries at most {self.capacity}")
        ticket = Ticket(bytes(packet), self._clock(), expedited=expedited, whole=_is_one_packet(packet))
        with self._cond:
            self._queue.append(ticket)
            self._cond.notify_all()
        return ticket

    def wait_received(self, tickets: list[Ticket], timeout: float) -> bool:
        """Wait until the flight received each ticket's frame in sequence; False at the timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(t.received for t in tickets):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def queued(self) -> int:
        """Packets waiting to be framed (not yet given to FOP-1)."""
        with self._cond:
            return len(self._queue)

    def idle(self) -> bool:
        """Nothing queued and nothing unacknowledged."""
        with self._cond:
            return not self._queue and not self._requests and not self._limbo

    def change_keys(self, change: Callable[[KeyRing], None], key_id: int | None = None) -> None:
        """Apply ``change`` to the key ring between two frames; with ``key_id``, the SA uses that key from
        the next transmission on (a retransmission included)."""
        if self.keys is None or self.sa is None:
            raise ValueError("this ground has no keys")
        with self._cond:
            change(self.keys)
            if key_id is not None:
                self.keys.rekey(self.link.spi, key_id)
                self.sa.key_id = key_id

    def on_clcw(self, raw: bytes) -> None:
        """A CLCW came down (the OCF of a TM frame)."""
        with self._cond:
            try:
                clcw = Clcw.decode(raw)
            except ClcwError:
                self.stats.bad_clcws += 1
                return
            if clcw.vcid != self.link.tc_vcid:
                return
            self._clcw, self._clcw_serial = clcw, self._clcw_serial + 1
            self._handle(self.fop.on_clcw(clcw, self._clock()))
            self._cond.notify_all()

    # --- the pump -------------------------------------------------------------------------------------
    def _pump(self) -> None:
        while True:
            with self._cond:
                if not self._running:
                    return
                try:
                    frames = self._step(self._clock())
                except Exception as error:  # e.g. an SA whose counters are used up: said, never fatal
                    self._count_error(error)
                    frames = []
                if not frames:
                    self._cond.wait(self.POLL_S)
                    continue
            for raw, tickets in frames:
                try:
                    self.send_frame(raw)
                except Exception as error:  # the link closed or failed: a frame lost on the way,
                    self._count_error(error)  # which COP-1 sends again; the pump goes on
                if self._on_frame is not None:
                    self._on_frame(raw, tickets)

    def _count_error(self, error: Exception) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(error).__name__}: {error}"
        log.warning("uplink: %s", self.stats.last_error)

    def _step(self, now: float) -> list[tuple[bytes, list[Ticket]]]:
        """One round (the lock held): the timer, initiation, new frames; the frames to send, in order."""
        self._handle(self.fop.poll(now))
        if self.fop.state is FopState.INITIAL and self._clcw is not None and self._clcw_serial > self._alert_serial:
            self._initiate(self._clcw)
        self._feed()
        return [self._protect(frame) for frame in self.fop.frames(now)]

    def _feed(self) -> None:
        """Frame queued packets while FOP-1 takes them: expedited ones alone, the others packed."""
        while self._queue:
            if self._queue[0].expedited:
                ticket = self._queue.popleft()
                self._expedited[self.fop.transmit_expedited(ticket.packet).request] = [ticket]
                continue
            if self.fop.state not in ACTIVE_STATES or self.fop.waiting:
                return
            tickets = [self._queue.popleft()]
            size = len(tickets[0].packet)
            while (tickets[0].whole and self._queue and not self._queue[0].expedited and self._queue[0].whole
                   and size + len(self._queue[0].packet) <= self.capacity
                   and (not self.packets_per_frame or len(tickets) < self.packets_per_frame)):
                size += len(self._queue[0].packet)
                tickets.append(self._queue.popleft())
            transfer = self.fop.transmit(b"".join(t.packet for t in tickets))
            if not transfer.accepted:
                self._queue.extendleft(reversed(tickets))
                return
            self._requests[transfer.request] = tickets

    def _initiate(self, clcw: Clcw) -> None:
        """Start the AD service at the flight's V(R); sort what an alert purged with this CLCW."""
        nr = clcw.report_value
        resend: list[Ticket] = []
        for sequence, tickets in self._limbo:
            arrived = sequence is not None and 0 < seq_distance(nr, sequence) <= self.fop.window
            for ticket in tickets:
                ticket.received = ticket.received or arrived
            if not arrived:
                resend += tickets
        self._limbo.clear()
        self._queue.extendleft(reversed(resend))
        self.fop.set_vs(nr)
        if clcw.lockout:
            self.fop.initiate_with_unlock()
        else:
            self.fop.initiate_without_clcw_check()
        self._cond.notify_all()

    def _handle(self, events: list[FopEvent]) -> None:
        for event in events:
            if event.kind is EventKind.ACKNOWLEDGED:
                for ticket in self._requests.pop(event.request, []):
                    ticket.received = True
            elif event.kind is EventKind.PURGED:
                self._limbo.append((event.sequence, self._requests.pop(event.request, [])))
            elif event.kind is EventKind.REJECTED:
                self._limbo.append((None, self._requests.pop(event.request, [])))
            elif event.kind is EventKind.ALERT:
                self.stats.alerts += 1
                self.stats.last_alert = event.alert.name if event.alert else None
                self._alert_serial = self._clcw_serial
        if events:
            self._cond.notify_all()

    # --- frames -------------------------------------------------------------------------------------
    def _protect(self, frame: FopFrame) -> tuple[bytes, list[Ticket]]:
        """The octets of one transmission: a TC frame, SDLS-protected unless it is a control frame."""
        self.stats.frames += 1
        if frame.control:
            self.stats.control_frames += 1
            return control_frame(self.link.spacecraft_id, self.link.tc_vcid,
                                 ControlCommand.decode(frame.data)).encode(), []
        tickets = self._requests.get(frame.request) or self._expedited.pop(frame.request, [])
        if frame.transmission > 1:
            self.stats.retransmissions += 1
        for ticket in tickets:
            ticket.sequence, ticket.transmissions = frame.sequence, ticket.transmissions + 1
        tc = TcFrame(TcHeader(self.link.spacecraft_id, self.link.tc_vcid, frame.sequence, bypass=frame.bypass),
                     frame.data, SegmentHeader(self.link.tc_map_id))
        if self.sa is None:
            return tc.encode(), tickets
        if self._reservation is not None:
            self._reservation.before_use()
        assert self.keys is not None
        return sdls.apply(tc, self.sa, keys=self.keys.active_keys()), tickets


def _is_one_packet(octets: bytes) -> bool:
    """Whether ``octets`` are exactly one space packet (only those are packed several to a frame)."""
    try:
        return PrimaryHeader.unpack(octets).packet_size == len(octets)
    except PacketError:
        return False
