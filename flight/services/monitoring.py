"""OnboardMonitor: PUS ST[12] parameter monitoring of any telemetry channel, on board (cFS LC's
watchpoints, as PUS-C defines them).

A parameter monitoring definition (PMON) names a channel of any component (it holds the
``monitoring`` role: the executive hands it every component) and a check: limits (low, high),
an expected value under a mask, or the change between checks (low and high thresholds), with a
repetition number and a check interval in its own cycles (flight.services.pmon). Each confirmed
change of a PMON's checking status is a transition: kept in the check transition list and sent
as TM[12,12] once the list is full or the maximum transition reporting delay has passed (0: the
cycle it happened). A transition out of limits raises an event whose first argument is the PMON
id (BelowLowLimit, AboveHighLimit, UnexpectedValue, DeltaBelowLowThreshold,
DeltaAboveHighThreshold), so an event-action (ST[19]) can answer one PMON; coming back raises
CheckRecovered, a value that cannot be checked CheckInvalid.

The ground defines and controls the PMONs with ST[12] requests (layouts: flight.wire.monitoring):
each request is checked whole before any of it takes effect (refused with its ST[1] code:
BAD_ARGUMENTS for a malformed request, UNKNOWN_PARAMETER for a channel id not in the dictionary,
ARGUMENT_OUT_OF_RANGE for values no check can use, UNKNOWN_DEFINITION for a PMON id not defined,
DUPLICATE_DEFINITION for one defined already, DEFINITION_ENABLED for deleting an enabled PMON (or
all of them while the function is enabled), DEFINITIONS_FULL past ``max_definitions``). A PMON
added by request starts disabled, as PUS-C says; those of the ``definitions`` setting start as
their ``enabled`` says. A check that raises fails its PMON alone: disabled, CheckFailed, counted.

Kept across a restart (flight.services.saved_state, the ``file`` setting): the PMONs with their
enabled states, the function's state and the maximum reporting delay, saved after every change
and before the request that made it completes (a change that cannot be saved fails its request,
StateNotSaved; it is saved with the next change). At start the saved set, when there is one,
replaces the ``definitions`` setting whole, as cFS LC loads its tables: each saved PMON is checked
as a TC[12,5] would be, and a file that cannot be read or holds a PMON that fails is moved aside
(SavedStateLost) and the setting's PMONs used. RESTORE_DEFAULTS returns to the setting's PMONs,
function state and delay (so does deleting the file while the flight is down). Checking statuses
are not kept: every PMON starts UNCHECKED.

| requirement | verified by |
| limit, expected-value and delta checks with repetition raise their events on transitions |   |
|   | tests/unit/services/test_monitoring.py |
| every ST[12] request does what PUS-C says; refusals come before any effect, with their code |   |
|   | tests/unit/services/test_monitoring.py |
| transitions go down in TM[12,12] within the maximum reporting delay | tests/unit/services/test_monitoring.py |
| the default definitions watch card temperatures and the battery | tests/system/test_onboard_response.py |
| the PMONs are on disk before a request's completion and come back at start; for random |   |
|   request sequences the reloaded set equals a model (hypothesis); an unreadable or invalid file |   |
|   is moved aside, the defaults used, with an event | tests/unit/services/test_kept_definitions.py |
| PMONs added from the ground survive a SIGKILL and still fire | tests/system/test_onboard_state.py |
"""
from __future__ import annotations

import math
from dataclasses import astuple
from typing import Any, Callable, Mapping

from flight.core.component import Channel, Event, StartError
from flight.core.durable import DurableRecordError
from flight.core.context import Context
from flight.core.ports import OutputPort
from flight.core.roles import Roster, TelemetryMonitor
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity
from flight.messages import TmPacket
from flight.services.dispatcher import Route, ServiceProvider
from flight.services.pmon import PmonState
from flight.services.saved_state import KEPT_EVENTS, KeptDefinitions, SavedState, file_setting, ids_digest
from flight.services.service_requests import no_data, service_routes
from flight.wire import monitoring as wm
from flight.wire.failure import FailureCode, PacketError
from flight.wire.monitoring import CheckType, PmonDefinition, Status, Transition
from flight.wire.pus import Telecommand

_ARGS = (Field("pmon", DataType.U16), Field("channel", DataType.STRING), Field("value", DataType.F64),
         Field("limit", DataType.F64))
VIOLATION_EVENTS = {Status.BELOW_LOW_LIMIT: "BelowLowLimit", Status.ABOVE_HIGH_LIMIT: "AboveHighLimit",
                    Status.UNEXPECTED_VALUE: "UnexpectedValue",
                    Status.BELOW_LOW_THRESHOLD: "DeltaBelowLowThreshold",
                    Status.ABOVE_HIGH_THRESHOLD: "DeltaAboveHighThreshold"}
CHECKS = {"limit": CheckType.LIMIT, "expected": CheckType.EXPECTED_VALUE, "delta": CheckType.DELTA}
TRANSITION_LIST = 32  # transitions a TM[12,12] holds: a full list is reported at once
SAVED_PMON = 192  # octets of the saved state a PMON may take (a slot holds max_definitions of them)
DEFINITION_SETTINGS = {
    "id": Setting(int, required=True, low=0, high=0xFFFF, description="the PMON id"),
    "channel": Setting(str, required=True, description="the monitored channel, component.Channel"),
    "check": Setting(str, "limit", choices=tuple(CHECKS), description="limit, expected (value) or delta"),
    "limits": Setting(str, "", choices=("", "yellow", "red"),
                      description="limit check: low and high from the channel's declared limits of this "
                                  "colour (low and high, when given, win)"),
    "low": Setting(float, None, description="limit: low limit; delta: low threshold of the change per check"),
    "high": Setting(float, None, description="limit: high limit; delta: high threshold of the change per check"),
    "mask": Setting(int, (1 << 63) - 1, 0, (1 << 63) - 1, description="expected value: the bits compared"),
    "expected": Setting(int, 0, 0, (1 << 63) - 1, description="expected value: the value of those bits"),
    "repetitions": Setting(int, 1, 1, 0xFFFF, description="consecutive checks that confirm a new status"),
    "interval": Setting(int, 1, 1, 0xFFFF, description="the monitor's cycles between checks"),
    "enabled": Setting(bool, True, description="checked from the start"),
}


class OnboardMonitor(KeptDefinitions, TelemetryMonitor, ServiceProvider):
    CHANNELS = {
        "Enabled": Channel(DataType.BOOL, description="the parameter monitoring function"),
        "Definitions": Channel(DataType.U16, "PMONs"),
        "OutOfLimits": Channel(DataType.U16, "PMONs", Limits(yellow_high=0)),
        "Transitions": Channel(DataType.U32, "transitions"),
        "ChecksFailed": Channel(DataType.U32, "PMONs", description="checks that raised: PMON disabled"),
    }
    EVENTS = {
        **{name: Event(Severity.WARNING_HI, f"PMON {{pmon}}: {{channel}} {words}", _ARGS)
           for name, words in (("BelowLowLimit", "= {value} below its low limit {limit}"),
                               ("AboveHighLimit", "= {value} above its high limit {limit}"),
                               ("UnexpectedValue", "= {value}, not the expected {limit}"),
                               ("DeltaBelowLowThreshold", "changed by {value}, below {limit}"),
                               ("DeltaAboveHighThreshold", "changed by {value}, above {limit}"))},
        "CheckRecovered": Event(Severity.ACTIVITY, "PMON {pmon}: {channel} = {value} {status} again",
                                (*_ARGS[:3], Field("status", DataType.STRING))),
        "CheckInvalid": Event(Severity.WARNING_LO, "PMON {pmon}: {channel} cannot be checked (not a number)",
                              _ARGS[:2]),
        "CheckFailed": Event(Severity.WARNING_HI, "PMON {pmon} failed and was disabled: {detail}",
                             (_ARGS[0], Field("detail", DataType.STRING))),
        **KEPT_EVENTS,
    }
    SETTINGS = {
        "definitions": Setting(list, [], item=Setting(dict, fields=DEFINITION_SETTINGS),
                               description="the PMONs defined at start"),
        "enabled": Setting(bool, True, description="the parameter monitoring function at start"),
        "max_definitions": Setting(int, 64, 1, 0xFFFF, description="PMONs the list holds"),
        "max_reporting_delay": Setting(int, 0, 0, 0xFFFF,
                                       description="cycles a transition may wait for others before TM[12,12]"),
        "file": file_setting("monitoring.state"),
    }
    tm = OutputPort(TmPacket, "TM[12,9], TM[12,11], TM[12,12], TM[12,14]", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self._roster: Roster = {}
        self.pmons: dict[int, PmonState] = {}
        self.function_enabled = bool(self.config["enabled"])
        self.max_delay = int(self.config["max_reporting_delay"])
        self._pending: list[Transition] = []
        self._waited = 0
        self.saved = SavedState(context.run_file(self.config["file"]),
                                4096 + SAVED_PMON * self.config["max_definitions"], ids_digest(context.catalog))

    def serve(self, roster: Roster) -> None:
        self._roster = roster

    # --- start: the definitions of the settings, checked as a TC[12,5] would be ------------------
    def _defaults(self) -> dict[int, PmonState]:
        states: dict[int, PmonState] = {}
        for index, entry in enumerate(self.config["definitions"]):
            try:
                definition = self._checked(self._from_setting(entry))
                if definition.pmon_id in states:
                    raise PacketError(FailureCode.DUPLICATE_DEFINITION, f"PMON {definition.pmon_id} is defined already")
            except PacketError as error:
                raise StartError(f"{self.name}.definitions[{index}]: {error.message}") from None
            states[definition.pmon_id] = PmonState(definition, enabled=entry["enabled"])
        return states

    def _from_setting(self, entry: Mapping[str, Any]) -> PmonDefinition:
        channel = self.context.catalog.channel_by_name.get(entry["channel"])
        if channel is None:
            raise PacketError(FailureCode.UNKNOWN_PARAMETER, f"no channel {entry['channel']!r}")
        declared = channel.limits or Limits()
        colour = entry["limits"]
        low = entry["low"] if entry["low"] is not None else getattr(declared, f"{colour}_low", None)
        high = entry["high"] if entry["high"] is not None else getattr(declared, f"{colour}_high", None)
        return PmonDefinition(entry["id"], channel.id, entry["interval"], entry["repetitions"],
                              CHECKS[entry["check"]], -math.inf if low is None else low,
                              math.inf if high is None else high, entry["mask"], entry["expected"])

    # --- kept across a restart (flight.services.saved_state) -------------------------------------
    def _set_defaults(self) -> int:
        self.pmons = self._defaults()
        self.function_enabled = bool(self.config["enabled"])
        self.max_delay = int(self.config["max_reporting_delay"])
        return len(self.pmons)

    def _snapshot(self) -> dict[str, Any]:
        return {"enabled": self.function_enabled, "delay": self.max_delay,
                "pmons": [[*astuple(s.definition), s.enabled] for s in self.pmons.values()]}

    def _restore(self, saved: Mapping[str, Any]) -> None:
        """Use the state :meth:`_snapshot` saved, each PMON checked as TC[12,5] checks it (raises first)."""
        pmons: dict[int, PmonState] = {}
        for *fields, enabled in saved["pmons"]:
            definition = self._checked(PmonDefinition(*fields[:4], CheckType(fields[4]), *fields[5:]))
            if definition.pmon_id in pmons:
                raise ValueError(f"PMON {definition.pmon_id} twice")
            pmons[definition.pmon_id] = PmonState(definition, enabled=bool(enabled))
        if len(pmons) > self.config["max_definitions"]:
            raise ValueError(f"{len(pmons)} PMONs, the list holds {self.config['max_definitions']}")
        delay = int(saved["delay"])
        if not 0 <= delay <= 0xFFFF:
            raise ValueError(f"a reporting delay of {delay}")
        self.function_enabled, self.max_delay, self.pmons = bool(saved["enabled"]), delay, pmons

    def _changed(self) -> None:
        """After every ST[12] request: on disk before its completion is reported."""
        self._publish()
        self._keep()

    # --- each cycle ------------------------------------------------------------------------------
    def tick(self, tick: int, now: float) -> None:
        if self.function_enabled:
            for state in list(self.pmons.values()):
                if state.enabled:
                    self._check(state, now)
        if self._pending:
            self._waited += 1
            if self._waited > self.max_delay:
                self._report_transitions()
        self._publish()

    def _report_transitions(self) -> None:
        """TM[12,12] with the check transition list, which starts again empty."""
        self.tm.send(TmPacket(wm.SERVICE, wm.TRANSITION_REPORT, wm.pack_transitions(self._pending)))
        self._pending, self._waited = [], 0

    def _check(self, state: PmonState, now: float) -> None:
        channel = self.context.catalog.channel_by_id[state.definition.channel_id]
        try:
            owner, _, name = channel.name.partition(".")
            transition = state.sample(self._roster[owner].telemetry[name], now)
        except Exception as error:  # one PMON fails alone: disabled, said, counted
            state.enabled = False
            state.reset()
            self.increment("ChecksFailed")
            self.event("CheckFailed", pmon=state.definition.pmon_id, detail=f"{type(error).__name__}: {error}")
            try:
                self._keep()   # disabled, so it stays disabled after a restart
            except (OSError, DurableRecordError):
                pass   # said by StateNotSaved; saved with the next change
            return
        if transition is not None:
            self._transition(transition, channel.name)

    def _transition(self, t: Transition, channel: str) -> None:
        if len(self._pending) >= TRANSITION_LIST:  # a full list goes down at once
            self._report_transitions()
        self._pending.append(t)
        self.increment("Transitions")
        if t.current.violation:
            self.event(VIOLATION_EVENTS[t.current], pmon=t.pmon_id, channel=channel, value=t.value, limit=t.limit)
        elif t.current is Status.INVALID:
            self.event("CheckInvalid", pmon=t.pmon_id, channel=channel)
        elif t.previous.violation:
            self.event("CheckRecovered", pmon=t.pmon_id, channel=channel, value=t.value,
                       status=t.current.name.lower().replace("_", " "))

    def _publish(self) -> None:
        self.tlm("Enabled", self.function_enabled)
        self.tlm("Definitions", len(self.pmons))
        self.tlm("OutOfLimits", sum(1 for s in self.pmons.values() if s.enabled and s.status.violation))

    # --- ST[12] requests -------------------------------------------------------------------------
    def service_routes(self, vet: Callable[[bytes], Telecommand]) -> Mapping[tuple[int, int], Route]:
        requests: dict[int, tuple[str, Callable[[bytes], Callable[[], None]]]] = {
            wm.ENABLE: ("enable PMONs", lambda d: self._accept_switch(d, True)),
            wm.DISABLE: ("disable PMONs", lambda d: self._accept_switch(d, False)),
            wm.CHANGE_DELAY: ("change the maximum transition reporting delay", self._accept_delay),
            wm.DELETE_ALL: ("delete all PMONs", self._accept_delete_all),
            wm.ADD: ("add PMONs", self._accept_add),
            wm.DELETE: ("delete PMONs", self._accept_delete),
            wm.MODIFY: ("modify PMONs", self._accept_modify),
            wm.REPORT_DEFINITIONS: ("report PMONs", self._accept_report_definitions),
            wm.REPORT_OUT_OF_LIMITS: ("report the out-of-limits", self._accept_report_out_of_limits),
            wm.REPORT_STATUS: ("report the PMON statuses", self._accept_report_status),
            wm.ENABLE_FUNCTION: ("enable parameter monitoring", lambda d: self._accept_function(d, True)),
            wm.DISABLE_FUNCTION: ("disable parameter monitoring", lambda d: self._accept_function(d, False)),
        }
        return service_routes(wm.SERVICE, requests, self._changed)

    def _known(self, data: bytes, allow_all: bool = False) -> list[int]:
        ids = wm.unpack_ids(data)
        if allow_all and not ids:
            return list(self.pmons)
        missing = [i for i in ids if i not in self.pmons]
        if missing:
            raise PacketError(FailureCode.UNKNOWN_DEFINITION, f"no PMON {missing[0]}")
        return ids

    def _accept_switch(self, data: bytes, enabled: bool) -> Callable[[], None]:
        ids = self._known(data)

        def switch() -> None:
            for pmon in ids:
                self.pmons[pmon].enabled = enabled
                self.pmons[pmon].reset()

        return switch

    def _accept_delay(self, data: bytes) -> Callable[[], None]:
        if len(data) != 2:
            raise PacketError(FailureCode.BAD_ARGUMENTS, "TC[12,3] carries the delay (U16)")
        return lambda: setattr(self, "max_delay", int.from_bytes(data, "big"))

    def _accept_delete_all(self, data: bytes) -> Callable[[], None]:
        no_data(data, "TC[12,4]")
        if self.function_enabled:
            raise PacketError(FailureCode.DEFINITION_ENABLED, "disable the parameter monitoring function first")
        return self.pmons.clear

    def _accept_add(self, data: bytes) -> Callable[[], None]:
        added: dict[int, PmonState] = {}
        for definition in wm.unpack_definitions(data):
            if definition.pmon_id in self.pmons or definition.pmon_id in added:
                raise PacketError(FailureCode.DUPLICATE_DEFINITION, f"PMON {definition.pmon_id} is defined already")
            added[definition.pmon_id] = PmonState(self._checked(definition))  # disabled, as PUS-C adds
        if len(self.pmons) + len(added) > self.config["max_definitions"]:
            raise PacketError(FailureCode.DEFINITIONS_FULL, f"{len(self.pmons) + len(added)} PMONs: the list "
                                                         f"holds {self.config['max_definitions']}")
        return lambda: self.pmons.update(added)

    def _accept_delete(self, data: bytes) -> Callable[[], None]:
        ids = self._known(data)
        enabled = [i for i in ids if self.pmons[i].enabled]
        if enabled:
            raise PacketError(FailureCode.DEFINITION_ENABLED, f"PMON {enabled[0]} is enabled: disable it first")

        def delete() -> None:
            for pmon in ids:
                del self.pmons[pmon]

        return delete

    def _accept_modify(self, data: bytes) -> Callable[[], None]:
        definitions = wm.unpack_definitions(data)
        for definition in definitions:
            old = self.pmons.get(definition.pmon_id)
            if old is None:
                raise PacketError(FailureCode.UNKNOWN_DEFINITION, f"no PMON {definition.pmon_id}")
            if old.definition.channel_id != definition.channel_id:
                raise PacketError(FailureCode.ARGUMENT_OUT_OF_RANGE,
                                  f"PMON {definition.pmon_id} monitors channel {old.definition.channel_id}: "
                                  "a modification keeps it")
            self._checked(definition)

        def modify() -> None:
            for definition in definitions:
                state = self.pmons[definition.pmon_id]
                state.definition = definition
                state.reset()

        return modify

    def _accept_report_definitions(self, data: bytes) -> Callable[[], None]:
        ids = self._known(data, allow_all=True)
        return lambda: self.tm.send(TmPacket(wm.SERVICE, wm.DEFINITION_REPORT, wm.pack_definition_report(
            self.max_delay, [(self.pmons[i].enabled, self.pmons[i].definition) for i in ids if i in self.pmons])))

    def _accept_report_out_of_limits(self, data: bytes) -> Callable[[], None]:
        no_data(data, "TC[12,10]")
        return lambda: self.tm.send(TmPacket(wm.SERVICE, wm.OUT_OF_LIMITS_REPORT, wm.pack_transitions(
            [s.transition for s in self.pmons.values()
             if s.enabled and s.status.violation and s.transition is not None])))

    def _accept_report_status(self, data: bytes) -> Callable[[], None]:
        no_data(data, "TC[12,13]")
        return lambda: self.tm.send(TmPacket(wm.SERVICE, wm.STATUS_REPORT, wm.pack_status_report(
            [(i, s.enabled) for i, s in self.pmons.items()])))

    def _accept_function(self, data: bytes, enabled: bool) -> Callable[[], None]:
        no_data(data, f"TC[12,{wm.ENABLE_FUNCTION if enabled else wm.DISABLE_FUNCTION}]")

        def switch() -> None:
            if enabled and not self.function_enabled:
                for state in self.pmons.values():
                    state.reset()
            self.function_enabled = enabled

        return switch

    def _checked(self, d: PmonDefinition) -> PmonDefinition:
        """``d`` if a PMON can check it (PacketError with the code otherwise)."""
        channel = self.context.catalog.channel_by_id.get(d.channel_id)
        if channel is None:
            raise PacketError(FailureCode.UNKNOWN_PARAMETER, f"PMON {d.pmon_id}: no channel id 0x{d.channel_id:04x}")
        problem = d.problem()
        if problem is None and channel.type is DataType.STRING:
            problem = f"PMON {d.pmon_id}: {channel.name} is a string"
        if problem is None and d.check is CheckType.EXPECTED_VALUE and channel.type.is_float:
            problem = f"PMON {d.pmon_id}: an expected-value check needs an integer channel, {channel.name} is not"
        if problem is not None:
            raise PacketError(FailureCode.ARGUMENT_OUT_OF_RANGE, problem)
        return d
