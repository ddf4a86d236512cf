"""ParameterDb: keeps every component's parameters in TMR memory, persists them to a file and
restores them at start.

It holds the ``parameters`` role: every component's ``param`` reads and ``apply_parameter``
writes go to its :class:`flight.protection.parameter_store.ParameterStore`, one TMR region voted
on every read, which it offers for scrubbing on its ``regions`` port.

File: JSON ``{"format": "orbitfs-parameters/1", "parameters": {name: value}, "crc32c": N}``,
where N is the CRC-32C of the canonical JSON of ``parameters``. At start the file is read; if it
is missing, defaults stand (ParamFileMissing); if it is unreadable or its CRC does not match,
defaults stand and ParamFileCorrupt says why; a single unknown or out-of-range entry is skipped
with ParamRejected. ``SAVE_FILE`` writes atomically (a temporary file, fsynced, then renamed over
the old one, the folder fsynced), as F Prime's PRM_SAVE_FILE: a set by ST[20,3] alone is not
persisted. If the scrubber finds the store uncorrectable, this component's ``restore`` is its
recovery: every parameter back to its default, then the file applied again.

| requirement | verified by |
| saved values are restored at the next start | tests/unit/services/test_parameters.py, |
|   | tests/system/test_integration.py |
| a corrupted file (any single flipped bit) is never applied silently | tests/unit/services/test_parameters.py |
|   | (hypothesis) |
| out-of-range values in a valid file are refused one by one | tests/unit/services/test_parameters.py |
| an upset in one copy of the store does not change any value |   |
|   read | tests/unit/protection/test_protection_components.py |
| an uncorrectable parameter store is restored from defaults |   |
|   and the file | tests/unit/protection/test_protection_components.py |
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from native import crc32c

from flight.core.component import Channel, CommandError, Component, Event, command
from flight.core.context import Context
from flight.core.ports import OutputPort
from flight.core.roles import ParameterKeeper, Roster
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity, ValueRejected
from flight.messages import RegionChange
from flight.protection.parameter_store import ParameterStore

FORMAT = "orbitfs-parameters/1"


def canonical_crc(parameters: dict[str, Any]) -> int:
    return crc32c(json.dumps(parameters, sort_keys=True).encode())


class ParameterDb(Component, ParameterKeeper):
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

    regions = OutputPort(RegionChange, "the TMR parameter store, for the scrubber")
    SETTINGS = {"file": Setting(str, "parameters.json", check=lambda f: None if f.strip() else "empty",
                                description="the parameter file, relative to the run directory")}

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.path = Path(context.run_dir) / self.config["file"]
        self.store = ParameterStore(context.catalog.parameters)
        self.store.region.recover = self.restore
        self._roster: Roster = {}

    # --- the parameters role ------------------------------------------------------------------
    def serve(self, roster: Roster) -> None:
        self._roster = roster

    def get(self, name: str) -> Any:
        return self.store.get(name)

    def set(self, name: str, value: Any) -> None:
        self.store.set(name, value)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.regions.send(RegionChange(self.store.region))
        self.load()

    def stop(self) -> None:
        self.regions.send(RegionChange(self.store.region, added=False))

    def restore(self) -> None:
        """restore every parameter: defaults, then the parameter file"""
        self.store.reset()
        for definition in self.context.catalog.parameters:
            component, name = self._owner(definition.name)
            component.on_parameter(name, definition.default)
        self.load()

    def _owner(self, full_name: str) -> tuple[Component, str]:
        component, _, name = full_name.partition(".")
        return self._roster[component], name

    def snapshot(self) -> dict[str, Any]:
        """Current value of every parameter in the dictionary, by full name."""
        values = {}
        for definition in self.context.catalog.parameters:
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
            if full_name not in self.context.catalog.parameter_by_name:
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
            with temporary.open("w") as file:
                file.write(json.dumps(doc, indent=1, sort_keys=True))
                file.flush()
                os.fsync(file.fileno())  # on the disk before it replaces the old file
            os.replace(temporary, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # and the rename with it
            finally:
                os.close(directory)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise CommandError(f"cannot write {self.path}: {error}") from None
        self.tlm("FileSaves", self.telemetry["FileSaves"] + 1)
        self.event("ParamFileSaved", count=len(values), path=str(self.path))
