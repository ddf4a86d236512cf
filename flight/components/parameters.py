"""ParameterDb: persists every component's parameters to a file and restores them at start.

File: JSON ``{"format": "orbitfs-parameters/1", "parameters": {name: value}, "crc32c": N}``,
where N is the CRC-32C of the canonical JSON of ``parameters``. At start the file is read; if it
is missing, defaults stand (ParamFileMissing); if it is unreadable or its CRC does not match,
defaults stand and ParamFileCorrupt says why; a single unknown or out-of-range entry is skipped
with ParamRejected. ``SAVE_FILE`` writes atomically (temporary file, then rename), as F Prime's
PRM_SAVE_FILE: a set by ST[20,3] alone is not persisted. The values themselves live in the TMR
parameter store; if the scrubber finds it uncorrectable, this component's ``restore`` is its
recovery: every parameter back to its default, then the file applied again.

| requirement | verified by |
| saved values are restored at the next start | tests/test_parameters.py, tests/test_integration.py |
| a corrupted file (any single flipped bit) is never applied silently | tests/test_parameters.py (hypothesis) |
| out-of-range values in a valid file are refused one by one | tests/test_parameters.py |
| an uncorrectable parameter store is restored from defaults and the file | tests/test_protection_components.py |
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from native import crc32c

from flight.component import Channel, CommandError, Component, Event, command
from flight.types import DataType, Field, ValueRejected
from flight.wire.dictionary import Severity

FORMAT = "orbitfs-parameters/1"


def canonical_crc(parameters: dict[str, Any]) -> int:
    return crc32c(json.dumps(parameters, sort_keys=True).encode())


class ParameterDb(Component):
    CHANNELS = {
        "ParametersLoaded": Channel(DataType.U16, "parameters"),
        "FileSaves": Channel(DataType.U32, "saves"),
    }
    EVENTS = {
        "ParamFileLoaded": Event(Severity.ACTIVITY, "Loaded {count} parameters from {path}",
                                 (Field("count", DataType.U16), Field("path", DataType.STRING))),
        "ParamFileMissing": Event(Severity.ACTIVITY, "No parameter file at {path}: defaults",
                                  (Field("path", DataType.STRING),)),
        "ParamFileCorrupt": Event(Severity.WARNING_HI,
                                  "Parameter file {path} is corrupt ({reason}): defaults used",
                                  (Field("path", DataType.STRING),
                                   Field("reason", DataType.STRING))),
        "ParamRejected": Event(Severity.WARNING_LO, "Parameter {name} from file refused: {reason}",
                               (Field("name", DataType.STRING), Field("reason", DataType.STRING))),
        "ParamFileSaved": Event(Severity.ACTIVITY, "Saved {count} parameters to {path}",
                                (Field("count", DataType.U16), Field("path", DataType.STRING))),
    }

    def __init__(self, name: str, ports: Any, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, ports, config)
        self.path = Path(ports.run_dir) / str(self.config.get("file", "parameters.json"))

    def start(self) -> None:
        self.ports.parameters.region.recover = self.restore
        self.load()

    def restore(self) -> None:
        """restore every parameter: defaults, then the parameter file"""
        self.ports.parameters.reset()
        for definition in self.ports.dictionary.parameters:
            component, name = self._owner(definition.name)
            component.on_parameter(name, definition.default)
        self.load()

    def _owner(self, full_name: str) -> tuple[Component, str]:
        component, _, name = full_name.partition(".")
        return self.ports.components[component], name

    def snapshot(self) -> dict[str, Any]:
        """Current value of every parameter in the dictionary, by full name."""
        values = {}
        for definition in self.ports.dictionary.parameters:
            component, name = self._owner(definition.name)
            values[definition.name] = component.param(name)
        return values

    def load(self) -> int:
        """Apply the file's values; return how many were applied."""
        where = str(self.path)
        try:
            doc = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            self.event("ParamFileMissing", path=where)
            return 0
        except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError too
            self.event("ParamFileCorrupt", path=where, reason=f"unreadable: {error}")
            return 0
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            self.event("ParamFileCorrupt", path=where, reason="not an orbitfs parameter file")
            return 0
        values = doc.get("parameters")
        if not isinstance(values, dict) or doc.get("crc32c") != canonical_crc(values):
            self.event("ParamFileCorrupt", path=where, reason="CRC-32C mismatch")
            return 0
        applied = 0
        for full_name, value in values.items():
            if full_name not in self.ports.dictionary.parameter_by_name:
                self.event("ParamRejected", name=full_name, reason="unknown parameter")
                continue
            component, name = self._owner(full_name)
            try:
                component.apply_parameter(name, value)
                applied += 1
            except ValueRejected as error:
                self.event("ParamRejected", name=full_name, reason=str(error))
        self.tlm("ParametersLoaded", applied)
        self.event("ParamFileLoaded", count=applied, path=where)
        return applied

    @command(description="Write every parameter's current value to the parameter file")
    def SAVE_FILE(self) -> None:
        values = self.snapshot()
        doc = {"format": FORMAT, "parameters": values, "crc32c": canonical_crc(values)}
        temporary = self.path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(doc, indent=1, sort_keys=True))
            os.replace(temporary, self.path)
        except OSError as error:
            raise CommandError(f"cannot write {self.path}: {error}") from None
        self.tlm("FileSaves", self.telemetry["FileSaves"] + 1)
        self.event("ParamFileSaved", count=len(values), path=str(self.path))
