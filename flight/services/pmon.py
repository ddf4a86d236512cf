"""One parameter monitoring definition at work: its check, its repetition count, its status.

Each check of a sample gives a raw status (:func:`evaluate`): within or beyond the limits, the
expected value or not, the change since the previous sample within or beyond the thresholds,
INVALID for a value that is not a finite number. A new status is confirmed only once
``repetitions`` consecutive checks gave it (PUS-C's repetition number); the confirmation is a
:class:`~flight.wire.monitoring.Transition` from the status held before. A definition starts,
and starts again when enabled or modified, UNCHECKED with its count at zero; a delta check takes
its first sample as the reference and checks from the second. Checks run every ``interval`` calls
of :meth:`PmonState.sample`, the first at the first call.

| requirement | verified by |
| each check type gives its statuses; a status is confirmed after exactly repetitions checks |   |
|   (hypothesis: the transitions equal a simple model's for random sequences) | tests/unit/services/test_monitoring.py |
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from flight.wire.monitoring import CheckType, PmonDefinition, Status, Transition


def evaluate(definition: PmonDefinition, value: object, previous: float | None) -> tuple[Status, float]:
    """The raw status of one check and the quantity it judged (the value, or its change)."""
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        return Status.INVALID, math.nan
    if definition.check is CheckType.EXPECTED_VALUE:
        if not isinstance(value, numbers.Integral):  # (booleans are integral)
            return Status.INVALID, float(value)
        matches = int(value) & definition.mask == definition.expected
        return (Status.EXPECTED_VALUE if matches else Status.UNEXPECTED_VALUE), float(value)
    if definition.check is CheckType.DELTA:
        if previous is None:
            return Status.UNCHECKED, math.nan
        delta = float(value) - previous
        if delta < definition.low:
            return Status.BELOW_LOW_THRESHOLD, delta
        return (Status.ABOVE_HIGH_THRESHOLD if delta > definition.high else Status.WITHIN_THRESHOLD), delta
    if value < definition.low:
        return Status.BELOW_LOW_LIMIT, float(value)
    return (Status.ABOVE_HIGH_LIMIT if value > definition.high else Status.WITHIN_LIMITS), float(value)


def limit_crossed(definition: PmonDefinition, status: Status, previous: Status) -> float:
    """The limit a transition crossed: the one it went beyond, or came back within (NaN: none)."""
    which = status if status.violation else previous
    if which in (Status.BELOW_LOW_LIMIT, Status.BELOW_LOW_THRESHOLD):
        return definition.low
    if which in (Status.ABOVE_HIGH_LIMIT, Status.ABOVE_HIGH_THRESHOLD):
        return definition.high
    if definition.check is CheckType.EXPECTED_VALUE:
        return float(definition.expected)
    return math.nan


@dataclass
class PmonState:
    """A definition, whether it is enabled, and where its checking stands."""

    definition: PmonDefinition
    enabled: bool = False
    status: Status = Status.UNCHECKED
    transition: Transition | None = None   # the last confirmed one (the out-of-limits list's entry)
    _candidate: Status | None = field(default=None, repr=False)
    _count: int = field(default=0, repr=False)
    _reference: float | None = field(default=None, repr=False)
    _wait: int = field(default=0, repr=False)

    def reset(self) -> None:
        """Back to UNCHECKED, nothing counted, no reference sample: as enabled afresh."""
        self.status, self.transition = Status.UNCHECKED, None
        self._candidate, self._count, self._reference, self._wait = None, 0, None, 0

    def sample(self, value: object, now: float) -> Transition | None:
        """One call per monitoring cycle: check ``value`` if the interval says so; the transition
        this check confirmed, if any."""
        if self._wait:
            self._wait -= 1
            return None
        self._wait = self.definition.interval - 1
        raw, judged = evaluate(self.definition, value, self._reference)
        if self.definition.check is CheckType.DELTA and raw is not Status.INVALID:
            self._reference = float(value)
        if raw is Status.UNCHECKED or raw is self.status:
            self._candidate, self._count = None, 0
            return None
        self._count = self._count + 1 if raw is self._candidate else 1
        self._candidate = raw
        if self._count < self.definition.repetitions:
            return None
        d = self.definition
        transition = Transition(d.pmon_id, d.channel_id, d.check, judged,
                                limit_crossed(d, raw, self.status), self.status, raw, now)
        self.status, self.transition = raw, transition
        self._candidate, self._count = None, 0
        return transition
