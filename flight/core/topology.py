"""Topology: which components fly, how they are configured and wired, and which rate groups drive them.

A topology is a TOML file::

    [mission]   name, apid, seed, and what the mission's components share (e.g. its orbit)
    [clock]     kind = "simulated" | "wall", base_rate_hz, speedup, epoch, start_timeout_s,
                offset_s, drift_ppm (test equipment)
    [roles]     role = "component" (flight.core.roles: commands, telemetry, monitoring, health,
                events, parameters)
    [wiring]    connections = ["source.output -> target.input", ...] (flight.core.wiring)
    [[components]]   name, kind = "module:Class", then the component's own settings
    [[rate_groups]]  name, rate_hz, members = [component names, in call order]

Each rate group becomes a :class:`flight.core.rate_group.RateGroup` component of the same name.

Requirements (verified in tests/unit/core/test_topology.py): configuration errors (unknown kind,
duplicate name, a member that is not a component, a rate that does not divide the base rate,
more than 255 components, a bad role or connection, a required port left open) are refused up
front with one line naming the culprit; ``--set`` overrides reach the right table.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from flight.core.catalog import MAX_COMPONENTS
from flight.core.clock import parse_epoch
from flight.core.component import Component
from flight.core.rate_group import RateGroup
from flight.core.roles import ROLES
from flight.core.settings import Setting, SettingError, check_settings
from flight.core.wiring import Connection, WiringError, check_wiring, parse_connection


def _epoch_reason(text: str) -> str | None:
    try:
        parse_epoch(text)
    except ValueError:
        return "not an ISO-8601 time such as 2026-01-01T00:00:00Z"
    return None


MISSION_SETTINGS = {
    "name": Setting(str, "orbitfs", description="the mission's name, in the dictionary"),
    "apid": Setting(int, 1, 0, 2046, description="the flight's application process id "
                                                 "(11 bits; 2047 is the idle packet's)"),
    "seed": Setting(int, 0, 0, 2**63 - 1, description="determines every scene and fault of a run"),
    "fault_injection": Setting(bool, False, description="test equipment on: fault-injection commands and "
                                                        "the SEU injector work (SIL, campaigns); never in flight"),
}
CLOCK_SETTINGS = {
    "kind": Setting(str, "simulated", choices=("simulated", "wall"),
                    description="simulated: mission time = epoch + tick x period; wall: host UTC"),
    "base_rate_hz": Setting(float, None, 0.001, 1000.0,
                            description="the base tick rate (default: the fastest rate group)"),
    "speedup": Setting(float, 1.0, 0.0, 1e6, description="simulated seconds per wall second; "
                                                         "0: as fast as the work allows"),
    "epoch": Setting(str, "2026-01-01T00:00:00Z", check=_epoch_reason,
                     description="mission time of tick 0 (simulated clock)"),
    "start_timeout_s": Setting(float, 60.0, 0.0, 3600.0,
                               description="how long the clock waits for every component to be ready"),
    "offset_s": Setting(float, 0.0, -1e6, 1e6, description="test equipment: a wall clock's constant error, s "
                                                          "(time correlation measures it)"),
    "drift_ppm": Setting(float, 0.0, -1e5, 1e5, description="test equipment: a wall clock's rate error, ppm"),
}


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
    connections: list[Connection] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # the whole [mission] table

    @property
    def base_rate_hz(self) -> float:
        return float(self.clock.get("base_rate_hz", max(g.rate_hz for g in self.rate_groups)))

    def all_components(self) -> list[ComponentSpec]:
        """Declared components, then one RateGroup component per rate group."""
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

    def classes(self) -> dict[str, type[Component]]:
        """Every component's class by name, rate groups included."""
        return {spec.name: spec.cls for spec in self.all_components()}


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(doc: dict[str, Any], assignment: str) -> None:
    """Apply ``SECTION.KEY=VALUE``: SECTION is a component, a rate group or a top-level table;
    KEY may go into nested tables (``mission.orbit.ltan_h=6.0``)."""
    target, sep, text = assignment.partition("=")
    section, dot, key = target.strip().partition(".")
    keys = key.split(".")
    if not sep or not dot or not all(keys):
        raise TopologyError(f"override {assignment!r} is not SECTION.KEY=VALUE")
    value = _parse_value(text.strip())
    tables = [t for t in doc.get("components", []) + doc.get("rate_groups", []) if t.get("name") == section]
    if tables:
        table = tables[0]
    elif section in ("mission", "clock"):
        table = doc.setdefault(section, {})
    else:
        raise TopologyError(f"override {assignment!r}: no table, component or rate group named {section!r}")
    for name in keys[:-1]:
        table = table.setdefault(name, {})
        if not isinstance(table, dict):
            raise TopologyError(f"override {assignment!r}: {name!r} is not a table")
    table[keys[-1]] = value


def resolve_kind(kind: str) -> type[Component]:
    """The component class a ``kind`` (``module:Class``) names."""
    module_name, _, class_name = kind.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise TopologyError(f"component kind {kind!r} cannot be loaded: {error}") from None
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        raise TopologyError(f"{kind!r} is not a Component")
    return cls


def load_topology(path: str | Path, overrides: Sequence[str] = ()) -> Topology:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TopologyError(f"cannot read topology {path}: {error}") from None
    for assignment in overrides:
        apply_override(doc, assignment)
    return parse_topology(doc)


def parse_topology(doc: dict[str, Any], *, require_ports: bool = True) -> Topology:
    """Check and build a topology from its TOML document. ``require_ports=False`` accepts
    required ports left unconnected (the component tester, flight.testing, connects them)."""
    mission = _mission(doc.get("mission", {}))
    components = _components(doc.get("components", []))
    clock = _clock(doc.get("clock", {}))
    groups = _rate_groups(doc.get("rate_groups", []), clock, {c.name for c in components})
    topology = Topology(mission["name"], mission["apid"], mission["seed"], clock, components,
                        groups, settings=mission)
    if len(topology.all_components()) > MAX_COMPONENTS:
        raise TopologyError(f"{len(topology.all_components())} components and rate groups: at "
                            f"most {MAX_COMPONENTS} fit the catalog's ids")
    topology.roles = _roles(doc.get("roles", {}), topology.classes())
    wiring = doc.get("wiring", {})
    try:
        topology.connections = [parse_connection(c) for c in wiring.get("connections", [])]
        check_wiring(topology.classes(), topology.connections, require=require_ports)
    except WiringError as error:
        raise TopologyError(str(error)) from None
    return topology


def _components(entries: list[dict[str, Any]]) -> list[ComponentSpec]:
    components: list[ComponentSpec] = []
    names: set[str] = set()
    for entry in entries:
        entry = dict(entry)
        name, kind = entry.pop("name", None), entry.pop("kind", None)
        if not name or not kind or not isinstance(name, str) or not isinstance(kind, str):
            raise TopologyError(f"component entry {entry} needs a name and a kind")
        if name in names:
            raise TopologyError(f"component name {name!r} used twice")
        names.add(name)
        cls = resolve_kind(kind)
        declared = cls.settings()
        config = entry if declared is None else _checked(name, entry, declared)
        problem = cls.check_config(config)
        if problem:
            raise TopologyError(f"{name}.{problem}")
        components.append(ComponentSpec(name, cls, config))
    return components


def _checked(section: str, table: dict[str, Any], settings: dict[str, Setting]) -> dict[str, Any]:
    try:
        return check_settings(section, table, settings)
    except SettingError as error:
        raise TopologyError(str(error)) from None


def _clock(table: dict[str, Any]) -> dict[str, Any]:
    clock = _checked("clock", table, CLOCK_SETTINGS)
    return {k: v for k, v in clock.items() if v is not None}


def _mission(table: dict[str, Any]) -> dict[str, Any]:
    """``[mission]``: name, apid and seed are checked here; the mission's shared settings (e.g. its
    orbit) by the application that knows them (flight.app)."""
    known = {k: v for k, v in table.items() if k in MISSION_SETTINGS}
    return {**table, **_checked("mission", known, MISSION_SETTINGS)}


def _rate_groups(entries: list[dict[str, Any]], clock: dict[str, Any],
                 names: set[str]) -> list[RateGroupSpec]:
    if not entries:
        raise TopologyError("a topology needs at least one rate group")
    for g in entries:
        if "name" not in g or not isinstance(g.get("rate_hz"), (int, float)):
            raise TopologyError(f"rate group entry {g} needs a name and a numeric rate_hz")
    base = float(clock.get("base_rate_hz", max(float(g["rate_hz"]) for g in entries)))
    if base <= 0:
        raise TopologyError(f"base rate {base} Hz must be positive")
    groups = []
    for g in entries:
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
        groups.append(RateGroupSpec(g["name"], rate, tuple(g.get("members", [])),
                                    int(round(divider))))
    return groups


def _roles(roles: dict[str, Any], classes: dict[str, type[Component]]) -> dict[str, str]:
    """Check ``[roles]``: known roles, held by components able to hold them; and no component
    able to hold a role left without it."""
    for role, holder in roles.items():
        if role not in ROLES:
            raise TopologyError(f"[roles] {role}: no such role (roles: {', '.join(ROLES)})")
        if holder not in classes:
            raise TopologyError(f"[roles] {role} = {holder!r}: no component named {holder!r}")
        if not issubclass(classes[holder], ROLES[role]):
            raise TopologyError(f"[roles] {role} = {holder!r}: {classes[holder].__name__} cannot "
                                f"hold the {role} role")
    for name, cls in classes.items():
        for role, role_class in ROLES.items():
            if issubclass(cls, role_class) and roles.get(role) != name:
                raise TopologyError(f"{name} can hold the {role} role but [roles] does not give "
                                    f"it: add {role} = \"{name}\" to [roles]")
    return dict(roles)
