"""The reports of the flight's on-board monitoring (ST[12]) and event-action (ST[19]) services,
decoded into plain values the archive keeps as JSON (layouts: flight.wire.monitoring and
flight.wire.event_action).

| requirement | verified by |
| every ST[12] and ST[19] report decodes; others are not claimed | tests/unit/wire/test_monitoring_layouts.py |
"""
from __future__ import annotations

from typing import Any

from flight.wire import event_action as wa
from flight.wire import monitoring as wm

ONBOARD_KINDS = frozenset({"check transitions", "out of limits", "monitoring definitions", "monitoring status",
                           "event-action status", "event-action definitions"})   # what decode_onboard returns


def _transition(t: wm.Transition) -> dict[str, Any]:
    return {"pmon": t.pmon_id, "channel_id": t.channel_id, "check": t.check.name, "value": t.value,
            "limit": t.limit, "previous": t.previous.name, "current": t.current.name, "time": t.time}


def _definition(enabled: bool, d: wm.PmonDefinition) -> dict[str, Any]:
    return {"pmon": d.pmon_id, "channel_id": d.channel_id, "enabled": enabled, "interval": d.interval,
            "repetitions": d.repetitions, "check": d.check.name, "low": d.low, "high": d.high,
            "mask": d.mask, "expected": d.expected}


def decode_onboard(service: int, subtype: int, data: bytes) -> tuple[str, Any] | None:
    """``(kind, value)`` for a TM[12,x] or TM[19,x] report; None for any other packet."""
    if service == wm.SERVICE:
        if subtype in (wm.TRANSITION_REPORT, wm.OUT_OF_LIMITS_REPORT):
            kind = "check transitions" if subtype == wm.TRANSITION_REPORT else "out of limits"
            return kind, [_transition(t) for t in wm.unpack_transitions(data)]
        if subtype == wm.DEFINITION_REPORT:
            delay, definitions = wm.unpack_definition_report(data)
            return "monitoring definitions", {"max_reporting_delay": delay,
                                              "definitions": [_definition(e, d) for e, d in definitions]}
        if subtype == wm.STATUS_REPORT:
            return "monitoring status", [{"pmon": i, "enabled": e} for i, e in wm.unpack_status_report(data)]
    if service == wa.SERVICE:
        if subtype == wa.STATUS_REPORT:
            return "event-action status", [{"event_id": k.event_id, "argument": k.argument, "enabled": e}
                                           for k, e in wa.unpack_status_report(data)]
        if subtype == wa.DEFINITION_REPORT:
            return "event-action definitions", [
                {"event_id": k.event_id, "argument": k.argument, "enabled": e, "request": r.hex()}
                for k, e, r in wa.unpack_definition_report(data)]
    return None
