"""Health: pings every component each cycle and strokes the watchdog only when all answer.

Each cycle, a component that has answered its last ping gets a new one (a passive component
answers at once; an active one answers from its own thread, through its queue); a ping that could
not be delivered (the component's queue was full) is offered again next cycle. A component that
has not answered within ``PingTimeoutCycles`` cycles is reported once with ComponentUnresponsive
(WARNING_HI) and again with ComponentRecovered when it answers. The watchdog stroke count is
telemetry; a hardware-in-the-loop build connects it to the board's watchdog.

It holds the ``health`` role: the executive hands it the roster of every component. A component
found unresponsive is asked to ``restart`` its thread if that thread died (cFS ES's application
restart), reported with ComponentRestarted: at once with ``auto_restart`` (the default), else by
RESTART_UNRESPONSIVE, which the default topology's event-action (ST[19]) sends on
ComponentUnresponsive, so the ground can disarm or change the response. RESTART_UNRESPONSIVE
restarts every unresponsive component that has not answered since and whose thread can be
restarted, and fails (INVALID_STATE) naming those it could not restart (a thread alive but hung
cannot be: the watchdog is then left unstroked) or when none is unresponsive.

| requirement | verified by |
| a hung active component is reported within the timeout, and its recovery too | tests/unit/services/test_health.py |
| the watchdog is not stroked while any component is unresponsive | tests/unit/services/test_health.py |
| a component whose thread died is restarted, with an event, and answers again | tests/unit/services/test_health.py, |
|   | tests/system/test_cluster_component.py |
| without auto_restart, RESTART_UNRESPONSIVE restarts it, and fails for a hung thread |   |
|   | tests/unit/services/test_health.py, tests/system/test_onboard_response.py |
"""
from __future__ import annotations

from typing import Any

from flight.core.component import Channel, CommandRefused, Component, Event, Parameter, command
from flight.core.context import Context
from flight.core.roles import HealthMonitor, Roster
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity


class Health(Component, HealthMonitor):
    SETTINGS = {"auto_restart": Setting(bool, True, description="restart a dead thread as soon as its "
                                                                "component is found unresponsive (false: "
                                                                "by RESTART_UNRESPONSIVE)")}
    CHANNELS = {
        "PingsSent": Channel(DataType.U32, "pings"),
        "UnresponsiveComponents": Channel(DataType.U16, "components",
                                          Limits(yellow_high=0, red_high=1)),
        "WatchdogStrokes": Channel(DataType.U32, "strokes"),
        "Restarts": Channel(DataType.U32, "threads", description="dead threads restarted"),
    }
    EVENTS = {
        "ComponentUnresponsive": Event(Severity.WARNING_HI,
                                       "{component} has not answered a ping for {cycles} cycles",
                                       (Field("component", DataType.STRING),
                                        Field("cycles", DataType.U16))),
        "ComponentRecovered": Event(Severity.ACTIVITY, "{component} answers pings again",
                                    (Field("component", DataType.STRING),)),
        "ComponentRestarted": Event(Severity.WARNING_HI, "{component}'s thread had died: restarted",
                                    (Field("component", DataType.STRING),)),
        "RestartFailed": Event(Severity.WARNING_HI, "{component} could not be restarted: {detail}",
                               (Field("component", DataType.STRING), Field("detail", DataType.STRING))),
    }
    PARAMETERS = {"PingTimeoutCycles": Parameter(DataType.U16, 3, 1, 1000)}

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self._roster: Roster = {}
        self._outstanding: dict[str, tuple[int, int]] = {}  # component -> (key, cycles waited)
        self._undelivered: set[str] = set()
        self._unresponsive: set[str] = set()
        self._key = 0

    def serve(self, roster: Roster) -> None:
        self._roster = roster

    def tick(self, tick: int, now: float) -> None:
        timeout = self.param("PingTimeoutCycles")
        for name, component in self._roster.items():
            if component is self:
                continue
            key, waited = self._outstanding.get(name, (None, 0))
            if key is None or component.last_pong == key:
                if name in self._unresponsive:
                    self._unresponsive.discard(name)
                    self.event("ComponentRecovered", component=name)
                self._key = (self._key + 1) & 0x7FFFFFFF
                self._outstanding[name] = (self._key, 0)
                self._ping(name, component, self._key)
                continue
            if name in self._undelivered:
                self._ping(name, component, key)
            waited += 1
            self._outstanding[name] = (key, waited)
            if waited >= timeout and name not in self._unresponsive:
                self._unresponsive.add(name)
                self.event("ComponentUnresponsive", component=name, cycles=min(waited, 0xFFFF))
                if self.config["auto_restart"]:
                    self._restart(name, component)
        self.tlm("UnresponsiveComponents", len(self._unresponsive))
        if not self._unresponsive:
            self.increment("WatchdogStrokes")

    @command(description="Restart every unresponsive component whose thread died (fails naming those "
                         "that could not be restarted)")
    def RESTART_UNRESPONSIVE(self) -> None:
        if not self._unresponsive:
            raise CommandRefused("no component is unresponsive")
        waiting = [name for name in sorted(self._unresponsive)
                   if self._roster[name].last_pong != self._outstanding[name][0]]
        failed = [name for name in waiting if not self._restart(name, self._roster[name])]
        if failed:
            raise CommandRefused(f"not restarted (a thread alive but hung, or a failed restart): {', '.join(failed)}")

    def _restart(self, name: str, component: Any) -> bool:
        """An unresponsive component whose thread died gets a new one (cFS ES's app restart);
        whether it did."""
        try:
            restarted = component.restart()
        except Exception as error:  # the restart itself failed: say so, keep watching
            self.event("RestartFailed", component=name, detail=f"{type(error).__name__}: {error}")
            return False
        if restarted:
            self.increment("Restarts")
            self.event("ComponentRestarted", component=name)
        return restarted

    def _ping(self, name: str, component: Any, key: int) -> None:
        if component.request_ping(key):
            self._undelivered.discard(name)
            self.increment("PingsSent")
        else:
            self._undelivered.add(name)
