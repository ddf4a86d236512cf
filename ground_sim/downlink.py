"""Downlink: the ground's receiving side of the link: TM transfer frames in, space packets out.

Each ZeroMQ message from the flight is one TM frame (flight.wire.tm_frame) of the dictionary's
``tm_frame_length``. A frame that fails its checks (length, FECF, version, OCF flag, another
spacecraft) is counted by reason and given nowhere. A good one: its CLCW goes to the uplink's
FOP-1, the master channel count shows frames lost across all channels, and its virtual
channel's depacketizer the frames lost on that channel (from the VC count) and the packets
they took with them; the packets it completes come out, in order per channel.

With TM SDLS (``tm_sdls``, flight.wire.sdls_tm) a frame is verified under the TM SA before any of
it is used; one that fails (forged, altered, replayed, another SA) is refused by its SDLS reason
like a bad frame, its CLCW unused. A ground without the key file cannot verify: it reads
authentication-only frames unverified (``verified`` False, counted in ``unverified``) and
refuses encrypted ones. Its receive state is not kept across ground restarts.

| requirement | verified by |
|---|---|
| the packets of the flight's frames come out whole, per VC in order; gaps per VC and for the |   |
|   master channel equal the frames lost; a bad frame is counted, never fatal (hypothesis) |   |
|   | tests/unit/ground/test_downlink.py |
| with TM SDLS a forged or altered frame is refused by reason, nothing of it used | tests/unit/ground/test_downlink.py |
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Callable

from flight.wire import sdls_tm
from flight.wire.keyfile import KeyRing
from flight.wire.link import TM_IDLE, TM_VIRTUAL_CHANNELS, LinkParameters
from flight.wire.sdls import SdlsError
from flight.wire.tm_frame import Depacketizer, MasterChannelMonitor, TmFrame, TmFrameError


@dataclass
class ChannelStats:
    frames: int = 0
    gaps: int = 0            # frames missing (VC frame count)
    packets: int = 0
    discarded: int = 0       # packets partly received (a frame of them was lost)


@dataclass
class DownlinkStats:
    frames: int = 0
    bad_frames: collections.Counter = field(default_factory=collections.Counter)  # reason -> frames
    master_gaps: int = 0
    unverified: int = 0      # frames read without checking their MAC (a ground without the key)
    channels: dict[str, ChannelStats] = field(default_factory=dict)

    @property
    def gaps(self) -> int:
        return sum(c.gaps for c in self.channels.values())


class Downlink:
    """For one thread (the ground's receiving thread)."""

    def __init__(self, link: LinkParameters, on_clcw: Callable[[bytes], None] | None = None,
                 keys: KeyRing | None = None) -> None:
        self.link = link
        self._on_clcw = on_clcw
        self.sa = link.tm_security_association(keys.key_id_of(link.tm_spi) if keys else 0) \
            if link.tm_authenticated else None
        self._keys = keys.active_keys() if keys else None
        self._sas = {self.sa.spi: self.sa} if self.sa is not None else {}
        self.verified = self.sa is None or keys is not None
        self._master = MasterChannelMonitor(link.spacecraft_id)
        self._channels = {vcid: Depacketizer(link.spacecraft_id, vcid) for vcid in TM_VIRTUAL_CHANNELS}
        self.stats = DownlinkStats(channels={name: ChannelStats() for name in TM_VIRTUAL_CHANNELS.values()})
        self.last_refusal: str | None = None  # why the last refused frame was refused

    def frame(self, raw: bytes) -> TmFrame | None:
        """The frame in ``raw``, counted; None (and the reason counted) if it is refused."""
        self.stats.frames += 1
        try:
            frame = self._open(raw)
        except TmFrameError as error:
            return self._refuse(error.reason.name, str(error))
        except SdlsError as error:
            return self._refuse(error.reason.name, str(error))
        if frame.spacecraft_id != self.link.spacecraft_id:
            return self._refuse("WRONG_SPACECRAFT", f"spacecraft {frame.spacecraft_id}, this link's is "
                                f"{self.link.spacecraft_id}")
        if frame.vcid not in self._channels and frame.vcid != TM_IDLE:
            return self._refuse("UNKNOWN_VIRTUAL_CHANNEL", f"VC {frame.vcid}")
        return frame

    def _open(self, raw: bytes) -> TmFrame:
        """The frame, verified and opened when the downlink is protected."""
        length = self.link.tm_frame_length
        if self.sa is None:
            return TmFrame.decode(raw, length, has_ocf=True)
        if self._keys is None:
            frame = sdls_tm.unverified(raw, self.sa, length, has_ocf=True)
            self.stats.unverified += 1
            return frame
        return sdls_tm.process(raw, self._sas, length, True, keys=self._keys).frame

    def _refuse(self, reason: str, detail: str) -> None:
        self.stats.bad_frames[reason] += 1
        self.last_refusal = f"{reason}: {detail}" if not detail.startswith(reason) else detail
        return None

    def packets(self, frame: TmFrame) -> list[bytes]:
        """Account for a good frame, hand its CLCW on; the packets it completes."""
        self.stats.master_gaps += self._master.push(frame)
        if frame.ocf is not None and self._on_clcw is not None:
            self._on_clcw(frame.ocf)
        channel = self._channels.get(frame.vcid)
        if channel is None:  # the idle channel: a CLCW, no data
            return []
        packets = channel.push(frame)
        stats = self.stats.channels[TM_VIRTUAL_CHANNELS[frame.vcid]]
        stats.frames, stats.gaps = channel.frames, channel.gaps
        stats.packets, stats.discarded = channel.packets, channel.discarded
        return packets
