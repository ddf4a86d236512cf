"""EventAction: PUS ST[19], an event starts a telecommand (cFS LC's actions, as PUS-C defines them).

Every event of the flight comes in on the ``events`` port (from the event log, in the thread that
emitted it). An event-action definition waits for one event, by its dictionary id and, if it says
so, the text of the event's first argument (one card, one monitoring definition: layouts in
flight.wire.event_action); its action is a whole TC packet. When an enabled definition's event
occurs (and the event-action function is enabled) the request is queued and, at the next cycle,
sent out of the ``tc`` port to the dispatcher, where it is accepted, executed and reported in
ST[1] like a ground TC, as its acknowledgement flags ask; ActionTriggered says which event sent
which request. The service's own events start nothing (a definition on them is refused), so an
action cannot feed itself.

The ground defines and controls the definitions with ST[19] requests, each checked whole before
any of it takes effect (refused with its ST[1] code: BAD_ARGUMENTS for a malformed request,
ARGUMENT_OUT_OF_RANGE for an event that is not in the dictionary, or is this service's own, or
has no argument to match, UNKNOWN_DEFINITION for a key not defined, DUPLICATE_DEFINITION for one
defined already, DEFINITION_ENABLED for deleting an enabled one, DEFINITIONS_FULL past
``max_definitions``; the embedded request is accepted as the dispatcher would accept it, and
refused with its code). A definition added by request starts disabled, as PUS-C says; those of
the ``definitions`` setting (an ST[8] command by name, with its arguments) as their ``enabled``
says; their requests ask for acceptance and completion reports, and their sequence counts go down
from 16383 (the k-th definition: 16383 - k) so that their ST[1] reports are not taken for those of
a ground TC, whose counts go up from 0. Containment: more actions queued than ``queue_depth`` in a
cycle are dropped (ActionDropped, counted); a request that cannot be sent fails alone (ActionFailed,
counted); a request that fails in the dispatcher has its own ST[1] failure, CommandFailed event
and count there.

Kept across a restart (flight.services.saved_state, the ``file`` setting): the definitions with
their enabled states and the function's state, saved after every change and before the request
that made it completes (a change that cannot be saved fails its request, StateNotSaved). At start
the saved set, when there is one, replaces the ``definitions`` setting whole, as cFS LC loads its
tables: each saved definition is checked as a TC[19,1] would be, and a file that cannot be read or
holds one that fails is moved aside (SavedStateLost) and the setting's definitions used.
RESTORE_DEFAULTS returns to the setting's definitions and function state (so does deleting the
file while the flight is down).

| requirement | verified by |
| an enabled definition's event sends its request once per occurrence, at the next cycle; |   |
|   disabled definitions, a disabled function and other arguments send nothing |   |
|   | tests/unit/services/test_event_action.py |
| every ST[19] request does what PUS-C says; refusals come before any effect, with their code |   |
|   | tests/unit/services/test_event_action.py |
| the default definitions answer a hot card, a card switched off in TMR, an unresponsive |   |
|   component and a low battery within a second of simulated time | tests/system/test_onboard_response.py |
| the definitions are on disk before a request's completion and come back at start; for random |   |
|   request sequences the reloaded set equals a model (hypothesis); an unreadable or invalid file |   |
|   is moved aside, the defaults used, with an event | tests/unit/services/test_kept_definitions.py |
| definitions added from the ground survive a SIGKILL and still fire | tests/system/test_onboard_state.py |
"""
from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from flight.core.component import Channel, Event, StartError
from flight.core.context import Context
from flight.core.ports import OutputPort, input_port
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity, ValueRejected, encode_fields
from flight.messages import EventReport, RawTelecommand, TmPacket
from flight.services.dispatcher import Route, ServiceProvider
from flight.services.saved_state import KEPT_EVENTS, KeptDefinitions, SavedState, file_setting, ids_digest
from flight.services.service_requests import no_data, service_routes
from flight.wire import event_action as wa
from flight.wire import services as st
from flight.wire.event_action import Key
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import AckFlags, Telecommand

DEFINITION_SETTINGS = {
    "event": Setting(str, required=True, description="the event waited for, component.Event"),
    "argument": Setting(str, "", description="the text the event's first argument must have (empty: any)"),
    "command": Setting(str, required=True, description="the ST[8] command sent, component.COMMAND"),
    "args": Setting(list, [], description="the command's arguments, in order"),
    "enabled": Setting(bool, True, description="armed from the start"),
}
DEFAULT_ACK = AckFlags.ACCEPTANCE | AckFlags.COMPLETION  # the requests of the default definitions
ONBOARD_SEQUENCE = 0x3FFF  # their sequence counts go down from here: the ground's go up from 0
SAVED_DEFINITION = 2048  # octets of the saved state a definition may take (its request in hex)


@dataclass(frozen=True)
class Definition:
    request: bytes
    enabled: bool = False


class EventAction(KeptDefinitions, ServiceProvider):
    CHANNELS = {
        "Enabled": Channel(DataType.BOOL, description="the event-action function"),
        "Definitions": Channel(DataType.U16, "definitions"),
        "ActionsTriggered": Channel(DataType.U32, "requests", description="sent to the dispatcher"),
        "ActionsDropped": Channel(DataType.U32, "requests", Limits(yellow_high=0),
                                  description="triggered while the queue was full"),
        "ActionsFailed": Channel(DataType.U32, "requests", Limits(yellow_high=0),
                                 description="that could not be sent"),
    }
    EVENTS = {
        "ActionTriggered": Event(Severity.ACTIVITY, "{event} {argument}: {request} sent",
                                 (Field("event", DataType.STRING), Field("argument", DataType.STRING),
                                  Field("request", DataType.STRING))),
        "ActionDropped": Event(Severity.WARNING_HI, "{event} {argument}: action dropped, {waiting} waiting",
                               (Field("event", DataType.STRING), Field("argument", DataType.STRING),
                                Field("waiting", DataType.U16)), throttle=20),
        "ActionFailed": Event(Severity.WARNING_HI, "{request} could not be sent: {detail}",
                              (Field("request", DataType.STRING), Field("detail", DataType.STRING))),
        **KEPT_EVENTS,
    }
    SETTINGS = {
        "definitions": Setting(list, [], item=Setting(dict, fields=DEFINITION_SETTINGS),
                               description="the event-action definitions at start"),
        "enabled": Setting(bool, True, description="the event-action function at start"),
        "max_definitions": Setting(int, 64, 1, 0xFFFF, description="definitions the list holds"),
        "queue_depth": Setting(int, 16, 1, 4096, description="actions waiting for the next cycle, at most"),
        "file": file_setting("event_action.state"),
    }
    tc = OutputPort(RawTelecommand, "the requests of the actions, to the dispatcher", required=True)
    tm = OutputPort(TmPacket, "TM[19,7] and TM[19,11]", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.definitions: dict[Key, Definition] = {}  # replaced whole on each change (read by any thread)
        self.function_enabled = bool(self.config["enabled"])
        self._vet: Callable[[bytes], Telecommand] | None = None
        self._lock = threading.Lock()
        self._queue: list[tuple[Key, bytes]] = []
        self.saved = SavedState(context.run_file(self.config["file"]),
                                4096 + SAVED_DEFINITION * self.config["max_definitions"], ids_digest(context.catalog))

    # --- start: the definitions of the settings, checked as a TC[19,1] would be -------------------
    def _defaults(self) -> dict[Key, Definition]:
        definitions: dict[Key, Definition] = {}
        for index, entry in enumerate(self.config["definitions"]):
            try:
                event = self.context.catalog.event_by_name.get(entry["event"])
                if event is None:
                    raise PacketError(FailureCode.ARGUMENT_OUT_OF_RANGE, f"no event {entry['event']!r}")
                key = Key(event.id, entry["argument"])
                request = self._checked(key, self._request(index, entry["command"], entry["args"]), definitions)
            except PacketError as error:
                raise StartError(f"{self.name}.definitions[{index}]: {error.message}") from None
            definitions[key] = Definition(request, entry["enabled"])
        return definitions

    def _request(self, index: int, name: str, args: list[Any]) -> bytes:
        command = self.context.catalog.command_by_name.get(name)
        if command is None:
            raise PacketError(FailureCode.UNKNOWN_COMMAND, f"no command {name!r}")
        try:
            data = struct.pack(">H", command.opcode) + encode_fields(command.args, list(args))
        except (ValueRejected, IndexError, TypeError) as error:
            raise PacketError(FailureCode.BAD_ARGUMENTS, f"{name} {args}: {error}") from None
        return Telecommand(self.context.catalog.apid, ONBOARD_SEQUENCE - index % 0x4000, st.FUNCTION,
                           st.PERFORM_FUNCTION, data, DEFAULT_ACK, self.context.catalog.components.get(self.name, 0)
                           ).encode()

    # --- kept across a restart (flight.services.saved_state) -------------------------------------
    def _set_defaults(self) -> int:
        self.definitions = {}   # _defaults checks each against those defined, as TC[19,1] does
        self.definitions = self._defaults()
        self.function_enabled = bool(self.config["enabled"])
        return len(self.definitions)

    def _snapshot(self) -> dict[str, Any]:
        return {"enabled": self.function_enabled, "definitions": [
            [k.event_id, k.argument, d.request.hex(), d.enabled] for k, d in self.definitions.items()]}

    def _restore(self, saved: Mapping[str, Any]) -> None:
        """Use the state :meth:`_snapshot` saved, each definition checked as TC[19,1] checks it (raises first)."""
        definitions: dict[Key, Definition] = {}
        for event_id, argument, request, enabled in saved["definitions"]:
            key = Key(int(event_id), str(argument))
            definitions[key] = Definition(self._checked(key, bytes.fromhex(request), definitions), bool(enabled))
        if len(definitions) > self.config["max_definitions"]:
            raise ValueError(f"{len(definitions)} definitions, the list holds {self.config['max_definitions']}")
        self.function_enabled, self.definitions = bool(saved["enabled"]), definitions

    def _changed(self) -> None:
        """After every ST[19] request: on disk before its completion is reported."""
        self._publish()
        self._keep()

    # --- events in, requests out -----------------------------------------------------------------
    @input_port(EventReport, "every event of the flight (from the event log)")
    def events(self, report: EventReport) -> None:
        """In the emitter's thread: queue the request of each enabled definition the event meets."""
        if not self.function_enabled or report.component == self.name:
            return
        definitions = self.definitions
        keys = [Key(report.event_id)] + ([Key(report.event_id, str(report.values[0]))] if report.values else [])
        for key in keys:
            definition = definitions.get(key)
            if definition is not None and definition.enabled:
                self._enqueue(key, definition.request)

    def _enqueue(self, key: Key, request: bytes) -> None:
        with self._lock:
            full = len(self._queue) >= self.config["queue_depth"]
            if not full:
                self._queue.append((key, request))
            waiting = len(self._queue)
        if full:
            self.increment("ActionsDropped")
            self.event("ActionDropped", event=self._event_name(key), argument=key.argument, waiting=waiting)

    def tick(self, tick: int, now: float) -> None:
        with self._lock:
            queued, self._queue = self._queue, []
        for key, request in queued:
            self._dispatch(key, request)
        self._publish()

    def _dispatch(self, key: Key, request: bytes) -> None:
        label = self._describe(request)
        self.event("ActionTriggered", event=self._event_name(key), argument=key.argument, request=label)
        try:
            self.tc.send(RawTelecommand((request,)))
        except Exception as error:  # one action fails alone: said, counted, the others go on
            self.increment("ActionsFailed")
            self.event("ActionFailed", request=label, detail=f"{type(error).__name__}: {error}")
            return
        self.increment("ActionsTriggered")

    def _event_name(self, key: Key) -> str:
        event = self.context.catalog.event_by_id.get(key.event_id)
        return event.name if event is not None else f"event 0x{key.event_id:04x}"

    def _describe(self, request: bytes) -> str:
        """The request as people read it: the command's name for TC[8,1], else TC[service,subtype]."""
        service, subtype = request[7], request[8]
        if (service, subtype) == (st.FUNCTION, st.PERFORM_FUNCTION) and len(request) >= 13:
            command = self.context.catalog.command_by_opcode.get(int.from_bytes(request[11:13], "big"))
            if command is not None:
                return command.name
        return f"TC[{service},{subtype}]"

    def _publish(self) -> None:
        self.tlm("Enabled", self.function_enabled)
        self.tlm("Definitions", len(self.definitions))

    # --- ST[19] requests -------------------------------------------------------------------------
    def service_routes(self, vet: Callable[[bytes], Telecommand]) -> Mapping[tuple[int, int], Route]:
        self._vet = vet
        return service_routes(wa.SERVICE, {
            wa.ADD: ("add event-actions", self._accept_add),
            wa.DELETE: ("delete event-actions", self._accept_delete),
            wa.DELETE_ALL: ("delete all event-actions", self._accept_delete_all),
            wa.ENABLE: ("enable event-actions", lambda d: self._accept_switch(d, True)),
            wa.DISABLE: ("disable event-actions", lambda d: self._accept_switch(d, False)),
            wa.REPORT_STATUS: ("report the event-action statuses", self._accept_report_status),
            wa.ENABLE_FUNCTION: ("enable the event-action function", lambda d: self._accept_function(d, True)),
            wa.DISABLE_FUNCTION: ("disable the event-action function", lambda d: self._accept_function(d, False)),
            wa.REPORT_DEFINITIONS: ("report event-actions", self._accept_report_definitions),
        }, self._changed)

    def _checked(self, key: Key, request: bytes, others: Mapping[Key, Definition]) -> bytes:
        """``request`` if ``key`` can be defined with it (PacketError with the code otherwise)."""
        event = self.context.catalog.event_by_id.get(key.event_id)
        if event is None:
            raise PacketError(FailureCode.ARGUMENT_OUT_OF_RANGE, f"no event id 0x{key.event_id:04x}")
        if event.name.partition(".")[0] == self.name:
            raise PacketError(FailureCode.ARGUMENT_OUT_OF_RANGE, f"{event.name} is this service's own: it could loop")
        if key.argument and not event.args:
            raise PacketError(FailureCode.ARGUMENT_OUT_OF_RANGE, f"{event.name} has no argument to match")
        if key in self.definitions or key in others:
            raise PacketError(FailureCode.DUPLICATE_DEFINITION,
                              f"{event.name} {key.argument!r} has a definition already")
        if self._vet is not None:
            try:
                self._vet(request)
            except PacketError as error:
                raise PacketError(error.code, f"the action on {event.name}: {error.message}") from None
        return request

    def _known(self, data: bytes, empty_means_all: bool) -> list[Key]:
        keys = wa.unpack_keys(data) if data or not empty_means_all else []
        if not keys and empty_means_all:
            return list(self.definitions)
        missing = [k for k in keys if k not in self.definitions]
        if missing:
            raise PacketError(FailureCode.UNKNOWN_DEFINITION, f"no definition for {self._event_name(missing[0])} "
                                                         f"{missing[0].argument!r}")
        return keys

    def _accept_add(self, data: bytes) -> Callable[[], None]:
        added: dict[Key, Definition] = {}
        for key, request in wa.unpack_additions(data):
            added[key] = Definition(self._checked(key, request, added))  # disabled, as PUS-C adds
        if len(self.definitions) + len(added) > self.config["max_definitions"]:
            raise PacketError(FailureCode.DEFINITIONS_FULL, f"{len(self.definitions) + len(added)} definitions: "
                                                         f"the list holds {self.config['max_definitions']}")
        return lambda: setattr(self, "definitions", {**self.definitions, **added})

    def _accept_delete(self, data: bytes) -> Callable[[], None]:
        keys = self._known(data, empty_means_all=False)
        enabled = [k for k in keys if self.definitions[k].enabled]
        if enabled:
            raise PacketError(FailureCode.DEFINITION_ENABLED, f"{self._event_name(enabled[0])} {enabled[0].argument!r} "
                                                         "is enabled: disable it first")
        return lambda: setattr(self, "definitions", {k: d for k, d in self.definitions.items() if k not in keys})

    def _accept_delete_all(self, data: bytes) -> Callable[[], None]:
        no_data(data, "TC[19,3]")
        return lambda: setattr(self, "definitions", {})

    def _accept_switch(self, data: bytes, enabled: bool) -> Callable[[], None]:
        keys = set(self._known(data, empty_means_all=True))
        return lambda: setattr(self, "definitions", {
            k: replace(d, enabled=enabled) if k in keys else d for k, d in self.definitions.items()})

    def _accept_function(self, data: bytes, enabled: bool) -> Callable[[], None]:
        no_data(data, f"TC[19,{wa.ENABLE_FUNCTION if enabled else wa.DISABLE_FUNCTION}]")
        return lambda: setattr(self, "function_enabled", enabled)

    def _accept_report_status(self, data: bytes) -> Callable[[], None]:
        no_data(data, "TC[19,6]")
        return lambda: self.tm.send(TmPacket(wa.SERVICE, wa.STATUS_REPORT, wa.pack_status_report(
            [(k, d.enabled) for k, d in sorted(self.definitions.items())])))

    def _accept_report_definitions(self, data: bytes) -> Callable[[], None]:
        keys = self._known(data, empty_means_all=True)
        return lambda: self.tm.send(TmPacket(wa.SERVICE, wa.DEFINITION_REPORT, wa.pack_definition_report(
            [(k, self.definitions[k].enabled, self.definitions[k].request) for k in keys if k in self.definitions])))
