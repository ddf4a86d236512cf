"""ExecutiveControl: the executive's own commands and telemetry (shutdown, ticks, dictionary).

``SHUTDOWN`` asks the executive to stop after the current cycle: components stop in reverse
order and comms flushes its TM store first, so the completion report of SHUTDOWN itself reaches
the ground. ``DictionaryDigest`` lets the ground check it holds the flight's dictionary.

| requirement | verified by |
| SHUTDOWN stops the flight after the cycle, exit status 0 | tests/system/test_integration.py |
| DictionaryDigest is the digest of the dictionary the flight wrote | tests/system/test_sil.py |
"""
from __future__ import annotations

from flight.core.component import Channel, Component, Event, command
from flight.core.types import DataType, Field, Severity
from flight.wire.dictionary import Dictionary


class ExecutiveControl(Component):
    SETTINGS: dict = {}  # none: any key in its table is refused
    CHANNELS = {
        "Ticks": Channel(DataType.U32, "ticks"),
        "MissionTime": Channel(DataType.F64, "s"),
        "DictionaryDigest": Channel(DataType.U32, description="CRC-32C of the dictionary"),
    }
    EVENTS = {
        "ShutdownRequested": Event(Severity.ACTIVITY, "Shutdown requested by {source}",
                                   (Field("source", DataType.STRING),)),
    }

    def start(self) -> None:
        self.tlm("DictionaryDigest", Dictionary.of(self.context.catalog).digest)

    def tick(self, tick: int, now: float) -> None:
        self.tlm("Ticks", tick & 0xFFFFFFFF)
        self.tlm("MissionTime", now)

    @command(description="Stop the flight software cleanly after this cycle")
    def SHUTDOWN(self) -> None:
        self.event("ShutdownRequested", source="command")
        self.context.request_stop("SHUTDOWN command")
