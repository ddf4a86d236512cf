"""Comms: the flight end of the ZeroMQ link, and the durable store that holds telemetry until the
ground has it.

Sockets (endpoints configurable; defaults on 127.0.0.1):
- TC: a ROUTER bound at ``tc_endpoint``. Grounds connect DEALERs; a DEALER blocks instead of
  dropping at its high-water mark, so no frame is lost between the sockets. Each ZeroMQ message
  is one TC transfer frame; it goes out of the ``tc`` port to the TC link
  (flight.services.tc_link), which verifies it and hands its packets to the dispatcher. Work is
  bounded (flight.services.tc_intake): at most ``tcs_per_cycle`` messages go on per cycle; the
  others wait in their connection's queue (``tc_queue_per_peer``, connections served in turn, so
  one that floods does not starve another); a message that finds its queue full is refused and
  counted (``TcRefused``, a throttled event). ZeroMQ refuses a message larger than
  ``max_message_size`` before it is buffered (it closes that connection).
- TM: a PUSH bound at ``tm_endpoint``; the ground connects a PULL. Each ZeroMQ message is one TM
  transfer frame of ``[mission.link] tm_frame_length`` octets (flight.services.tm_framer: many
  packets per frame, a packet may span frames, the CLCW from the ``clcw`` port in each; sealed
  under TM SDLS by flight.services.tm_security when ``tm_sdls`` is on).

Reports come in on the ``tm`` port (any service's report) and the ``products`` port (TM[200,1]
inference products; one with a fire detected is an alert). They go into the durable TM store
(flight.services.tm_store, ``tm_store_file``) through the downlink thread
(flight.services.tm_downlink), which numbers them, commits them to disk, and sends what the store
holds, alerts first, then products, events, housekeeping, while the transmitter is on
(``transmitter`` port, flight.services.transmitter: during passes only, when so scheduled). A
packet leaves the store only when the ground acknowledges it (``ACKNOWLEDGE``, ST[15]); one not
acknowledged within ``ack_timeout`` seconds, or asked for again (``RETRANSMIT``), is sent again. A
full store evicts housekeeping first, then events, then products, never an alert (``TmEvicted``); a
report that cannot be stored is refused and counted (``TmDroppedStoreFull``). Nothing is lost
silently: a ground that vanishes, or a flight that crashes, costs retransmissions, not packets. A
downlink thread that dies is restarted by health (``restart``), the store untouched. The store is
offered to the SEU injector on the ``buffers`` port (``tm_store``): an upset in a stored packet is
found by its record's CRC, and the packet is skipped and counted (``TmDroppedCorrupt``).

File PDUs (CFDP, the ``files`` port, from flight.services.file_transfer) bypass the store: each
goes into a space packet of ``[mission.link] file_apid`` (no secondary header) and waits in a
bounded queue of ``file_queue`` packets for the files VC, sent only while the transmitter is on.
A PDU that finds the queue full is refused, counted (``FilePdusRefused``) and evented; CFDP asks
for it again. An empty PDU asks only how much room the queue has (the port's answer).

| requirement | verified by |
|---|---|
| TM packets carry per-APID sequence counts and per-service message counters, continued across |   |
|   restarts | tests/unit/services/test_comms.py |
| at most tcs_per_cycle TCs reach the dispatcher per cycle; a flood is refused and counted; |   |
|   another connection is served within a cycle | tests/unit/services/test_comms.py, tests/system/test_flood.py |
| a TM packet waits in the store while no ground is connected, then is delivered; it leaves |   |
|   the store when acknowledged, and goes again when not | tests/unit/services/test_comms.py |
| alerts first, then products, events, housekeeping | tests/unit/services/test_comms.py |
| a full store evicts housekeeping oldest first, never an alert, and counts it | tests/unit/services/test_comms.py |
| an acknowledgement the store cannot match is refused with an event, nothing removed |   |
|   | tests/unit/services/test_comms.py |
| at stop, what waits is stored and the store sent for up to ``flush_timeout`` seconds |   |
|   | tests/unit/services/test_comms.py |
| a downlink thread that died is restarted (by health) and sends what the store kept |   |
|   | tests/unit/services/test_comms.py |
| TM goes down in frames of the configured length, the CLCW given last in each | tests/unit/services/test_comms.py |
| file PDUs go down on the files VC in packets of the file APID, not stored; a full queue |   |
|   refuses one with a count and an event | tests/unit/services/test_file_component.py |
"""
from __future__ import annotations

import re
import sqlite3
from typing import Any, Callable

import zmq

from flight.core.component import Channel, Component, CommandRefused, Event, StartError, command
from flight.core.context import Context
from flight.core.ports import OutputPort, input_port
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity
from flight.messages import FilePdu, LinkStatus, Product, RawTelecommand, RegionChange, TmPacket, TransmitterState
from flight.services.link_security import CurveServer, curve_wanted, reachable
from flight.services.tc_intake import TcIntake
from flight.services.tm_downlink import StoreRegion, TmDownlink, store_class
from flight.services.tm_framer import TmFramer
from flight.services.tm_security import TmSecurity
from flight.services.tm_store import AckRefused, StoreClass, TmStore
from flight.wire import services as st
from flight.wire.keyfile import KeyRingError
from flight.wire.link import LinkParameters
from flight.wire.spacepacket import SEQUENCE_COUNT_MODULO, PacketType, PrimaryHeader


ENDPOINT = re.compile(r"^(tcp://(\*|[\w.\-]+|\[[0-9a-fA-F:]+\]):(\*|\d{1,5})|ipc://.+|inproc://.+)$")


def endpoint_reason(endpoint: str) -> str | None:
    """Why ``endpoint`` is not a ZeroMQ endpoint this component can bind, or None."""
    match = ENDPOINT.match(endpoint)
    if match is None:
        return "not a ZeroMQ endpoint: tcp://HOST:PORT (PORT may be *), ipc://PATH or inproc://NAME"
    port = match.group(3)
    if port and port != "*" and not 1 <= int(port) <= 65535:
        return "the port must be from 1 to 65535 (or * for any)"
    return None


COMMS_SETTINGS = {
    "tc_endpoint": Setting(str, "tcp://127.0.0.1:5550", check=endpoint_reason,
                           description="ZeroMQ ROUTER, bound; grounds connect a DEALER"),
    "tm_endpoint": Setting(str, "tcp://127.0.0.1:5551", check=endpoint_reason,
                           description="ZeroMQ PUSH, bound; grounds connect a PULL"),
    "tm_hwm": Setting(int, 10_000, 1, 10_000_000, description="ZeroMQ send high-water mark, messages"),
    "tm_store_file": Setting(str, "tm_store.sqlite", description="the durable TM store (SQLite), relative "
                                                                 "to the run directory"),
    "tm_store_octets": Setting(int, 256 << 20, 4096, 1 << 40,
                               description="octets of packets the store holds; beyond: evictions, counted"),
    "tm_pending_max": Setting(int, 100_000, 1, 10_000_000,
                              description="reports waiting to be stored at most; beyond: refused, counted"),
    "ack_timeout": Setting(float, 10.0, 0.1, 86_400.0,
                           description="seconds after which a packet sent and not acknowledged goes again"),
    "flush_timeout": Setting(float, 5.0, 0.0, 600.0,
                             description="seconds spent at stop storing what waits and sending the store"),
    "tcs_per_cycle": Setting(int, 50, 1, 100_000, description="TCs given to the dispatcher per cycle "
                                                             "at most; the others wait"),
    "tc_queue_per_peer": Setting(int, 100, 1, 100_000, description="TCs waiting per ground connection "
                                                                   "at most; beyond: refused, counted"),
    "tc_max_peers": Setting(int, 16, 1, 1024, description="ground connections with TCs waiting at most"),
    "curve": Setting(str, "auto", choices=("auto", "on", "off"),
                     description="ZeroMQ CURVE + ZAP on the ground link; auto: on when an endpoint is "
                                 "reachable from another host (see flight/services/link_security.py)"),
    "curve_certificate": Setting(str, "curve/flight.key_secret",
                                 description="the flight's CURVE certificate (secret), relative to the run "
                                             "directory"),
    "curve_clients": Setting(str, "curve/grounds", description="folder of the authorized grounds' public "
                                                               "certificates (NAME.key), relative to the "
                                                               "run directory"),
    "tm_sa_state_file": Setting(str, "tm_sa_state.bin",
                                description="the TM SA's IV reservation (an IV is never used twice, "
                                            "across a crash too), relative to the run directory"),
    "file_queue": Setting(int, 64, 1, 100_000, description="CFDP PDUs waiting for the files VC at most; "
                                                               "beyond: refused, counted"),
    "max_message_size": Setting(int, 4096, 64, 1 << 20,
                                description="bytes; ZeroMQ drops a larger incoming message and its "
                                            "connection (ZMQ_MAXMSGSIZE)"),
}


class Comms(Component):
    READ_BURST = 256  # messages read per call from the executive's socket loop
    CHANNELS = {
        "TcFramesReceived": Channel(DataType.U32, "frames", description="ZeroMQ messages from the ground"),
        "TmPacketsQueued": Channel(DataType.U32, "packets", description="reports accepted to be stored"),
        "TmPacketsStored": Channel(DataType.U32, "packets", description="packets on disk in the store"),
        "TmPacketsSent": Channel(DataType.U32, "packets", description="packets sent, again ones included"),
        "TmPacketsResent": Channel(DataType.U32, "packets", description="sent again: not acknowledged in "
                                                                        "ack_timeout, or asked for"),
        "TmAcknowledged": Channel(DataType.U32, "packets", description="left the store: the ground has them"),
        "TmEvicted": Channel(DataType.U32, "packets", Limits(yellow_high=0),
                             description="evicted from a full store (housekeeping first, never an alert)"),
        "TmStoreOctets": Channel(DataType.U64, "bytes", description="octets of packets in the store"),
        "TmBytesSent": Channel(DataType.U64, "bytes", description="TM frames' octets"),
        "TmFramesSent": Channel(DataType.U32, "frames"),
        "TmDroppedCorrupt": Channel(DataType.U32, "packets", Limits(yellow_high=0),
                                    description="packets an upset in the store broke (their CRC or header)"),
        "TmStoreDepth": Channel(DataType.U32, "packets", description="packets in the store, not acknowledged"),
        "TmDroppedStoreFull": Channel(DataType.U32, "packets", Limits(yellow_high=0),
                                      description="reports refused: the queue to the store or the store full"),
        "ProductBytes": Channel(DataType.U64, "bytes", description="TM[200,1] products queued"),
        "TcQueued": Channel(DataType.U32, "packets", description="TCs waiting for the dispatcher"),
        "TcRefused": Channel(DataType.U32, "packets", Limits(yellow_high=0),
                             description="TCs refused: their connection's queue was full"),
        "FilePdusSent": Channel(DataType.U32, "packets", description="CFDP PDUs framed on the files VC"),
        "FilePdusRefused": Channel(DataType.U32, "packets", description="CFDP PDUs refused: the files queue "
                                                                        "was full (CFDP sends them again)"),
    }
    SETTINGS = COMMS_SETTINGS
    EVENTS = {
        "Unauthenticated": Event(Severity.WARNING_HI, "The ground link is NOT authenticated: {endpoint} is "
                                                      "reachable and comms.curve is off",
                                 (Field("endpoint", DataType.STRING),)),
        "TcRefused": Event(Severity.WARNING_LO, "TC refused, its connection's queue is full: {refused} "
                                                "refused so far", (Field("refused", DataType.U32),),
                           throttle=10),
        "StoreRecovered": Event(Severity.WARNING_HI, "{reason}", (Field("reason", DataType.STRING),)),
        "AckRefused": Event(Severity.WARNING_LO, "Acknowledgement refused: {reason}",
                            (Field("reason", DataType.STRING),), throttle=10),
        "FilePduRefused": Event(Severity.WARNING_LO, "CFDP PDU refused, the files queue is full: {refused} "
                                                     "refused so far", (Field("refused", DataType.U32),),
                                throttle=10),
    }
    tc = OutputPort(RawTelecommand, "every message from the ground (a TC frame), as it arrived", required=True)
    buffers = OutputPort(RegionChange, "the TM store, for the SEU injector")

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.tc_endpoint = self.config["tc_endpoint"]
        self.tm_endpoint = self.config["tm_endpoint"]
        self.tm_hwm = self.config["tm_hwm"]
        self.flush_timeout = self.config["flush_timeout"]
        self.link = LinkParameters.of(context.mission)
        self.downlink = TmDownlink(name, TmFramer(self.link), pending_max=self.config["tm_pending_max"],
                                   ack_timeout=self.config["ack_timeout"], now=context.now, log=self.log,
                                   files_max=self.config["file_queue"])
        self._file_sequence = 0
        self._files_refused = 0
        self._prepared = False  # preflight gives the downlink its TM SA and its store
        self._queue_refused = 0
        self._region: StoreRegion | None = None
        self._context = zmq.Context()  # its own: the ZAP handler, when CURVE is on, belongs to it
        self.curve_on = curve_wanted(self.config["curve"], [self.tc_endpoint, self.tm_endpoint])
        self._curve: CurveServer | None = None
        self._authenticator: Any = None
        self.tc_socket: zmq.Socket | None = None
        self._tm_socket: zmq.Socket | None = None
        self._intake = TcIntake(self.config["tc_queue_per_peer"], self.config["tc_max_peers"])
        self._tc_budget = self.config["tcs_per_cycle"]

    # --- lifecycle ----------------------------------------------------------------------------
    def preflight(self) -> str | None:
        if self.downlink.framer.security is not None:  # checked before: load it afresh
            self.downlink.framer.security.close()
        try:
            security = TmSecurity.load(self.link, self.context.run_file(self.link.key_file),
                                       self.context.run_file(self.config["tm_sa_state_file"]))
        except KeyRingError as error:
            return (f"mission.link.key_file: {error}; the TM SA (tm_spi {self.link.tm_spi}) needs a key of its own: "
                    "create a key file with 'python -m flight.wire.keyfile PATH', or set mission.link.tm_sdls = "
                    "\"off\"")
        except ValueError as error:
            return f"{self.name}.tm_sa_state_file: {error}"
        self.downlink.framer = TmFramer(self.link, security)
        if self.downlink.store is None:
            try:
                self.downlink.store = TmStore(self.context.run_file(self.config["tm_store_file"]),
                                              self.config["tm_store_octets"])
            except (OSError, sqlite3.Error) as error:
                return f"{self.name}.tm_store_file: cannot open {self.config['tm_store_file']}: {error}"
        if self.curve_on:
            try:
                self._curve = CurveServer.load(self.context.run_file(self.config["curve_certificate"]),
                                               self.context.run_file(self.config["curve_clients"]))
            except ValueError as error:
                return (f"{self.name}.curve: {error}; CURVE is on because {self.tc_endpoint} or "
                        f"{self.tm_endpoint} is reachable from other hosts: create keys with 'python -m "
                        "flight.services.link_security DIR', or set curve = \"off\" to run unauthenticated")
        self._prepared = True
        return None

    def start(self) -> None:
        if not self._prepared:
            problem = self.preflight()
            if problem:
                raise StartError(problem)
        if self._curve is not None:
            self._authenticator = self._curve.start(self._context)
        self.tc_socket = self._socket(zmq.ROUTER)
        self.tc_socket.setsockopt(zmq.LINGER, 0)
        self.tc_socket.setsockopt(zmq.MAXMSGSIZE, self.config["max_message_size"])
        self.tc_endpoint = self._bind(self.tc_socket, "tc_endpoint")
        self._tm_socket = self._socket(zmq.PUSH)
        self._tm_socket.setsockopt(zmq.SNDHWM, self.tm_hwm)
        self._tm_socket.setsockopt(zmq.SNDTIMEO, 100)
        self._tm_socket.setsockopt(zmq.LINGER, int(self.flush_timeout * 1000))
        self.tm_endpoint = self._bind(self._tm_socket, "tm_endpoint")
        self.downlink.start(self._tm_socket)
        self._region = StoreRegion(self.downlink)
        self.buffers.send(RegionChange(self._region))
        if self.downlink.store.stats.recovered:
            self.event("StoreRecovered", reason=self.downlink.store.stats.recovered)
        if not self.curve_on and self.config["curve"] == "off" and any(
                reachable(e) for e in (self.tc_endpoint, self.tm_endpoint)):
            self.event("Unauthenticated", endpoint=self.tc_endpoint)

    def _socket(self, kind: int) -> zmq.Socket:
        socket = self._context.socket(kind)
        if self._curve is not None:
            self._curve.secure(socket)
        return socket

    def _bind(self, socket: zmq.Socket, setting: str) -> str:
        """Bind to the endpoint a setting names; the endpoint bound (a wildcard port resolved)."""
        try:
            socket.bind(self.config[setting])
        except zmq.ZMQError as error:  # the port is taken, the address is not this host's, ...
            for opened in (self.tc_socket, self._tm_socket):
                if opened is not None:
                    opened.close(linger=0)
            if self._authenticator is not None:
                self._authenticator.stop()
            self._context.term()
            raise StartError(f"{self.name}.{setting} = {self.config[setting]!r}: cannot bind: "
                             f"{error}") from None
        return socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def stop(self) -> None:
        self.buffers.send(RegionChange(self._region, added=False))
        self.downlink.stop(self.flush_timeout)
        self._tm_socket.close()
        if self.tc_socket is not None:
            self.tc_socket.close()
        if self._authenticator is not None:
            self._authenticator.stop()
        self._context.term()
        if self.downlink.framer.security is not None:
            self.downlink.framer.security.close()

    def restart(self) -> bool:
        """The downlink thread again if it died while the flight runs (the store is kept)."""
        return self.downlink.restart()

    def poll_sockets(self) -> list[tuple[zmq.Socket, Callable[[], None]]]:
        return [(self.tc_socket, self._receive_tc)]

    def ready_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"tc_endpoint": self.tc_endpoint, "tm_endpoint": self.tm_endpoint}
        if self._curve is not None:
            info["curve_server_key"] = self._curve.public_key.decode("ascii")
        return info

    def tick(self, tick: int, now: float) -> None:
        self._tc_budget = self.config["tcs_per_cycle"]
        self._dispatch()
        self._report_store()

    def _report_store(self) -> None:
        downlink, store = self.downlink, self.downlink.store
        stats = store.stats
        u32 = 0xFFFFFFFF
        self.tlm("TmStoreDepth", store.live_count)
        self.tlm("TmStoreOctets", store.live_bytes)
        self.tlm("TmPacketsStored", sum(stats.stored.values()) & u32)
        self.tlm("TmEvicted", sum(stats.evicted.values()) & u32)
        self.tlm("TmAcknowledged", stats.acknowledged & u32)
        self.tlm("TmPacketsSent", downlink.sent & u32)
        self.tlm("TmPacketsResent", downlink.resent & u32)
        self.tlm("TmBytesSent", downlink.sent_bytes)
        self.tlm("TmFramesSent", downlink.frames_sent & u32)
        self.tlm("TmDroppedCorrupt", (downlink.corrupt + stats.corrupt) & u32)
        self.tlm("TmDroppedStoreFull", (self._queue_refused + downlink.refused) & u32)
        self.tlm("FilePdusSent", downlink.files_sent & u32)

    # --- ST[15]: the ground's acknowledgements --------------------------------------------------
    @command(Field("apid", DataType.U16), Field("first_time", DataType.U64), Field("last_time", DataType.U64),
             Field("count", DataType.U32),
             description="The ground holds these packets, every one between (times: CUC 4+2 as integers): they "
                         "leave the store")
    def ACKNOWLEDGE(self, apid: int, first_time: int, last_time: int, count: int) -> None:
        try:
            self.downlink.acknowledge(apid, first_time, last_time, count)
        except AckRefused as refusal:
            self.event("AckRefused", reason=str(refusal))
            raise CommandRefused(str(refusal)) from None

    @command(Field("apid", DataType.U16), Field("after_time", DataType.U64), Field("before_time", DataType.U64),
             description="Send again, at once, the stored packets stamped strictly between the two times")
    def RETRANSMIT(self, apid: int, after_time: int, before_time: int) -> None:
        self.downlink.retransmit(apid, after_time, before_time)

    # --- uplink -------------------------------------------------------------------------------
    def _receive_tc(self) -> None:
        """Take what the ground sent (at most READ_BURST messages, so the executive keeps its
        clock): each waits in its connection's queue, or is refused if that queue is full."""
        assert self.tc_socket is not None
        refused = self._intake.refused
        for _ in range(self.READ_BURST):
            try:
                frames = self.tc_socket.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                break
            self.increment("TcFramesReceived")
            # frames[0] is the peer identity that ROUTER prepends; the rest is the message
            self._intake.offer(frames[0], RawTelecommand(tuple(frames[1:])))
            if self._tc_budget:
                self._dispatch()
        if self._intake.refused != refused:
            self.tlm("TcRefused", self._intake.refused & 0xFFFFFFFF)
            self.event("TcRefused", refused=self._intake.refused & 0xFFFFFFFF)

    def _dispatch(self) -> None:
        """Hand the dispatcher what this cycle's budget allows, the connections in turn."""
        for message in self._intake.take(self._tc_budget):
            self._tc_budget -= 1
            self.tc.send(message)
        self.tlm("TcQueued", len(self._intake))

    # --- downlink -----------------------------------------------------------------------------
    @input_port(TmPacket, "a report to send down")
    def tm(self, packet: TmPacket) -> None:
        self.send_tm(packet.service, packet.subtype, packet.app_data)

    @input_port(LinkStatus, "the uplink's CLCW, for the OCF of every TM frame", required=False)
    def clcw(self, status: LinkStatus) -> None:
        self.downlink.set_clcw(status.clcw)

    @input_port(TransmitterState, "whether the downlink may send (flight.services.transmitter)", required=False)
    def transmitter(self, state: TransmitterState) -> None:
        self.downlink.set_transmitting(state.on)

    @input_port(FilePdu, "a CFDP PDU to send down on the files VC; answers the queue's room (-1: refused)",
                required=False)
    def files(self, message: FilePdu) -> int:
        if not message.pdu:
            return self.downlink.file_room()
        header = PrimaryHeader(PacketType.TM, self.link.file_apid, self._file_sequence, len(message.pdu) - 1,
                               secondary_header=False)
        room = self.downlink.put_file(header.pack() + message.pdu)
        if room < 0:
            self._files_refused += 1
            self.tlm("FilePdusRefused", self._files_refused & 0xFFFFFFFF)
            self.event("FilePduRefused", refused=self._files_refused & 0xFFFFFFFF)
        else:
            self._file_sequence = (self._file_sequence + 1) % SEQUENCE_COUNT_MODULO
        return room

    @input_port(Product, "an inference product to send down as TM[200,1]", required=False)
    def products(self, product: Product) -> None:
        packed = st.pack_product(product)
        cls = StoreClass.ALERT if product.fire_cells.any() else StoreClass.PRODUCT
        if self.send_tm(st.PRODUCT, st.INFERENCE_PRODUCT, packed, cls):
            self.tlm("ProductBytes", self.telemetry["ProductBytes"] + len(packed))

    def send_tm(self, service: int, subtype: int, app_data: bytes, cls: StoreClass | None = None) -> bool:
        """Queue a report to be numbered, stamped with mission time and stored; False if refused."""
        cls = store_class(service, subtype) if cls is None else cls
        if not self.downlink.put(self.context.catalog.apid, service, subtype, app_data, cls, self.context.now()):
            self._queue_refused += 1
            self.tlm("TmDroppedStoreFull", (self._queue_refused + self.downlink.refused) & 0xFFFFFFFF)
            return False
        self.increment("TmPacketsQueued")
        return True
