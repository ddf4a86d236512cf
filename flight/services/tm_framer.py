"""TmFramer: comms' downlink packets into TM transfer frames, one packetizer per virtual channel.

Which virtual channel (flight.wire.link): ST[200] products go on ``TM_PRODUCTS``, every other
report on ``TM_REALTIME``; a packet that waited in the store longer than ``playback_after_s`` of
mission time (the ground was away or behind) goes on ``TM_PLAYBACK`` instead. A batch of packets
comes out as whole frames: full frames as they fill, then each channel's last frame of the batch
closed with idle fill, so nothing waits in a packetizer between batches and a packet has left
the store once the frames of its batch are sent. Frames are stamped with the master channel
frame count in the order they are returned, which is the order comms sends them. Every frame
carries the latest CLCW (``clcw``) in its OCF; :meth:`TmFramer.clcw_frame` is a frame of idle
data on ``TM_IDLE`` that carries it when nothing else goes down. Given a
:class:`~flight.services.tm_security.TmSecurity`, every frame (idle ones too) leaves room for the
security header and trailer and goes out sealed under the TM SA.

| requirement | verified by |
|---|---|
| the packets of a batch come back from the ground's depacketizers whole, on the VC the rule |   |
|   picks, each VC in order; VC and MC counters run without gaps | tests/unit/services/test_tm_framer.py |
| every frame carries the CLCW given last | tests/unit/services/test_tm_framer.py |
| a packet whose header does not match its length is refused and counted, the others go |   |
|   | tests/unit/services/test_tm_framer.py |
| with TM SDLS every frame is sealed, in master channel order | tests/unit/services/test_tm_security.py |
"""
from __future__ import annotations

from collections.abc import Iterable

from flight.services.tm_security import TmSecurity
from flight.wire import services as st
from flight.wire.clcw import Clcw
from flight.wire.link import TM_IDLE, TM_PLAYBACK, TM_PRODUCTS, TM_REALTIME, TM_VIRTUAL_CHANNELS, LinkParameters
from flight.wire.tm_frame import MasterChannel, Packetizer, TmFrame

PUS_SERVICE_OCTET = 7  # the service type in a PUS-C TM packet: after the 6-octet header and the version octet


def virtual_channel(packet: bytes) -> int:
    """The VC a packet takes when it goes down without waiting: products or realtime."""
    return TM_PRODUCTS if packet[PUS_SERVICE_OCTET] == st.PRODUCT else TM_REALTIME


class TmFramer:
    def __init__(self, link: LinkParameters, security: TmSecurity | None = None) -> None:
        self.link = link
        self.security = security
        self.clcw = Clcw(link.tc_vcid, 0).encode()  # until the TC link reports
        self._master = MasterChannel(link.spacecraft_id)
        reserve = security.reserve if security is not None else (0, 0)
        self._packetizers = {vcid: Packetizer(link.spacecraft_id, vcid, link.tm_frame_length, self._ocf,
                                              reserve=reserve)
                             for vcid in (*TM_VIRTUAL_CHANNELS, TM_IDLE)}

    def _encode(self, frame: TmFrame) -> bytes:
        """The frame stamped with the next master channel count, sealed when the downlink is protected."""
        frame = self._master.stamp(frame)
        return frame.encode() if self.security is None else self.security.seal(frame)

    def _ocf(self) -> bytes:
        return self.clcw

    def clcw_frame(self) -> bytes:
        """A frame of idle data on TM_IDLE: it carries the CLCW when nothing else goes down."""
        return self._encode(self._packetizers[TM_IDLE].flush())

    def frames(self, packets: Iterable[tuple[bytes, int, float]], now: float) -> tuple[list[bytes], int]:
        """The encoded frames carrying ``packets`` (packet, its VC, the mission time it was stored),
        and how many packets were refused: one whose header no longer matches its length (an upset
        in the store) would desynchronise the ground, so it is left out and counted."""
        used: list[int] = []
        out = []
        refused = 0
        for packet, vcid, stored in packets:
            if now - stored > self.link.playback_after_s:
                vcid = TM_PLAYBACK
            packetizer = self._packetizers[vcid]
            try:
                packetizer.add(packet)
            except ValueError:
                refused += 1
                continue
            if vcid not in used:
                used.append(vcid)
            if packetizer.pending >= packetizer.capacity:
                out += packetizer.frames()
        for vcid in used:
            if self._packetizers[vcid].pending:
                out.append(self._packetizers[vcid].flush())
        return [self._encode(frame) for frame in out], refused
