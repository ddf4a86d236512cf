"""ExecutiveControl: the executive's own commands and telemetry (shutdown, ticks, dictionary).

``SHUTDOWN`` asks the executive to stop after the current cycle: components stop in reverse
order and comms flushes its TM store first, so the completion report of SHUTDOWN itself reaches
the ground. ``DictionaryDigest`` lets the ground check it holds the flight's dictionary.
"""
from __future__ import annotations

from flight.component import Channel, Component, Event, command
from flight.types import DataType, Field
from flight.wire.dictionary import Severity


class ExecutiveControl(Component):
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
        self.tlm("DictionaryDigest", self.ports.dictionary.digest)

    def tick(self, tick: int, now: float) -> None:
        self.tlm("Ticks", tick & 0xFFFFFFFF)
        self.tlm("MissionTime", now)

    @command(description="Stop the flight software cleanly after this cycle")
    def SHUTDOWN(self) -> None:
        self.event("ShutdownRequested", source="command")
        self.ports.bus.publish("executive.shutdown", "command")
