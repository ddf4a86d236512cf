"""CCSDS TM Transfer Frames (CCSDS 132.0-B-3): fixed-length frames that carry space packets on
up to eight virtual channels of one spacecraft.

Why: a radio link carries a continuous stream of fixed-length frames, not packets of any size.
The frame counters let the ground see what the link lost, the Frame Error Control Field lets it
refuse a corrupted frame, and the first header pointer lets it find the next packet after a
loss. This module is library code: the flight side (a :class:`Packetizer` per virtual channel
and one :class:`MasterChannel`) and the ground side (a :class:`Depacketizer` per virtual channel
and one :class:`MasterChannelMonitor`). Comms and the ground wire it in.

Layout (octets; bit 0 is the most significant; every frame of a channel has the same length,
``frame_length``, from ``MIN_FRAME_LENGTH`` to ``MAX_FRAME_LENGTH``)::

    0-1   transfer frame version (2 bits, 00) | spacecraft id (10) | virtual channel id (3) |
          operational control field flag (1)
    2     master channel frame count (mod 256)
    3     virtual channel frame count (mod 256)
    4-5   data field status: secondary header flag (0) | synchronisation flag (0) |
          packet order flag (0) | segment length id (11) | first header pointer (11 bits)
    6..   data field: frame_length - 8, or - 12 with an OCF (no secondary header)
    [4]   operational control field, when the OCF flag is set (4 opaque octets: the CLCW is
          built elsewhere)
    last 2  frame error control field: CRC-16/CCITT-FALSE of every octet before it

Rules:
- Spanning: packets are packed back to back in the data fields of consecutive frames of their
  virtual channel, and a packet spans as many frames as it needs. The first header pointer
  (FHP) is the offset in the data field of the first packet that *starts* in the frame; 0x7FF
  when none does (the frame is the middle of one packet); 0x7FE for a frame of only idle data.
- Closing a frame: the packetizer hands out a frame when a data field's worth is waiting
  (:meth:`Packetizer.next_frame`); the caller decides when a frame must go out anyway
  (:meth:`Packetizer.flush`, e.g. on a timer). Then the rest of the data field is filled with
  one idle packet (CCSDS 133.0-B-2: TM, APID 0x7FF, no secondary header, unsegmented, its own
  14-bit sequence count, data octets 0x55). An idle packet is at least 7 octets: when fewer
  than 7 remain, the idle packet is 7 octets and its tail opens the next frame (the FHP of that
  frame points past it), as any spanning packet does. With nothing waiting at all, the frame is
  only idle data: FHP 0x7FE and a data field of 0x55. Idle packets never come out of the
  depacketizer, and the packetizer refuses a packet on APID 0x7FF.
- Counters: the virtual channel frame count is per packetizer, the master channel frame count
  is shared by all the virtual channels of a spacecraft and stamped by :class:`MasterChannel` on
  each frame as it goes out, in the order they go out; both wrap at 256.
- Gaps: the depacketizer expects each frame's VC count to be the previous one plus one (mod
  256); a difference of ``d`` is ``d`` frames missing. The packet being assembled is then
  discarded (counted, never delivered) and assembly resumes at the FHP of the next frame that
  has one; the octets before it (the rest of packets whose start was lost) are counted as
  skipped. The monitor does the same across virtual channels with the MC count. In sync, the
  depacketizer also checks each FHP against its own parsing (and that no idle-data frame cuts a
  packet); a disagreement discards the packet in assembly and resynchronises at the FHP.
  A partial packet whose whole header arrived and names APID 0x7FF is idle fill: dropped, not
  counted as discarded; one whose header was cut cannot be told from data and is counted.
- Limits: an 8-bit count cannot tell a loss of ``n`` frames from one of ``n + 256``: a burst of
  256 lost frames (or any multiple) is invisible, one of 257 reads as 1 missing, a repeated or
  reordered frame reads as 255. After an invisible burst the FHP check catches most splices of
  two packets but not all (the packet's own CRC, PUS-C, then refuses it). Frames lost before
  the first one received are not seen; frames lost last are seen when the next one arrives.
- Frame length: 2048 at most (the FHP's 11 bits) and 32 at least (a data field of 20 octets
  with an OCF: room for a 7-octet idle packet after the 6-octet tail of another). With SDLS
  (:mod:`flight.wire.sdls_tm`), ``Packetizer(reserve=(header, trailer))`` leaves room for the
  security header and trailer: the data field shrinks by both and must still be 20 octets or
  more; its frames (``TmFrame.reserved``) go out through ``sdls_tm.apply``. The flight
  side is thread-safe (one lock per packetizer, one for the master channel); the ground side
  is for one thread.

| requirement | verified by |
| any packets, any frame length, with or without an OCF, come back byte for byte and in order; |   |
|   idle fill never comes out; counters wrap at 256 | tests/unit/wire/test_tm_frame.py |
| every single-bit flip of a frame is refused by decode | tests/unit/wire/test_tm_frame.py |
| with frames dropped, only intact packets come out, in order; gaps equal the frames dropped |   |
|   (VC and MC counters); packets partly received are counted as discarded, never delivered |   |
|   | tests/unit/wire/test_tm_frame.py |
| a frame built byte by byte from the standard's layout equals encode(); FHP 0x7FF and 0x7FE |   |
|   behave as specified; spacepackets reads our frames and we read its own | tests/unit/wire/test_tm_frame.py |
| too short, wrong length, wrong version, bad CRC, bad FHP (and the other refusals) are named |   |
|   | tests/unit/wire/test_tm_frame.py |
| room reserved for SDLS shrinks the data field; packets still come back through apply/process |   |
|   | tests/unit/wire/test_sdls_tm.py |
"""
from __future__ import annotations

import collections
import enum
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from native import crc16_ccitt_false

from flight.wire.failure import PacketError
from flight.wire.spacepacket import (PRIMARY_HEADER_SIZE, SEQUENCE_COUNT_MODULO, PacketType, PrimaryHeader,
                                     read_header)

FRAME_HEADER_SIZE = 6
OCF_SIZE = 4
FECF_SIZE = 2
MIN_FRAME_LENGTH = 32            # a data field of at least 20 octets, with an OCF
MIN_DATA_FIELD_LENGTH = 20       # also when room is reserved for SDLS (flight.wire.sdls_tm)
MAX_FRAME_LENGTH = 2048          # CCSDS 132.0-B-3: the FHP's 11 bits address at most 2048 octets
MAX_SPACECRAFT_ID = 0x3FF
MAX_VCID = 7
COUNT_MODULO = 256
NO_PACKET_START = 0x7FF          # FHP: no packet starts in this frame
ONLY_IDLE_DATA = 0x7FE           # FHP: the data field is idle data only
SEGMENT_LENGTH_ID = 0b11         # required with the synchronisation flag at 0
IDLE_APID = 0x7FF
IDLE_OCTET = 0x55
MIN_PACKET_SIZE = PRIMARY_HEADER_SIZE + 1


class FrameFault(enum.Enum):
    """Why decode refused a frame."""

    TOO_SHORT = "fewer octets than the frame length"
    WRONG_LENGTH = "more octets than the frame length"
    BAD_CRC = "the frame error control field does not match the contents"
    WRONG_VERSION = "transfer frame version is not 00"
    OCF_FLAG_MISMATCH = "the OCF flag disagrees with the channel's configuration"
    BAD_DATA_FIELD_STATUS = "secondary header, sync or packet order flag set, or segment length id not 11"
    BAD_FIRST_HEADER_POINTER = "first header pointer beyond the data field"


class TmFrameError(ValueError):
    """A frame refused by :meth:`TmFrame.decode`, for a :class:`FrameFault`."""

    def __init__(self, reason: FrameFault, message: str) -> None:
        super().__init__(f"{reason.name}: {message}")
        self.reason = reason
        self.message = message


def check_frame_length(frame_length: int, has_ocf: bool, reserve: int = 0) -> int:
    """The data field length of frames of ``frame_length`` octets, ``reserve`` of which go to an
    SDLS security header and trailer; ValueError outside the range or below 20 octets."""
    if not MIN_FRAME_LENGTH <= frame_length <= MAX_FRAME_LENGTH:
        raise ValueError(f"frame length {frame_length} outside {MIN_FRAME_LENGTH}..{MAX_FRAME_LENGTH}")
    if reserve < 0:
        raise ValueError(f"{reserve} octets reserved for SDLS")
    size = frame_length - FRAME_HEADER_SIZE - FECF_SIZE - (OCF_SIZE if has_ocf else 0) - reserve
    if size < MIN_DATA_FIELD_LENGTH:
        raise ValueError(f"frame length {frame_length} with {reserve} octets reserved for SDLS leaves a data field "
                         f"of {size} octets, at least {MIN_DATA_FIELD_LENGTH} are needed")
    return size


@dataclass(frozen=True)
class TmFrame:
    """One TM transfer frame. ``data`` is the whole data field; ``ocf`` the 4 OCF octets or None.

    ``reserved``: (security header, security trailer) octets the frame leaves for SDLS
    (:mod:`flight.wire.sdls_tm`); ``data`` is then the data field without them, ``length``
    counts them, and the frame goes out through ``sdls_tm.apply``, not :meth:`encode`."""

    spacecraft_id: int
    vcid: int
    mc_frame_count: int
    vc_frame_count: int
    first_header_pointer: int
    data: bytes
    ocf: bytes | None = None
    reserved: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", bytes(self.data))          # frozen: no bytearray inside
        if self.ocf is not None:
            object.__setattr__(self, "ocf", bytes(self.ocf))
        object.__setattr__(self, "reserved", check_reserve(self.reserved))
        fields = (("spacecraft id", self.spacecraft_id, MAX_SPACECRAFT_ID), ("VCID", self.vcid, MAX_VCID),
                  ("MC frame count", self.mc_frame_count, COUNT_MODULO - 1),
                  ("VC frame count", self.vc_frame_count, COUNT_MODULO - 1))
        for name, value, top in fields:
            if not 0 <= value <= top:
                raise ValueError(f"{name} {value} outside 0..{top}")
        if self.ocf is not None and len(self.ocf) != OCF_SIZE:
            raise ValueError(f"OCF of {len(self.ocf)} octets, must be {OCF_SIZE}")
        check_frame_length(self.length, self.ocf is not None, sum(self.reserved))
        if not fhp_is_valid(self.first_header_pointer, len(self.data)):
            raise ValueError(f"first header pointer {self.first_header_pointer:#x} outside a data field "
                             f"of {len(self.data)} octets")

    @classmethod
    def prechecked(cls, spacecraft_id: int, vcid: int, mc_frame_count: int, vc_frame_count: int,
                   first_header_pointer: int, data: bytes, ocf: bytes | None, reserved: tuple[int, int]) -> "TmFrame":
        """A frame from fields its maker has already checked (a packetizer's, a decoded frame's),
        without checking them again: frames are made at the downlink's rate."""
        frame = object.__new__(cls)
        frame.__dict__.update(spacecraft_id=spacecraft_id, vcid=vcid, mc_frame_count=mc_frame_count,
                              vc_frame_count=vc_frame_count, first_header_pointer=first_header_pointer, data=data,
                              ocf=ocf, reserved=reserved)
        return frame

    def with_mc_frame_count(self, count: int) -> "TmFrame":
        """This frame with master channel frame count ``count`` (ValueError outside 0..255)."""
        if not 0 <= count < COUNT_MODULO:
            raise ValueError(f"MC frame count {count} outside 0..{COUNT_MODULO - 1}")
        fields = dict(self.__dict__, mc_frame_count=count)
        return self.prechecked(**fields)

    @property
    def length(self) -> int:
        """The frame's length in octets, once encoded."""
        return (FRAME_HEADER_SIZE + sum(self.reserved) + len(self.data) + (OCF_SIZE if self.ocf is not None else 0)
                + FECF_SIZE)

    @property
    def only_idle_data(self) -> bool:
        return self.first_header_pointer == ONLY_IDLE_DATA

    def pack_header(self) -> bytes:
        """The 6 octets of the primary header."""
        ids = (self.spacecraft_id << 4) | (self.vcid << 1) | int(self.ocf is not None)  # version 00
        status = (SEGMENT_LENGTH_ID << 11) | self.first_header_pointer
        return struct.pack(">HBBH", ids, self.mc_frame_count, self.vc_frame_count, status)

    def encode(self) -> bytes:
        """The frame's octets, FECF included (ValueError for a frame with room reserved for SDLS)."""
        if self.reserved != (0, 0):
            raise ValueError(f"a frame with {self.reserved} octets reserved for SDLS goes out through sdls_tm.apply")
        body = b"".join((self.pack_header(), self.data, self.ocf or b""))
        return body + crc16_ccitt_false(body).to_bytes(FECF_SIZE, "big")

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview, frame_length: int, has_ocf: bool) -> "TmFrame":
        """The frame in ``data``; :class:`TmFrameError` naming the first fault found."""
        data_size = check_frame_length(frame_length, has_ocf)
        if len(data) < frame_length:
            raise TmFrameError(FrameFault.TOO_SHORT, f"{len(data)} octets, frames are {frame_length}")
        if len(data) > frame_length:
            raise TmFrameError(FrameFault.WRONG_LENGTH, f"{len(data)} octets, frames are {frame_length}")
        raw = bytes(data)
        if crc16_ccitt_false(raw) != 0:
            computed = crc16_ccitt_false(raw[:-FECF_SIZE])
            raise TmFrameError(FrameFault.BAD_CRC, f"FECF {raw[-FECF_SIZE:].hex()}, contents give {computed:04x}")
        ids, mc_count, vc_count, status = struct.unpack_from(">HBBH", raw)
        if ids >> 14:
            raise TmFrameError(FrameFault.WRONG_VERSION, f"version {ids >> 14}, expected 0")
        if bool(ids & 1) != has_ocf:
            raise TmFrameError(FrameFault.OCF_FLAG_MISMATCH, f"OCF flag {ids & 1}, channel has_ocf={has_ocf}")
        if status >> 11 != SEGMENT_LENGTH_ID:
            raise TmFrameError(FrameFault.BAD_DATA_FIELD_STATUS, f"data field status {status:#06x}")
        fhp = status & NO_PACKET_START
        if not fhp_is_valid(fhp, data_size):
            raise TmFrameError(FrameFault.BAD_FIRST_HEADER_POINTER,
                               f"FHP {fhp:#x} in a data field of {data_size} octets")
        end = FRAME_HEADER_SIZE + data_size
        return cls.prechecked((ids >> 4) & MAX_SPACECRAFT_ID, (ids >> 1) & MAX_VCID, mc_count, vc_count, fhp,
                              raw[FRAME_HEADER_SIZE:end], raw[end:end + OCF_SIZE] if has_ocf else None, (0, 0))


def check_reserve(reserve: tuple[int, int]) -> tuple[int, int]:
    """``reserve`` as a (security header, security trailer) pair of octet counts; ValueError if it is not one."""
    try:
        header, trailer = reserve
    except (TypeError, ValueError):
        raise ValueError(f"reserve {reserve!r} is not (security header octets, security trailer octets)") from None
    if not (isinstance(header, int) and isinstance(trailer, int) and header >= 0 and trailer >= 0):
        raise ValueError(f"reserve {reserve!r}: two octet counts, 0 or more")
    return header, trailer


def fhp_is_valid(fhp: int, data_size: int) -> bool:
    """Whether ``fhp`` is an offset inside a data field of ``data_size`` octets or a special value."""
    return 0 <= fhp < data_size or fhp in (NO_PACKET_START, ONLY_IDLE_DATA)


def idle_packet(size: int, sequence_count: int = 0) -> bytes:
    """An idle packet of ``size`` octets (at least 7): TM, APID 0x7FF, data octets 0x55."""
    if size < MIN_PACKET_SIZE:
        raise ValueError(f"an idle packet is at least {MIN_PACKET_SIZE} octets, not {size}")
    header = PrimaryHeader(PacketType.TM, IDLE_APID, sequence_count, size - MIN_PACKET_SIZE,
                           secondary_header=False)
    return header.pack() + bytes([IDLE_OCTET]) * (size - PRIMARY_HEADER_SIZE)


class Packetizer:
    """Flight side of one virtual channel: packets in, fixed-length frames out (thread-safe).

    ``ocf``, when given, is called for each frame built and returns its 4 OCF octets (the CLCW).
    ``reserve``: (security header, security trailer) octets to leave in each frame for SDLS
    (``sdls_tm.reserve(sa)``); the data field shrinks by both and the frames are protected and
    sent with ``sdls_tm.apply``. Frames come out with MC frame count 0:
    :meth:`MasterChannel.stamp` sets it as they go out.
    """

    def __init__(self, spacecraft_id: int, vcid: int, frame_length: int,
                 ocf: Callable[[], bytes] | None = None, *, reserve: tuple[int, int] = (0, 0)) -> None:
        if not 0 <= spacecraft_id <= MAX_SPACECRAFT_ID or not 0 <= vcid <= MAX_VCID:
            raise ValueError(f"spacecraft id {spacecraft_id} or VCID {vcid} out of range")
        self.spacecraft_id = spacecraft_id
        self.vcid = vcid
        self.frame_length = frame_length
        self.reserve = check_reserve(reserve)
        self.capacity = check_frame_length(frame_length, ocf is not None, sum(self.reserve))
        self._ocf = ocf
        self._buffer = bytearray()                          # octets not yet in a frame
        self._base = 0                                      # stream position of _buffer[0]
        self._starts: collections.deque[int] = collections.deque()  # stream positions of packet starts
        self._vc_count = 0
        self._idle_count = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Octets waiting for a frame (packets, and the tail of an idle packet that spans)."""
        return len(self._buffer)

    @property
    def vc_frame_count(self) -> int:
        """The VC frame count the next frame will carry."""
        return self._vc_count

    def add(self, packet: bytes | bytearray | memoryview) -> None:
        """Queue one encoded space packet; ValueError if it is not one whole packet or is idle."""
        packet = bytes(packet)
        try:
            packet_id, _, data_length = read_header(packet)
        except PacketError as exc:
            raise ValueError(f"not a space packet: {exc}") from exc
        if data_length + MIN_PACKET_SIZE != len(packet):
            raise ValueError(f"{len(packet)} octets, the header announces {data_length + MIN_PACKET_SIZE}")
        if packet_id & IDLE_APID == IDLE_APID:
            raise ValueError("APID 0x7FF is idle fill: the ground drops it")
        with self._lock:
            self._starts.append(self._base + len(self._buffer))
            self._buffer += packet

    def next_frame(self) -> TmFrame | None:
        """A full frame when a data field's worth is waiting, else None."""
        with self._lock:
            return self._take() if len(self._buffer) >= self.capacity else None

    def frames(self) -> list[TmFrame]:
        """Every full frame that can be made now (the rest waits for more packets or a flush)."""
        out = []
        while (frame := self.next_frame()) is not None:
            out.append(frame)
        return out

    def flush(self) -> TmFrame:
        """One frame now: full if enough is waiting, else what waits plus an idle packet, else only idle data."""
        with self._lock:
            if not self._buffer:
                return self._frame(ONLY_IDLE_DATA, bytes([IDLE_OCTET]) * self.capacity, self._next_ocf())
            room = self.capacity - len(self._buffer)
            if room > 0:
                self._starts.append(self._base + len(self._buffer))
                self._buffer += idle_packet(max(room, MIN_PACKET_SIZE), self._idle_count)
                self._idle_count = (self._idle_count + 1) % SEQUENCE_COUNT_MODULO
            return self._take()

    def _take(self) -> TmFrame:
        """The frame of the next ``capacity`` octets of the stream (the lock held)."""
        ocf = self._next_ocf()                  # before anything changes: a bad OCF loses no data
        end = self._base + self.capacity
        fhp = NO_PACKET_START
        if self._starts and self._starts[0] < end:
            fhp = self._starts[0] - self._base
            while self._starts and self._starts[0] < end:
                self._starts.popleft()
        data = bytes(self._buffer[:self.capacity])
        del self._buffer[:self.capacity]
        self._base = end
        return self._frame(fhp, data, ocf)

    def _next_ocf(self) -> bytes | None:
        if self._ocf is None:
            return None
        ocf = bytes(self._ocf())
        if len(ocf) != OCF_SIZE:
            raise ValueError(f"the OCF source gave {len(ocf)} octets, an OCF is {OCF_SIZE}")
        return ocf

    def _frame(self, fhp: int, data: bytes, ocf: bytes | None) -> TmFrame:
        """The next frame of this channel: its data field is ``capacity`` octets and its FHP points
        into it, by construction, so it is not checked again."""
        frame = TmFrame.prechecked(self.spacecraft_id, self.vcid, 0, self._vc_count, fhp, data, ocf, self.reserve)
        self._vc_count = (self._vc_count + 1) % COUNT_MODULO
        return frame


class MasterChannel:
    """The master channel of one spacecraft: stamps the shared MC frame count on frames as they go out."""

    def __init__(self, spacecraft_id: int) -> None:
        if not 0 <= spacecraft_id <= MAX_SPACECRAFT_ID:
            raise ValueError(f"spacecraft id {spacecraft_id} outside 0..{MAX_SPACECRAFT_ID}")
        self.spacecraft_id = spacecraft_id
        self._count = 0
        self._lock = threading.Lock()

    def stamp(self, frame: TmFrame) -> TmFrame:
        """``frame`` with the next MC frame count; call it in the order frames are sent."""
        if frame.spacecraft_id != self.spacecraft_id:
            raise ValueError(f"frame of spacecraft {frame.spacecraft_id} on master channel {self.spacecraft_id}")
        with self._lock:
            count, self._count = self._count, (self._count + 1) % COUNT_MODULO
        return frame.with_mc_frame_count(count)


class _CounterWatch:
    """Continuity of an 8-bit frame counter: how many frames are missing before each one."""

    def __init__(self) -> None:
        self._expected: int | None = None

    def missing(self, count: int) -> int:
        missing = 0 if self._expected is None else (count - self._expected) % COUNT_MODULO
        self._expected = (count + 1) % COUNT_MODULO
        return missing


class MasterChannelMonitor:
    """Ground side of a master channel: MC frame count gaps across all its virtual channels."""

    def __init__(self, spacecraft_id: int) -> None:
        self.spacecraft_id = spacecraft_id
        self.frames = 0
        self.gaps = 0               # frames missing, as the MC count tells (mod 256)
        self._watch = _CounterWatch()

    def push(self, frame: TmFrame) -> int:
        """Account for a received frame; return how many frames are missing just before it."""
        if frame.spacecraft_id != self.spacecraft_id:
            raise ValueError(f"frame of spacecraft {frame.spacecraft_id} on monitor of {self.spacecraft_id}")
        self.frames += 1
        missing = self._watch.missing(frame.mc_frame_count)
        self.gaps += missing
        return missing


class _Desync(Exception):
    """The stream is not where the depacketizer thought (a packet header of the wrong version)."""


class Depacketizer:
    """Ground side of one virtual channel: frames in, whole space packets out, in order.

    Counters: ``frames`` received, ``packets`` delivered, ``idle_packets`` dropped, ``gaps``
    (frames missing, from the VC count), ``discarded`` (packets partly received and thrown away),
    ``skipped_octets`` (data ignored while out of sync: the ends of packets whose start was lost).
    """

    def __init__(self, spacecraft_id: int, vcid: int) -> None:
        self.spacecraft_id = spacecraft_id
        self.vcid = vcid
        self.frames = self.packets = self.idle_packets = 0
        self.gaps = self.discarded = self.skipped_octets = 0
        self._watch = _CounterWatch()
        self._in_sync = False                   # whether the next data octet's place in a packet is known
        self._partial = bytearray()             # the packet in assembly

    def push(self, frame: TmFrame) -> list[bytes]:
        """The packets this frame completes, in order (idle packets left out)."""
        if (frame.spacecraft_id, frame.vcid) != (self.spacecraft_id, self.vcid):
            raise ValueError(f"frame of spacecraft {frame.spacecraft_id} VC {frame.vcid} on depacketizer of "
                             f"spacecraft {self.spacecraft_id} VC {self.vcid}")
        self.frames += 1
        missing = self._watch.missing(frame.vc_frame_count)
        if missing:
            self.gaps += missing
            self._lose_sync()
        fhp, data = frame.first_header_pointer, frame.data
        if fhp == ONLY_IDLE_DATA:
            if self._partial:                   # a packet cannot be interrupted by idle data
                self._lose_sync()
            return []
        out: list[bytes] = []
        if self._in_sync and not self._continue(data, fhp, out):
            self._lose_sync()
        if not self._in_sync:
            if fhp == NO_PACKET_START:
                self.skipped_octets += len(data)
                return out
            self.skipped_octets += fhp
            self._in_sync = True
        if fhp != NO_PACKET_START:
            try:
                self._parse(data[fhp:], out)
            except _Desync:
                self._lose_sync()
        return out

    def _continue(self, data: bytes, fhp: int, out: list[bytes]) -> bool:
        """Feed the packet in assembly from the frame's start; False if the FHP disagrees."""
        head = len(data) if fhp == NO_PACKET_START else fhp
        try:
            taken, done = self._fill(data[:head]) if self._partial else (0, False)
        except _Desync:
            return False
        if taken != head or (fhp != NO_PACKET_START and self._partial and not done):
            return False
        if done:
            self._finish(out)
        return True

    def _parse(self, data: bytes, out: list[bytes]) -> None:
        """Assemble packets from a packet boundary to the end of the data field (nothing in
        assembly): each packet wholly inside it is cut out at once, and the one that runs past
        its end starts the next assembly."""
        position, end = 0, len(data)
        while end - position >= PRIMARY_HEADER_SIZE:
            try:
                packet_id, _, data_length = read_header(data, position)
            except PacketError as exc:
                self._partial += data[position:position + PRIMARY_HEADER_SIZE]
                raise _Desync(str(exc)) from exc
            size = data_length + MIN_PACKET_SIZE
            if size > end - position:
                break
            if packet_id & IDLE_APID == IDLE_APID:
                self.idle_packets += 1
            else:
                self.packets += 1
                out.append(data[position:position + size])
            position += size
        self._partial += data[position:]

    def _fill(self, chunk: bytes) -> tuple[int, bool]:
        """Append to the packet in assembly what it still needs from ``chunk``: (octets taken, complete)."""
        taken = min(max(PRIMARY_HEADER_SIZE - len(self._partial), 0), len(chunk))
        self._partial += chunk[:taken]
        if len(self._partial) < PRIMARY_HEADER_SIZE:
            return taken, False
        size = self._size()
        more = min(size - len(self._partial), len(chunk) - taken)
        self._partial += chunk[taken:taken + more]
        return taken + more, len(self._partial) == size

    def _size(self) -> int:
        """The size the header of the packet in assembly announces (its 6 octets are there)."""
        try:
            return read_header(self._partial)[2] + MIN_PACKET_SIZE
        except PacketError as exc:
            raise _Desync(str(exc)) from exc

    def _apid(self) -> int | None:
        return (int.from_bytes(self._partial[:2], "big") & IDLE_APID) if len(self._partial) >= 2 else None

    def _finish(self, out: list[bytes]) -> None:
        if self._apid() == IDLE_APID:
            self.idle_packets += 1
        else:
            self.packets += 1
            out.append(bytes(self._partial))
        self._partial = bytearray()

    def _lose_sync(self) -> None:
        """Throw away the packet in assembly (counted unless known to be idle fill) and wait for an FHP."""
        if self._partial and not (len(self._partial) >= PRIMARY_HEADER_SIZE and self._apid() == IDLE_APID):
            self.discarded += 1
        self._partial = bytearray()
        self._in_sync = False
