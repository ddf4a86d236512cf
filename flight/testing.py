"""The component tester: components built exactly as the flight builds them, with every port they
leave open connected to the test (F Prime's generated component tester, in one module).

``ComponentTester.build(run_dir, components=[...])`` makes a topology from ``[[components]]``
entries (plus any ``connections``, ``roles``, ``rate_groups`` and ``mission`` settings), generates
its dictionary, and builds every component with the executive's own
:func:`flight.core.executive.build_components`, ZeroMQ sockets and clock aside. Then:

- every output port the wiring leaves unconnected records what it sends: ``sent["comp.port"]``
  (and ``downlinks``, the ``(service, subtype, app_data)`` of every :class:`TmPacket` among them);
- :meth:`ComponentTester.send` delivers a message to an input port, as a connected sender would;
- every event is recorded in ``events`` as ``(component, name, values)`` after its values are
  encoded with the event's declared arguments, so an event the flight could not send fails here
  too (and still reaches the topology's event sink, if it has one);
- a role that a component of the topology can hold is given to it unless ``roles`` says otherwise;
- mission time is ``tester.time`` and the tick ``tester.tick``, both settable.

Components are not started: a test starts those it needs (:meth:`start`), and :meth:`stop`
stops them in reverse order. Nothing here asserts anything.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from flight.core.component import Component
from flight.core.context import Context
from flight.core.executive import build_components
from flight.core.roles import ROLES
from flight.core.topology import Topology, parse_topology, resolve_kind
from flight.core.types import encode_fields
from flight.messages import TmPacket
from flight.wire.dictionary import Dictionary, build_dictionary


def kind_of(cls: type) -> str:
    """The ``module:Class`` string that names ``cls`` in a topology."""
    return f"{cls.__module__}:{cls.__qualname__}"


class ComponentTester:
    def __init__(self, topology: Topology, run_dir: str | Path) -> None:
        self.topology = topology
        self.dictionary: Dictionary = build_dictionary(topology)
        self.time = 0.0
        self.tick = 0
        self.events: list[tuple[str, str, list[Any]]] = []
        self.sent: dict[str, list[Any]] = defaultdict(list)
        self._sent_in_order: list[Any] = []
        self.context = Context(self.dictionary, Path(run_dir), topology.seed, lambda: self.time,
                               lambda: self.tick, mission=topology.settings)
        self.components: dict[str, Component] = build_components(topology, self.context)
        self._sink = self.context.emit_event if "events" in topology.roles else None
        self.context.emit_event = self._record_event
        for component in self.components.values():
            for name, output in component.outputs.items():
                if not output.connections:
                    output.connect(self._recorder(f"{component.name}.{name}"))
        self._started: list[Component] = []

    def _recorder(self, port: str) -> Callable[[Any], None]:
        def record(message: Any) -> None:
            self.sent[port].append(message)
            self._sent_in_order.append(message)

        return record

    @classmethod
    def build(cls, run_dir: str | Path, components: Sequence[dict[str, Any]], *,
              connections: Iterable[str] = (), roles: dict[str, str] | None = None,
              rate_groups: Sequence[dict[str, Any]] | None = None,
              mission: dict[str, Any] | None = None) -> "ComponentTester":
        doc = {"mission": {"name": "unit-test", "apid": 1, **(mission or {})},
               "components": [dict(c) for c in components],
               "rate_groups": list(rate_groups or [{"name": "rgTest", "rate_hz": 1, "members": []}]),
               "wiring": {"connections": list(connections)}}
        doc["roles"] = roles if roles is not None else _default_roles(doc)
        return cls(parse_topology(doc, require_ports=False), run_dir)

    def _record_event(self, component: str, name: str, values: list[Any]) -> None:
        definition = self.dictionary.event_by_name[f"{component}.{name}"]
        encode_fields(definition.args, values)  # what the event log does before sending
        self.events.append((component, name, list(values)))
        if self._sink is not None:
            self._sink(component, name, values)

    # --- driving ------------------------------------------------------------------------------
    def send(self, port: str, message: Any) -> Any:
        """Deliver ``message`` to the input port ``"component.port"``; return what it returns."""
        component, _, name = port.partition(".")
        spec = self.components[component].ports()[name]
        if spec.direction != "in" or not isinstance(message, spec.message):
            raise TypeError(f"{port} takes {spec.message.__name__} in, not {type(message).__name__}")
        return getattr(self.components[component], name)(message)

    def start(self, *names: str) -> None:
        """Start the named components (all, in topology order, if none are named)."""
        for name in names or list(self.components):
            self.components[name].start()
            self._started.append(self.components[name])

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()

    # --- what came out ------------------------------------------------------------------------
    @property
    def downlinks(self) -> list[tuple[int, int, bytes]]:
        """Every TM packet sent out of an unconnected port, in order, as (service, subtype, data)."""
        return [(m.service, m.subtype, bytes(m.app_data)) for m in self._sent_in_order
                if isinstance(m, TmPacket)]

    def events_named(self, name: str) -> list[tuple[str, str, list[Any]]]:
        return [e for e in self.events if e[1] == name]

    def clear(self) -> None:
        self.events.clear()
        self._sent_in_order.clear()
        for messages in self.sent.values():
            messages.clear()


def _default_roles(doc: dict[str, Any]) -> dict[str, str]:
    """Each role given to the component of the document that can hold it."""
    return {role: entry["name"] for entry in doc["components"] if "kind" in entry
            for role, holder in ROLES.items() if issubclass(resolve_kind(entry["kind"]), holder)}
