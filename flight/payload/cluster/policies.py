"""Pluggable policies that choose which accelerator card gets the next inference frame.

The cluster asks ``policy.choose(cards)`` each time it has a frame to send. ``cards`` are the
cards eligible right now (healthy, powered, not parked) as :class:`CardView` objects, in a stable
order. A policy returns the card to send the frame to, or ``None`` to wait (the cluster asks
again when a result comes back or the eligible set changes). No policy ever returns a *full*
card, one with ``outstanding >= capacity``.

Several policies break ties "by rotation": they remember the name of the card they chose last,
and among tied cards take the first one whose name comes after it in name order, wrapping
around. Repeated ties therefore visit every tied card in turn instead of always the first one.

* ``round-robin`` (:class:`RoundRobinPolicy`): strict rotation in name order, the classic
  baseline. The card in turn is the first eligible card whose name follows the last card served
  (wrapping). If that card is full the policy returns ``None`` and waits for it; it does *not*
  skip to another card. That waiting is what makes it the baseline: every card gets the same
  share of frames, so a slow card sets the pace of all of them (with ``n`` cards the cluster
  runs at about ``n`` times the slowest card's rate). The place in the rotation is the last
  served *name*, so it survives changes of the eligible set: a card that left is simply not
  there to be visited, a card that joins gets its turn when the rotation reaches its name.
* ``least-outstanding`` (:class:`LeastOutstandingPolicy`): the non-full card with the fewest
  outstanding frames; ties by rotation.
* ``power-of-two`` (:class:`PowerOfTwoChoicesPolicy`): two distinct non-full cards drawn at
  random (a numpy ``Generator`` seeded in ``__init__``, so a run is reproducible from its seed
  and the sequence of card sets), then the one with fewer outstanding frames, on a tie the one
  with the lower latency, on a further tie the first drawn. A single non-full card is chosen
  directly, without a draw.
* ``earliest-finish`` (:class:`EarliestFinishPolicy`): the non-full card on which a new frame
  is expected to finish first, ``(outstanding + 1) * latency`` seconds from now; ties by fewer
  outstanding frames, then by rotation.

``latency`` is the card's measured seconds per frame, kept by the cluster with :func:`ewma`.

Requirements and how they are verified (``tests/unit/payload/test_policies.py``):

| requirement | verified by |
|---|---|
| never returns a full card | hypothesis: random card sets, every policy |
| ``None`` only when all are full (round-robin: the card in turn is full) | hypothesis; round-robin wait test |
| round-robin: strict name-order rotation, waits, keeps its place as the set changes | example tests |
| least-outstanding: a minimum, ties rotated | hypothesis; tie examples |
| power-of-two: reproducible from its seed | same seed -> same choices, other seed differs |
| power-of-two: the better of two distinct draws | rank frequencies = two-draw odds; worst never chosen |
| earliest-finish: least ``(outstanding + 1) * latency``, documented ties | hypothesis; tie examples |
| earliest-finish ~ sum of card rates; round-robin ~ n x slowest | deterministic discrete-event simulation |
| ``ewma``: converges to a constant, newest sample weighs ``alpha`` | closed forms (hypothesis) |
| ``make_policy``: each name; unknown names rejected, valid ones listed | example tests |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np


class CardView(Protocol):
    """What a policy may look at; the cluster's card objects satisfy it."""

    name: str
    outstanding: int  # frames dispatched to the card and not yet answered
    capacity: int  # the most frames it may have outstanding (pipeline depth); > 0
    latency: float  # measured seconds per frame (EWMA), > 0; a prior before any measurement


class Policy(Protocol):
    """A balancing policy: ``choose`` the card for the next frame, or ``None`` to wait."""

    name: str

    def choose(self, cards: Sequence[CardView]) -> CardView | None: ...


def ewma(previous: float, sample: float, alpha: float) -> float:
    """Exponentially weighted moving average: ``previous + alpha * (sample - previous)``.

    The newest sample has weight ``alpha``, the one before ``alpha * (1 - alpha)``, and so on;
    ``alpha = 1`` keeps only the newest sample. Repeating a constant sample ``s`` brings the
    estimate to ``s`` geometrically: the error is multiplied by ``1 - alpha`` at each update.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    return previous + alpha * (sample - previous)


def _has_room(card: CardView) -> bool:
    return card.outstanding < card.capacity


class _Rotation:
    """Remembers the last card chosen; orders names cyclically starting just after it."""

    def __init__(self) -> None:
        self.last: str | None = None

    def key(self, name: str) -> tuple[bool, str]:
        """Sort key: names after ``last`` first (ascending), then the others (ascending)."""
        return (self.last is not None and name <= self.last, name)

    def take(self, card: CardView) -> CardView:
        self.last = card.name
        return card


class RoundRobinPolicy:
    """Strict rotation in name order; waits (``None``) when the card in turn is full."""

    name = "round-robin"

    def __init__(self) -> None:
        self._rotation = _Rotation()

    def choose(self, cards: Sequence[CardView]) -> CardView | None:
        if not cards:
            return None
        in_turn = min(cards, key=lambda c: self._rotation.key(c.name))
        return self._rotation.take(in_turn) if _has_room(in_turn) else None


class LeastOutstandingPolicy:
    """Fewest outstanding frames among non-full cards; ties by rotation."""

    name = "least-outstanding"

    def __init__(self) -> None:
        self._rotation = _Rotation()

    def choose(self, cards: Sequence[CardView]) -> CardView | None:
        free = [c for c in cards if _has_room(c)]
        if not free:
            return None
        return self._rotation.take(min(free, key=lambda c: (c.outstanding, self._rotation.key(c.name))))


class PowerOfTwoChoicesPolicy:
    """The better (fewer outstanding, then lower latency) of two distinct random non-full cards."""

    name = "power-of-two"

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)

    def choose(self, cards: Sequence[CardView]) -> CardView | None:
        free = [c for c in cards if _has_room(c)]
        if len(free) <= 1:
            return free[0] if free else None
        first, second = (free[i] for i in self._rng.choice(len(free), size=2, replace=False))
        return min(first, second, key=lambda c: (c.outstanding, c.latency))


class EarliestFinishPolicy:
    """Least ``(outstanding + 1) * latency`` among non-full cards; ties by outstanding, then rotation."""

    name = "earliest-finish"

    def __init__(self) -> None:
        self._rotation = _Rotation()

    def choose(self, cards: Sequence[CardView]) -> CardView | None:
        free = [c for c in cards if _has_room(c)]
        if not free:
            return None
        return self._rotation.take(
            min(free, key=lambda c: ((c.outstanding + 1) * c.latency, c.outstanding, self._rotation.key(c.name)))
        )


POLICIES: dict[str, Callable[..., Policy]] = {
    RoundRobinPolicy.name: lambda seed=0: RoundRobinPolicy(),
    LeastOutstandingPolicy.name: lambda seed=0: LeastOutstandingPolicy(),
    PowerOfTwoChoicesPolicy.name: lambda seed=0: PowerOfTwoChoicesPolicy(seed),
    EarliestFinishPolicy.name: lambda seed=0: EarliestFinishPolicy(),
}
"""Policy name -> factory ``(seed: int = 0) -> Policy``; only random policies use the seed."""


def make_policy(name: str, seed: int = 0) -> Policy:
    """The policy called ``name``, seeded with ``seed`` if it is random."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown balancing policy {name!r}; valid: {', '.join(sorted(POLICIES))}") from None
    return factory(seed)
