"""CommandDispatcher: turns telecommands into actions and reports every outcome in ST[1].

Flow for each message from the uplink (the ``tc`` port): decode (size, header, CRC) -> APID -> service/subtype ->
arguments (types and ranges from the dictionary) = acceptance; then start; then execution =
completion. Successes are reported as the TC's acknowledgement flags ask; failures always are,
with a :class:`FailureCode` and a ``CommandRejected`` or ``CommandFailed`` event. Nothing a ground
sends can stop the dispatcher: every error becomes a report.

Services: ST[8,1] component commands, ST[17,1] ping, ST[20,1] report and ST[20,3] set parameters
(all-or-nothing: every pair is checked before any is applied). It holds the ``commands`` role:
commands and parameter requests reach the component the catalog names through the roster the
executive hands it; a component of the roster that serves a PUS service of its own (a
:class:`ServiceProvider`, e.g. ST[11] time-based scheduling) gives it the acceptance of each of
its TC[service, subtype], and :meth:`CommandDispatcher.accept` lets it vet a TC it will send
later (an activity). Every report goes out of the ``tm`` port. A command marked test equipment
(fault injection) is refused at acceptance (NOT_ENABLED) unless ``[mission] fault_injection``.

| requirement | verified by |
| every malformed or unknown TC gets TM[1,2] with a distinct |   |
|   code and an event | tests/unit/services/test_dispatcher.py, |
|   | tests/system/test_integration.py (hypothesis garbage over ZeroMQ) |
| a command handler that raises gives TM[1,8] EXECUTION_FAILED, never a crash | tests/unit/services/test_dispatcher.py |
| success reports follow the ack flags | tests/unit/services/test_dispatcher.py |
| a test-equipment command is refused unless fault injection is enabled | tests/unit/services/test_dispatcher.py |
| a command whose work runs on another thread completes when it ran, with its own code |   |
|   | tests/unit/services/test_dispatcher.py |
| a service provider's TCs are accepted and reported like any other | tests/unit/services/test_time_schedule.py |
"""
from __future__ import annotations

import abc
import struct
import threading
from typing import Any, Callable, Mapping

from flight.core.completion import Pending
from flight.core.component import (Channel, CommandBusy, CommandDisabled, CommandError, CommandRefused,
                                   Component, Event, command)
from flight.core.context import Context
from flight.core.ports import OutputPort, input_port
from flight.core.roles import CommandRouter, Roster
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity, ValueRejected, decode_fields
from flight.messages import RawTelecommand, TmPacket
from flight.wire import services as st
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import AckFlags, Telecommand, request_id_of

Action = Callable[[], Any]
Route = Callable[[Telecommand], tuple[str, Action]]   # acceptance: (label, the action), or PacketError
FAILURES = ((CommandRefused, FailureCode.INVALID_STATE), (CommandBusy, FailureCode.BUSY),
            (CommandDisabled, FailureCode.NOT_ENABLED), (CommandError, FailureCode.EXECUTION_FAILED))


class ServiceProvider(abc.ABC):
    """A component that serves a PUS service of its own: the dispatcher routes its TCs to it."""

    @abc.abstractmethod
    def service_routes(self, vet: Callable[[bytes], Telecommand]) -> Mapping[tuple[int, int], Route]:
        """The acceptance of each TC[service, subtype] it serves: run in the dispatcher's thread, it
        parses and checks (PacketError with a code if refused) and changes nothing; the action it
        returns does the work. ``vet`` accepts a whole TC packet as the dispatcher would (decoded,
        routed, its arguments checked), runs nothing and returns it (PacketError if refused)."""


# an embedded request refused for one of these is malformed (the carrier's own code); others are kept
MALFORMED = {FailureCode.CRC_MISMATCH, FailureCode.TRUNCATED, FailureCode.LENGTH_MISMATCH, FailureCode.OVERSIZED,
             FailureCode.BAD_HEADER, FailureCode.BAD_ARGUMENTS}


def vet_embedded(vet: Callable[[bytes], Telecommand] | None, packet: bytes, carrier: int, malformed: FailureCode,
                 what: str) -> None:
    """The dispatcher's acceptance (``vet``) of a TC carried by a service's request (a scheduled
    activity, a sequence step), refused as ``what``: a malformed one, or one of the carrier's own
    service ``carrier``, with ``malformed``; any other refusal with its own code."""
    try:
        if Telecommand.decode(packet).service == carrier:
            raise PacketError(malformed, f"a TC[{carrier},*] request cannot be carried so")
        assert vet is not None   # service_routes gave it: no other way a carried request comes
        vet(packet)
    except PacketError as error:
        code = malformed if error.code in MALFORMED else error.code
        raise PacketError(code, f"{what}: {error}") from None


class CommandDispatcher(Component, CommandRouter):
    CHANNELS = {
        "CommandsReceived": Channel(DataType.U32, "commands"),
        "CommandsRejected": Channel(DataType.U32, "commands", description="acceptance failures"),
        "CommandsCompleted": Channel(DataType.U32, "commands"),
        "CommandsFailed": Channel(DataType.U32, "commands", description="execution failures"),
        "LastFailureCode": Channel(DataType.U16),
    }
    EVENTS = {
        "CommandRejected": Event(Severity.WARNING_LO, "TC rejected, {reason}: {detail}",
                                 (Field("code", DataType.U16), Field("reason", DataType.STRING),
                                  Field("detail", DataType.STRING))),
        "CommandFailed": Event(Severity.WARNING_LO, "{command} failed: {detail}",
                               (Field("command", DataType.STRING),
                                Field("detail", DataType.STRING))),
        "CommandCompleted": Event(Severity.ACTIVITY, "{command} completed",
                                  (Field("command", DataType.STRING),)),
        "NoOpString": Event(Severity.ACTIVITY, "No-op: {text}", (Field("text", DataType.STRING),)),
    }
    tm = OutputPort(TmPacket, "verification reports, ping replies, parameter reports", required=True)
    SETTINGS = {"max_tc_size": Setting(int, 1024, 13, 65542, description="bytes; larger TCs are refused "
                                                                        "(OVERSIZED); 13 is the smallest TC")}

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self._roster: Roster = {}
        self._counting = threading.Lock()
        self.max_tc_size = self.config["max_tc_size"]
        self._routes: dict[tuple[int, int], Route] = {
            (st.FUNCTION, st.PERFORM_FUNCTION): self._accept_function,
            (st.TEST, st.PING): self._accept_ping,
            (st.PARAMETER, st.PARAMETER_REPORT_REQUEST): self._accept_parameter_report,
            (st.PARAMETER, st.PARAMETER_SET): self._accept_parameter_set,
        }
        self._services = {service for service, _ in self._routes}

    def serve(self, roster: Roster) -> None:
        self._roster = roster
        for component in roster.values():
            if isinstance(component, ServiceProvider):
                routes = component.service_routes(lambda raw: self.accept(raw)[0])
                taken = sorted(set(routes) & set(self._routes))
                if taken:
                    raise ValueError(f"{component.name} serves TC{list(taken[0])}, which is served already")
                self._routes.update(routes)
        self._services = {service for service, _ in self._routes}

    @command(description="Do nothing; proves the command path")
    def NO_OP(self) -> None:
        pass

    @command(Field("text", DataType.STRING), description="Do nothing but echo text as an event")
    def NO_OP_STRING(self, text: str) -> None:
        self.event("NoOpString", text=text)

    # --- the flow -----------------------------------------------------------------------------
    @input_port(RawTelecommand, "telecommands from the ground")
    def tc(self, message: RawTelecommand) -> None:
        """Process one message from the ground (its frames after the peer identity)."""
        frames = message.frames
        self._count("CommandsReceived")
        raw = frames[0] if frames else b""
        try:
            if len(frames) != 1:
                raise PacketError(FailureCode.MULTIPART_MESSAGE,
                                  f"{len(frames)} frames in one message")
            tc, label, action = self.accept(raw)
        except PacketError as error:
            self._reject(request_id_of(raw), error)
            return
        request_id = request_id_of(raw)
        if tc.ack & AckFlags.ACCEPTANCE:
            self._report(st.Stage.ACCEPTANCE, request_id)
        if tc.ack & AckFlags.START:
            self._report(st.Stage.START, request_id)
        try:
            outcome = action()
        except Exception as error:  # any handler failure is a completion failure, not a crash
            self._complete(label, request_id, tc.ack, error)
            return
        if isinstance(outcome, Pending):  # the work runs on the component's thread: wait for it
            outcome.when_done(lambda error: self._complete(label, request_id, tc.ack, error))
        else:
            self._complete(label, request_id, tc.ack, None)

    def accept(self, raw: bytes) -> tuple[Telecommand, str, Action]:
        """Acceptance of one TC packet: decoded (size, header, CRC), its APID, its route, its
        arguments; the TC, its label and its action, nothing run yet (PacketError if refused)."""
        tc = Telecommand.decode(raw, self.max_tc_size)
        if tc.apid != self.context.catalog.apid:
            raise PacketError(FailureCode.UNKNOWN_APID, f"APID {tc.apid}")
        route = self._routes.get((tc.service, tc.subtype))
        if route is None:
            code = (FailureCode.UNKNOWN_SUBTYPE if tc.service in self._services
                    else FailureCode.UNKNOWN_SERVICE)
            raise PacketError(code, f"TC[{tc.service},{tc.subtype}]")
        label, action = route(tc)
        return tc, label, action

    def _complete(self, label: str, request_id: bytes, ack: AckFlags, error: BaseException | None) -> None:
        """ST[1] completion once the work has run (in the thread that ran it): success as the ack
        flags ask, failure always, with the code of what failed it and an event."""
        if error is None:
            self._count("CommandsCompleted")
            if ack & AckFlags.COMPLETION:
                self._report(st.Stage.COMPLETION, request_id)
            return
        code = next((c for kind, c in FAILURES if isinstance(error, kind)), FailureCode.INTERNAL_ERROR)
        if isinstance(error, CommandError) and error.failure in FailureCode.__members__:
            code = FailureCode[error.failure]  # the handler's own code
        detail = str(error) if isinstance(error, CommandError) else f"{type(error).__name__}: {error}"
        self._count("CommandsFailed")
        self.tlm("LastFailureCode", int(code))
        self._report(st.Stage.COMPLETION, request_id, code)
        self.event("CommandFailed", command=label, detail=detail)

    def _reject(self, request_id: bytes, error: PacketError) -> None:
        self._count("CommandsRejected")
        self.tlm("LastFailureCode", int(error.code))
        self._report(st.Stage.ACCEPTANCE, request_id, error.code)
        self.event("CommandRejected", code=int(error.code), reason=error.code.name,
                   detail=error.message)

    def _report(self, stage: st.Stage, request_id: bytes, code: FailureCode | None = None) -> None:
        report = st.VerificationReport(stage, code is None, request_id, int(code or 0))
        self.tm.send(TmPacket(st.VERIFICATION, report.subtype, report.pack()))

    def _count(self, channel: str) -> None:
        with self._counting:  # completions come from other threads too
            self.increment(channel)

    # --- acceptance per service: parse and check, return (label, action) ------------------------
    def _accept_function(self, tc: Telecommand) -> tuple[str, Action]:
        if len(tc.app_data) < 2:
            raise PacketError(FailureCode.BAD_ARGUMENTS, "TC[8,1] without a function id")
        (opcode,) = struct.unpack_from(">H", tc.app_data)
        definition = self.context.catalog.command_by_opcode.get(opcode)
        if definition is None:
            raise PacketError(FailureCode.UNKNOWN_COMMAND, f"opcode 0x{opcode:04x}")
        if definition.test_equipment and not self.context.mission.get("fault_injection"):
            raise PacketError(FailureCode.NOT_ENABLED, f"{definition.name} is test equipment: this "
                                                       "configuration does not enable fault injection")
        args, _ = _decode_checked(definition.args, tc.app_data[2:],
                                  FailureCode.ARGUMENT_OUT_OF_RANGE)
        component_name, _, handler = definition.name.partition(".")
        component = self._roster[component_name]
        return definition.name, lambda: component.run_command(handler, args)

    def _accept_ping(self, tc: Telecommand) -> tuple[str, Action]:
        if tc.app_data:
            raise PacketError(FailureCode.BAD_ARGUMENTS, "TC[17,1] carries no data")
        return "ping", lambda: self.tm.send(TmPacket(st.TEST, st.PING_REPLY, b""))

    def _parameter(self, pid: int) -> Any:
        definition = self.context.catalog.parameter_by_id.get(pid)
        if definition is None:
            raise PacketError(FailureCode.UNKNOWN_PARAMETER, f"parameter id 0x{pid:04x}")
        return definition

    def _accept_parameter_report(self, tc: Telecommand) -> tuple[str, Action]:
        try:
            ids = st.unpack_ids(tc.app_data)
        except ValueError as error:
            raise PacketError(FailureCode.BAD_ARGUMENTS, str(error)) from None
        definitions = [self._parameter(pid) for pid in ids]

        def report() -> None:
            body = struct.pack(">H", len(definitions))
            for d in definitions:
                component, _, name = d.name.partition(".")
                body += struct.pack(">H", d.id) + d.field.type.encode(
                    self._roster[component].param(name))
            self.tm.send(TmPacket(st.PARAMETER, st.PARAMETER_REPORT, body))

        return "report parameters", report

    def _accept_parameter_set(self, tc: Telecommand) -> tuple[str, Action]:
        data = tc.app_data
        if len(data) < 2:
            raise PacketError(FailureCode.BAD_ARGUMENTS, "TC[20,3] without a count")
        (count,) = struct.unpack_from(">H", data)
        offset, updates = 2, []
        for _ in range(count):
            if offset + 2 > len(data):
                raise PacketError(FailureCode.BAD_ARGUMENTS, "TC[20,3] shorter than its count")
            (pid,) = struct.unpack_from(">H", data, offset)
            definition = self._parameter(pid)
            values, offset = _decode_checked((definition.field,), data,
                                             FailureCode.PARAMETER_OUT_OF_RANGE, offset + 2,
                                             exact=False)
            updates.append((definition, values[0]))
        if offset != len(data):
            raise PacketError(FailureCode.BAD_ARGUMENTS, f"{len(data) - offset} bytes left over")

        def apply() -> None:
            for definition, value in updates:
                component, _, name = definition.name.partition(".")
                self._roster[component].apply_parameter(name, value)

        return "set parameters", apply


def _decode_checked(fields: tuple[Field, ...], data: bytes, range_code: FailureCode,
                    offset: int = 0, exact: bool = True) -> tuple[list[Any], int]:
    """decode_fields with its refusals turned into PacketErrors carrying the right code."""
    try:
        return decode_fields(fields, data, offset, exact=exact)
    except ValueRejected as error:
        code = range_code if error.out_of_range else FailureCode.BAD_ARGUMENTS
        raise PacketError(code, str(error)) from None
