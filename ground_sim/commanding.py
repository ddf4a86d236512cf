"""CommandEncoder: telecommands by name, with arguments checked against the dictionary.

Arguments may be given as a list (in order) or a dict (by name); a wrong name, count, type or
range raises ValueError before anything is sent. Sequence counts are per APID, 14 bits.
"""
from __future__ import annotations

import struct
from typing import Any, Mapping, Sequence

from flight.core.types import ValueRejected, encode_fields
from flight.wire import scheduling as sched
from flight.wire import sequencing as sq
from flight.wire import services as st
from flight.wire import time_management as tm9
from flight.wire.dictionary import Dictionary
from flight.wire.pus import AckFlags, Telecommand
from flight.wire.spacepacket import SequenceCounter


class CommandEncoder:
    def __init__(self, dictionary: Dictionary, source_id: int = 0) -> None:
        self.dictionary = dictionary
        self.source_id = source_id
        self._sequence = SequenceCounter()

    def _tc(self, service: int, subtype: int, data: bytes, ack: AckFlags) -> Telecommand:
        apid = self.dictionary.apid
        return Telecommand(apid, self._sequence.next(apid), service, subtype, data, ack,
                           self.source_id)

    def command(self, name: str, args: Sequence[Any] | Mapping[str, Any] | None = None,
                ack: AckFlags = AckFlags.ALL, check: bool = True) -> Telecommand:
        """TC[8,1] for ``name``. ``check=False`` skips the declared ranges (types still apply),
        so a test can send what the flight must refuse."""
        definition = self.dictionary.command_by_name.get(name)
        if definition is None:
            raise ValueError(f"no command {name!r} in the dictionary")
        if isinstance(args, Mapping):
            unknown = set(args) - {a.name for a in definition.args}
            if unknown:
                raise ValueError(f"{name} has no argument(s) {sorted(unknown)}")
            try:
                args = [args[a.name] for a in definition.args]
            except KeyError as missing:
                raise ValueError(f"{name}: argument {missing} missing") from None
        args = list(args or [])
        if len(args) != len(definition.args):
            raise ValueError(f"{name} takes {len(definition.args)} arguments, got {len(args)}")
        try:
            if check:
                data = encode_fields(definition.args, args)
            else:
                data = b"".join(a.type.encode(v) for a, v in zip(definition.args, args))
        except ValueRejected as error:
            raise ValueError(f"{name}: {error}") from None
        return self._tc(st.FUNCTION, st.PERFORM_FUNCTION,
                        struct.pack(">H", definition.opcode) + data, ack)

    def ping(self, ack: AckFlags = AckFlags.ALL) -> Telecommand:
        return self._tc(st.TEST, st.PING, b"", ack)

    def schedule(self, subtype: int, data: bytes = b"") -> Telecommand:
        """TC[11,subtype] with ``data`` laid out as flight.wire.scheduling says."""
        return self._tc(sched.SCHEDULING, subtype, data, AckFlags.ALL)

    def time_report_rate(self, exponent: int) -> Telecommand:
        """TC[9,1]: a TM[9,2] every 2^exponent s (flight.wire.time_management)."""
        return self._tc(tm9.TIME_MANAGEMENT, tm9.SET_REPORT_RATE, tm9.pack_rate(exponent), AckFlags.ALL)

    def service(self, service: int, subtype: int, data: bytes = b"") -> Telecommand:
        """TC[service,subtype] with ``data`` as it is (e.g. ST[12], ST[19]: ground_sim.onboard)."""
        return self._tc(service, subtype, data, AckFlags.ALL)

    def sequencing(self, subtype: int, data: bytes = b"") -> Telecommand:
        """TC[21,subtype] with ``data`` laid out as flight.wire.sequencing says."""
        return self._tc(sq.SERVICE, subtype, data, AckFlags.ALL)

    def insert_activities(self, activities: Sequence[tuple[float, Telecommand]]) -> Telecommand:
        """TC[11,4]: each TC released at its mission time (seconds since 1970-01-01)."""
        return self.schedule(sched.INSERT, sched.pack_activities(
            [sched.Activity(sched.ticks(at), tc.encode()) for at, tc in activities]))

    def report_parameters(self, names: Sequence[str]) -> Telecommand:
        ids = [self._parameter(n).id for n in names]
        return self._tc(st.PARAMETER, st.PARAMETER_REPORT_REQUEST, st.pack_ids(ids),
                        AckFlags.ALL)

    def set_parameters(self, values: Mapping[str, Any], check: bool = True) -> Telecommand:
        body = struct.pack(">H", len(values))
        for name, value in values.items():
            definition = self._parameter(name)
            try:
                value = definition.field.check(value) if check else value
                body += struct.pack(">H", definition.id) + definition.field.type.encode(value)
            except ValueRejected as error:
                raise ValueError(f"{name}: {error}") from None
        return self._tc(st.PARAMETER, st.PARAMETER_SET, body, AckFlags.ALL)

    def _parameter(self, name: str) -> Any:
        definition = self.dictionary.parameter_by_name.get(name)
        if definition is None:
            raise ValueError(f"no parameter {name!r} in the dictionary")
        return definition
