"""TcLink: the flight's end of the uplink's link layer: TC frames in, verified packets out.

Every message comms receives is one TC transfer frame (flight.wire.tc_frame). A frame is
checked, in this order, and refused at the first check it fails, before any packet in it is
looked at (counted per reason, an event, and for security failures a flag in the CLCW):

1. the frame: length, version, FECF, this spacecraft and TC virtual channel ([mission.link]);
2. SDLS (flight.wire.sdls; unless ``sdls = "off"``): a known, active SA on this channel with an
   active key, the anti-replay window (IV and ARSN above the last accepted, within the window),
   the MAC; the data field decrypted;
3. COP-1 FARM-1 (flight.wire.cop1): only the next frame in sequence (Type-A) or a bypass frame
   (Type-B) is accepted; Type-C frames (Unlock, Set V(R)) change the FARM;
4. the link state (the SA's last accepted IV and ARSN, the FARM's V(R)) is on disk
   (flight.core.durable) before the packets go on: a frame accepted before a restart is a
   replay after it.

Then each packet goes out of the ``tc`` port to the dispatcher, which decodes and runs it, except
packets of the file APID (``[mission.link] file_apid``): their data field, a CFDP PDU, goes out of
the ``files`` port to the file transfer (flight.services.file_transfer), when it is wired. Octets
of an accepted frame that are not a whole packet go to the dispatcher too, as one more message
(and an empty data field as an empty one), so a malformed TC from the authenticated ground gets
its TM[1,2] like any other.

The CLCW goes out of the ``clcw`` port (to comms, which puts it in every TM frame) whenever it
may have changed. Its 3-bit status field reports SDLS refusals, sticky until
``RESET_SECURITY_ALARM``, like the alarm flags of SDLS's Frame Security Report: bit 0 bad MAC,
bit 1 bad sequence number (replay or outside the window), bit 2 bad SA (unknown or inactive SPI,
key unavailable, wrong channel).

Keys (flight.wire.keyfile): ``KEY_LOAD`` (a key wrapped with the KEK), ``KEY_ACTIVATE``,
``KEY_DEACTIVATE``, ``SA_REKEY``; each saves the key file before it takes effect, and fails with
nothing changed if it cannot. A rekeyed SA keeps its counters (an IV is never reused under any key).

| requirement | verified by |
|---|---|
| a frame failing any check is refused with its reason, counted, and no packet of it runs |   |
|   (hypothesis: bit flips, replays, out-of-window) | tests/unit/services/test_tc_link.py, |
|   | tests/system/test_link_layer.py |
| a frame accepted before a restart is refused after it | tests/unit/services/test_tc_link.py, |
|   | tests/system/test_link_layer.py |
| FARM-1 accepts each frame once, in order; the CLCW reports it | tests/unit/services/test_tc_link.py |
| key load, activate, rekey, deactivate by command; a bad key command fails with its reason |   |
|   | tests/unit/services/test_tc_link.py |
| a link state that cannot be saved refuses the frame (nothing runs) | tests/unit/services/test_tc_link.py |
| sdls = "off" is said at start (WARNING_HI) | tests/unit/services/test_tc_link.py |
| packets of the file APID go to the ``files`` port, not the dispatcher | tests/unit/services/test_file_component.py |
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from flight.core.component import Channel, CommandError, CommandRefused, Component, Event, StartError, command
from flight.core.context import Context
from flight.core.durable import DurableRecord, DurableRecordError
from flight.core.ports import OutputPort, input_port
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity
from flight.messages import FilePdu, LinkStatus, RawTelecommand
from flight.wire import sdls
from flight.wire.cop1 import Farm1, Reason
from flight.wire.failure import PacketError
from flight.wire.keyfile import KeyRing, KeyRingError
from flight.wire.link import LinkParameters
from flight.wire.spacepacket import PRIMARY_HEADER_SIZE, PrimaryHeader
from flight.wire.tc_frame import FrameError, TcFrame, cut_packets, parse_control_command

BAD_MAC, BAD_SEQUENCE, BAD_SA = 0b001, 0b010, 0b100
# SDLS refusal -> (the channel that counts it, its alarm bit); any other reason is a bad frame
SECURITY_REFUSALS = {
    sdls.SdlsReason.BAD_MAC: ("RefusedMac", BAD_MAC),
    sdls.SdlsReason.REPLAY: ("RefusedReplay", BAD_SEQUENCE),
    sdls.SdlsReason.OUTSIDE_WINDOW: ("RefusedWindow", BAD_SEQUENCE),
    **{reason: ("RefusedSa", BAD_SA) for reason in (sdls.SdlsReason.UNKNOWN_SPI, sdls.SdlsReason.INACTIVE_SA,
                                                     sdls.SdlsReason.WRONG_CHANNEL,
                                                     sdls.SdlsReason.KEY_UNAVAILABLE)},
}


class Refused(Exception):
    """A frame refused at one of the checks: the channel that counts it, the reason, the detail."""

    def __init__(self, channel: str, reason: str, detail: str, alarm: int = 0) -> None:
        super().__init__(detail)
        self.channel, self.reason, self.detail, self.alarm = channel, reason, detail, alarm


def _counter(description: str, limits: Limits | None = None) -> Channel:
    return Channel(DataType.U32, "frames", limits, description=description)


class TcLink(Component):
    SETTINGS = {"state_file": Setting(str, "link_state.bin", description="the link's receive state (SA "
                                                                         "counters, V(R)), relative to the run "
                                                                         "directory")}
    CHANNELS = {
        "FramesReceived": _counter("TC frames that reached the link"),
        "FramesAccepted": _counter("frames whose packets went to the dispatcher"),
        "RefusedFrame": _counter("not a frame of this spacecraft and channel (CRC, length, ids, contents)",
                                 Limits(yellow_high=0)),
        "RefusedSa": _counter("SDLS: unknown or inactive SA, key unavailable, wrong channel", Limits(yellow_high=0)),
        "RefusedReplay": _counter("SDLS: IV or ARSN not above the last accepted", Limits(yellow_high=0)),
        "RefusedWindow": _counter("SDLS: IV or ARSN beyond the anti-replay window", Limits(yellow_high=0)),
        "RefusedMac": _counter("SDLS: the MAC does not verify", Limits(yellow_high=0)),
        "RefusedState": _counter("the link state could not be saved", Limits(yellow_high=0)),
        "FarmDiscarded": _counter("valid frames FARM-1 discarded (out of sequence, lockout)"),
        "ReceiveVR": Channel(DataType.U8, description="FARM-1 V(R): the next frame sequence number expected"),
        "FarmLockout": Channel(DataType.BOOL, limits=Limits(yellow_high=0), description="FARM-1 in lockout"),
        "SecurityAlarm": Channel(DataType.U8, limits=Limits(yellow_high=0),
                                 description="bits: 1 bad MAC, 2 bad sequence number, 4 bad SA (sticky)"),
        "SaKeyId": Channel(DataType.U16, description="the key the TC SA uses"),
    }
    EVENTS = {
        "FrameRefused": Event(Severity.WARNING_LO, "TC frame refused, {reason}: {detail}",
                              (Field("reason", DataType.STRING), Field("detail", DataType.STRING)), throttle=20),
        "SecurityRefused": Event(Severity.WARNING_HI, "TC frame failed SDLS, {reason}: {detail}",
                                 (Field("reason", DataType.STRING), Field("detail", DataType.STRING)), throttle=20),
        "FarmDiscarded": Event(Severity.WARNING_LO, "TC frame N(S)={ns} discarded, {reason}; V(R)={vr}",
                               (Field("ns", DataType.U8), Field("reason", DataType.STRING),
                                Field("vr", DataType.U8)), throttle=20),
        "FarmLockout": Event(Severity.WARNING_HI, "FARM-1 lockout: N(S)={ns} outside the window of V(R)={vr}; "
                                                  "the ground must Unlock", (Field("ns", DataType.U8),
                                                                             Field("vr", DataType.U8))),
        "PacketsMalformed": Event(Severity.WARNING_LO, "An accepted TC frame holds octets that are no whole "
                                                       "packet, {reason}: {detail}; they go to the dispatcher",
                                  (Field("reason", DataType.STRING), Field("detail", DataType.STRING)), throttle=20),
        "ControlCommand": Event(Severity.ACTIVITY, "COP-1 {command}: V(R)={vr}",
                                (Field("command", DataType.STRING), Field("vr", DataType.U8))),
        "Unauthenticated": Event(Severity.WARNING_HI, "The TC link is NOT authenticated: [mission.link] sdls "
                                                      "is off, any frame with a good CRC is obeyed"),
        "KeyChanged": Event(Severity.ACTIVITY, "Key {key_id} {action}",
                            (Field("key_id", DataType.U16), Field("action", DataType.STRING))),
    }
    tc = OutputPort(RawTelecommand, "each packet of each accepted frame", required=True)
    clcw = OutputPort(LinkStatus, "the CLCW, whenever it may have changed")
    files = OutputPort(FilePdu, "the CFDP PDU of each packet of the file APID")

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.link = LinkParameters.of(context.mission)
        self.farm = Farm1(self.link.tc_vcid, self.link.farm_window)
        self.keys: KeyRing | None = None
        self.sas: dict[int, sdls.SecurityAssociation] = {}
        self._state: DurableRecord | None = None
        self._segmented = frozenset({self.link.tc_vcid})

    # --- lifecycle ----------------------------------------------------------------------------
    def preflight(self) -> str | None:
        try:
            if self.link.authenticated:
                self.keys = KeyRing.load(self.context.run_file(self.link.key_file))
                sa = self.link.security_association(self.keys.key_id_of(self.link.spi))
                self.sas = {sa.spi: sa}
            self._state = DurableRecord(self.context.run_file(self.config["state_file"]))
            self._restore(self._state.load())
        except KeyRingError as error:
            return (f"mission.link.key_file: {error}; create one with 'python -m flight.wire.keyfile PATH' and "
                    "give the ground a copy, or set mission.link.sdls = \"off\" to run unauthenticated")
        except (DurableRecordError, ValueError) as error:
            return f"{self.name}.state_file: {error}"
        return None

    def _restore(self, saved: Any) -> None:
        if saved is None:
            return
        if not isinstance(saved, dict) or not isinstance(saved.get("vr"), int) or not 0 <= saved["vr"] < 256:
            raise ValueError(f"link state {saved!r} is not one this flight wrote")
        self.farm.vr = saved["vr"]
        if self.sas and saved.get("sdls") is not None:
            sdls.restore_receive_state(self.sas, saved["sdls"])

    def start(self) -> None:
        if self._state is None:
            problem = self.preflight()
            if problem:
                raise StartError(problem)
        if not self.link.authenticated:
            self.event("Unauthenticated")
        self._report()

    def stop(self) -> None:
        if self._state is not None:
            self._state.close()

    def tick(self, tick: int, now: float) -> None:
        self._report()

    # --- the uplink ---------------------------------------------------------------------------
    @input_port(RawTelecommand, "one message from the ground: one TC transfer frame")
    def frames(self, message: RawTelecommand) -> None:
        self.increment("FramesReceived")
        try:
            packets = self._accept(message)
        except Refused as refusal:
            self.increment(refusal.channel)
            if refusal.alarm:
                self.farm.status |= refusal.alarm
                self.event("SecurityRefused", reason=refusal.reason, detail=refusal.detail)
            else:
                self.event("FrameRefused", reason=refusal.reason, detail=refusal.detail)
            self._report()
            return
        self._report()
        for packet in packets:
            if self.files.connections and self._file_packet(packet):
                self.files.send(FilePdu(packet[PRIMARY_HEADER_SIZE:]))
            else:
                self.tc.send(RawTelecommand((packet,)))

    def _file_packet(self, packet: bytes) -> bool:
        """Whether ``packet`` is a whole space packet of the file APID."""
        try:
            header = PrimaryHeader.unpack(packet)
        except PacketError:
            return False
        return header.apid == self.link.file_apid and header.packet_size == len(packet)

    def _accept(self, message: RawTelecommand) -> list[bytes]:
        """The packets of an accepted frame ([] for a control frame); :class:`Refused` otherwise."""
        if len(message.frames) != 1:
            raise Refused("RefusedFrame", "MULTIPART", f"{len(message.frames)} parts in one message, a frame is one")
        raw = message.frames[0]
        frame = self._frame(raw)
        if frame.header.control:
            return self._control(frame)
        if self.link.authenticated:
            try:
                frame = sdls.process(raw, self.sas, keys=self.keys.active_keys(), segment_header=self._segmented).frame
            except sdls.SdlsError as error:
                channel, alarm = SECURITY_REFUSALS.get(error.reason, ("RefusedFrame", 0))
                raise Refused(channel, error.reason.name, error.message, alarm) from None
        snapshot = copy.copy(self.farm)
        decision = self.farm.receive(frame.header.bypass, False, frame.header.sequence, frame.data)
        self._save(snapshot)
        if not decision.accepted:
            self._discarded(frame.header.sequence, decision.reason)
            return []
        self.increment("FramesAccepted")
        return self._packets(frame.data)

    def _packets(self, data: bytes) -> list[bytes]:
        """The packets of an accepted frame. Octets that are not a whole packet go on as one more
        message, and an empty data field as an empty one: the dispatcher refuses them with its
        reason in TM[1,2], as it does any malformed TC, so the ground hears of it."""
        packets, rest, error = cut_packets(data)
        if error is not None:
            self.event("PacketsMalformed", reason=error.reason.name, detail=error.message)
            packets.append(rest)
        return packets or [b""]

    def _frame(self, raw: bytes) -> TcFrame:
        try:
            frame = TcFrame.decode(raw, segment_header=self._segmented)
        except FrameError as error:
            raise Refused("RefusedFrame", error.reason.name, error.message) from None
        header = frame.header
        if header.scid != self.link.spacecraft_id or header.vcid != self.link.tc_vcid:
            raise Refused("RefusedFrame", "WRONG_CHANNEL", f"spacecraft {header.scid} VC {header.vcid}, this is "
                          f"spacecraft {self.link.spacecraft_id} VC {self.link.tc_vcid}")
        if frame.segment is not None and frame.segment.map_id != self.link.tc_map_id:
            raise Refused("RefusedFrame", "WRONG_MAP", f"MAP {frame.segment.map_id}, expected {self.link.tc_map_id}")
        return frame

    def _control(self, frame: TcFrame) -> list[bytes]:
        try:
            control = parse_control_command(frame.data)
        except FrameError as error:
            raise Refused("RefusedFrame", error.reason.name, error.message) from None
        snapshot = copy.copy(self.farm)
        decision = self.farm.receive(frame.header.bypass, True, frame.header.sequence, control)
        self._save(snapshot)
        if decision.accepted:
            self.event("ControlCommand", command=decision.reason.value, vr=self.farm.vr)
        else:
            self._discarded(frame.header.sequence, decision.reason)
        return []

    def _discarded(self, ns: int, reason: Reason) -> None:
        self.increment("FarmDiscarded")
        if reason is Reason.OUTSIDE_WINDOW:
            self.event("FarmLockout", ns=ns, vr=self.farm.vr)
        else:
            self.event("FarmDiscarded", ns=ns, reason=reason.value, vr=self.farm.vr)

    def _save(self, snapshot: Farm1) -> None:
        """Put the link state on disk; if it cannot be, undo the FARM's step and refuse the frame
        (the SA's counters stay where they moved: stricter, never looser, than the disk)."""
        state = {"vr": self.farm.vr, "sdls": sdls.save_receive_state(self.sas) if self.sas else None}
        try:
            assert self._state is not None
            self._state.save(state)
        except (OSError, DurableRecordError) as error:
            self.farm = snapshot
            raise Refused("RefusedState", "STATE_NOT_SAVED", f"the link state could not be saved: {error}") from None

    def _report(self) -> None:
        self.tlm("ReceiveVR", self.farm.vr)
        self.tlm("FarmLockout", self.farm.lockout)
        self.tlm("SecurityAlarm", self.farm.status)
        if self.keys is not None:
            self.tlm("SaKeyId", self.keys.sas.get(self.link.spi, 0))
        self.clcw.send(LinkStatus(self.farm.clcw().encode()))

    # --- commands -----------------------------------------------------------------------------
    @command(description="Clear the CLCW's security alarm bits (SecurityAlarm)")
    def RESET_SECURITY_ALARM(self) -> None:
        self.farm.status = 0
        self._report()

    @command(Field("key_id", DataType.U16), Field("wrapped_key", DataType.STRING),
             description="Load a key (hex of the 40-octet AES key wrap with the KEK) as preactive")
    def KEY_LOAD(self, key_id: int, wrapped_key: str) -> None:
        try:
            wrapped = bytes.fromhex(wrapped_key)
        except ValueError:
            raise CommandRefused("wrapped_key is not hex") from None
        self._key_change(lambda ring: ring.load_wrapped(key_id, wrapped), key_id, "loaded (preactive)")

    @command(Field("key_id", DataType.U16), description="Make a preactive key active")
    def KEY_ACTIVATE(self, key_id: int) -> None:
        self._key_change(lambda ring: ring.activate(key_id), key_id, "activated")

    @command(Field("key_id", DataType.U16), description="Deactivate a key no SA uses")
    def KEY_DEACTIVATE(self, key_id: int) -> None:
        self._key_change(lambda ring: ring.deactivate(key_id), key_id, "deactivated")

    @command(Field("spi", DataType.U16), Field("key_id", DataType.U16),
             description="The SA uses this active key from the next frame on (its counters continue)")
    def SA_REKEY(self, spi: int, key_id: int) -> None:
        if spi not in self.sas:
            raise CommandRefused(f"no SA {spi}")
        self._key_change(lambda ring: ring.rekey(spi, key_id), key_id, f"now protects SA {spi}")
        self.sas[spi].key_id = key_id

    def _key_change(self, change: Callable[[KeyRing], None], key_id: int, action: str) -> None:
        """Apply ``change`` to a copy of the ring, save it, then use it: a failure changes nothing."""
        if self.keys is None:
            raise CommandRefused("the link is not authenticated: it has no keys")
        ring = KeyRing.from_json(self.keys.to_json())
        try:
            change(ring)
        except KeyRingError as error:
            raise CommandRefused(str(error)) from None
        try:
            ring.save(self.context.run_file(self.link.key_file))
        except OSError as error:
            raise CommandError(f"the key file could not be saved ({error.strerror}): nothing changed") from None
        self.keys = ring
        self.event("KeyChanged", key_id=key_id, action=action)
        self._report()
