"""Unit-test support: a :class:`flight.ports.Ports` without ZeroMQ or an executive.

``harness(run_dir, components=[...])`` builds a topology in code (``parse_topology``), generates
its dictionary (``build_dictionary``), constructs every component (rate groups included) into
``ports.components`` and returns a :class:`Harness` that records what the components send out:

- ``downlinks``: ``(service, subtype, app_data)`` for every ``ports.downlink`` call;
- ``events``: ``(component, name, values)`` for every ``ports.emit_event`` call. Like the
  executive, the values are first encoded with the event's dictionary arguments, so an event the
  executive could not send fails here too.

Mission time is ``harness.time`` (settable), the tick is ``harness.tick``. Components are not
started: a test calls ``start()`` on those it needs. Nothing here asserts anything.

``kind_of(cls)`` gives the topology ``kind`` string of a class, e.g. one defined in a test module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight.bus import Bus
from flight.component import Component
from flight.ports import Ports
from flight.topology import Topology, build_dictionary, parse_topology
from flight.types import encode_fields


def kind_of(cls: type) -> str:
    """The ``module:Class`` string that names ``cls`` in a topology."""
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass
class Harness:
    topology: Topology
    ports: Ports
    time: float = 0.0
    tick: int = 0
    downlinks: list[tuple[int, int, bytes]] = field(default_factory=list)
    events: list[tuple[str, str, list[Any]]] = field(default_factory=list)

    @property
    def components(self) -> dict[str, Component]:
        return self.ports.components  # type: ignore[return-value]

    def events_named(self, name: str) -> list[tuple[str, str, list[Any]]]:
        return [e for e in self.events if e[1] == name]

    def clear(self) -> None:
        self.downlinks.clear()
        self.events.clear()


def harness(run_dir: str | Path, components: list[dict[str, Any]], *,
            rate_groups: list[dict[str, Any]] | None = None, apid: int = 1,
            mission: str = "unit-test") -> Harness:
    """Build a :class:`Harness` for ``components`` (topology ``[[components]]`` entries)."""
    doc = {"mission": {"name": mission, "apid": apid},
           "components": [dict(c) for c in components],
           "rate_groups": rate_groups or [{"name": "rgTest", "rate_hz": 1, "members": []}]}
    topology = parse_topology(doc)
    dictionary = build_dictionary(topology)
    box: dict[str, Harness] = {}

    def emit_event(component: str, name: str, values: list[Any]) -> None:
        definition = dictionary.event_by_name[f"{component}.{name}"]
        encode_fields(definition.args, values)  # what the executive does before sending
        box["h"].events.append((component, name, list(values)))

    instances: dict[str, Component] = {}
    ports = Ports(Bus(), dictionary, instances, lambda: box["h"].time,
                  lambda service, subtype, data: box["h"].downlinks.append(
                      (service, subtype, bytes(data))),
                  emit_event, Path(run_dir), 0, lambda: box["h"].tick)
    box["h"] = Harness(topology, ports)
    for spec in topology.all_components():
        instances[spec.name] = spec.cls(spec.name, ports, dict(spec.config))
    return box["h"]
