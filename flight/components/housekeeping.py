"""Housekeeping: every cycle, one ST[3,25] report per component that has telemetry channels.

Structure ids and channel order come from the dictionary. A value that does not fit its declared
type (a counter past its width) is clamped to the type's bounds, never allowed to stop the report.

| requirement | verified by |
| each structure is reported with the components' current values | tests/test_integration.py |
"""
from __future__ import annotations

import struct

from flight.component import Channel, Component
from flight.types import DataType, ValueRejected
from flight.wire import services as st


def encode_channel(data_type: DataType, value: object) -> bytes:
    try:
        return data_type.encode(value)
    except ValueRejected:
        bounds = data_type.bounds
        if bounds is None:
            raise
        return data_type.encode(int(min(max(int(value), bounds[0]), bounds[1])))


class Housekeeping(Component):
    CHANNELS = {"ReportsSent": Channel(DataType.U32, "reports")}

    def tick(self, tick: int, now: float) -> None:
        dictionary = self.ports.dictionary
        for structure in dictionary.housekeeping:
            component = self.ports.components[structure.component]
            body = struct.pack(">H", structure.structure_id)
            for channel_id in structure.channels:
                channel = dictionary.channel_by_id[channel_id]
                body += encode_channel(channel.type,
                                       component.telemetry[channel.name.partition(".")[2]])
            self.ports.downlink(st.HOUSEKEEPING, st.HK_REPORT, body)
        self.tlm("ReportsSent", (self.telemetry["ReportsSent"] + len(dictionary.housekeeping))
                 & 0xFFFFFFFF)
