"""Power and thermal management of the cards: which may run within the power budget, which are
parked.

Every power step (a command run in the cluster thread) the :class:`PowerManager` turns each card's
busy time since the last step into its utilization and power draw, advances each card's thermal
model and the spacecraft's power system (battery) by the step, then asks
:func:`plan_active_cards` which cards fit the payload's power budget: hot cards, held cards and the
cards that do not fit are parked (they take no frames), the others unparked. Cards are admitted
coolest first, then fastest. A card is held parked by command (:meth:`PowerManager.hold`, until
:meth:`PowerManager.release`) or, every card, while the flight is in SAFE mode; holding parks a
ready card at once, and a held card that comes back (reset, readmitted) is parked again at the
next step.

| requirement | verified by |
| cards are parked rather than exceed the power budget |   |
|   or their temperature limit | tests/system/test_cluster_engine.py |
| the plan respects the budget, parks hot cards, keeps the given order | tests/unit/payload/test_power_manager.py |
| a held card is parked at once and stays parked until released | tests/unit/payload/test_power_manager.py |
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flight.core.component import CommandRefused
from flight.environment.power import PowerSystem
from flight.payload.cluster.card_process import Card, CardState


@dataclass(frozen=True)
class CardPower:
    """What :func:`plan_active_cards` needs to know of a card."""

    name: str
    idle_w: float
    active_w: float
    hot: bool  # its ThermalModel.over_limit


def plan_active_cards(cards: Sequence[CardPower], budget_w: float) -> tuple[set[str], set[str]]:
    """``(may_run, parked)`` names: hot cards parked, the others admitted in order while they fit."""
    may_run: set[str] = set()
    parked: set[str] = set()
    total_w = 0.0
    for card in cards:
        if not card.hot and total_w + card.active_w <= budget_w:
            may_run.add(card.name)
            total_w += card.active_w
        else:
            parked.add(card.name)
    return may_run, parked


class PowerManager:
    """The cards' power draw and temperature, the battery, and parking. Owned by the cluster
    thread; without a ``power`` system the cards' power and temperature are still tracked."""

    def __init__(self, cards: dict[str, Card], power: PowerSystem | None,
                 on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self.cards = cards
        self.power = power
        self._on_event = on_event
        self.held: set[str] = set()  # parked by command until released
        self.safe = False            # the flight's SAFE mode: every card held parked

    def is_held(self, name: str) -> bool:
        return self.safe or name in self.held

    def hold(self, name: str) -> None:
        """Park the card (at once if it is ready) and keep it parked until :meth:`release`."""
        self.held.add(name)
        self._park_held()

    def release(self, name: str) -> None:
        """Let a held card run again (from the next step, if it fits); refused if it is not held."""
        if name not in self.held:
            raise CommandRefused(f"{name} is not held parked")
        self.held.discard(name)

    def set_safe(self, safe: bool) -> None:
        """SAFE: every card held parked; NOMINAL: those not held by command run again as they fit."""
        self.safe = safe
        self._park_held()

    def _park_held(self) -> None:
        now = time.monotonic()
        for card in self.cards.values():
            if card.state is CardState.READY and self.is_held(card.name):
                card.set_state(CardState.PARKED, now)
                self._on_event("card_parked", {"card": card.name, "reason": self._hold_reason(card.name)})

    def _hold_reason(self, name: str) -> str:
        return "held by command" if name in self.held else "SAFE mode"

    def step(self, mission_time: float, dt: float, wall_elapsed: float) -> None:
        """Advance power and thermal models by ``dt`` mission seconds; park or unpark cards.
        ``wall_elapsed``: the real seconds since the last step, over which utilization is taken."""
        sunlit = self.power is None or self.power.orbit.sunlit(mission_time)
        payload_w = self._step_cards(dt, wall_elapsed, sunlit)
        if self.power is None:
            self._park_held()
            return
        self.power.step(mission_time, payload_w, dt)
        self._park(self.power.payload_budget_w(mission_time))

    def _step_cards(self, dt: float, wall_elapsed: float, sunlit: bool) -> float:
        """Each card's utilization, power and temperature; the cards' total power in W."""
        payload_w = 0.0
        for card in self.cards.values():
            busy = card.busy_s - card.busy_at_power_step
            card.busy_at_power_step = card.busy_s
            utilization = min(1.0, busy / wall_elapsed) if wall_elapsed > 0 else 0.0
            card.utilization = utilization
            powered = card.state not in (CardState.OFF, CardState.PARKED, CardState.QUARANTINED)
            card.power_w = (card.spec.idle_w + (card.spec.active_w - card.spec.idle_w) * utilization
                            + card.excess_w if powered else 0.0)
            card.thermal.step(card.power_w, dt, sunlit)
            payload_w += card.power_w
        return payload_w

    def _park(self, budget_w: float) -> None:
        """Park the READY cards that are hot or do not fit ``budget_w``; unpark those that do."""
        candidates = sorted((c for c in self.cards.values()
                             if c.state in (CardState.READY, CardState.PARKED)),
                            key=lambda c: (c.thermal.temperature_c, c.latency))
        may_run, parked = plan_active_cards(
            [CardPower(c.name, c.spec.idle_w, c.spec.active_w, c.thermal.over_limit or self.is_held(c.name))
             for c in candidates], budget_w)
        now = time.monotonic()
        for card in candidates:
            if card.name in parked and card.state is CardState.READY:
                card.set_state(CardState.PARKED, now)
                reason = ("hot" if card.thermal.over_limit else
                          self._hold_reason(card.name) if self.is_held(card.name) else "power")
                self._on_event("card_parked", {"card": card.name, "reason": reason})
            elif card.name in may_run and card.state is CardState.PARKED:
                card.set_state(CardState.READY, now)
                self._on_event("card_unparked", {"card": card.name})
