"""Statistics for fault-injection campaigns: how many faults to inject, and what the outcomes say.

Radiation-test engineers decide from these numbers (is the SDC rate low enough to fly? is another
beam hour worth it?), so each one comes with the method behind it:

- **Sample size** (:func:`leveugle_sample_size`): the statistical fault injection of Leveugle,
  Calvez, Maistri and Vanhauwaert, "Statistical fault injection: quantified error and confidence",
  DATE 2009. Injecting n faults drawn at random from a fault space of N (bits x cycles) bounds the
  error on each outcome proportion by ±e with confidence c:
  ``n = N t² p(1-p) / (e² (N-1) + t² p(1-p))``, and ``n = t² p(1-p) / e²`` when the space is
  infinite. p = 0.5 is the worst case (the largest n) when nothing is known in advance.
- **Intervals** (:func:`wilson`): the Wilson score interval, not the normal ("Wald") approximation
  p ± z sqrt(p(1-p)/n). The Wald interval collapses to zero width at p = 0 and leaves [0, 1] near
  the edges, and near 0 is exactly where silent data corruption lives. Wilson's interval stays
  inside [0, 1] and keeps its coverage there (Newcombe, Statistics in Medicine 17, 1998).
- **Zero counts** (:func:`rule_of_three`): when no event of a class was seen in n trials, the
  one-sided upper bound ``-ln(1-c)/n`` (about 3/n at 95 %) says how rare it can still be.
- :func:`rate_summary` puts the three together for the outcome counts of a campaign.

Quantiles: the published tables (Leveugle's among them) use the rounded two-sided normal quantiles
1.645 (90 %), 1.96 (95 %), 2.576 (99 %) and 3.291 (99.9 %). Those four confidence levels use the
table values, so that the sizes here match the published ones (±1 % at 99 % -> 16,590, not the
16,587 of the exact quantile 2.5758...); any other level uses the exact quantile
``NormalDist().inv_cdf((1 + c) / 2)``. :func:`leveugle_sample_size` also accepts ``t`` explicitly.

Only the standard library is used.

| requirement | verified by |
|---|---|
| sample size matches published values (±1 %: 9,604 at 95 %, 16,590 at 99 %) | tests/unit/campaign/test_stats.py |
| finite fault space: Leveugle's formula, n <= N, n grows to the infinite size | tests/unit/campaign/test_stats.py |
| sample size rounds up, never down | tests/unit/campaign/test_stats.py |
| invalid margin, confidence, p, population raise ValueError naming the argument | tests/unit/campaign/test_stats.py |
| Wilson interval matches published values (Newcombe 1998; 0/10, 1/10, 5/10) | tests/unit/campaign/test_stats.py |
| Wilson interval holds k/n, stays in [0, 1], narrows as n grows; 0 trials: [0, 1] | tests/unit/campaign/test_stats.py |
| rule of three: -ln(1-c)/n, about 3/n at 95 %; at least one trial | tests/unit/campaign/test_stats.py |
| rate summary: count, rate, Wilson bounds per class; rule of three at zero | tests/unit/campaign/test_stats.py |
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

# Two-sided normal quantiles as printed in the published tables (Leveugle et al. 2009 among them).
TABLE_QUANTILES: dict[float, float] = {0.90: 1.645, 0.95: 1.96, 0.99: 2.576, 0.999: 3.291}

# A computed size within this relative distance above an integer is that integer: 1.96² x 0.25 / 0.01²
# is 9,604 exactly but comes out of floating point as 9,604.000000000002 or 9,603.999999999998.
_ROUNDING_SLACK = 1e-12


@dataclass(frozen=True)
class Interval:
    """A closed interval [low, high] of proportions."""

    low: float
    high: float


def _check_open_unit(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value!r}")


def quantile(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence``: the table value for 0.90, 0.95, 0.99 and
    0.999 (1.645, 1.96, 2.576, 3.291), else the exact ``NormalDist().inv_cdf((1 + confidence) / 2)``."""
    _check_open_unit("confidence", confidence)
    if confidence in TABLE_QUANTILES:
        return TABLE_QUANTILES[confidence]
    return NormalDist().inv_cdf((1.0 + confidence) / 2.0)


def leveugle_sample_size(
    population: int | None,
    margin: float,
    confidence: float = 0.99,
    p: float = 0.5,
    *,
    t: float | None = None,
) -> int:
    """The number of faults to inject so that each outcome proportion is known to ±``margin`` with
    probability ``confidence`` (Leveugle et al., DATE 2009).

    ``n = N t² p(1-p) / (e² (N-1) + t² p(1-p))`` with N = ``population`` (the size of the fault
    space) and e = ``margin``; ``population=None`` is an infinite space: ``n = t² p(1-p) / e²``.
    ``t`` is the two-sided normal quantile: when None, the table value the paper uses for 90, 95,
    99 and 99.9 % (1.645, 1.96, 2.576, 3.291), else the exact quantile of ``confidence``; pass ``t``
    to use another (e.g. 2.58). ``p`` is the expected proportion, 0.5 (the worst case) by default.
    The result is rounded up, and is at most ``population``.
    """
    _check_open_unit("margin", margin)
    _check_open_unit("confidence", confidence)
    _check_open_unit("p", p)
    if population is not None and population < 1:
        raise ValueError(f"population must be >= 1 (or None for an infinite fault space), got {population!r}")
    if t is None:
        t = quantile(confidence)
    elif not t > 0.0:
        raise ValueError(f"t must be > 0, got {t!r}")
    spread = t * t * p * (1.0 - p)
    if population is None:
        size = spread / (margin * margin)
    else:
        size = population * spread / (margin * margin * (population - 1) + spread)
    return math.ceil(size * (1.0 - _ROUNDING_SLACK))


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """The Wilson score interval for the proportion ``successes / trials``.

    ``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` with p = k/n and z the two-sided
    quantile of ``confidence`` (the table value 1.96 at 95 %, see :func:`quantile`). No trials say
    nothing: ``Interval(0.0, 1.0)``.
    """
    _check_open_unit("confidence", confidence)
    if trials < 0:
        raise ValueError(f"trials must be >= 0, got {trials!r}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, trials] = [0, {trials}], got {successes!r}")
    if trials == 0:
        return Interval(0.0, 1.0)
    z = quantile(confidence)
    z2 = z * z
    proportion = successes / trials
    scale = 1.0 + z2 / trials
    centre = (proportion + z2 / (2.0 * trials)) / scale
    half = z / scale * math.sqrt(proportion * (1.0 - proportion) / trials + z2 / (4.0 * trials * trials))
    # At k = 0 (k = n) the bound is 0 (1) exactly; floating point leaves a residue of ~1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def rule_of_three(trials: int, confidence: float = 0.95) -> float:
    """The one-sided upper confidence bound of a proportion after zero events in ``trials``:
    ``-ln(1 - confidence) / trials``, about 3 / trials at 95 % (hence the name)."""
    _check_open_unit("confidence", confidence)
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials!r}")
    return -math.log1p(-confidence) / trials


def rate_summary(counts: Mapping[str, int], confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """Per outcome class: ``count``, ``rate`` (count / total), ``low`` and ``high`` (Wilson), and for a
    class never seen also ``upper_rule_of_three``. The total is the sum of the counts; no outcomes at
    all give ``{}``."""
    _check_open_unit("confidence", confidence)
    for name, count in counts.items():
        if count < 0:
            raise ValueError(f"count of {name!r} must be >= 0, got {count!r}")
    total = sum(counts.values())
    if total == 0:
        return {}
    summary: dict[str, dict[str, float]] = {}
    for name, count in counts.items():
        interval = wilson(count, total, confidence)
        row: dict[str, float] = {"count": count, "rate": count / total, "low": interval.low, "high": interval.high}
        if count == 0:
            row["upper_rule_of_three"] = rule_of_three(total, confidence)
        summary[name] = row
    return summary
