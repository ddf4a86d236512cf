"""The mission dictionary: every command, telemetry channel, event and parameter, with its id.

The flight generates it from its topology (``flight.topology.build_dictionary``) and writes it as
JSON; the ground loads that JSON. One source of truth: ids, types, ranges, units, limits and
formats live only here. ``digest`` (CRC-32C of the canonical JSON) lets the ground check that it
holds the same dictionary as the flight, which reports it in housekeeping.

Ids: component k (1-based, topology order) owns ids ``k << 8 | i`` for its i-th (1-based)
command, channel, event and parameter, like F Prime's per-instance base ids.

Requirements (verified in tests/test_dictionary.py): JSON round-trip is lossless; lookups by
name and by id agree; the digest changes when any entry changes.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from native import crc32c

from flight.types import DataType, Field
from flight.wire.failure import FailureCode


class Severity(enum.IntEnum):
    """Event severity; the value is the ST[5] report subtype."""

    ACTIVITY = 1    # TM[5,1] informative
    WARNING_LO = 2  # TM[5,2] low-severity anomaly
    WARNING_HI = 3  # TM[5,3] medium-severity anomaly
    FATAL = 4       # TM[5,4] high-severity anomaly


@dataclass(frozen=True)
class Limits:
    """Inclusive operating limits of a telemetry channel; a value beyond red is an alarm."""

    red_low: float | None = None
    yellow_low: float | None = None
    yellow_high: float | None = None
    red_high: float | None = None

    def classify(self, value: float) -> str:
        """'red', 'yellow' or 'ok'."""
        if (self.red_low is not None and value < self.red_low) or (
                self.red_high is not None and value > self.red_high):
            return "red"
        if (self.yellow_low is not None and value < self.yellow_low) or (
                self.yellow_high is not None and value > self.yellow_high):
            return "yellow"
        return "ok"


@dataclass(frozen=True)
class CommandDef:
    opcode: int
    name: str
    args: tuple[Field, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ChannelDef:
    id: int
    name: str
    type: DataType
    units: str = ""
    limits: Limits | None = None
    description: str = ""


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
    """An ST[3] structure: one per component that has channels; id = component id."""

    structure_id: int
    component: str
    channels: tuple[int, ...]


@dataclass
class Dictionary:
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

    # --- JSON -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def limits(lim: Limits | None) -> dict[str, float] | None:
            return None if lim is None else {k: v for k, v in vars(lim).items() if v is not None}

        return {
            "mission": self.mission,
            "apid": self.apid,
            "time": {"code": "CUC", "coarse_octets": 4, "fine_octets": 2, "p_field": "implicit",
                     "epoch": "1970-01-01T00:00:00Z"},
            "failure_codes": {c.name: int(c) for c in FailureCode},
            "components": self.components,
            "commands": [{"opcode": c.opcode, "name": c.name, "args": [a.to_json() for a in c.args],
                          "description": c.description} for c in self.commands],
            "channels": [{"id": c.id, "name": c.name, "type": c.type.name, "units": c.units,
                          "limits": limits(c.limits), "description": c.description}
                         for c in self.channels],
            "events": [{"id": e.id, "name": e.name, "severity": e.severity.name,
                        "format": e.format, "args": [a.to_json() for a in e.args]}
                       for e in self.events],
            "parameters": [{**p.field.to_json(), "id": p.id, "name": p.name, "default": p.default,
                            "description": p.description} for p in self.parameters],
            "housekeeping": [{"structure_id": h.structure_id, "component": h.component,
                              "channels": list(h.channels)} for h in self.housekeeping],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Dictionary":
        return cls(
            mission=doc["mission"],
            apid=doc["apid"],
            components=dict(doc["components"]),
            commands=[CommandDef(c["opcode"], c["name"],
                                 tuple(Field.from_json(a) for a in c["args"]), c["description"])
                      for c in doc["commands"]],
            channels=[ChannelDef(c["id"], c["name"], DataType[c["type"]], c["units"],
                                 None if c["limits"] is None else Limits(**c["limits"]),
                                 c["description"]) for c in doc["channels"]],
            events=[EventDef(e["id"], e["name"], Severity[e["severity"]], e["format"],
                             tuple(Field.from_json(a) for a in e["args"])) for e in doc["events"]],
            parameters=[ParameterDef(p["id"], p["name"],
                                     Field.from_json({**p, "name": p["name"].partition(".")[2]}),
                                     p["default"],
                                     p["description"]) for p in doc["parameters"]],
            housekeeping=[HousekeepingDef(h["structure_id"], h["component"], tuple(h["channels"]))
                          for h in doc["housekeeping"]],
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)

    @property
    def digest(self) -> int:
        """CRC-32C of the canonical JSON: equal dictionaries have equal digests."""
        return crc32c(json.dumps(self.to_json(), sort_keys=True).encode())

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.dumps())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Dictionary":
        return cls.from_json(json.loads(Path(path).read_text()))
