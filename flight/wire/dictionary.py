"""The mission dictionary: the catalog (flight.core.catalog) as the JSON document the ground reads.

The flight generates it from its topology (:func:`build_dictionary`) and writes it as JSON; the
ground loads that JSON. Besides the catalog's commands, channels, events and parameters with
their ids, it names the wire's conventions (the TM time code, the ST[1] failure codes) and the
link's parameters (flight.wire.link: frames, virtual channels, the SA; never the keys).
``digest`` (CRC-32C of the canonical JSON) lets the ground check that it holds the same
dictionary as the flight, which reports it in housekeeping.

Requirements (verified in tests/unit/wire/test_dictionary.py): JSON round-trip is lossless; lookups
by name and by id agree; the digest changes when any entry changes.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from native import crc32c

from flight.core.catalog import (Catalog, ChannelDef, CommandDef, EventDef, HousekeepingDef,
                                 ParameterDef, build_catalog)
from flight.core.topology import Topology
from flight.core.types import DataType, Field, Limits, Severity, enumeration_from_json
from flight.wire.failure import FailureCode
from flight.wire.link import LinkParameters


def build_dictionary(topology: Topology) -> "Dictionary":
    """The dictionary of everything ``topology`` flies, ids by topology order, with its link."""
    return build_catalog(topology, Dictionary(topology.mission, topology.apid,
                                              link=LinkParameters.of(topology.settings).public()))


@dataclasses.dataclass
class Dictionary(Catalog):
    link: dict[str, Any] = dataclasses.field(default_factory=dict)  # flight.wire.link: all but the keys

    @property
    def link_parameters(self) -> LinkParameters:
        return LinkParameters.from_public(self.link)

    @classmethod
    def of(cls, catalog: Catalog) -> "Dictionary":
        """The dictionary of an existing catalog."""
        if isinstance(catalog, Dictionary):
            return catalog
        return cls(**{f.name: getattr(catalog, f.name) for f in dataclasses.fields(Catalog)})  # no link

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
            "link": self.link,
            "components": self.components,
            "commands": [{"opcode": c.opcode, "name": c.name, "args": [a.to_json() for a in c.args],
                          "description": c.description, "test_equipment": c.test_equipment}
                         for c in self.commands],
            "channels": [{"id": c.id, "name": c.name, "type": c.type.name, "units": c.units,
                          "limits": limits(c.limits), "description": c.description,
                          **({"enumeration": [list(pair) for pair in c.enumeration]} if c.enumeration else {})}
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
            link=dict(doc.get("link") or LinkParameters().public()),
            components=dict(doc["components"]),
            commands=[CommandDef(c["opcode"], c["name"],
                                 tuple(Field.from_json(a) for a in c["args"]), c["description"],
                                 c.get("test_equipment", False))
                      for c in doc["commands"]],
            channels=[ChannelDef(c["id"], c["name"], DataType[c["type"]], c["units"],
                                 None if c["limits"] is None else Limits(**c["limits"]),
                                 c["description"], enumeration_from_json(c.get("enumeration")))
                      for c in doc["channels"]],
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
