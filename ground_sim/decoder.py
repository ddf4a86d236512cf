"""TmDecoder: raw TM packets into named values, using the flight's dictionary only.

Kinds: ``verification`` (:class:`VerificationReport`), ``housekeeping`` (channel name -> value),
``event`` (:class:`EventRecord`), ``parameters`` (name -> value), ``ping``, ``product``
(:class:`flight.messages.Product`), ``schedule`` (TM[11,10]: a list of
:class:`flight.wire.scheduling.Activity`) and ``schedule summary`` (TM[11,13]: a list of (release
time, request id)), ``time report`` (TM[9,2]: a :class:`flight.wire.time_management.TimeReport`).
A packet that fails its CRC or layout raises ValueError with the
reason; the station archives it with that reason and counts it.

A housekeeping structure of fixed-size channels (no strings) is decoded with one ``struct``
unpack, its layout compiled once per structure; any other, or a report whose length does not
match, is decoded channel by channel, which names what is wrong.

| requirement | verified by |
|---|---|
| the one-unpack and the channel-by-channel decodings agree on every structure; bad lengths and |   |
|   bad booleans are refused with their reason (hypothesis) | tests/unit/ground/test_ground.py |
"""
from __future__ import annotations

import operator
import struct
from dataclasses import dataclass
from typing import Any, Callable

from flight.core.types import DataType, Severity, decode_fields
from flight.messages import Product
from flight.wire import file_management as fm
from flight.wire import scheduling as sched
from flight.wire import sequencing as sq
from flight.wire import services as st
from flight.wire import time_management as tm9
from flight.wire.dictionary import Dictionary
from flight.wire.pus import TelemetryPacket
from ground_sim.onboard_reports import decode_onboard


@dataclass(frozen=True)
class EventRecord:
    name: str
    severity: Severity
    args: dict[str, Any]
    text: str
    time: float


@dataclass(frozen=True)
class Decoded:
    packet: TelemetryPacket
    kind: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, st.VerificationReport):
            value = {"stage": value.stage.name, "success": value.success,
                     "request_id": value.request_id.hex(), "code": value.code}
        elif isinstance(value, EventRecord):
            value = {"name": value.name, "severity": value.severity.name, "args": value.args,
                     "text": value.text}
        elif self.kind == "schedule":
            value = [{"release": a.release_seconds, "packet": a.packet.hex()} for a in value]
        elif self.kind == "schedule summary":
            value = [{"release": t / sched.CUC_TICKS, "request_id": str(rid)} for t, rid in value]
        elif self.kind == "directory":
            value = {"repository": value[0], "entries": [{"name": e.name, "size": e.size, "directory": e.directory}
                                                         for e in value[1]]}
        elif isinstance(value, tm9.TimeReport):
            value = {"exponent": value.exponent, "time": value.time}
        elif isinstance(value, Product):
            value = {**{k: getattr(value, k) for k in ("frame_id", "tile_class", "confidence",
                                                       "cloud_fraction", "latency_us", "card")},
                     "fire_cells": value.fire_cells.astype(int).tolist()}
        return {"kind": self.kind, "time": self.packet.time, "value": value}


@dataclass(frozen=True)
class HousekeepingLayout:
    """A structure of fixed-size channels: its names, one Struct for all, the offsets of its booleans."""

    names: tuple[str, ...]
    struct: struct.Struct
    booleans: Callable[[bytes], tuple[int, ...]]   # the octets of its booleans, from the report


class TmDecoder:
    def __init__(self, dictionary: Dictionary) -> None:
        self.dictionary = dictionary
        self._layouts: dict[int, HousekeepingLayout | None] = {}

    def decode(self, raw: bytes) -> Decoded:
        packet = TelemetryPacket.decode(raw)
        service, subtype, data = packet.service, packet.subtype, packet.app_data
        if service == st.VERIFICATION:
            return Decoded(packet, "verification", st.VerificationReport.unpack(subtype, data))
        if service == st.HOUSEKEEPING and subtype == st.HK_REPORT:
            return Decoded(packet, "housekeeping", self._housekeeping(data))
        if service == st.EVENT:
            return Decoded(packet, "event", self._event(packet))
        if service == st.PARAMETER and subtype == st.PARAMETER_REPORT:
            return Decoded(packet, "parameters", self._parameters(data))
        if service == st.TEST and subtype == st.PING_REPLY:
            return Decoded(packet, "ping", None)
        if service == st.PRODUCT and subtype == st.INFERENCE_PRODUCT:
            return Decoded(packet, "product", st.unpack_product(data))
        if service == sched.SCHEDULING and subtype == sched.DETAIL_REPORT:
            return Decoded(packet, "schedule", sched.unpack_activities(data))
        if service == sched.SCHEDULING and subtype == sched.SUMMARY_REPORT:
            return Decoded(packet, "schedule summary", sched.unpack_summary(data))
        if service == sq.SERVICE and subtype == sq.STATUS_REPORT:
            return Decoded(packet, "sequences", [{"sequence": name, "running": running}
                                                 for name, running in sq.unpack_status(data)])
        if service == tm9.TIME_MANAGEMENT and subtype == tm9.CUC_TIME_REPORT:
            return Decoded(packet, "time report", tm9.TimeReport.unpack(data))
        if service == fm.SERVICE and subtype == fm.CONTENT_REPORT:
            return Decoded(packet, "directory", fm.unpack_content_report(data))
        onboard = decode_onboard(service, subtype, data)  # ST[12] monitoring, ST[19] event-action
        if onboard is not None:
            return Decoded(packet, *onboard)
        raise ValueError(f"TM[{service},{subtype}] is not in this mission's services")

    def _housekeeping(self, data: bytes) -> dict[str, Any]:
        (structure_id,) = struct.unpack_from(">H", data)
        structure = self.dictionary.housekeeping_by_id.get(structure_id)
        if structure is None:
            raise ValueError(f"unknown housekeeping structure {structure_id}")
        if structure_id not in self._layouts:
            self._layouts[structure_id] = self._layout(structure.channels)
        layout = self._layouts[structure_id]
        if layout is not None and len(data) == 2 + layout.struct.size and max(layout.booleans(data), default=0) <= 1:
            return dict(zip(layout.names, layout.struct.unpack_from(data, 2)))
        channels = [self.dictionary.channel_by_id[c] for c in structure.channels]
        offset, values = 2, {}
        for channel in channels:
            values[channel.name], offset = channel.type.decode(data, offset)
        if offset != len(data):
            raise ValueError(f"housekeeping structure {structure_id}: {len(data) - offset} "
                             "bytes left over")
        return values

    def _layout(self, channel_ids: list[int]) -> HousekeepingLayout | None:
        """The compiled layout of a structure, or None if a channel is a string (not fixed-size)."""
        channels = [self.dictionary.channel_by_id[c] for c in channel_ids]
        if any(c.type is DataType.STRING for c in channels):
            return None
        formats = "".join(c.type.value for c in channels)
        booleans, offset = [], 2
        for channel in channels:
            if channel.type is DataType.BOOL:
                booleans.append(offset)
            offset += struct.calcsize(">" + channel.type.value)
        # the first offset twice: an itemgetter of one index would give an int, not a tuple
        octets = (lambda data: ()) if not booleans else operator.itemgetter(*booleans, *booleans[:1])
        return HousekeepingLayout(tuple(c.name for c in channels), struct.Struct(">" + formats), octets)

    def _event(self, packet: TelemetryPacket) -> EventRecord:
        (event_id,) = struct.unpack_from(">H", packet.app_data)
        definition = self.dictionary.event_by_id.get(event_id)
        if definition is None:
            raise ValueError(f"unknown event id 0x{event_id:04x}")
        values, _ = decode_fields(definition.args, packet.app_data, 2)
        return EventRecord(definition.name, definition.severity,
                           {a.name: v for a, v in zip(definition.args, values)},
                           definition.render(values), packet.time)

    def _parameters(self, data: bytes) -> dict[str, Any]:
        (count,) = struct.unpack_from(">H", data)
        offset, values = 2, {}
        for _ in range(count):
            (pid,) = struct.unpack_from(">H", data, offset)
            definition = self.dictionary.parameter_by_id[pid]
            values[definition.name], offset = definition.field.type.decode(data, offset + 2)
        return values
