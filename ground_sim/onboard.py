"""OnboardAutonomy: the ground's side of the flight's on-board monitoring (ST[12]), event-actions
(ST[19]) and modes, by dictionary names (``api.onboard``, ground_sim.api; the console's ``mon``,
``ea`` and ``safe`` commands, ground_sim.console).

A monitoring definition (PMON) is added by its id and a channel's name; an event-action by the
event's name (and, optionally, the text of its first argument: a card's name, a PMON's id in
decimal), the command's name and its arguments, its request built by the ground's encoder (ST[1]
acceptance and completion asked) with the sequence count ``ACTION_SEQUENCE``: the ground's own
counts go up from 0 in each session and the flight's default actions' down from 16383, so the
ST[1] reports of an action that fires (after a restart of the flight or the ground, too) are
never taken for those of a TC the ground sent. Each request is asserted completed (AssertionError with the
record, otherwise); additions are enabled at once unless told not to (PUS-C adds them disabled).
Deleting disables first (PUS-C refuses to delete an enabled definition). Reports come back as
dicts with names: a PMON's channel, an event-action's event and command. What the flight keeps
across a restart and how it returns to its defaults: flight.services.saved_state.

| requirement | verified by |
|---|---|
| definitions added, reported, deleted by names; they survive a SIGKILL of the flight, still |   |
|   fire, and the mode is kept | tests/system/test_onboard_state.py |
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Sequence

from flight.wire import event_action as wa
from flight.wire import monitoring as wm
from flight.wire.event_action import Key
from flight.wire.monitoring import CheckType, PmonDefinition
from flight.wire.pus import AckFlags, Telecommand
from ground_sim.station import CommandRecord

if TYPE_CHECKING:
    from ground_sim.api import IntegrationApi

CHECKS = {"limit": CheckType.LIMIT, "expected": CheckType.EXPECTED_VALUE, "delta": CheckType.DELTA}
ACTION_ACK = AckFlags.ACCEPTANCE | AckFlags.COMPLETION
ACTION_SEQUENCE = 0x3F00   # the requests of the event-actions the ground defines (see above)


class OnboardAutonomy:
    def __init__(self, api: "IntegrationApi") -> None:
        self.api = api
        self.dictionary = api.station.dictionary

    def _request(self, service: int, subtype: int, data: bytes, label: str,
                 timeout: float | None) -> CommandRecord:
        station = self.api.station
        record = self.api.await_verification(station.send(station.encoder.service(service, subtype, data), label),
                                             timeout)
        assert record.completed and record.failure is None, f"{record}"
        return record

    def _report(self, service: int, subtype: int, data: bytes, kind: str, timeout: float | None) -> Any:
        """The report of ``kind`` that answers TC[service,subtype] (it comes down before the completion)."""
        with self.api.station.changed:
            mark = len(self.api.station.onboard_reports)
        self._request(service, subtype, data, kind, timeout)
        return self.api._wait_for(lambda: next((value for k, value in self.api.station.onboard_reports[mark:]
                                                if k == kind), None), timeout, lambda: kind)

    # --- ST[12] monitoring ---------------------------------------------------------------------
    def add_monitor(self, pmon: int, channel: str, low: float = -math.inf, high: float = math.inf, *,
                    check: str = "limit", mask: int = (1 << 63) - 1, expected: int = 0, repetitions: int = 1,
                    interval: int = 1, enable: bool = True, timeout: float | None = None) -> CommandRecord:
        """TC[12,5] one PMON on ``channel`` (``check``: limit with low/high, expected with mask and
        expected value, delta with low/high thresholds of the change per check); then TC[12,1]."""
        definition = PmonDefinition(pmon, self.dictionary.channel_by_name[channel].id, interval, repetitions,
                                    CHECKS[check], low, high, mask if check == "expected" else 0, expected)
        record = self._request(wm.SERVICE, wm.ADD, wm.pack_definitions([definition]), f"add PMON {pmon}", timeout)
        return self.enable_monitors(pmon, timeout=timeout) if enable else record

    def enable_monitors(self, *pmons: int, timeout: float | None = None) -> CommandRecord:
        return self._request(wm.SERVICE, wm.ENABLE, wm.pack_ids(list(pmons)), f"enable PMONs {pmons}", timeout)

    def disable_monitors(self, *pmons: int, timeout: float | None = None) -> CommandRecord:
        return self._request(wm.SERVICE, wm.DISABLE, wm.pack_ids(list(pmons)), f"disable PMONs {pmons}", timeout)

    def delete_monitors(self, *pmons: int, timeout: float | None = None) -> CommandRecord:
        self.disable_monitors(*pmons, timeout=timeout)
        return self._request(wm.SERVICE, wm.DELETE, wm.pack_ids(list(pmons)), f"delete PMONs {pmons}", timeout)

    def monitoring(self, enabled: bool, timeout: float | None = None) -> CommandRecord:
        """TC[12,15] / TC[12,16]: the parameter monitoring function on or off."""
        subtype = wm.ENABLE_FUNCTION if enabled else wm.DISABLE_FUNCTION
        return self._request(wm.SERVICE, subtype, b"", f"monitoring {'on' if enabled else 'off'}", timeout)

    def monitor_report(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """TC[12,8] for every PMON: each as a dict, its channel by name."""
        report = self._report(wm.SERVICE, wm.REPORT_DEFINITIONS, wm.pack_ids([]), "monitoring definitions", timeout)
        return [{**d, "channel": self._name(self.dictionary.channel_by_id, d["channel_id"])}
                for d in report["definitions"]]

    # --- ST[19] event-action -------------------------------------------------------------------
    def key(self, event: str, argument: str = "") -> Key:
        return Key(self.dictionary.event_by_name[event].id, argument)

    def add_event_action(self, event: str, command: str, args: Sequence[Any] = (), argument: str = "", *,
                         enable: bool = True, timeout: float | None = None) -> CommandRecord:
        """TC[19,1]: when ``event`` occurs (with ``argument`` as its first argument's text, if given),
        send ``command`` with ``args``; then TC[19,4]."""
        tc = self.api.station.encoder.command(command, list(args), ack=ACTION_ACK)
        request = replace(tc, sequence_count=ACTION_SEQUENCE).encode()
        key = self.key(event, argument)
        record = self._request(wa.SERVICE, wa.ADD, wa.pack_additions([(key, request)]),
                               f"add event-action {event} {argument}", timeout)
        return self.enable_event_actions((event, argument), timeout=timeout) if enable else record

    def _keys(self, events: Sequence[tuple[str, str] | str]) -> bytes:
        return wa.pack_keys([self.key(e) if isinstance(e, str) else self.key(*e) for e in events])

    def enable_event_actions(self, *events: tuple[str, str] | str, timeout: float | None = None) -> CommandRecord:
        """TC[19,4] for each (event, argument) or event name."""
        return self._request(wa.SERVICE, wa.ENABLE, self._keys(events), f"enable event-actions {events}", timeout)

    def disable_event_actions(self, *events: tuple[str, str] | str, timeout: float | None = None) -> CommandRecord:
        return self._request(wa.SERVICE, wa.DISABLE, self._keys(events), f"disable event-actions {events}", timeout)

    def delete_event_actions(self, *events: tuple[str, str] | str, timeout: float | None = None) -> CommandRecord:
        self.disable_event_actions(*events, timeout=timeout)
        return self._request(wa.SERVICE, wa.DELETE, self._keys(events), f"delete event-actions {events}", timeout)

    def event_action_report(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """TC[19,10] for every definition: each as a dict, its event and command by name."""
        report = self._report(wa.SERVICE, wa.REPORT_DEFINITIONS, b"", "event-action definitions", timeout)
        return [{**d, "event": self._name(self.dictionary.event_by_id, d["event_id"]),
                 "command": self._command(bytes.fromhex(d["request"]))} for d in report]

    def _command(self, request: bytes) -> str:
        tc = Telecommand.decode(request)
        if (tc.service, tc.subtype) == (8, 1) and len(tc.app_data) >= 2:
            return self._name(self.dictionary.command_by_opcode, int.from_bytes(tc.app_data[:2], "big"))
        return f"TC[{tc.service},{tc.subtype}]"

    @staticmethod
    def _name(table: dict[int, Any], key: int) -> str:
        found = table.get(key)
        return found.name if found is not None else f"0x{key:04x}"

    # --- modes and defaults --------------------------------------------------------------------
    def enter_safe(self, reason: str = "by the ground", timeout: float | None = None) -> CommandRecord:
        return self.api.send_and_assert_command("modes.ENTER_SAFE", [reason], timeout)

    def exit_safe(self, timeout: float | None = None) -> CommandRecord:
        return self.api.send_and_assert_command("modes.ENTER_NOMINAL", None, timeout)

    def restore_defaults(self, timeout: float | None = None) -> None:
        """The topology's PMONs and event-actions again, on board now and after any restart."""
        self.api.send_and_assert_command("monitor.RESTORE_DEFAULTS", None, timeout)
        self.api.send_and_assert_command("eventAction.RESTORE_DEFAULTS", None, timeout)
