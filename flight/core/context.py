"""What the executive hands every component: the catalog, the run directory and seed, the
mission's shared settings (the topology's ``[mission]`` table, e.g. its orbit), the clock (its time
and tick), the way out for events, the parameter values, and a way to ask the flight to stop.

Messages to other components do not go through here: they go out of the component's own output
ports, as the topology wires them (flight.core.ports). The executive fills in ``emit_event`` and
``parameters`` from the components holding the ``events`` and ``parameters`` roles; without them
events are only logged and parameters keep their declared defaults in memory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from flight.core.catalog import Catalog
from flight.core.clock import Clock

log = logging.getLogger("flight.events")


class ParameterStorage(Protocol):
    def get(self, name: str) -> Any: ...

    def set(self, name: str, value: Any) -> None: ...


class DefaultParameters:
    """Parameter values in a plain dictionary, starting at the catalog's defaults: for a topology
    with no parameter keeper."""

    def __init__(self, catalog: Catalog) -> None:
        self._values = {p.name: p.default for p in catalog.parameters}

    def get(self, name: str) -> Any:
        return self._values[name]

    def set(self, name: str, value: Any) -> None:
        self._values[name] = value


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``): a string that came from
    the ground cannot forge a line of the log or drive a terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def log_event(catalog: Catalog, component: str, name: str, values: list[Any]) -> None:
    """Write an event to the flight log, on one line (what happens to events when no component
    takes them; the event log does it too)."""
    definition = catalog.event_by_name[f"{component}.{name}"]
    log.log(logging.INFO if definition.severity == 1 else logging.WARNING, "EVENT %s %s: %s",
            definition.severity.name, definition.name, printable(definition.render(values)))


@dataclass
class Context:
    catalog: Catalog
    run_dir: Path
    seed: int = 0
    now: Callable[[], float] = lambda: 0.0
    tick: Callable[[], int] = lambda: 0
    emit_event: Callable[[str, str, list[Any]], None] | None = None
    parameters: ParameterStorage | None = None
    request_stop: Callable[[str], None] = field(default=lambda reason: None)
    mission: Mapping[str, Any] = field(default_factory=dict)
    clock: Clock | None = None     # the executive's: read its kind, correct a wall clock (ST[9])

    def run_file(self, name: str | Path) -> Path:
        """A file a setting names: as it is if absolute, else in the run directory."""
        path = Path(name)
        return path if path.is_absolute() else self.run_dir / path

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        if self.emit_event is None:
            self.emit_event = lambda component, name, values: log_event(self.catalog, component,
                                                                         name, values)
        if self.parameters is None:
            self.parameters = DefaultParameters(self.catalog)
