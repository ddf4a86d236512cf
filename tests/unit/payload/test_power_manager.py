"""Tests for the card plan of flight.payload.cluster.power_manager: hot cards parked, the others
admitted in order while they fit the budget."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flight.payload.cluster.power_manager import CardPower, plan_active_cards


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
