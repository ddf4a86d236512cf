"""SeuInjector: flips bits on purpose, reproducibly, and logs the ground truth of every flip.

Targets: any protected region its owner offers on the ``regions`` port (and, within it, any copy:
a TMR copy, a live buffer or its golden copy), or unprotected buffer offered on the ``buffers``
port (``frame_slots``: the input tiles; ``tm_store``: packets waiting to go down), chosen by name;
and the cards themselves (hang, crash, slow, wrong output), as :class:`CardFault` messages out of
the ``card_faults`` port to the inference cluster. Kinds of upset: a single-bit flip; a multi-bit
upset (2 to 4 adjacent bits of one byte); a random byte (every bit of one byte drawn anew).
Schedules:
- a plan in the topology, by tick number: ``{tick, region, target, offset, bit}`` for an upset,
  ``{tick, card, fault, factor}`` for a card fault;
- on command from the ground (INJECT: region, target, offset, bit; INJECT_RANDOM: count upsets);
- a rate model: Poisson upsets at ``rate_per_bit_day`` (LEO SRAM: about 4e-7 to 8e-7
  upsets/bit/day) over the bits of the ``targets`` (default: every protected region; name
  buffers there to include them), times ``saa_factor`` inside the South
  Atlantic Anomaly of the mission's orbit (flight.environment.orbit), times the ``Acceleration`` parameter
  (for tests and SIL).
All random draws come from one generator seeded with ``seed`` (default: the mission seed) and
are made once per tick, so the same seed and configuration give the same upsets at the same ticks.
A tick injects at most ``max_upsets_per_tick`` upsets: the rate model's draws beyond are clipped
and counted (``UpsetsClipped``), INJECT_RANDOM's wait for the next ticks (``UpsetsQueued``) and
the command completes when its last upset is in, so no command or parameter can stall a cycle.

The injector is test equipment: unless the topology's ``[mission] fault_injection`` is true
(the SIL and campaigns set it; a flight configuration does not) it injects nothing and its
commands are refused (NOT_ENABLED; the dictionary marks them test equipment).

Every injection is appended to ``injections.jsonl`` in the run directory (tick, mission time,
region, target, offset, bit mask, old and new byte) and reported as an UpsetInjected event, so a
campaign can classify each outcome.

| requirement | verified by |
| one seed gives the same upsets at the same ticks; another |   |
|   seed others | tests/unit/protection/test_protection_components.py |
| planned and commanded injections flip exactly the named |   |
|   bits and are logged | tests/unit/protection/test_protection_components.py |
| the rate model's mean matches rate x bits x time x factors | tests/unit/protection/test_protection_components.py |
| no tick injects more than max_upsets_per_tick; the excess is clipped or queued, counted |   |
|   | tests/unit/protection/test_protection_components.py |
| without fault_injection nothing is injected and the commands are refused |   |
|   | tests/unit/protection/test_protection_components.py |
"""
from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from flight.core.completion import Pending
from flight.core.component import (Channel, CommandDisabled, CommandError, Component, Event, Parameter,
                                   command)
from flight.core.context import Context
from flight.core.ports import OutputPort, input_port
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.environment.orbit import mission_orbit
from flight.messages import CardFault, RegionChange
from flight.protection.regions import RegionRegistry

SECONDS_PER_DAY = 86400.0
KINDS = ("single", "multi", "byte")
CARD_FAULTS = ("hang", "crash", "slow", "wrong", "latchup", "sefi", "tid", "clear")


def _weights_reason(weights: list[Any]) -> str | None:
    if (len(weights) != len(KINDS) or not all(isinstance(w, (int, float)) and w >= 0 for w in weights)
            or not sum(weights) > 0):
        return f"{len(KINDS)} odds >= 0 ({', '.join(KINDS)}), not all 0"
    return None


def _step_reason(step: dict[str, Any]) -> str | None:
    if not isinstance(step.get("tick"), int) or step["tick"] < 0:
        return "a step needs a tick >= 0"
    if "card" in step:
        if step.get("fault") not in CARD_FAULTS:
            return f"a card fault is one of {', '.join(CARD_FAULTS)}"
        return None
    if not isinstance(step.get("region"), str) or not isinstance(step.get("offset"), int):
        return "an upset step needs a region and an offset (and a target, bit, kind)"
    if not 0 <= step.get("bit", 0) <= 7 or step.get("kind", "single") not in KINDS:
        return f"bit from 0 to 7; kind one of {', '.join(KINDS)}"
    return None


class SeuInjector(Component):
    CHANNELS = {
        "Injected": Channel(DataType.U32, "upsets"),
        "BitsFlipped": Channel(DataType.U32, "bits"),
        "InSaa": Channel(DataType.BOOL),
        "UpsetsClipped": Channel(DataType.U32, "upsets", description="rate-model draws beyond a tick's budget"),
        "UpsetsQueued": Channel(DataType.U32, "upsets", description="INJECT_RANDOM upsets still to inject"),
    }
    EVENTS = {
        "UpsetInjected": Event(Severity.ACTIVITY, "Injected {kind} upset in {region} ({target}) at "
                               "{offset}: {old:02x} -> {new:02x}",
                               (Field("kind", DataType.STRING), Field("region", DataType.STRING),
                                Field("target", DataType.STRING), Field("offset", DataType.U64),
                                Field("old", DataType.U8), Field("new", DataType.U8))),
        "CardFaultInjected": Event(Severity.ACTIVITY, "Injected fault {fault} into {card}",
                                   (Field("card", DataType.STRING), Field("fault", DataType.STRING))),
    }
    PARAMETERS = {
        "Acceleration": Parameter(DataType.F64, 1.0, 0.0, 1e12, "multiplies the upset rate"),
    }

    SETTINGS = {
        "seed": Setting(int, None, 0, 2**63 - 1, description="the draws' seed (default: the mission's)"),
        "rate_per_bit_day": Setting(float, 6e-7, 0.0, 1e-3,
                                    description="upsets per bit per day (LEO SRAM: about 4e-7 to 8e-7)"),
        "saa_factor": Setting(float, 50.0, 0.0, 1e4, description="rate multiplier inside the SAA"),
        "kind_weights": Setting(list, [0.9, 0.08, 0.02], check=_weights_reason,
                                description="odds of a single-bit, multi-bit (adjacent) and random-byte upset"),
        "targets": Setting(list, [], item=Setting(str),
                           description="region or buffer names; empty: every protected region"),
        "plan": Setting(list, [], item=Setting(dict, check=_step_reason, open=True),
                        description="upsets by tick: {tick, region, target, offset, bit, kind} or "
                                    "{tick, card, fault, factor}"),
        "log": Setting(str, "injections.jsonl", description="the ground-truth log, in the run directory"),
        "max_upsets_per_tick": Setting(int, 200, 1, 100_000,
                                       description="upsets injected in one tick at most: the rate model's "
                                                   "draws beyond are clipped (counted), INJECT_RANDOM's wait"),
    }
    card_faults = OutputPort(CardFault, "card faults, to the inference cluster")

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.protected = RegionRegistry()
        self.unprotected = RegionRegistry()
        seed = self.config["seed"]
        self.rng = np.random.default_rng([context.seed if seed is None else seed, 0x5E0])
        self.rate = self.config["rate_per_bit_day"]
        self.saa_factor = self.config["saa_factor"]
        self.orbit = mission_orbit(context.mission)
        self.targets = list(self.config["targets"])
        self.kind_weights = np.array(self.config["kind_weights"], float)
        self.plan = sorted(self.config["plan"], key=lambda p: p["tick"])
        self.log_path = Path(context.run_dir) / self.config["log"]
        self.enabled = bool(context.mission.get("fault_injection"))  # test equipment: off in flight
        self._log_file: TextIO | None = None
        self._queued: collections.deque[list[Any]] = collections.deque()  # [upsets left, Pending]
        self._last_now: float | None = None

    # --- what there is to upset ---------------------------------------------------------------
    @input_port(RegionChange, "protected regions, offered and withdrawn by their owners")
    def regions(self, change: RegionChange) -> None:
        self.protected.apply(change)

    @input_port(RegionChange, "unprotected buffers (frame slots, TM store)", required=False)
    def buffers(self, change: RegionChange) -> None:
        self.unprotected.apply(change)

    # --- the three schedules: at most max_upsets_per_tick upsets a tick ----------------------
    def tick(self, tick: int, now: float) -> None:
        in_saa = self.orbit.in_saa(now)
        self.tlm("InSaa", in_saa)
        if self.enabled:
            budget = self._run_plan(tick, now, self.config["max_upsets_per_tick"])
            budget = self._rate_model(tick, now, in_saa, budget)
            self._inject_queued(tick, now, budget)
            if self._log_file is not None:
                self._log_file.flush()
        self._last_now = now

    def _run_plan(self, tick: int, now: float, budget: int) -> int:
        """The plan's steps due by ``tick`` (the rest wait for the next ticks); what is left of
        ``budget``."""
        while self.plan and self.plan[0]["tick"] <= tick and budget > 0:
            step = self.plan.pop(0)
            budget -= 1
            if "card" in step:
                self.card_fault(step["card"], step["fault"], float(step.get("factor", 4.0)), tick, now)
            else:
                self.inject(step["region"], step.get("target", ""), int(step["offset"]),
                            1 << int(step.get("bit", 0)), step.get("kind", "single"), tick, now)
        return budget

    def _rate_model(self, tick: int, now: float, in_saa: bool, budget: int) -> int:
        """Poisson upsets over the time since the last tick; draws beyond ``budget`` are clipped
        and counted. What is left of ``budget``."""
        regions = self._regions()
        if self._last_now is None or now <= self._last_now or not regions:
            return budget
        bits = 8 * sum(r.size for r in regions)
        mean = (bits * self.rate / SECONDS_PER_DAY * (now - self._last_now)
                * self.param("Acceleration") * (self.saa_factor if in_saa else 1.0))
        drawn = int(self.rng.poisson(min(mean, 1e9)))
        for _ in range(min(drawn, budget)):
            self._random_upset(regions, tick, now)
        if drawn > budget:
            self.tlm("UpsetsClipped", (self.telemetry["UpsetsClipped"] + drawn - budget) & 0xFFFFFFFF)
        return max(budget - drawn, 0)

    def _inject_queued(self, tick: int, now: float, budget: int) -> None:
        """INJECT_RANDOM's upsets, oldest command first; each completes when its last is in."""
        regions = self._regions()
        while self._queued and budget > 0:
            batch = self._queued[0]
            if not regions:
                self._queued.popleft()[1].finish(CommandError("no region left to inject into"))
                continue
            count = min(batch[0], budget)
            for _ in range(count):
                self._random_upset(regions, tick, now)
            batch[0] -= count
            budget -= count
            if not batch[0]:
                self._queued.popleft()[1].finish()
        self.tlm("UpsetsQueued", sum(batch[0] for batch in self._queued))

    def _enabled(self) -> None:
        if not self.enabled:
            raise CommandDisabled("the SEU injector is test equipment: [mission] fault_injection is off")

    @command(Field("region", DataType.STRING), Field("target", DataType.STRING),
             Field("offset", DataType.U64), Field("bit", DataType.U8, 0, 7), test_equipment=True,
             description="Flip one bit now (target: a copy of the region, empty for its default)")
    def INJECT(self, region: str, target: str, offset: int, bit: int) -> None:
        self._enabled()
        self.inject(region, target, offset, 1 << bit, "single", self.context.tick(),
                    self.context.now())
        self._log_file.flush()

    @command(Field("count", DataType.U32, 1, 10_000), test_equipment=True,
             description="Inject count random upsets, drawn like the rate model's, at most "
                         "max_upsets_per_tick a tick; completes when the last is in")
    def INJECT_RANDOM(self, count: int) -> Pending:
        self._enabled()
        if not self._regions():
            raise CommandError("no protected region to inject into")
        pending = Pending()
        self._queued.append([count, pending])
        self.tlm("UpsetsQueued", sum(batch[0] for batch in self._queued))
        return pending

    @command(Field("card", DataType.STRING), Field("fault", DataType.STRING),
             Field("factor", DataType.F32, 1.0, 100.0), test_equipment=True,
             description="Inject a card fault now: hang, crash, slow (by factor), wrong or clear")
    def INJECT_CARD_FAULT(self, card: str, fault: str, factor: float) -> Any:
        self._enabled()
        return self.card_fault(card, fault, factor, self.context.tick(), self.context.now())

    def stop(self) -> None:
        for _, pending in self._queued:
            pending.finish(CommandError("the SEU injector stopped before these upsets"))
        self._queued.clear()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # --- the flips ----------------------------------------------------------------------------
    def _regions(self) -> list[Any]:
        if not self.targets:
            return self.protected.regions()
        everything = self.protected.regions() + self.unprotected.regions()
        return [r for r in everything if r.name in self.targets and r.size > 0]

    def _lookup(self, name: str) -> Any:
        for registry in (self.protected, self.unprotected):
            try:
                return registry.get(name)
            except KeyError:
                continue
        raise CommandError(f"no region or buffer {name!r}")

    def card_fault(self, card: str, fault: str, factor: float, tick: int, now: float) -> Any:
        """Send a card fault to the cluster; what the cluster answers (its work's completion)."""
        if fault not in CARD_FAULTS:
            raise CommandError(f"no card fault {fault!r} (faults: {', '.join(CARD_FAULTS)})")
        try:
            done = self.card_faults.call(CardFault(card, fault, factor))
        except LookupError:
            raise CommandError("card_faults is not connected to a cluster") from None
        self._log({"tick": tick, "time": now, "card": card, "fault": fault, "factor": factor})
        self.event("CardFaultInjected", card=card, fault=fault)
        return done

    def _log(self, record: dict[str, Any]) -> None:
        """One line of ground truth (the file stays open; flushed every tick and command)."""
        if self._log_file is None:
            self._log_file = self.log_path.open("a")
        self._log_file.write(json.dumps(record) + "\n")

    def _random_upset(self, regions: list[Any], tick: int, now: float) -> None:
        sizes = np.array([r.size for r in regions], float)
        region = regions[int(self.rng.choice(len(regions), p=sizes / sizes.sum()))]
        targets = region.targets()
        target = targets[int(self.rng.integers(len(targets)))]
        offset = int(self.rng.integers(region.size))
        kind = KINDS[int(self.rng.choice(len(KINDS), p=self.kind_weights / self.kind_weights.sum()))]
        if kind == "single":
            mask = 1 << int(self.rng.integers(8))
        elif kind == "multi":
            width = int(self.rng.integers(2, 5))
            mask = ((1 << width) - 1) << int(self.rng.integers(0, 9 - width))
        else:
            mask = int(self.rng.integers(1, 256))
        self.inject(region.name, target, offset, mask, kind, tick, now)

    def inject(self, region_name: str, target: str, offset: int, mask: int, kind: str, tick: int,
               now: float) -> None:
        """Flip the bits of ``mask`` in one byte of a region's copy, log and report it."""
        region = self._lookup(region_name)
        target = target or region.targets()[0]
        if target not in region.targets() or not 0 <= offset < region.size:
            raise CommandError(f"{region_name}: no byte {offset} in target {target!r}")
        old = new = None
        for bit in range(8):
            if mask >> bit & 1:
                before, new = region.flip(offset, bit, target)
                old = before if old is None else old
        flipped = bin(mask).count("1")
        self.increment("Injected")
        self.increment("BitsFlipped", flipped)
        self._log({"tick": tick, "time": now, "region": region_name, "target": target,
                   "offset": offset, "mask": mask, "kind": kind, "old": old, "new": new})
        self.event("UpsetInjected", kind=kind, region=region_name, target=target, offset=offset,
                   old=old, new=new)
