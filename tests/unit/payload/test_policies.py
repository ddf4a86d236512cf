"""Tests for flight.payload.cluster.policies: safety, rotation, tie-breaking, seeds, closed-loop throughput, EWMA."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.payload.cluster.policies import (
    POLICIES,
    EarliestFinishPolicy,
    LeastOutstandingPolicy,
    PowerOfTwoChoicesPolicy,
    RoundRobinPolicy,
    ewma,
    make_policy,
)


@dataclass
class Card:
    name: str
    outstanding: int = 0
    capacity: int = 2
    latency: float = 1.0


def names(picks: list[Card | None]) -> list[str | None]:
    return [None if c is None else c.name for c in picks]


@st.composite
def card_sets(draw: st.DrawFn) -> list[Card]:
    card_names = draw(st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=1, max_size=6, unique=True))
    cards = []
    for name in card_names:
        capacity = draw(st.integers(1, 4))
        cards.append(
            Card(
                name,
                outstanding=draw(st.integers(0, capacity)),
                capacity=capacity,
                latency=draw(st.floats(0.01, 10.0)),
            )
        )
    return cards


ALL = sorted(POLICIES)


# --- safety and when to wait -----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(sets=st.lists(card_sets(), min_size=1, max_size=8), seed=st.integers(0, 2**32 - 1))
def test_no_policy_returns_a_full_card_and_waits_only_as_documented(sets: list[list[Card]], seed: int) -> None:
    for policy in (make_policy(name, seed) for name in ALL):
        for cards in sets:
            pick = policy.choose(cards)
            all_full = all(c.outstanding >= c.capacity for c in cards)
            if pick is not None:
                assert pick in cards
                assert pick.outstanding < pick.capacity
            elif policy.name == "round-robin":
                # Round-robin may wait only for a full card in turn.
                assert any(c.outstanding >= c.capacity for c in cards)
            else:
                assert all_full
            if all_full:
                assert pick is None


@pytest.mark.parametrize("name", ALL)
def test_no_cards_means_wait(name: str) -> None:
    assert make_policy(name).choose([]) is None


# --- round-robin ---------------------------------------------------------------------------------


def test_round_robin_is_a_strict_rotation_in_name_order() -> None:
    policy = RoundRobinPolicy()
    cards = [Card("c"), Card("a"), Card("b")]  # given order does not matter: name order does
    assert names([policy.choose(cards) for _ in range(7)]) == ["a", "b", "c", "a", "b", "c", "a"]


def test_round_robin_waits_for_the_full_card_in_turn() -> None:
    policy = RoundRobinPolicy()
    a, b, c = Card("a"), Card("b", outstanding=2), Card("c")
    assert policy.choose([a, b, c]) is a
    # b is in turn and full: wait, do not skip to c; keep waiting while b stays full.
    assert policy.choose([a, b, c]) is None
    assert policy.choose([a, b, c]) is None
    b.outstanding = 1
    assert names([policy.choose([a, b, c]) for _ in range(3)]) == ["b", "c", "a"]


def test_round_robin_keeps_its_place_when_the_eligible_set_shrinks_and_grows() -> None:
    policy = RoundRobinPolicy()
    a, b, c, d = Card("a"), Card("b"), Card("c"), Card("d")
    assert policy.choose([a, b, c, d]) is a
    # b leaves (e.g. parked): the card after a is now c.
    assert policy.choose([a, c, d]) is c
    # b comes back: it is before c in name order, so the rotation continues at d, then wraps to a, b.
    assert names([policy.choose([a, b, c, d]) for _ in range(3)]) == ["d", "a", "b"]
    # The last served card (b) leaves: the rotation continues after its name.
    assert policy.choose([a, c, d]) is c
    # A new card "cc" joins between c and d: it gets its turn right after c.
    cc = Card("cc")
    assert names([policy.choose([a, c, cc, d]) for _ in range(3)]) == ["cc", "d", "a"]


# --- least-outstanding ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(cards=card_sets())
def test_least_outstanding_picks_a_minimum(cards: list[Card]) -> None:
    pick = LeastOutstandingPolicy().choose(cards)
    free = [c for c in cards if c.outstanding < c.capacity]
    if free:
        assert pick is not None and pick.outstanding == min(c.outstanding for c in free)


def test_least_outstanding_rotates_ties() -> None:
    policy = LeastOutstandingPolicy()
    cards = [Card("a"), Card("b"), Card("c")]
    assert names([policy.choose(cards) for _ in range(6)]) == ["a", "b", "c", "a", "b", "c"]
    # Only a and c tie at the minimum: they alternate, b (more outstanding) is never chosen.
    cards = [Card("a"), Card("b", outstanding=1), Card("c")]
    policy = LeastOutstandingPolicy()
    assert names([policy.choose(cards) for _ in range(4)]) == ["a", "c", "a", "c"]


# --- power of two choices -------------------------------------------------------------------------


def test_power_of_two_is_reproducible_from_its_seed() -> None:
    cards = [Card(n) for n in "abcdef"]

    def run(seed: int) -> list[str | None]:
        policy = PowerOfTwoChoicesPolicy(seed)
        return names([policy.choose(cards) for _ in range(40)])

    assert run(7) == run(7)
    assert run(7) != run(8)
    via_registry = make_policy("power-of-two", seed=7)
    assert names([via_registry.choose(cards) for _ in range(40)]) == run(7)


def test_power_of_two_picks_the_better_of_two_distinct_draws() -> None:
    # Four non-full cards with distinct outstanding counts (rank 0 = best). With two distinct
    # cards drawn uniformly, the card of rank i wins when it is drawn with a worse one:
    # P(i) = (n - 1 - i) / C(n, 2) = (3, 2, 1, 0) / 6 for n = 4.
    cards = [Card("a", 0, 9), Card("b", 1, 9), Card("c", 2, 9), Card("d", 3, 9)]
    policy = PowerOfTwoChoicesPolicy(seed=2024)
    draws = 6000
    counts = collections.Counter(policy.choose(cards).name for _ in range(draws))  # type: ignore[union-attr]
    assert counts["d"] == 0
    for name, p in zip("abc", (3 / 6, 2 / 6, 1 / 6)):
        sigma = math.sqrt(p * (1 - p) / draws)
        assert abs(counts[name] / draws - p) < 5 * sigma


def test_power_of_two_tie_goes_to_lower_latency_and_single_card_is_taken() -> None:
    # Only two non-full cards, so both are always drawn: same outstanding, lower latency wins.
    cards = [Card("a", 1, 2, latency=3.0), Card("b", 1, 2, latency=2.0), Card("c", 2, 2)]
    policy = PowerOfTwoChoicesPolicy(seed=1)
    assert {policy.choose(cards).name for _ in range(20)} == {"b"}  # type: ignore[union-attr]
    assert policy.choose([Card("a", 2, 2), Card("z", 0, 1)]).name == "z"  # type: ignore[union-attr]


# --- earliest finish ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(cards=card_sets())
def test_earliest_finish_minimises_expected_finish_time(cards: list[Card]) -> None:
    pick = EarliestFinishPolicy().choose(cards)
    finish = [(c.outstanding + 1) * c.latency for c in cards if c.outstanding < c.capacity]
    if finish:
        assert pick is not None and (pick.outstanding + 1) * pick.latency == min(finish)


def test_earliest_finish_ties_by_fewer_outstanding_then_rotation() -> None:
    # Both expect a new frame to finish in 2 s; b has fewer outstanding.
    cards = [Card("a", outstanding=1, latency=1.0), Card("b", outstanding=0, latency=2.0)]
    assert EarliestFinishPolicy().choose(cards).name == "b"  # type: ignore[union-attr]
    policy = EarliestFinishPolicy()
    identical = [Card("a"), Card("b"), Card("c")]
    assert names([policy.choose(identical) for _ in range(4)]) == ["a", "b", "c", "a"]


@dataclass
class SimCard(Card):
    service_s: float = 1.0
    busy_until: float | None = None  # completion time of the frame in service


def simulate(policy_name: str, service_s: list[float], horizon_s: float, capacity: int = 2) -> float:
    """Frames per second delivered by a saturated source through ``policy`` to cards of fixed
    service times, each serving its outstanding frames one at a time; latency measured by EWMA."""
    cards = [SimCard(f"card{i}", capacity=capacity, latency=1.0, service_s=s) for i, s in enumerate(service_s)]
    policy = make_policy(policy_name, seed=3)
    now, completed = 0.0, 0
    while True:
        while (card := policy.choose(cards)) is not None:  # saturated: send while the policy allows
            assert card.outstanding < card.capacity
            card.outstanding += 1
            if card.busy_until is None:
                card.busy_until = now + card.service_s
        now = min(c.busy_until for c in cards if c.busy_until is not None)
        if now > horizon_s:
            return completed / horizon_s
        for c in cards:
            if c.busy_until == now:
                completed += 1
                c.outstanding -= 1
                c.latency = ewma(c.latency, c.service_s, alpha=0.2)
                c.busy_until = now + c.service_s if c.outstanding else None


def test_earliest_finish_reaches_the_sum_of_rates_where_round_robin_is_dragged_down() -> None:
    service = [1.0, 1.0, 4.0]
    horizon = 2000.0
    ideal = sum(1 / s for s in service)  # every card busy all the time: 1 + 1 + 0.25
    # Strict rotation gives every card the same share, so the slowest card paces all of them.
    round_robin = len(service) * min(1 / s for s in service)  # 3 x 0.25
    assert simulate("earliest-finish", service, horizon) >= 0.9 * ideal
    assert simulate("round-robin", service, horizon) == pytest.approx(round_robin, rel=0.05)


# --- ewma -------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    start=st.floats(0.0, 100.0),
    sample=st.floats(0.0, 100.0),
    alpha=st.floats(0.01, 1.0),
    n=st.integers(1, 200),
)
def test_ewma_converges_geometrically_to_a_constant_sample(start: float, sample: float, alpha: float, n: int) -> None:
    value = start
    for _ in range(n):
        value = ewma(value, sample, alpha)
    assert value == pytest.approx(sample + (start - sample) * (1 - alpha) ** n, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    start=st.floats(0.0, 10.0),
    samples=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=20),
    alpha=st.floats(0.01, 1.0),
)
def test_ewma_weighs_recent_samples_by_alpha(start: float, samples: list[float], alpha: float) -> None:
    # Unrolled: the k-th newest sample (k = 0 newest) has weight alpha * (1 - alpha)^k.
    n = len(samples)
    expected = (1 - alpha) ** n * start + sum(alpha * (1 - alpha) ** (n - 1 - i) * x for i, x in enumerate(samples))
    value = start
    for x in samples:
        value = ewma(value, x, alpha)
    assert value == pytest.approx(expected, abs=1e-9)


def test_ewma_alpha_one_keeps_the_newest_and_bad_alpha_is_rejected() -> None:
    assert ewma(5.0, 2.0, 1.0) == 2.0
    assert ewma(0.0, 1.0, 0.25) == 0.25
    for alpha in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            ewma(1.0, 2.0, alpha)


# --- registry ----------------------------------------------------------------------------------------


def test_make_policy_builds_each_named_policy_and_rejects_unknown_names() -> None:
    assert set(POLICIES) == {"round-robin", "least-outstanding", "power-of-two", "earliest-finish"}
    for name in POLICIES:
        assert make_policy(name, seed=1).name == name
    with pytest.raises(ValueError, match="earliest-finish.*least-outstanding.*power-of-two.*round-robin"):
        make_policy("fastest")
