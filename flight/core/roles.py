"""Roles: the services the executive connects to every component (F Prime's connection patterns).

Some services serve every component, not one: the command router reaches every component's
commands, the telemetry reader every component's channels (and so does the telemetry monitor,
which checks them on board), the health monitor pings everyone, the parameter keeper holds
everyone's parameters, and the event sink takes everyone's events. In F Prime's topologies
these are the ``command``, ``telemetry``, ``health``, ``param`` and ``event`` connection
patterns. Here a component class that can hold a role subclasses the role's class below, and the
topology names the instance that holds it::

    [roles]
    commands = "dispatcher"

The executive hands each holder, before anything starts, the read-only roster of every component
(:meth:`RoleHolder.serve`), routes every component's events to the event sink and keeps every
parameter in the parameter keeper. A role nobody holds is simply not served (a test topology may
fly without a dispatcher); a component able to hold a role that the topology does not give it is
refused (see flight.core.topology), so a forgotten line cannot leave a service idle.
"""
from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

if TYPE_CHECKING:
    from flight.core.component import Component

Roster = Mapping[str, "Component"]


class RoleHolder(abc.ABC):
    """A component class able to serve every component in one role."""

    ROLE: ClassVar[str]

    @abc.abstractmethod
    def serve(self, roster: Roster) -> None:
        """Take the roster of every component (topology order), once, before any starts."""


class CommandRouter(RoleHolder):
    """Routes commands and parameter requests to the components that declare them."""

    ROLE = "commands"


class TelemetryReader(RoleHolder):
    """Reads every component's telemetry channels."""

    ROLE = "telemetry"


class TelemetryMonitor(RoleHolder):
    """Checks every component's telemetry channels on board (limits, expected values, deltas)."""

    ROLE = "monitoring"


class HealthMonitor(RoleHolder):
    """Pings every component and watches that each answers."""

    ROLE = "health"


class EventSink(RoleHolder):
    """Takes every component's events."""

    ROLE = "events"

    @abc.abstractmethod
    def log_event(self, component: str, name: str, values: list[Any]) -> None:
        """Record one event of ``component`` with its declared arguments' values, in order."""


class ParameterKeeper(RoleHolder):
    """Keeps every component's parameter values (by full name, ``component.Parameter``)."""

    ROLE = "parameters"

    @abc.abstractmethod
    def get(self, name: str) -> Any:
        """The current value."""

    @abc.abstractmethod
    def set(self, name: str, value: Any) -> None:
        """Store an already checked value."""


ROLES: dict[str, type[RoleHolder]] = {
    cls.ROLE: cls for cls in (CommandRouter, TelemetryReader, TelemetryMonitor, HealthMonitor,
                              EventSink, ParameterKeeper)}
