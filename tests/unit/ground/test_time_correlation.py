"""The time-correlation fit (ground_sim/time_correlation.py) on synthetic round trips: an on-board
clock with a known offset and drift answers each request at a random instant of its round trip (so
the midpoint rule is wrong by up to half the round trip, as on a real link), stamped in CUC 4+2."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from flight.wire.pus import decode_cuc, encode_cuc
from ground_sim.time_correlation import Correlation, Sample, fit

T0 = 1_800_000_000.0


def samples(offset, drift_ppm, count, spacing, max_rtt, light_time, seed) -> list[Sample]:
    rng = random.Random(seed)
    taken, t = [], T0
    for _ in range(count):
        rtt = 2 * light_time + rng.uniform(0.0, max_rtt)
        answered = t + light_time + rng.uniform(0.0, rtt - 2 * light_time)
        onboard = answered + offset + drift_ppm * 1e-6 * (answered - T0)
        taken.append(Sample(t, t + rtt, decode_cuc(encode_cuc(onboard))))
        t += spacing * rng.uniform(0.5, 1.5)
    return taken


@settings(max_examples=300, deadline=None)
@given(st.floats(-1000.0, 1000.0), st.floats(-20000.0, 20000.0), st.integers(3, 80), st.floats(0.1, 600.0),
       st.floats(0.001, 0.5), st.sampled_from([0.0, 0.0025, 0.02]), st.integers(0, 2**32))
def test_the_fit_recovers_offset_and_drift_within_the_uncertainty_it_reports(offset, drift, count, spacing,
                                                                                max_rtt, light_time, seed):
    result = fit(samples(offset, drift, count, spacing, max_rtt, light_time, seed), light_time)
    true_offset = offset + drift * 1e-6 * (result.reference - T0)
    assert abs(result.offset_s - true_offset) <= result.offset_uncertainty_s
    assert abs(result.drift_ppm - drift) <= result.drift_uncertainty_ppm


def test_more_samples_over_a_longer_span_measure_drift_better():
    short = fit(samples(1.0, 30.0, 20, 1.0, 0.1, 0.0, 1))
    long = fit(samples(1.0, 30.0, 200, 30.0, 0.1, 0.0, 1))
    assert long.drift_uncertainty_ppm < short.drift_uncertainty_ppm / 10
    assert abs(long.drift_ppm - 30.0) < 1.0


def test_the_adjustment_takes_out_offset_and_drift():
    result = Correlation(2.0, 5000.0, 0.01, 10.0, 0.0, T0, 10, 100.0)
    offset, rate = result.adjustment(T0 + 10.0)
    assert offset == pytest.approx(-2.05)
    # corrected on-board time then runs at ground rate: (1 + drift)(1 + rate) = 1
    assert (1 + 5000e-6) * (1 + rate * 1e-6) == pytest.approx(1.0, abs=1e-12)


def test_too_few_samples_or_one_instant_are_refused():
    with pytest.raises(ValueError, match="3 or more"):
        fit(samples(0.0, 0.0, 2, 1.0, 0.1, 0.0, 0))
    with pytest.raises(ValueError, match="one time"):
        fit([Sample(T0, T0 + 0.1, T0)] * 3)
