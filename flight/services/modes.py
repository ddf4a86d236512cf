"""ModeManager: the flight's mode, NOMINAL or SAFE, in every housekeeping report.

SAFE is where the flight waits for the ground when something is wrong (a low battery, by the
default event-action): the payload's cards are parked and held parked, imaging stops and further
imaging is refused; telemetry, commanding, the event-actions and scrubbing go on. Transitions:
ENTER_SAFE (by the ground, or by an event-action's request) and ENTER_NOMINAL (by the ground, or
an event-action); each announces the mode out of the ``flight_mode`` port (the cluster parks or
releases its cards, the camera stops or may image again, as the topology wires them) and raises
SafeModeEntered or NominalModeEntered. Asking for the mode the flight is in is refused
(INVALID_STATE). The ``Mode`` channel (0 NOMINAL, 1 SAFE) is declared ``every_report``: every
TM[3,25] carries it, first. The flight starts in the ``mode`` setting's mode.

| requirement | verified by |
| ENTER_SAFE parks the cards and stops imaging; ENTER_NOMINAL releases them; the mode is |   |
|   in every HK report | tests/unit/services/test_modes.py, tests/system/test_onboard_response.py |
| asking for the current mode is refused with INVALID_STATE | tests/unit/services/test_modes.py |
"""
from __future__ import annotations

from typing import Any

from flight.core.component import Channel, CommandRefused, Component, Event, command
from flight.core.context import Context
from flight.core.ports import OutputPort
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.messages import FlightMode

MODES = ("NOMINAL", "SAFE")


class ModeManager(Component):
    CHANNELS = {"Mode": Channel(DataType.U8, description="0 NOMINAL, 1 SAFE", every_report=True)}
    EVENTS = {
        "SafeModeEntered": Event(Severity.WARNING_HI, "SAFE mode: {reason}", (Field("reason", DataType.STRING),)),
        "NominalModeEntered": Event(Severity.ACTIVITY, "NOMINAL mode: {reason}", (Field("reason", DataType.STRING),)),
    }
    SETTINGS = {"mode": Setting(str, "NOMINAL", choices=MODES, description="the mode at start")}
    flight_mode = OutputPort(FlightMode, "the mode, to the components that follow it")

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.safe = self.config["mode"] == "SAFE"
        self.tlm("Mode", int(self.safe))

    def start(self) -> None:
        if self.safe:
            self.flight_mode.send(FlightMode(True, "started in SAFE"))

    @command(Field("reason", DataType.STRING, description="why, for the event and the log"),
             description="Enter SAFE: park the cards, stop imaging (telemetry, commanding, scrubbing go on)")
    def ENTER_SAFE(self, reason: str) -> None:
        self._enter(True, reason or "commanded")

    @command(description="Enter NOMINAL: release the cards parked for SAFE; imaging may be commanded again")
    def ENTER_NOMINAL(self) -> None:
        self._enter(False, "commanded")

    def _enter(self, safe: bool, reason: str) -> None:
        if safe == self.safe:
            raise CommandRefused(f"the flight is in {MODES[safe]} already")
        self.safe = safe
        self.tlm("Mode", int(safe))
        self.flight_mode.send(FlightMode(safe, reason))
        self.event("SafeModeEntered" if safe else "NominalModeEntered", reason=reason)
