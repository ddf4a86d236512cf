"""GroundStation: connects to the flight, tracks what it sent and everything that came down.

The link (the dictionary's ``link`` section, flight.wire.link): TCs go up through the uplink
(ground_sim.uplink: packed into TC frames, FOP-1, SDLS with the ground's copy of the key file),
TM comes down as TM frames through the downlink (ground_sim.downlink: per virtual channel, the
CLCW to the uplink). Each TC's record knows when the flight received it in sequence
(``CommandRecord.received``, from COP-1), before any verification report.

State, all guarded by one condition variable that is notified on every received packet:
- ``commands``: every TC sent, with its ST[1] verification (accepted / started / completed, or
  the failure stage and code), keyed by request id;
- ``telemetry``: per channel, the history of (mission time, value), and limit violations;
- ``events``, ``products``, ``parameter_reports``, ``pings``, ``schedule_reports`` (the activities
  of each TM[11,10]), ``time_reports`` (each TM[9,2] and its arrival, ground UTC),
  ``onboard_reports`` (each ST[12] and ST[19] report as (kind, value), ground_sim.onboard_reports),
  ``directory_reports`` (each TM[23,13] as (repository, entries)); a TC the
  flight runs later (an activity of its time-based schedule) is
  tracked like one sent once :meth:`GroundStation.expect` names it;
- link accounting: packets and bytes per service, decode errors, duplicates, and what it holds
  of each APID's packets (ground_sim.completeness: runs by time and sequence count; a packet
  missing between runs is counted in ``sequence_gaps`` until it comes). A packet that comes again
  (the flight sends what it has not seen acknowledged) is counted as a duplicate and kept once;
  a new station rebuilds what it holds from its archive. Every ``ack_interval`` seconds it
  acknowledges what it holds and asks for what is missing (ground_sim.acknowledger), so the
  flight's store lets packets go only once the ground has them;
- limit checking of every channel with limits: its current state (ok, yellow, red) and how many
  times it went out of limits.
File transfer (CFDP): ``files`` (ground_sim.files) takes the packets of the files VC and sends
its PDUs through the uplink; it pauses while ``contact()`` is false.
Every raw packet, both ways, goes to the SQLite archive, including those that cannot be decoded
(with the reason): a bad packet is counted and kept, and never stops the receiving thread. So does
every raw frame, both ways (``direction`` ``up_frame`` / ``down_frame``, its header fields or the
reason it was refused in ``decoded`` / ``error``).
The archive's health is public: ``station.archive.error`` (why it failed, or None),
``.committed``, ``.lost`` and ``.alarm`` (the line an operator must see); a failed archive never
stops the station, and ``close`` returns the archive's error.

| requirement | verified by |
| any bytes coming down are archived and decoded or counted, never fatal |   |
|   (hypothesis) | tests/unit/ground/test_ground.py |
| ``packet_kept`` gets each new TM packet once, in order (not one sent again, not an undecodable one) |   |
|   | tests/unit/ground/test_ground.py |
| packets missing between those held are counted (reordering is not a loss); a limit |   |
|   excursion is counted once | tests/unit/ground/test_ground.py |
| a packet received again is kept once, also by a new station on the same archive |   |
|   | tests/unit/ground/test_ground.py |
| a failed archive is visible on the station, which keeps receiving | tests/unit/ground/test_ground.py |
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from flight.messages import Product
from flight.services.cfdp_entity import DEFAULT_TIMERS, CfdpTimers
from flight.services.link_security import CurveClient
from flight.wire import services as st
from flight.wire.dictionary import Dictionary
from flight.wire import file_management as fm
from flight.wire.failure import FailureCode
from flight.wire.keyfile import KeyRing
from flight.wire.link import TM_FILES
from flight.wire.pus import CUC_TICKS, AckFlags, Telecommand
from flight.wire.scheduling import Activity
from flight.wire.spacepacket import PRIMARY_HEADER_SIZE
from flight.wire.time_management import TimeReport
from ground_sim.acknowledger import Acknowledger
from ground_sim.archive import PacketArchive
from ground_sim.commanding import CommandEncoder
from ground_sim.completeness import Completeness
from ground_sim.decoder import Decoded, EventRecord, TmDecoder
from ground_sim.downlink import Downlink
from ground_sim.files import GroundFiles
from ground_sim.link import FlightLink
from ground_sim.onboard_reports import ONBOARD_KINDS
from ground_sim.uplink import Ticket, Uplink


@dataclass
class CommandRecord:
    """One TC sent and its verification so far."""

    name: str
    request_id: bytes
    ack: AckFlags
    sent_at: float
    accepted: bool | None = None
    started: bool | None = None
    completed: bool | None = None
    failure: tuple[st.Stage, int] | None = None
    ticket: Ticket | None = field(default=None, repr=False)
    accepted_at: tuple[float, float] | None = None   # its TM[1,1]: on-board stamp, ground arrival (time.time)

    @property
    def received(self) -> bool:
        """Whether the flight's FARM accepted the frame that carried it, in sequence (COP-1)."""
        return self.ticket is not None and self.ticket.received

    @property
    def done(self) -> bool:
        """True once no further report is expected."""
        if self.failure is not None:
            return True
        if self.ack & AckFlags.COMPLETION:
            return bool(self.completed)
        if self.ack & AckFlags.START:
            return bool(self.started)
        return bool(self.accepted) or not self.ack

    @property
    def failure_name(self) -> str | None:
        if self.failure is None:
            return None
        code = self.failure[1]
        name = FailureCode(code).name if code in FailureCode._value2member_map_ else str(code)
        return f"{self.failure[0].name} {name}"

    def __str__(self) -> str:
        state = (self.failure_name and f"failed at {self.failure_name}") or (
            "completed" if self.completed else "accepted" if self.accepted else "pending")
        return f"{self.name} [{self.request_id.hex()}] {state}"


@dataclass
class LinkStats:
    packets: int = 0
    bytes: int = 0
    by_service: collections.Counter = field(default_factory=collections.Counter)
    bytes_by_service: collections.Counter = field(default_factory=collections.Counter)
    decode_errors: int = 0
    duplicates: int = 0      # packets received again (the flight sent them again): kept once
    completeness: Completeness = field(default_factory=Completeness)  # what the ground holds, per APID
    link_commands: int = 0   # acknowledgements and retransmission requests sent (not in command_log)
    limit_violations: collections.Counter = field(default_factory=collections.Counter)  # entries
    limit_states: dict[str, str] = field(default_factory=dict)  # channel -> ok / yellow / red

    @property
    def sequence_gaps(self) -> int:
        """TM packets missing: numbered by the flight between packets held, never received (yet)."""
        return self.completeness.missing()


class GroundStation:
    def __init__(self, dictionary: Dictionary, tc_endpoint: str, tm_endpoint: str,
                 archive: str | Path | PacketArchive, curve: CurveClient | None = None,
                 keys: str | Path | KeyRing | None = None, link_state: str | Path | None = None,
                 ack_interval: float = 1.0, contact: Callable[[], bool] = lambda: True,
                 retransmit_after: float = 5.0, mission_clock: Callable[[], float | None] | None = None,
                 file_timers: CfdpTimers = DEFAULT_TIMERS, **uplink_options: Any) -> None:
        """``archive``: an open PacketArchive, or its path (ArchiveError if it cannot be opened);
        ``curve``: the keys for a flight whose link uses CURVE; ``keys``: the ground's key file (or
        ring), needed when the link is authenticated; ``link_state``: where the uplink keeps its
        IV reservation (flight.core.durable), so a restarted ground continues above it;
        ``ack_interval``: seconds between acknowledgements of what it holds (ground_sim.acknowledger);
        ``contact``: whether the flight can hear it now (a pass; ground_sim.link_relay.LinkRelay.in_pass);
        ``retransmit_after``: seconds a gap stays open before it is asked for again;
        ``mission_clock``: the flight's mission time (its beacon, flight.core.clock), to stamp each
        product's arrival in ``product_arrivals`` (its time, the arrival, whether it is an alert);
        ``file_timers``: the ground CFDP entity's retry timers (ground_sim.files);
        ``uplink_options``: FOP-1's ``fop_window``, ``t1``, ``transmission_limit``."""
        self.dictionary = dictionary
        self.encoder = CommandEncoder(dictionary)
        self.decoder = TmDecoder(dictionary)
        parameters = dictionary.link_parameters
        ring = KeyRing.load(keys) if isinstance(keys, (str, Path)) else keys
        self.key_file = Path(keys) if isinstance(keys, (str, Path)) else None  # kept up to date by rotate_key
        self.archive = archive if isinstance(archive, PacketArchive) else PacketArchive(archive)
        self.link = FlightLink(tc_endpoint, tm_endpoint, self._receive_frame, curve=curve)
        self.uplink = Uplink(parameters, ring, self.link.send, state_path=link_state,
                             on_frame=self._archive_frame, **uplink_options)
        self.downlink = Downlink(parameters, on_clcw=self.uplink.on_clcw, keys=ring)
        self.files = GroundFiles(parameters, self.uplink.submit, self.uplink.queued, contact,
                                 max_pdu=self.uplink.capacity - PRIMARY_HEADER_SIZE, timers=file_timers)
        self.changed = threading.Condition()
        self.commands: dict[bytes, CommandRecord] = {}
        self.command_log: list[CommandRecord] = []
        self.telemetry: dict[str, list[tuple[float, Any]]] = collections.defaultdict(list)
        self.events: list[EventRecord] = []
        self.products: list[Product] = []
        self.parameter_reports: list[dict[str, Any]] = []
        self.pings = 0
        self.schedule_reports: list[list[Activity]] = []
        self.time_reports: list[tuple[TimeReport, float]] = []
        self.onboard_reports: list[tuple[str, Any]] = []
        self.packet_kept: Callable[[bytes], None] | None = None   # each new TM packet kept (a bridge's sink)
        self.directory_reports: list[tuple[str, list[fm.Entry]]] = []
        self.stats = LinkStats()
        for apid, stamp, sequence in self.archive.down_keys():   # what an earlier ground process received
            self.stats.completeness.add(apid, stamp, sequence)
        self.acknowledger = Acknowledger(self.stats.completeness, self.changed, self.send_link_command,
                                         self.archive.flush, interval=ack_interval, contact=contact,
                                         retransmit_after=retransmit_after)
        self._mission_clock = mission_clock
        self.product_arrivals: list[tuple[float, float, bool]] = []
        self.passes: list[tuple[str, str, float]] = []   # (AOS or LOS, station, mission time)

    def start(self) -> "GroundStation":
        self.link.start()
        self.uplink.start()
        self.acknowledger.start()
        self.files.start()
        return self

    def close(self) -> str | None:
        """Stop sending and receiving, write what the archive holds; return the archive's error (None if none)."""
        self.files.close()
        self.acknowledger.close()
        self.uplink.close()
        self.link.close()
        return self.archive.close()

    # --- uplink -------------------------------------------------------------------------------
    def send(self, tc: Telecommand, name: str) -> CommandRecord:
        raw = tc.encode()
        record = self._submit(CommandRecord(name, tc.request_id, tc.ack, time.time()), raw)
        self.archive.record("up", record.sent_at, raw, {"apid": tc.apid,
                                                        "sequence": tc.sequence_count,
                                                        "service": tc.service,
                                                        "subtype": tc.subtype}, {"name": name})
        return record

    def expect(self, tc: Telecommand, name: str) -> CommandRecord:
        """Track ``tc``, which goes up inside another TC (an activity of a TC[11,4]) and runs later:
        its ST[1] reports update the record it returns."""
        record = CommandRecord(name, tc.request_id, tc.ack, time.time())
        with self.changed:
            self.commands[record.request_id] = record
            self.command_log.append(record)
        return record

    def send_link_command(self, name: str, args: Sequence[Any]) -> None:
        """A command of the link's own (acknowledgement, retransmission request): no verification
        asked for, not in ``command_log``; archived like any TC. ValueError if the uplink refuses it."""
        tc = self.encoder.command(name, args, AckFlags.NONE)
        raw = tc.encode()
        self.uplink.submit(raw)
        with self.changed:
            self.stats.link_commands += 1
        self.archive.record("up", time.time(), raw, {"apid": tc.apid, "sequence": tc.sequence_count,
                                                     "service": tc.service, "subtype": tc.subtype}, {"name": name})

    def _submit(self, record: CommandRecord, raw: bytes) -> CommandRecord:
        """Track ``record``, then hand its packet to the uplink (the record is dropped if that refuses it)."""
        with self.changed:
            self.commands[record.request_id] = record
            self.command_log.append(record)
        try:
            record.ticket = self.uplink.submit(raw)
        except ValueError:
            with self.changed:
                self.command_log.remove(record)
                if self.commands.get(record.request_id) is record:
                    del self.commands[record.request_id]
            raise
        return record

    def send_command(self, name: str, args: Sequence[Any] | Mapping[str, Any] | None = None,
                     ack: AckFlags = AckFlags.ALL, check: bool = True) -> CommandRecord:
        return self.send(self.encoder.command(name, args, ack, check), name)

    def send_raw(self, raw: bytes, name: str = "raw") -> CommandRecord:
        """Send bytes as they are (for tools that build their own packets, and for tests)."""
        record = self._submit(CommandRecord(name, bytes(raw[:4]).ljust(4, b"\0"), AckFlags.ALL, time.time()), raw)
        self.archive.record("up", record.sent_at, raw, None, {"name": name})
        return record

    def send_frame(self, raw: bytes) -> None:
        """Send one TC frame as it is, past COP-1 and SDLS (for tests and tools that forge frames)."""
        self._archive_frame(raw, [])
        self.link.send(raw)

    def wait_received(self, records: Sequence[CommandRecord], timeout: float) -> bool:
        """Wait until the flight received every record's frame in sequence (COP-1); False at the timeout."""
        return self.uplink.wait_received([r.ticket for r in records if r.ticket is not None], timeout)

    def _archive_frame(self, raw: bytes, tickets: list[Ticket]) -> None:
        self.archive.record("up_frame", time.time(), raw, None,
                            {"sequence": tickets[0].sequence if tickets else None, "packets": len(tickets)})

    def link_pass(self, kind: str, record: Any) -> None:
        """A pass began (``AOS``) or ended (``LOS``) on the link (ground_sim.link_relay.PassRecord):
        kept in ``passes``, as the ground's own telemetry (``ground.InPass``, ``ground.PassCount``,
        stamped with mission time) and archived (direction ``pass``)."""
        at = record.aos if kind == "AOS" else record.los
        with self.changed:
            self.passes.append((kind, record.station, at))
            self.telemetry["ground.InPass"].append((at, kind == "AOS"))
            self.telemetry["ground.PassCount"].append((at, sum(1 for k, _, _ in self.passes if k == "AOS")))
            self.changed.notify_all()
        self.archive.record("pass", time.time(), b"", None, {"event": kind, "station": record.station,
                                                            "mission_time": at, "frames": record.frames,
                                                            "octets": record.octets})

    # --- downlink -----------------------------------------------------------------------------
    def _receive_frame(self, raw: bytes, wall_time: float) -> None:
        """One TM frame: archived, then its packets (one frame may complete several, or none)."""
        frame = self.downlink.frame(raw)
        if frame is None:
            self.archive.record("down_frame", wall_time, raw, None, None,
                                f"frame refused: {self.downlink.last_refusal}")
            with self.changed:
                self.changed.notify_all()
            return
        self.archive.record("down_frame", wall_time, raw, None, {
            "vcid": frame.vcid, "mc_count": frame.mc_frame_count, "vc_count": frame.vc_frame_count,
            "first_header_pointer": frame.first_header_pointer})
        for packet in self.downlink.packets(frame):
            if frame.vcid == TM_FILES:
                self.files.packet(packet)
            else:
                self._receive(packet, wall_time)

    def _receive(self, raw: bytes, wall_time: float) -> None:
        try:
            decoded = self.decoder.decode(raw)
        except Exception as error:  # bad CRC, bad layout, unknown ids: counted, never fatal
            with self.changed:
                self.stats.packets += 1
                self.stats.bytes += len(raw)
                self.stats.decode_errors += 1
                self.changed.notify_all()
            self.archive.record("down", wall_time, raw, None, None, str(error))
            return
        packet = decoded.packet
        stamp = round(packet.time * CUC_TICKS)
        with self.changed:  # queued for the archive as it is counted held: the acknowledger relies on it
            if not self.stats.completeness.add(packet.apid, stamp, packet.sequence_count):
                self.stats.duplicates += 1                      # sent again by the flight: kept once
                return
            self.archive.record("down", wall_time, raw, {
                "apid": packet.apid, "sequence": packet.sequence_count, "service": packet.service,
                "subtype": packet.subtype, "time_cuc": stamp}, decoded.to_json())
            self._account(decoded, len(raw))
            self._apply(decoded, wall_time)
            self.changed.notify_all()
        if self.packet_kept is not None:      # in the receiver's thread, in order, once per packet
            self.packet_kept(raw)

    def _account(self, decoded: Decoded, size: int) -> None:
        packet, stats = decoded.packet, self.stats
        stats.packets += 1
        stats.bytes += size
        stats.by_service[packet.service] += 1
        stats.bytes_by_service[packet.service] += size

    def _apply(self, decoded: Decoded, wall_time: float) -> None:
        value, time_ = decoded.value, decoded.packet.time
        if decoded.kind == "verification":
            record = self.commands.get(value.request_id)
            if record is not None:
                if not value.success:
                    record.failure = (value.stage, value.code)
                elif value.stage is st.Stage.ACCEPTANCE:
                    record.accepted, record.accepted_at = True, (time_, wall_time)
                elif value.stage is st.Stage.START:
                    record.started = True
                elif value.stage is st.Stage.COMPLETION:
                    record.completed = True
        elif decoded.kind == "housekeeping":
            for name, v in value.items():
                self.telemetry[name].append((time_, v))
                limits = self.dictionary.channel_by_name[name].limits
                if limits is not None:
                    state = limits.classify(v)
                    if state != "ok" and self.stats.limit_states.get(name, "ok") == "ok":
                        self.stats.limit_violations[name] += 1  # counted once per excursion
                    self.stats.limit_states[name] = state
        elif decoded.kind == "event":
            self.events.append(value)
        elif decoded.kind == "product":
            self.products.append(value)
            arrival = self._mission_clock() if self._mission_clock is not None else None
            if arrival is not None:
                self.product_arrivals.append((time_, arrival, bool(value.fire_cells.any())))
        elif decoded.kind == "parameters":
            self.parameter_reports.append(value)
        elif decoded.kind == "ping":
            self.pings += 1
        elif decoded.kind == "schedule":
            self.schedule_reports.append(value)
        elif decoded.kind == "time report":
            self.time_reports.append((value, wall_time))
        elif decoded.kind == "directory":
            self.directory_reports.append(value)
        elif decoded.kind in ONBOARD_KINDS:
            self.onboard_reports.append((decoded.kind, value))

    def latest(self, channel: str, default: Any = None) -> Any:
        with self.changed:
            history = self.telemetry.get(channel)
            return history[-1][1] if history else default
