"""ModeManager: the flight's mode, NOMINAL or SAFE, in every housekeeping report.

SAFE is where the flight waits for the ground when something is wrong (a low battery, by the
default event-action): the payload's cards are parked and held parked, imaging stops and further
imaging is refused; telemetry, commanding, the event-actions and scrubbing go on. Transitions:
ENTER_SAFE (by the ground, or by an event-action's request) and ENTER_NOMINAL (by the ground, or
an event-action); each announces the mode out of the ``flight_mode`` port (the cluster parks or
releases its cards, the camera stops or may image again, as the topology wires them) and raises
SafeModeEntered or NominalModeEntered. Asking for the mode the flight is in is refused
(INVALID_STATE). The ``Mode`` channel (0 NOMINAL, 1 SAFE) is declared ``every_report``: every
TM[3,25] carries it, first.

The mode survives a restart, a SIGKILL at any instant included: each transition is saved with its
reason (flight.services.saved_state, the ``file`` setting) before it takes effect, so before the
command completes. The flight starts in the mode saved, if any, else in the ``mode`` setting's: a
flight that entered SAFE (a low battery, say) and restarts comes back in SAFE, parks its cards
again and raises SafeModeResumed with the reason saved; it stays there until ENTER_NOMINAL. A
saved file that cannot be read is moved aside (ModeStateLost) and the setting's mode used. A
transition that cannot be saved still takes effect (SAFE must not wait for a disk) and raises
ModeNotSaved.

| requirement | verified by |
| ENTER_SAFE parks the cards and stops imaging; ENTER_NOMINAL releases them; the mode is |   |
|   in every HK report | tests/unit/services/test_modes.py, tests/system/test_onboard_response.py |
| asking for the current mode is refused with INVALID_STATE | tests/unit/services/test_modes.py |
| the mode and its reason are on disk before the command completes; a restart resumes SAFE with |   |
|   an event; an unreadable file is moved aside | tests/unit/services/test_modes.py, |
|   | tests/system/test_onboard_state.py |
"""
from __future__ import annotations

from typing import Any

from flight.core.component import Channel, CommandRefused, Component, Event, command
from flight.core.context import Context
from flight.core.durable import DurableRecordError
from flight.core.ports import OutputPort
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.messages import FlightMode
from flight.services.saved_state import SavedState

MODES = ("NOMINAL", "SAFE")


class ModeManager(Component):
    CHANNELS = {"Mode": Channel(DataType.U8, description="the flight's mode", every_report=True,
                                enumeration=tuple(enumerate(MODES)))}
    EVENTS = {
        "SafeModeEntered": Event(Severity.WARNING_HI, "SAFE mode: {reason}", (Field("reason", DataType.STRING),)),
        "NominalModeEntered": Event(Severity.ACTIVITY, "NOMINAL mode: {reason}", (Field("reason", DataType.STRING),)),
        "SafeModeResumed": Event(Severity.WARNING_HI, "Restarted in SAFE mode, entered for: {reason}",
                                 (Field("reason", DataType.STRING),)),
        "ModeStateLost": Event(Severity.WARNING_HI, "Saved mode not used: {detail}",
                               (Field("detail", DataType.STRING),)),
        "ModeNotSaved": Event(Severity.WARNING_HI, "{mode} mode not saved: {detail}",
                              (Field("mode", DataType.STRING), Field("detail", DataType.STRING))),
    }
    SETTINGS = {
        "mode": Setting(str, "NOMINAL", choices=MODES, description="the mode at start, unless one was saved"),
        "file": Setting(str, "mode.state", description="the mode kept across a restart, in the run directory"),
    }
    flight_mode = OutputPort(FlightMode, "the mode, to the components that follow it")

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.safe = self.config["mode"] == "SAFE"
        self.tlm("Mode", int(self.safe))
        self.saved = SavedState(context.run_file(self.config["file"]), 1024)

    def start(self) -> None:
        saved = self.saved.open()
        if saved is not None and not (isinstance(saved, dict) and saved.get("mode") in MODES):
            saved = self.saved.set_aside(f"holds no mode ({saved!r:.60})")
        if self.saved.problem:
            self.event("ModeStateLost", detail=self.saved.problem)
        reason = "started in SAFE"
        if saved is not None:
            self.safe, reason = saved["mode"] == "SAFE", str(saved.get("reason", ""))
            self.tlm("Mode", int(self.safe))
            if self.safe:
                self.event("SafeModeResumed", reason=reason)
        if self.safe:
            self.flight_mode.send(FlightMode(True, reason))

    def stop(self) -> None:
        self.saved.close()

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
        try:
            self.saved.save({"mode": MODES[safe], "reason": reason})
        except (OSError, DurableRecordError) as error:
            self.event("ModeNotSaved", mode=MODES[safe], detail=f"{type(error).__name__}: {error}")
        self.safe = safe
        self.tlm("Mode", int(safe))
        self.flight_mode.send(FlightMode(safe, reason))
        self.event("SafeModeEntered" if safe else "NominalModeEntered", reason=reason)
