"""The catalog: every command, telemetry channel, event and parameter a topology flies, with its id.

Generated from the component classes' declarations in topology order (:func:`build_catalog`), so
there is one source of truth for ids, types, ranges, units, limits and formats. Ids: component k
(1-based, topology order) owns ids ``k << 8 | i`` for its i-th (1-based) command, channel, event
and parameter, like F Prime's per-instance base ids. The wire layer writes the catalog as the
mission dictionary for the ground (``flight.wire.dictionary``).

Requirements (verified in tests/unit/wire/test_dictionary.py): lookups by name and by id agree;
ids follow the component index scheme (the topology loader refuses more than ``MAX_COMPONENTS``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flight.core.types import DataType, Enumeration, Field, Limits, Severity, enum_label

if TYPE_CHECKING:
    from flight.core.topology import Topology

MAX_COMPONENTS = 0xFF


@dataclass(frozen=True)
class CommandDef:
    opcode: int
    name: str
    args: tuple[Field, ...] = ()
    description: str = ""
    test_equipment: bool = False


@dataclass(frozen=True)
class ChannelDef:
    id: int
    name: str
    type: DataType
    units: str = ""
    limits: Limits | None = None
    description: str = ""
    enumeration: Enumeration = ()

    def label(self, value: Any) -> str:
        """The value as an operator reads it: its enumeration name, else the value."""
        return enum_label(self.enumeration, value)


@dataclass(frozen=True)
class EventDef:
    id: int
    name: str
    severity: Severity
    format: str
    args: tuple[Field, ...] = ()

    def render(self, values: list[Any]) -> str:
        return self.format.format(**{a.name: v for a, v in zip(self.args, values)})


@dataclass(frozen=True)
class ParameterDef:
    id: int
    name: str
    field: Field
    default: Any
    description: str = ""


@dataclass(frozen=True)
class HousekeepingDef:
    """A housekeeping structure: one per component that has channels; id = component id. Its
    channels are those declared ``every_report`` (any component's, in topology order: e.g. the
    flight's mode), then the component's own."""

    structure_id: int
    component: str
    channels: tuple[int, ...]


@dataclass
class Catalog:
    mission: str
    apid: int
    components: dict[str, int] = field(default_factory=dict)
    commands: list[CommandDef] = field(default_factory=list)
    channels: list[ChannelDef] = field(default_factory=list)
    events: list[EventDef] = field(default_factory=list)
    parameters: list[ParameterDef] = field(default_factory=list)
    housekeeping: list[HousekeepingDef] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.command_by_name = {c.name: c for c in self.commands}
        self.command_by_opcode = {c.opcode: c for c in self.commands}
        self.channel_by_name = {c.name: c for c in self.channels}
        self.channel_by_id = {c.id: c for c in self.channels}
        self.event_by_name = {e.name: e for e in self.events}
        self.event_by_id = {e.id: e for e in self.events}
        self.parameter_by_name = {p.name: p for p in self.parameters}
        self.parameter_by_id = {p.id: p for p in self.parameters}
        self.housekeeping_by_id = {h.structure_id: h for h in self.housekeeping}


def build_catalog(topology: "Topology", catalog: Catalog | None = None) -> Catalog:
    """Fill ``catalog`` (a new :class:`Catalog` by default) from the topology's component classes.
    Component ids must fit a byte: :func:`flight.core.topology.parse_topology` makes sure."""
    catalog = catalog if catalog is not None else Catalog(topology.mission, topology.apid)
    common = tuple((index << 8) | i for index, spec in enumerate(topology.all_components(), start=1)
                   for i, ch in enumerate(spec.cls.channels_for(spec.config).values(), start=1)
                   if ch.every_report)
    for index, spec in enumerate(topology.all_components(), start=1):
        base = index << 8
        cls, prefix = spec.cls, spec.name + "."
        catalog.components[spec.name] = index
        for i, (name, cmd) in enumerate(cls.command_specs().items(), start=1):
            catalog.commands.append(CommandDef(base | i, prefix + name, cmd.args, cmd.description,
                                               cmd.test_equipment))
        channels = cls.channels_for(spec.config)
        own = []
        for i, (name, ch) in enumerate(channels.items(), start=1):
            catalog.channels.append(ChannelDef(base | i, prefix + name, ch.type, ch.units,
                                               ch.limits, ch.description, ch.enumeration))
            if not ch.every_report:
                own.append(base | i)
        for i, (name, ev) in enumerate(cls.EVENTS.items(), start=1):
            catalog.events.append(EventDef(base | i, prefix + name, ev.severity, ev.format, ev.args))
        for i, (name, p) in enumerate(cls.PARAMETERS.items(), start=1):
            catalog.parameters.append(ParameterDef(base | i, prefix + name, p.field(name),
                                                   p.default, p.description))
        if channels:
            catalog.housekeeping.append(HousekeepingDef(index, spec.name, (*common, *own)))
    catalog.reindex()
    return catalog
