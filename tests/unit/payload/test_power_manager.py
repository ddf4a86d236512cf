"""Tests for the card plan of flight.payload.cluster.power_manager: hot cards parked, the others
admitted in order while they fit the budget; held cards (by command, or SAFE mode) kept parked."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.core.component import CommandRefused
from flight.environment.power import Battery, PowerSystem
from flight.payload.cluster.card_process import Card, CardSpec, CardState
from flight.payload.cluster.power_manager import CardPower, PowerManager, plan_active_cards


def test_plan_by_hand() -> None:
    cards = [
        CardPower("a", 5.0, 40.0, hot=False),
        CardPower("b", 5.0, 10.0, hot=True),
        CardPower("c", 5.0, 50.0, hot=False),  # 90 W
        CardPower("d", 5.0, 30.0, hot=False),  # 120 W would exceed 100 W: parked
        CardPower("e", 5.0, 10.0, hot=False),  # 100 W: fits exactly
    ]
    assert plan_active_cards(cards, 100.0) == ({"a", "c", "e"}, {"b", "d"})
    assert plan_active_cards(cards, 0.0) == (set(), {"a", "b", "c", "d", "e"})


@st.composite
def card_powers(draw: st.DrawFn) -> list[CardPower]:
    card_names = draw(st.lists(st.text("abcdefgh", min_size=1, max_size=3), max_size=8, unique=True))
    return [
        CardPower(name, draw(st.floats(0.0, 20.0)), draw(st.floats(0.0, 60.0)), draw(st.booleans()))
        for name in card_names
    ]


@settings(max_examples=100, deadline=None)
@given(cards=card_powers(), budget=st.floats(-10.0, 300.0))
def test_plan_respects_budget_heat_and_order(cards: list[CardPower], budget: float) -> None:
    may_run, parked = plan_active_cards(cards, budget)
    assert may_run | parked == {c.name for c in cards} and not may_run & parked
    if may_run:  # (with a negative budget nothing runs, and the draw is 0)
        assert sum(c.active_w for c in cards if c.name in may_run) <= budget + 1e-9
    admitted_w = 0.0
    for card in cards:
        if card.hot:
            assert card.name in parked
        elif card.name in parked:
            # A cool card is parked only if it did not fit after the cards admitted before it.
            assert admitted_w + card.active_w > budget
        else:
            admitted_w += card.active_w


# --- cards held parked: by command (PARK_CARD) or by the flight's SAFE mode ---------------------------
class _AlwaysSunlit:
    def sunlit(self, t: float) -> bool:
        return True


def _manager(power: bool = True):
    cards = {name: Card(CardSpec(name), 0.01) for name in ("card0", "card1")}
    for card in cards.values():
        card.set_state(CardState.READY, 0.0)
    events: list[tuple[str, dict]] = []
    system = PowerSystem(_AlwaysSunlit(), Battery()) if power else None
    return PowerManager(cards, system, lambda kind, args: events.append((kind, args))), cards, events


def test_a_held_card_is_parked_at_once_and_stays_parked_until_released() -> None:
    manager, cards, events = _manager()
    manager.hold("card0")
    assert cards["card0"].state is CardState.PARKED and cards["card1"].state is CardState.READY
    assert events == [("card_parked", {"card": "card0", "reason": "held by command"})]
    for _ in range(3):
        manager.step(0.0, 1.0, 1.0)  # the budget would let it run: held, it does not
    assert cards["card0"].state is CardState.PARKED
    cards["card0"].set_state(CardState.READY, 0.0)  # e.g. reset and readmitted: parked again
    manager.step(0.0, 1.0, 1.0)
    assert cards["card0"].state is CardState.PARKED
    manager.release("card0")
    manager.step(0.0, 1.0, 1.0)
    assert cards["card0"].state is CardState.READY and events[-1] == ("card_unparked", {"card": "card0"})
    with pytest.raises(CommandRefused, match="card0 is not held"):
        manager.release("card0")


def test_safe_mode_holds_every_card_and_nominal_releases_those_not_held_by_command() -> None:
    for power in (True, False):
        manager, cards, events = _manager(power)
        manager.hold("card1")
        manager.set_safe(True)
        assert {c.state for c in cards.values()} == {CardState.PARKED}
        assert ("card_parked", {"card": "card0", "reason": "SAFE mode"}) in events
        cards["card0"].set_state(CardState.READY, 0.0)
        manager.step(0.0, 1.0, 1.0)
        assert cards["card0"].state is CardState.PARKED
        manager.set_safe(False)
        manager.step(0.0, 1.0, 1.0)
        if power:  # (without a power system nothing is unparked by a step)
            assert cards["card0"].state is CardState.READY
        assert cards["card1"].state is CardState.PARKED
