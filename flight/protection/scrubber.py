"""Scrubber: walks every protected memory region a fixed number of bytes per tick, repairs what it
can, and reports every detection and repair.

Like cFS's Checksum app, the walk resumes where the last tick stopped (region, offset); unlike
it, it corrects: TMR regions are voted and the minority copy repaired, live regions are checked by
chunk CRC-32C and repaired from their golden copy, monitored regions are only checked. Each
finding is an event with region, offset and bits (UpsetRepaired, UpsetDetected); an
uncorrectable one (two TMR copies hit at the same bit, or live and golden both bad) is an
UncorrectableError event and triggers the region's recovery (set by its owner: reload from file,
reset a card), reported as RecoveryStarted, never a silent pass.

``DetectionLatency`` is the current worst case: the time one full pass takes at
``BytesPerTick`` and this component's tick period, so operators can size the scrub rate against
the upset rate. The regions come in on the ``regions`` port from their owners (the parameter
keeper, the inference cluster's live weights), who withdraw them when they go. Regions listed
in the ``region_counters`` setting get their own counters in housekeeping (``<region>_Detected``,
``_Repaired``, ``_Uncorrectable``); all regions count in the totals.

| requirement | verified by |
| a full pass finds and repairs every injected single-bit |   |
|   upset, bit-exactly | tests/unit/protection/test_protection_components.py |
| the walk resumes across ticks and covers every byte of |   |
|   every region | tests/unit/protection/test_protection_components.py |
| an uncorrectable error is reported and triggers the |   |
|   region's recovery | tests/unit/protection/test_protection_components.py |
"""
from __future__ import annotations

from typing import Any

from flight.core.component import Channel, Component, Event, Parameter
from flight.core.context import Context
from flight.core.ports import input_port
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity
from flight.messages import RegionChange
from flight.protection.regions import RegionRegistry

COUNTERS = ("Detected", "Repaired", "Uncorrectable")
REGION, OFFSET, BITS, COPY = (Field("region", DataType.STRING), Field("offset", DataType.U64),
                              Field("bits", DataType.U16), Field("copy", DataType.STRING))


class Scrubber(Component):
    CHANNELS = {
        "ProtectedBytes": Channel(DataType.U64, "bytes"),
        "BytesScrubbed": Channel(DataType.U64, "bytes"),
        "Passes": Channel(DataType.U32, "passes", description="complete walks over all regions"),
        "Detected": Channel(DataType.U32, "upsets"),
        "Repaired": Channel(DataType.U32, "upsets"),
        "Uncorrectable": Channel(DataType.U32, "errors", Limits(yellow_high=0)),
        "Recoveries": Channel(DataType.U32, "recoveries", description="owner's recovery run"),
        "DetectionLatency": Channel(DataType.F32, "s", description="worst case: one full pass"),
    }
    EVENTS = {
        "UpsetRepaired": Event(Severity.WARNING_LO, "Upset repaired in {region} ({copy}) at {offset}: "
                               "{bits} bits", (REGION, COPY, OFFSET, BITS)),
        "UpsetDetected": Event(Severity.WARNING_LO, "Upset detected in {region} at {offset}: {bits} "
                               "bits (monitored, not repaired)", (REGION, OFFSET, BITS)),
        "UncorrectableError": Event(Severity.WARNING_HI, "Uncorrectable error in {region} at {offset}",
                                    (REGION, OFFSET)),
        "RecoveryStarted": Event(Severity.WARNING_HI, "Recovery of {region}: {action}",
                                 (REGION, Field("action", DataType.STRING))),
    }
    SETTINGS = {"region_counters": Setting(list, [], item=Setting(str),
                                           description="regions with their own counters in housekeeping")}
    PARAMETERS = {
        "BytesPerTick": Parameter(DataType.U32, 1 << 20, 1, 256 << 20,
                                  "bytes checked per tick (at most 256 MiB: bounded work per tick)"),
    }

    @classmethod
    def channels_for(cls, config: dict[str, Any]) -> dict[str, Channel]:
        per_region = {f"{region}_{counter}": Channel(DataType.U32, "upsets")
                      for region in config.get("region_counters", []) for counter in COUNTERS}
        return {**cls.CHANNELS, **per_region}

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.protected = RegionRegistry()
        self._region_index = 0
        self._offset = 0
        self._last_now: float | None = None

    @input_port(RegionChange, "protected regions to scrub, offered and withdrawn by their owners")
    def regions(self, change: RegionChange) -> None:
        self.protected.apply(change)

    def tick(self, tick: int, now: float) -> None:
        regions = self.protected.regions()
        total = sum(r.size for r in regions)
        budget = self.param("BytesPerTick")
        self.tlm("ProtectedBytes", total)
        if self._last_now is not None and now > self._last_now:  # a pass takes whole ticks
            self.tlm("DetectionLatency", max(1, -(-total // budget)) * (now - self._last_now))
        self._last_now = now
        remaining = min(budget, total)  # at most one full pass per tick
        while remaining > 0:
            if self._region_index >= len(regions):
                self._region_index, self._offset = 0, 0
                self.increment("Passes")
            region = regions[self._region_index]
            chunk = getattr(region, "chunk_size", 1)  # whole chunks: none is checked twice a pass
            length = min(-(-remaining // chunk) * chunk, region.size - self._offset)
            if length > 0:
                for finding in region.scrub(self._offset, length).findings:
                    self._report(region, finding)
                remaining -= min(length, remaining)
                self._offset += length
            if self._offset >= region.size:
                self._region_index, self._offset = self._region_index + 1, 0
        self.tlm("BytesScrubbed", self.telemetry["BytesScrubbed"] + min(budget, total))

    def _count(self, region: str, counter: str) -> None:
        self.increment(counter)
        channel = f"{region}_{counter}"
        if channel in self.channels:
            self.increment(channel)

    def _report(self, region: Any, finding: Any) -> None:
        self._count(region.name, "Detected")
        if finding.uncorrectable:
            self._count(region.name, "Uncorrectable")
            self.event("UncorrectableError", region=region.name, offset=finding.offset)
            if region.recover is None:
                self.event("RecoveryStarted", region=region.name, action="none configured")
            else:
                self.event("RecoveryStarted", region=region.name, action=getattr(
                    region.recover, "__doc__", None) or "owner's recovery")
                region.recover()
                self.increment("Recoveries")
        elif finding.repaired:
            self._count(region.name, "Repaired")
            self.event("UpsetRepaired", region=region.name, copy=finding.copy, offset=finding.offset,
                       bits=min(finding.bits, 0xFFFF))
        else:
            self.event("UpsetDetected", region=region.name, offset=finding.offset,
                       bits=min(finding.bits, 0xFFFF))
