"""Housekeeping: every cycle, one ST[3,25] report per component that has telemetry channels.

Structure ids and channel order come from the dictionary: a channel declared ``every_report``
(the flight's mode) leads every structure. A value that does not fit its declared
type (a counter past its width) is clamped to the type's bounds, never allowed to stop the report.

It holds the ``telemetry`` role (the executive hands it the roster of every component) and sends
the reports out of its ``tm`` port.

| requirement | verified by |
| each structure is reported with the components' current values | tests/unit/services/test_housekeeping.py, |
|   | tests/system/test_integration.py |
| a channel declared every_report is in every structure, first | tests/unit/services/test_housekeeping.py |
"""
from __future__ import annotations

import struct

from typing import Any

from flight.core.component import Channel, Component
from flight.core.context import Context
from flight.core.ports import OutputPort
from flight.core.roles import Roster, TelemetryReader
from flight.core.types import DataType, ValueRejected
from flight.messages import TmPacket
from flight.wire import services as st


def encode_channel(data_type: DataType, value: object) -> bytes:
    try:
        return data_type.encode(value)
    except ValueRejected:
        bounds = data_type.bounds
        if bounds is None:
            raise
        return data_type.encode(int(min(max(int(value), bounds[0]), bounds[1])))


class Housekeeping(Component, TelemetryReader):
    SETTINGS: dict = {}  # none: any key in its table is refused
    CHANNELS = {"ReportsSent": Channel(DataType.U32, "reports")}
    tm = OutputPort(TmPacket, "TM[3,25] housekeeping reports", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self._roster: Roster = {}

    def serve(self, roster: Roster) -> None:
        self._roster = roster

    def tick(self, tick: int, now: float) -> None:
        dictionary = self.context.catalog
        for structure in dictionary.housekeeping:
            body = struct.pack(">H", structure.structure_id)
            for channel_id in structure.channels:
                channel = dictionary.channel_by_id[channel_id]
                owner, _, name = channel.name.partition(".")
                body += encode_channel(channel.type, self._roster[owner].telemetry[name])
            self.tm.send(TmPacket(st.HOUSEKEEPING, st.HK_REPORT, body))
        self.tlm("ReportsSent", (self.telemetry["ReportsSent"] + len(dictionary.housekeeping))
                 & 0xFFFFFFFF)
