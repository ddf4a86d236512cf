"""Topology: which components fly, how they are configured, and which rate groups drive them.

A topology is a TOML file::

    [mission]   name, apid, seed
    [clock]     kind = "simulated" | "wall", base_rate_hz, speedup, epoch
    [[components]]   name, kind = "module:Class", then the component's own settings
    [[rate_groups]]  name, rate_hz, members = [component names, in call order]

Each rate group becomes a :class:`flight.components.rate_group.RateGroup` component of the same
name. The dictionary is generated from the component classes' declarations in topology order.

Requirements (verified in tests/test_topology.py): configuration errors (unknown kind, duplicate
name, a member that is not a component, a rate that does not divide the base rate) are refused
up front with a message naming the culprit; ``--set`` overrides reach the right table.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from flight.component import Component
from flight.wire.dictionary import (ChannelDef, CommandDef, Dictionary, EventDef,
                                    HousekeepingDef, ParameterDef)

DEFAULT_TOPOLOGY = Path(__file__).parent / "topologies" / "default.toml"


class TopologyError(ValueError):
    """A topology that cannot fly, with the reason."""


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    cls: type[Component]
    config: dict[str, Any]


@dataclass(frozen=True)
class RateGroupSpec:
    name: str
    rate_hz: float
    members: tuple[str, ...]
    divider: int


@dataclass
class Topology:
    mission: str
    apid: int
    seed: int
    clock: dict[str, Any]
    components: list[ComponentSpec]
    rate_groups: list[RateGroupSpec]

    @property
    def base_rate_hz(self) -> float:
        return float(self.clock.get("base_rate_hz", max(g.rate_hz for g in self.rate_groups)))

    def all_components(self) -> list[ComponentSpec]:
        """Declared components, then one RateGroup component per rate group."""
        from flight.components.rate_group import RateGroup

        groups = [ComponentSpec(g.name, RateGroup, {"rate_hz": g.rate_hz,
                                                     "members": list(g.members),
                                                     "divider": g.divider})
                  for g in self.rate_groups]
        return self.components + groups

    def component(self, name: str) -> ComponentSpec:
        for spec in self.all_components():
            if spec.name == name:
                return spec
        raise KeyError(name)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(doc: dict[str, Any], assignment: str) -> None:
    """Apply ``SECTION.KEY=VALUE``: SECTION is a top-level table or a component name."""
    target, sep, text = assignment.partition("=")
    section, dot, key = target.strip().partition(".")
    if not sep or not dot or not key:
        raise TopologyError(f"override {assignment!r} is not SECTION.KEY=VALUE")
    value = _parse_value(text.strip())
    for comp in doc.get("components", []):
        if comp.get("name") == section:
            comp[key] = value
            return
    if section in ("mission", "clock"):
        doc.setdefault(section, {})[key] = value
        return
    raise TopologyError(f"override {assignment!r}: no table or component named {section!r}")


def _resolve(kind: str) -> type[Component]:
    module_name, _, class_name = kind.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise TopologyError(f"component kind {kind!r} cannot be loaded: {error}") from None
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        raise TopologyError(f"{kind!r} is not a Component")
    return cls


def load_topology(path: str | Path | None = None, overrides: list[str] = ()) -> Topology:
    path = Path(path) if path else DEFAULT_TOPOLOGY
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TopologyError(f"cannot read topology {path}: {error}") from None
    for assignment in overrides:
        apply_override(doc, assignment)
    return parse_topology(doc)


def parse_topology(doc: dict[str, Any]) -> Topology:
    mission = doc.get("mission", {})
    components: list[ComponentSpec] = []
    names: set[str] = set()
    for entry in doc.get("components", []):
        entry = dict(entry)
        name, kind = entry.pop("name", None), entry.pop("kind", None)
        if not name or not kind:
            raise TopologyError(f"component entry {entry} needs a name and a kind")
        if name in names:
            raise TopologyError(f"component name {name!r} used twice")
        names.add(name)
        components.append(ComponentSpec(name, _resolve(kind), entry))
    groups_doc = doc.get("rate_groups", [])
    if not groups_doc:
        raise TopologyError("a topology needs at least one rate group")
    for g in groups_doc:
        if "name" not in g or not isinstance(g.get("rate_hz"), (int, float)):
            raise TopologyError(f"rate group entry {g} needs a name and a numeric rate_hz")
    clock = dict(doc.get("clock", {}))
    base = float(clock.get("base_rate_hz", max(float(g["rate_hz"]) for g in groups_doc)))
    if base <= 0:
        raise TopologyError(f"base rate {base} Hz must be positive")
    groups = []
    for g in groups_doc:
        rate = float(g["rate_hz"])
        if g["name"] in names:
            raise TopologyError(f"rate group name {g['name']!r} is also a component name")
        divider = base / rate if rate > 0 else 0
        if rate <= 0 or abs(divider - round(divider)) > 1e-9:
            raise TopologyError(f"rate group {g['name']!r}: {rate} Hz does not divide the base "
                                f"rate {base} Hz")
        for member in g.get("members", []):
            if member not in names:
                raise TopologyError(f"rate group {g['name']!r}: no component named {member!r}")
        names.add(g["name"])
        groups.append(RateGroupSpec(g["name"], rate, tuple(g.get("members", [])),
                                    int(round(divider))))
    if clock.get("kind", "simulated") not in ("simulated", "wall"):
        raise TopologyError(f"clock kind {clock.get('kind')!r} is neither simulated nor wall")
    return Topology(mission.get("name", "orbitfs"), int(mission.get("apid", 1)),
                    int(mission.get("seed", 0)), clock, components, groups)


def build_dictionary(topology: Topology) -> Dictionary:
    """Generate the dictionary from the component classes, ids by topology order."""
    dictionary = Dictionary(topology.mission, topology.apid)
    for index, spec in enumerate(topology.all_components(), start=1):
        if index > 0xFF:
            raise TopologyError("more than 255 components")
        base = index << 8
        cls, prefix = spec.cls, spec.name + "."
        dictionary.components[spec.name] = index
        for i, (name, cmd) in enumerate(cls.command_specs().items(), start=1):
            dictionary.commands.append(CommandDef(base | i, prefix + name, cmd.args,
                                                  cmd.description))
        channel_ids = []
        for i, (name, ch) in enumerate(cls.channels_for(spec.config).items(), start=1):
            dictionary.channels.append(ChannelDef(base | i, prefix + name, ch.type, ch.units,
                                                  ch.limits, ch.description))
            channel_ids.append(base | i)
        for i, (name, ev) in enumerate(cls.EVENTS.items(), start=1):
            dictionary.events.append(EventDef(base | i, prefix + name, ev.severity, ev.format,
                                              ev.args))
        for i, (name, p) in enumerate(cls.PARAMETERS.items(), start=1):
            dictionary.parameters.append(ParameterDef(base | i, prefix + name, p.field(name),
                                                      p.default, p.description))
        if channel_ids:
            dictionary.housekeeping.append(HousekeepingDef(index, spec.name, tuple(channel_ids)))
    dictionary.reindex()
    return dictionary
