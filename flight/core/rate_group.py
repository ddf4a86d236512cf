"""RateGroup: calls its members' ``tick`` once per cycle, in order, and counts slips.

A cycle slips when it has not finished by the wall deadline of the group's next cycle (F Prime's
ActiveRateGroup notion). Slips are telemetry and a throttled WARNING_HI event.

The executive hands a group its members (the topology's ``members``, in call order) with
:meth:`RateGroup.drive` before the flight starts.

| requirement | verified by |
| members are ticked in configured order, once per cycle | tests/unit/core/test_executive.py |
| an overrunning cycle counts a slip and emits CycleSlip | tests/unit/core/test_executive.py |
| a member that raises is reported (MemberFailed) and the others still run | tests/unit/core/test_executive.py |
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from flight.core.component import Channel, Component, Event
from flight.core.context import Context
from flight.core.types import DataType, Field, Severity


class RateGroup(Component):
    CHANNELS = {
        "Cycles": Channel(DataType.U32, "cycles"),
        "CycleSlips": Channel(DataType.U32, "cycles", description="cycles that overran"),
        "MaxCycleTime": Channel(DataType.F32, "s", description="longest cycle, wall time"),
        "LastCycleTime": Channel(DataType.F32, "s"),
        "MemberFailures": Channel(DataType.U32, "cycles", description="member ticks that raised"),
    }
    EVENTS = {
        "CycleSlip": Event(Severity.WARNING_HI,
                           "Rate group slipped at cycle {cycle}: {slips} slips so far",
                           (Field("cycle", DataType.U32), Field("slips", DataType.U32)),
                           throttle=10),
        "MemberFailed": Event(Severity.WARNING_HI, "{component} raised in its cycle: {detail}",
                              (Field("component", DataType.STRING), Field("detail", DataType.STRING)),
                              throttle=20),
    }

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.divider = int(self.config["divider"])
        self.members: tuple[Component, ...] = ()

    def drive(self, members: Sequence[Component]) -> None:
        """Tick ``members``, in this order, every cycle."""
        self.members = tuple(members)

    def run_cycle(self, tick: int, now: float, next_deadline: float) -> None:
        began = time.monotonic()
        for member in self.members:
            try:
                member.tick(tick, now)
            except Exception as error:  # one faulty member must not stop the others or the flight
                self.log.exception("%s failed in its cycle", member.name)
                self.tlm("MemberFailures", self.telemetry["MemberFailures"] + 1)
                self.event("MemberFailed", component=member.name, detail=repr(error))
        finished = time.monotonic()
        cycles = self.telemetry["Cycles"] + 1
        self.tlm("Cycles", cycles)
        self.tlm("LastCycleTime", finished - began)
        self.tlm("MaxCycleTime", max(self.telemetry["MaxCycleTime"], finished - began))
        if next_deadline and finished > next_deadline:
            self.record_slips(1, cycles)

    def record_slips(self, count: int, cycle: int) -> None:
        slips = self.telemetry["CycleSlips"] + count
        self.tlm("CycleSlips", slips)
        self.event("CycleSlip", cycle=cycle & 0xFFFFFFFF, slips=slips)
