"""EventLog: every component's events, as ST[5] reports and in the flight log (F Prime's event
logger).

It holds the ``events`` role, so the executive routes every component's events here. Each event
is written to the flight log (INFO for ACTIVITY, WARNING above) and sent out of the ``tm`` port
as TM[5, severity]: the event's catalog id (U16), then its arguments encoded as declared. Every
event also goes out of the ``reports`` port (to the event-action service, ST[19]), after its
TM[5].

| requirement | verified by |
| an event becomes TM[5, severity] with its id and arguments, and a log line | tests/unit/services/test_event_log.py |
| a string argument cannot forge a log line (control characters escaped) | tests/unit/services/test_event_log.py |
| every event goes out of the reports port with its id and values | tests/unit/services/test_event_action.py |
"""
from __future__ import annotations

from typing import Any

from flight.core.component import Channel, Component
from flight.core.context import log_event
from flight.core.ports import OutputPort
from flight.core.roles import EventSink, Roster
from flight.core.types import DataType, encode_fields
from flight.messages import EventReport, TmPacket
from flight.wire import services as st


class EventLog(Component, EventSink):
    SETTINGS: dict = {}  # none: any key in its table is refused
    CHANNELS = {"EventsReported": Channel(DataType.U32, "events")}
    tm = OutputPort(TmPacket, "TM[5,1..4] event reports", required=True)
    reports = OutputPort(EventReport, "every event, for the event-action service")

    def serve(self, roster: Roster) -> None:
        """Every component's events come here (the executive routes them): nothing to keep."""

    def log_event(self, component: str, name: str, values: list[Any]) -> None:
        definition = self.context.catalog.event_by_name[f"{component}.{name}"]
        log_event(self.context.catalog, component, name, values)
        self.tm.send(TmPacket(st.EVENT, int(definition.severity),
                              definition.id.to_bytes(2, "big") + encode_fields(definition.args, values)))
        self.increment("EventsReported")
        self.reports.send(EventReport(component, name, definition.id, tuple(values)))
