"""What the executive hands each component: the bus, the clock's time, the downlink, events,
the registries of protected memory regions and of unprotected buffers, and the TMR parameter
store.

The only doors out of a component. Implemented by the executive; tests build their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from flight.bus import Bus
from flight.protection.parameter_store import ParameterStore
from flight.protection.regions import RegionRegistry
from flight.wire.dictionary import Dictionary


@dataclass
class Ports:
    bus: Bus
    dictionary: Dictionary
    components: Mapping[str, Any]
    now: Callable[[], float]
    downlink: Callable[[int, int, bytes], None]
    emit_event: Callable[[str, str, list[Any]], None]
    run_dir: Path
    seed: int = 0
    tick: Callable[[], int] = field(default=lambda: 0)
    regions: RegionRegistry = field(default_factory=RegionRegistry)   # protected, scrubbed
    buffers: RegionRegistry = field(default_factory=RegionRegistry)   # unprotected, injectable
    parameters: ParameterStore | None = None

    def __post_init__(self) -> None:
        if self.parameters is None:
            self.parameters = ParameterStore(self.dictionary)
            self.regions.add(self.parameters.region)
