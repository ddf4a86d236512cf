"""Tests of the fault-injection campaign statistics (campaign/stats.py).

Expected values are published ones (Leveugle et al. 2009 sizes with the table quantiles; Newcombe,
Statistics in Medicine 17, 1998, Table II, for the Wilson interval) or are computed here by a route
independent of the module: the Wilson bounds as the roots of the score equation
(p - k/n)² = z² p(1-p)/n solved with the quadratic formula, the sample size with exact fractions.
"""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from campaign.stats import Interval, leveugle_sample_size, quantile, rate_summary, rule_of_three, wilson

Z95 = 1.96  # the table quantile for 95 %


def wilson_by_quadratic(k: int, n: int, z: float) -> tuple[float, float]:
    """The roots of (1 + z²/n) p² - (2k/n + z²/n) p + (k/n)² = 0, i.e. of (p - k/n)² = z² p(1-p)/n."""
    phat = k / n
    a = 1.0 + z * z / n
    b = -(2.0 * phat + z * z / n)
    c = phat * phat
    root = math.sqrt(b * b - 4.0 * a * c)
    return (-b - root) / (2.0 * a), (-b + root) / (2.0 * a)


# --- Leveugle sample size --------------------------------------------------------------------------


def test_infinite_space_one_percent_at_95_is_9604() -> None:
    # 1.96² x 0.25 / 0.01² = 3.8416 x 0.25 / 1e-4 = 9,604 exactly (floating point: 9,603.999999999998)
    assert leveugle_sample_size(None, 0.01, 0.95) == 9604


def test_infinite_space_one_percent_at_99_is_16590() -> None:
    # 2.576² x 0.25 / 0.01² = 6.635776 x 2,500 = 16,589.44 -> rounded up 16,590 (rounding to nearest gives 16,589)
    assert leveugle_sample_size(None, 0.01, 0.99) == 16590
    assert leveugle_sample_size(None, 0.01) == 16590  # 99 % is the default


def test_explicit_quantile_overrides_the_table() -> None:
    # exact 99 % quantile 2.5758293035489: 2.5758293035489² x 2,500 = 16,587.24 -> 16,588
    assert leveugle_sample_size(None, 0.01, 0.99, t=2.5758293035489) == 16588
    # t = 2.58: 6.6564 x 2,500 = 16,641 exactly (floating point must not push it to 16,642)
    assert leveugle_sample_size(None, 0.01, 0.99, t=2.58) == 16641
    # sizes that are integers but come out of floating point just above them must not gain one:
    # 2.58² x 0.25 / 0.03² = 1.6641 / 0.0009 = 1,849 (floating point: 1,849.0000000000002)
    assert leveugle_sample_size(None, 0.03, t=2.58) == 1849
    # 2² x 0.2 x 0.8 / 0.01² = 0.64 / 1e-4 = 6,400 (floating point: 6,400.000000000001)
    assert leveugle_sample_size(None, 0.01, p=0.2, t=2.0) == 6400


def test_level_outside_the_table_uses_the_exact_quantile() -> None:
    # 98 %: inv_cdf(0.99) = 2.3263478740408408; 2.3263478740408408² x 2,500 = 13,529.74 -> 13,530
    assert quantile(0.98) == pytest.approx(2.3263478740408408, abs=1e-12)
    assert leveugle_sample_size(None, 0.01, 0.98) == 13530
    assert quantile(0.95) == 1.96 and quantile(0.99) == 2.576 and quantile(0.90) == 1.645 and quantile(0.999) == 3.291


def test_finite_population_of_a_million_bits() -> None:
    # t² p(1-p) = 2.576² x 0.25 = 1.658944; e² (N-1) = 1e-4 x 999,999 = 99.9999
    # n = 1,000,000 x 1.658944 / (99.9999 + 1.658944) = 1,658,944 / 101.658844 = 16,318.74 -> 16,319
    assert leveugle_sample_size(1_000_000, 0.01, 0.99) == 16319


def test_non_default_proportion() -> None:
    # p = 0.1: 1.96² x 0.1 x 0.9 / 0.02² = 3.8416 x 0.09 / 4e-4 = 864.36 -> 865
    assert leveugle_sample_size(None, 0.02, 0.95, p=0.1) == 865


def test_population_of_one_needs_one_injection() -> None:
    assert leveugle_sample_size(1, 0.05, 0.95) == 1


@given(
    population=st.integers(min_value=1, max_value=10**9),
    margin=st.floats(min_value=1e-3, max_value=0.5),
    t=st.sampled_from([1.645, 1.96, 2.576, 3.291, 2.58]),
    p=st.floats(min_value=0.01, max_value=0.99),
)
def test_size_is_the_exact_formula_rounded_up(population: int, margin: float, t: float, p: float) -> None:
    spread = Fraction(t) ** 2 * Fraction(p) * (1 - Fraction(p))
    exact = population * spread / (Fraction(margin) ** 2 * (population - 1) + spread)
    size = leveugle_sample_size(population, margin, p=p, t=t)
    assert size <= population
    assert exact - Fraction(1, 10**6) <= size < exact + 1


@given(
    population=st.integers(min_value=1, max_value=10**12),
    growth=st.integers(min_value=1, max_value=10**6),
    margin=st.floats(min_value=1e-3, max_value=0.2),
    confidence=st.sampled_from([0.90, 0.95, 0.99, 0.999, 0.8, 0.975]),
)
def test_size_grows_with_the_population_to_the_infinite_space_size(
    population: int, growth: int, margin: float, confidence: float
) -> None:
    infinite = leveugle_sample_size(None, margin, confidence)
    small = leveugle_sample_size(population, margin, confidence)
    large = leveugle_sample_size(population * growth, margin, confidence)
    assert small <= min(population, large)
    assert large <= infinite
    # n0 - n = n0 (n0 - 1) / (N - 1 + n0) < n0² / N, plus one for the rounding up
    n0 = infinite
    assert infinite - small <= n0 * n0 / population + 1


def test_huge_population_gives_the_infinite_space_size() -> None:
    assert leveugle_sample_size(10**15, 0.01, 0.99) == leveugle_sample_size(None, 0.01, 0.99) == 16590


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"margin": 0.0}, r"margin must be in the open interval \(0, 1\)"),
        ({"margin": 1.0}, r"margin must be in the open interval \(0, 1\)"),
        ({"margin": -0.01}, r"margin must be in the open interval \(0, 1\)"),
        ({"confidence": 0.0}, r"confidence must be in the open interval \(0, 1\)"),
        ({"confidence": 1.0}, r"confidence must be in the open interval \(0, 1\)"),
        ({"p": 0.0}, r"p must be in the open interval \(0, 1\)"),
        ({"p": 1.0}, r"p must be in the open interval \(0, 1\)"),
        ({"population": 0}, r"population must be >= 1"),
        ({"population": -5}, r"population must be >= 1"),
        ({"t": 0.0}, r"t must be > 0"),
    ],
)
def test_sample_size_rejects_invalid_arguments(kwargs: dict[str, float], message: str) -> None:
    arguments = {"population": 1000, "margin": 0.01, "confidence": 0.99, "p": 0.5} | kwargs
    with pytest.raises(ValueError, match=message) as raised:
        leveugle_sample_size(**arguments)
    assert "\n" not in str(raised.value)


# --- Wilson score interval ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (1, 10, 0.0179, 0.4042),
        (5, 10, 0.2366, 0.7634),
        # Newcombe 1998, Table II, method 3 (score interval without continuity correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_values(k: int, n: int, low: float, high: float) -> None:
    interval = wilson(k, n, 0.95)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_wilson_81_of_263_by_the_quadratic() -> None:
    low, high = wilson_by_quadratic(81, 263, Z95)
    interval = wilson(81, 263)
    assert interval.low == pytest.approx(low, rel=1e-12)
    assert interval.high == pytest.approx(high, rel=1e-12)


def test_wilson_zero_of_16590() -> None:
    # k = 0: the upper bound is z² / (n + z²) = 3.8416 / 16,593.8416 = 2.31508e-4
    interval = wilson(0, 16590)
    assert interval.low == 0.0
    assert interval.high == pytest.approx(3.8416 / (16590 + 3.8416), rel=1e-12)
    assert interval.high == pytest.approx(2.315e-4, abs=5e-8)


def test_wilson_all_successes_reaches_one() -> None:
    interval = wilson(10, 10)
    assert interval.high == 1.0
    assert interval.low == pytest.approx(1.0 - 0.2775, abs=5e-5)


def test_wilson_at_99_percent_uses_2_576() -> None:
    low, high = wilson_by_quadratic(3, 40, 2.576)
    interval = wilson(3, 40, 0.99)
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-12)


def test_wilson_without_trials_is_the_unit_interval() -> None:
    assert wilson(0, 0) == Interval(0.0, 1.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 10), r"successes must be in \[0, trials\]"),
        ((11, 10), r"successes must be in \[0, trials\]"),
        ((0, -1), r"trials must be >= 0"),
        ((1, 10, 1.0), r"confidence must be in the open interval \(0, 1\)"),
    ],
)
def test_wilson_rejects_invalid_arguments(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wilson(*args)


@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=10**7),
    confidence=st.sampled_from([0.90, 0.95, 0.99, 0.999, 0.8]),
)
def test_wilson_holds_the_proportion_inside_the_unit_interval(data: st.DataObject, n: int, confidence: float) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    interval = wilson(k, n, confidence)
    assert 0.0 <= interval.low <= k / n <= interval.high <= 1.0
    assert interval.low < interval.high


@given(data=st.data(), n=st.integers(min_value=1, max_value=10**6))
def test_wilson_bounds_solve_the_score_equation(data: st.DataObject, n: int) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    interval = wilson(k, n)
    for bound in (interval.low, interval.high):
        # (bound - k/n)² = z² bound (1 - bound) / n
        assert (bound - k / n) ** 2 == pytest.approx(Z95 * Z95 * bound * (1.0 - bound) / n, rel=1e-6, abs=1e-15)


@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=10**4),
    factor=st.integers(min_value=2, max_value=100),
)
def test_wilson_narrows_as_trials_grow_at_a_fixed_proportion(data: st.DataObject, n: int, factor: int) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    narrow = wilson(k * factor, n * factor)
    wide = wilson(k, n)
    assert narrow.high - narrow.low < wide.high - wide.low


# --- rule of three -------------------------------------------------------------------------------------


def test_rule_of_three_at_16590_trials() -> None:
    # -ln(0.05) = 2.995732273553991; / 16,590 = 1.805746e-4 (3 / 16,590 = 1.808318e-4)
    assert rule_of_three(16590) == pytest.approx(2.995732273553991 / 16590, rel=1e-12)
    assert rule_of_three(16590) == pytest.approx(1.80575e-4, abs=5e-10)
    assert rule_of_three(16590) == pytest.approx(3 / 16590, rel=2e-3)


def test_rule_of_three_at_99_percent() -> None:
    # -ln(0.01) = 4.605170185988091
    assert rule_of_three(1000, 0.99) == pytest.approx(4.605170185988091e-3, rel=1e-12)


@given(n=st.integers(min_value=7, max_value=10**9), confidence=st.floats(min_value=0.5, max_value=0.999))
def test_rule_of_three_is_a_conservative_zero_event_bound(n: int, confidence: float) -> None:
    bound = rule_of_three(n, confidence)
    # seeing no event in n trials at rate `bound` has probability (1 - bound)^n <= exp(-n bound) = 1 - confidence
    assert n * math.log1p(-bound) <= math.log1p(-confidence) * (1.0 - 1e-12)
    # and it is not far above the exact (Clopper-Pearson) bound 1 - (1 - confidence)^(1/n) = 1 - exp(-bound):
    # x / (1 - exp(-x)) <= 1 + x for x > 0
    assert bound <= -math.expm1(-bound) * (1.0 + bound) * (1.0 + 1e-12)
    assert bound == pytest.approx(-math.log1p(-confidence) / n, rel=1e-12)


@pytest.mark.parametrize(("args", "message"), [((0,), r"trials must be >= 1"), ((10, 1.0), r"confidence must be")])
def test_rule_of_three_rejects_invalid_arguments(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule_of_three(*args)


# --- rate summary ----------------------------------------------------------------------------------------


def test_rate_summary_of_a_campaign() -> None:
    counts = {"masked": 15000, "due": 1590, "sdc": 0}
    summary = rate_summary(counts)
    assert set(summary) == {"masked", "due", "sdc"}
    due = summary["due"]
    assert due["count"] == 1590
    assert due["rate"] == pytest.approx(1590 / 16590, rel=1e-12)
    assert (due["low"], due["high"]) == pytest.approx(wilson_by_quadratic(1590, 16590, Z95), rel=1e-12)
    assert "upper_rule_of_three" not in due and "upper_rule_of_three" not in summary["masked"]
    sdc = summary["sdc"]
    assert sdc["count"] == 0 and sdc["rate"] == 0.0 and sdc["low"] == 0.0
    assert sdc["high"] == pytest.approx(3.8416 / (16590 + 3.8416), rel=1e-12)
    assert sdc["upper_rule_of_three"] == pytest.approx(2.995732273553991 / 16590, rel=1e-12)


def test_rate_summary_at_another_confidence() -> None:
    summary = rate_summary({"a": 3, "b": 37}, confidence=0.99)
    assert (summary["a"]["low"], summary["a"]["high"]) == pytest.approx(wilson_by_quadratic(3, 40, 2.576), rel=1e-12)


def test_rate_summary_of_nothing_is_empty() -> None:
    assert rate_summary({}) == {}
    assert rate_summary({"sdc": 0, "masked": 0}) == {}


def test_rate_summary_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match=r"count of 'sdc' must be >= 0"):
        rate_summary({"masked": 10, "sdc": -1})


@given(counts=st.dictionaries(st.text(min_size=1, max_size=5), st.integers(min_value=0, max_value=10**6), max_size=6))
def test_rate_summary_rates_add_up_to_one(counts: dict[str, int]) -> None:
    summary = rate_summary(counts)
    if sum(counts.values()) == 0:
        assert summary == {}
        return
    assert set(summary) == set(counts)
    assert math.fsum(row["rate"] for row in summary.values()) == pytest.approx(1.0, rel=1e-12)
    for name, row in summary.items():
        assert row["count"] == counts[name]
        assert row["low"] <= row["rate"] <= row["high"]
        assert ("upper_rule_of_three" in row) == (counts[name] == 0)
