"""Tests of the link model (ground_sim/link_model.py).

Statistical checks run with fixed seeds (so they are reproducible) and tolerances of 5 standard
deviations computed from the model's own distribution, not picked by hand:

- the loss indicator of a Gilbert-Elliott chain is correlated from frame to frame: the variance of
  its mean over n frames is [m(1-m) + 2 (loss_bad-loss_good)^2 pi_G pi_B lam/(1-lam)] / n, with
  lam = 1 - p_good_bad - p_bad_good (the lag-k autocovariance of the state is pi_G pi_B lam^k);
- a run of losses (loss_good 0, loss_bad 1) is a stay in BAD: geometric with p = p_bad_good,
  mean 1/p, variance (1-p)/p^2;
- bit flips are binomial: count over N bits has variance N ber (1-ber).
"""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings, strategies as st

from ground_sim.link_model import (
    MAX_FRAME_BITS, SPEED_OF_LIGHT_KM_S, DirectionStats, GilbertElliott, LinkConditions, LinkDirection, TokenBucket,
    flip_bits, one_way_delay,
)

SIGMAS = 5
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)


class CountingRandom(random.Random):
    """A Random that counts its calls of ``random()``."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return super().random()


def hamming(a: bytes, b: bytes) -> int:
    assert len(a) == len(b)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def loss_runs(losses: list[bool]) -> list[int]:
    """Lengths of the runs of consecutive losses."""
    runs, current = [], 0
    for lost in losses:
        if lost:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs


def loss_sigma(p_gb: float, p_bg: float, loss_good: float, loss_bad: float, n: int) -> float:
    """Standard deviation of the measured loss rate over n frames of the chain (see the module docstring)."""
    bad = p_gb / (p_gb + p_bg)
    good = 1.0 - bad
    m = bad * loss_bad + good * loss_good
    lam = 1.0 - p_gb - p_bg
    variance = m * (1.0 - m) + 2.0 * (loss_bad - loss_good) ** 2 * good * bad * lam / (1.0 - lam)
    return math.sqrt(variance / n)


# --- Gilbert-Elliott -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss_rate, mean_burst, seed", [(0.05, 4.0, 1), (0.2, 1.0, 2), (0.3, 2.5, 3)])
def test_from_mean_gives_the_loss_rate_and_the_mean_burst(loss_rate, mean_burst, seed):
    n = 200_000
    chain = GilbertElliott.from_mean(loss_rate, mean_burst, random.Random(seed))
    p_bg = 1.0 / mean_burst
    p_gb = loss_rate * p_bg / (1.0 - loss_rate)
    losses = [chain.lost() for _ in range(n)]

    measured = sum(losses) / n
    assert abs(measured - loss_rate) <= SIGMAS * loss_sigma(p_gb, p_bg, 0.0, 1.0, n), measured

    runs = loss_runs(losses)
    run_sigma = math.sqrt((1.0 - p_bg) / p_bg**2 / len(runs))
    assert abs(sum(runs) / len(runs) - mean_burst) <= SIGMAS * run_sigma, sum(runs) / len(runs)
    # geometric, not merely the right mean: P(run == 1) = p_bad_good
    single = sum(1 for r in runs if r == 1) / len(runs)
    assert abs(single - p_bg) <= SIGMAS * math.sqrt(p_bg * (1.0 - p_bg) / len(runs)), single


def test_a_general_chain_loses_its_mean_loss_and_each_state_its_own_loss():
    n = 200_000
    p_gb, p_bg, loss_good, loss_bad = 0.1, 0.3, 0.05, 0.5
    chain = GilbertElliott(p_gb, p_bg, loss_good=loss_good, loss_bad=loss_bad, rng=random.Random(4))
    expected = 0.25 * loss_bad + 0.75 * loss_good  # pi_B = 0.1 / (0.1 + 0.3)
    assert chain.mean_loss == pytest.approx(expected, rel=1e-12)
    frames = {GilbertElliott.GOOD: 0, GilbertElliott.BAD: 0}
    losses = {GilbertElliott.GOOD: 0, GilbertElliott.BAD: 0}
    for _ in range(n):
        state = chain.state
        frames[state] += 1
        losses[state] += chain.lost()
    measured = sum(losses.values()) / n
    assert abs(measured - expected) <= SIGMAS * loss_sigma(p_gb, p_bg, loss_good, loss_bad, n), measured
    # given the state, a frame is lost independently with that state's loss probability
    for state, p in ((GilbertElliott.GOOD, loss_good), (GilbertElliott.BAD, loss_bad)):
        rate = losses[state] / frames[state]
        assert abs(rate - p) <= SIGMAS * math.sqrt(p * (1 - p) / frames[state]), (state, rate)
    assert frames[GilbertElliott.BAD] / n == pytest.approx(0.25, abs=0.01)


@given(loss_rate=st.floats(0.0, 0.9), extra=st.floats(0.0, 100.0))
def test_from_mean_sets_the_stationary_loss_and_the_burst(loss_rate, extra):
    mean_burst = max(1.0, loss_rate / (1.0 - loss_rate)) + extra
    chain = GilbertElliott.from_mean(loss_rate, mean_burst, random.Random(0))
    assert chain.mean_loss == pytest.approx(loss_rate, rel=1e-9, abs=1e-15)
    assert 1.0 / chain.p_bad_good == pytest.approx(mean_burst, rel=1e-12)
    assert (chain.loss_good, chain.loss_bad) == (0.0, 1.0)


@settings(max_examples=20)
@given(mean_burst=st.floats(1.0, 1000.0), seed=SEEDS)
def test_loss_rate_zero_never_loses(mean_burst, seed):
    chain = GilbertElliott.from_mean(0.0, mean_burst, random.Random(seed))
    assert not any(chain.lost() for _ in range(20_000))
    assert chain.mean_loss == 0.0


@settings(max_examples=20)
@given(seed=SEEDS)
def test_the_same_seed_gives_the_same_losses(seed):
    def losses(s: int) -> list[bool]:
        chain = GilbertElliott.from_mean(0.2, 3.0, random.Random(s))
        return [chain.lost() for _ in range(2_000)]

    assert losses(seed) == losses(seed)
    assert losses(seed) != losses(seed + 1)  # the sequence does depend on the seed (P(equal) is negligible)


# --- bit errors ------------------------------------------------------------------------------------------------


@given(data=st.binary(max_size=512), seed=SEEDS)
def test_ber_zero_leaves_the_frame_alone(data, seed):
    assert flip_bits(data, 0.0, random.Random(seed)) == (data, 0)


@given(data=st.binary(max_size=512), ber=st.floats(0.0, 1.0), seed=SEEDS)
def test_the_count_is_the_hamming_distance(data, ber, seed):
    out, flips = flip_bits(data, ber, random.Random(seed))
    assert isinstance(out, bytes) and len(out) == len(data)
    assert hamming(data, out) == flips
    assert flip_bits(data, ber, random.Random(seed)) == (out, flips)  # reproducible from the seed


def test_ber_one_flips_every_bit():
    assert flip_bits(b"\x00\xff\x5a", 1.0, random.Random(0)) == (b"\xff\x00\xa5", 24)


def test_flips_match_the_ber_spread_evenly_and_binomially():
    ber, frames, octets = 1e-3, 2_000, 1024
    rng = random.Random(5)
    data = bytes(random.Random(6).randbytes(octets))
    per_frame, per_bit, per_eighth = [], [0] * 8, [0] * 8
    for _ in range(frames):
        out, flips = flip_bits(data, ber, rng)
        per_frame.append(flips)
        diff = int.from_bytes(data, "big") ^ int.from_bytes(out, "big")
        while diff:  # each flipped bit; position 0 is the first (most significant) bit of the frame
            low = diff & -diff
            position = octets * 8 - low.bit_length()
            per_bit[position % 8] += 1
            per_eighth[position * 8 // (octets * 8)] += 1
            diff ^= low
    bits = frames * octets * 8
    total = sum(per_frame)
    assert abs(total - ber * bits) <= SIGMAS * math.sqrt(bits * ber * (1 - ber)), total
    # each bit of an octet, and each eighth of the frame, takes 1/8 of the flips
    for counts in (per_bit, per_eighth):
        assert sum(counts) == total
        for count in counts:
            assert abs(count - total / 8) <= SIGMAS * math.sqrt(total * (1 / 8) * (7 / 8)), counts
    # independent flips: the per-frame count has the binomial variance (~Poisson: Var(s^2) ~ (lam + 2 lam^2) / N)
    lam = octets * 8 * ber
    mean = total / frames
    variance = sum((f - mean) ** 2 for f in per_frame) / (frames - 1)
    assert abs(variance - lam * (1 - ber)) <= SIGMAS * math.sqrt((lam + 2 * lam**2) / frames), variance


@pytest.mark.parametrize("ber", [1e-6, 1e-3])
def test_one_draw_per_frame_plus_one_per_flip(ber):
    rng = CountingRandom(7)
    data = bytes(1024)
    frames, flips = 1_000, 0
    for _ in range(frames):
        flips += flip_bits(data, ber, rng)[1]
    assert rng.draws == frames + flips
    if ber == 1e-3:
        assert flips > 0


def test_a_tiny_ber_never_overflows():
    assert flip_bits(bytes(1024), 5e-324, random.Random(0)) == (bytes(1024), 0)


# --- transmitter -----------------------------------------------------------------------------------------------


@given(rate=st.floats(1e3, 1e9), start=st.floats(0.0, 1e5),
       frames=st.lists(st.tuples(st.integers(1, MAX_FRAME_BITS), st.floats(0.0, 3.0)), min_size=1, max_size=50))
def test_the_transmitter_serializes_at_its_rate(rate, start, frames):
    bucket = TokenBucket(rate)
    now, previous, total_bits, nows, releases = start, -math.inf, 0, [], []
    for bits, gap_in_frames in frames:
        now += gap_in_frames * bits / rate  # gaps around one frame time: sometimes queued, sometimes idle
        release = bucket.release_time(bits, now)
        assert release >= previous  # non-decreasing
        assert release >= now + bits / rate  # never before its own transmission time
        if now >= previous:  # idle transmitter: the frame starts at once
            assert release == now + bits / rate
        else:  # busy: it starts when the previous frame ends, not later
            assert release == previous + bits / rate
        assert bucket.backlog(now) == release - now
        total_bits += bits
        previous = release
        nows.append(now)
        releases.append(release)
    # throughput never above the rate (up to float rounding: a few ulps per addition)
    needed = nows[0] + total_bits / rate
    assert releases[-1] >= needed - 4 * len(frames) * math.ulp(needed)
    assert bucket.backlog(releases[-1]) == 0.0
    assert bucket.backlog(releases[-1] + 1.0) == 0.0


def test_backlog_counts_down_the_queued_transmission():
    bucket = TokenBucket(1000.0)
    assert bucket.backlog(0.0) == 0.0
    assert bucket.release_time(1000, 0.0) == 1.0
    assert bucket.release_time(500, 0.25) == 1.5
    assert bucket.backlog(0.5) == 1.0
    assert bucket.backlog(2.0) == 0.0
    assert bucket.release_time(1000, 3.0) == 4.0  # idle since 1.5: starts at once


# --- light time ------------------------------------------------------------------------------------------------


def test_one_way_delay():
    assert one_way_delay(1000.0) == pytest.approx(3.3356409519815205e-3, rel=1e-12)
    assert round(one_way_delay(1000.0) * 1e3, 3) == 3.336
    assert one_way_delay(0.0) == 0.0
    assert one_way_delay(SPEED_OF_LIGHT_KM_S) == 1.0


# --- one direction ---------------------------------------------------------------------------------------------


CONDITIONS = st.builds(LinkConditions, rate_bps=st.floats(1e3, 1e8), loss_rate=st.floats(0.0, 0.5),
                       mean_burst=st.floats(1.0, 20.0), ber=st.floats(0.0, 0.0099))
FRAMES = st.lists(st.tuples(st.binary(min_size=1, max_size=256), st.floats(0.0, 0.05), st.floats(300.0, 40_000.0)),
                  min_size=1, max_size=60)


def run(conditions: LinkConditions, seed: int, frames, start: float = 0.0):
    direction = LinkDirection(conditions, random.Random(seed))
    now, results = start, []
    for frame, gap, slant in frames:
        now += gap
        results.append((now, direction.submit(frame, now, slant)))
    return direction, results


@given(conditions=CONDITIONS, seed=SEEDS, frames=FRAMES)
def test_counters_add_up_and_arrivals_come_after_transmission_and_light_time(conditions, seed, frames):
    direction, results = run(conditions, seed, frames)
    stats = direction.stats
    assert stats.frames == len(frames) == stats.lost + stats.delivered
    assert stats.octets == sum(len(frame) for frame, _, _ in frames)
    assert stats.lost == sum(1 for _, r in results if r is None)
    flipped = corrupted = 0
    for (frame, _, slant), (now, result) in zip(frames, results):
        if result is None:
            continue
        arrival, delivered = result
        assert arrival >= now + len(frame) * 8 / conditions.rate_bps + one_way_delay(slant)
        assert len(delivered) == len(frame)
        distance = hamming(frame, delivered)
        flipped += distance
        corrupted += distance > 0
    assert (stats.bits_flipped, stats.corrupted) == (flipped, corrupted)


@given(conditions=CONDITIONS, seed=SEEDS, frames=FRAMES)
def test_the_same_seed_gives_the_same_run(conditions, seed, frames):
    first, results = run(conditions, seed, frames)
    second, again = run(conditions, seed, frames)
    assert results == again
    assert first.stats == second.stats


@settings(max_examples=30)
@given(seed=SEEDS, ber=st.floats(1e-4, 0.0099))
def test_the_loss_pattern_of_a_seed_does_not_depend_on_the_ber(seed, ber):
    frames = [(bytes(200), 0.001, 1000.0)] * 300
    lost = [[r is None for _, r in run(LinkConditions(1e6, 0.2, 3.0, b), seed, frames)[1]] for b in (0.0, ber)]
    assert lost[0] == lost[1]
    assert any(lost[0])


def test_lost_frames_still_occupy_the_transmitter():
    rate, octets, slant = 1e5, 100, 2000.0
    direction = LinkDirection(LinkConditions(rate, loss_rate=0.5, mean_burst=2.0), random.Random(8))
    results = [direction.submit(bytes(octets), 0.0, slant) for _ in range(200)]
    assert 0 < direction.stats.lost < 200
    for index, result in enumerate(results):
        if result is not None:  # the (index+1)-th frame in the queue, counting the lost ones before it
            assert result[0] == pytest.approx((index + 1) * octets * 8 / rate + one_way_delay(slant), rel=1e-12)
            assert result[1] == bytes(octets)  # ber 0: delivered intact
    assert direction.stats.corrupted == direction.stats.bits_flipped == 0


def test_a_direction_loses_and_corrupts_at_its_conditions():
    n, octets = 50_000, 128
    conditions = LinkConditions(1e6, loss_rate=0.1, mean_burst=2.0, ber=1e-3)
    direction = LinkDirection(conditions, random.Random(9))
    lost = [direction.submit(bytes(octets), i * 1e-3, 1000.0) is None for i in range(n)]
    stats = direction.stats
    p_bg = 1 / 2.0
    p_gb = 0.1 * p_bg / 0.9
    assert abs(stats.lost / n - 0.1) <= SIGMAS * loss_sigma(p_gb, p_bg, 0.0, 1.0, n), stats.lost / n
    runs = loss_runs(lost)
    assert abs(sum(runs) / len(runs) - 2.0) <= SIGMAS * math.sqrt((1 - p_bg) / p_bg**2 / len(runs))
    bits = stats.delivered * octets * 8
    assert abs(stats.bits_flipped - 1e-3 * bits) <= SIGMAS * math.sqrt(bits * 1e-3 * (1 - 1e-3)), stats.bits_flipped
    # P(frame corrupted) = 1 - (1-ber)^bits_per_frame
    p_corrupt = 1 - (1 - 1e-3) ** (octets * 8)
    sigma = math.sqrt(stats.delivered * p_corrupt * (1 - p_corrupt))
    assert abs(stats.corrupted - stats.delivered * p_corrupt) <= SIGMAS * sigma, stats.corrupted


def test_stats_start_at_zero():
    assert LinkDirection(LinkConditions(1e6), random.Random(0)).stats == DirectionStats()


# --- validation ------------------------------------------------------------------------------------------------


def rng() -> random.Random:
    return random.Random(0)


BAD_ARGUMENTS = [
    ("slant_range_km", lambda: one_way_delay(-1.0)),
    ("slant_range_km", lambda: one_way_delay(math.nan)),
    ("p_good_bad", lambda: GilbertElliott(-0.1, 0.5, rng=rng())),
    ("p_good_bad", lambda: GilbertElliott(1.5, 0.5, rng=rng())),
    ("p_bad_good", lambda: GilbertElliott(0.1, 0.0, rng=rng())),
    ("p_bad_good", lambda: GilbertElliott(0.1, 1.01, rng=rng())),
    ("loss_good", lambda: GilbertElliott(0.1, 0.5, loss_good=-0.01, rng=rng())),
    ("loss_bad", lambda: GilbertElliott(0.1, 0.5, loss_bad=1.5, rng=rng())),
    ("loss_bad", lambda: GilbertElliott(0.1, 0.5, loss_bad=math.nan, rng=rng())),
    ("loss_rate", lambda: GilbertElliott.from_mean(1.0, 4.0, rng())),
    ("loss_rate", lambda: GilbertElliott.from_mean(-0.1, 4.0, rng())),
    ("mean_burst", lambda: GilbertElliott.from_mean(0.1, 0.5, rng())),
    ("mean_burst", lambda: GilbertElliott.from_mean(0.9, 2.0, rng())),  # p_good_bad would be 4.5
    ("ber", lambda: flip_bits(b"x", -1e-9, rng())),
    ("ber", lambda: flip_bits(b"x", 1.5, rng())),
    ("rate_bps", lambda: TokenBucket(0.0)),
    ("rate_bps", lambda: TokenBucket(math.inf)),
    ("burst_bits", lambda: TokenBucket(1e6, 0)),
    ("bits", lambda: TokenBucket(1e6).release_time(MAX_FRAME_BITS + 1, 0.0)),
    ("bits", lambda: TokenBucket(1e6).release_time(0, 0.0)),
    ("now", lambda: TokenBucket(1e6).release_time(8, math.nan)),
    ("rate_bps", lambda: LinkConditions(-5.0)),
    ("loss_rate", lambda: LinkConditions(1e6, loss_rate=1.0)),
    ("mean_burst", lambda: LinkConditions(1e6, mean_burst=0.99)),
    ("mean_burst", lambda: LinkConditions(1e6, loss_rate=0.75, mean_burst=2.0)),
    ("ber", lambda: LinkConditions(1e6, ber=0.01)),
    ("ber", lambda: LinkConditions(1e6, ber=-0.001)),
    ("bits", lambda: LinkDirection(LinkConditions(1e6), rng()).submit(bytes(2049), 0.0, 1000.0)),
    ("slant_range_km", lambda: LinkDirection(LinkConditions(1e6), rng()).submit(bytes(10), 0.0, -1.0)),
]


@pytest.mark.parametrize("name, call", BAD_ARGUMENTS)
def test_bad_arguments_raise_a_one_line_value_error_naming_them(name, call):
    with pytest.raises(ValueError) as raised:
        call()
    message = str(raised.value)
    assert message.startswith(f"{name} must be")
    assert "\n" not in message


def test_check_catches_a_field_changed_after_construction():
    conditions = LinkConditions(1e6)
    conditions.ber = 0.5
    with pytest.raises(ValueError, match="^ber must be"):
        conditions.check()
    with pytest.raises(ValueError, match="^ber must be"):
        LinkDirection(conditions, rng())


def test_a_rejected_submission_changes_nothing():
    direction = LinkDirection(LinkConditions(1e6), rng())
    with pytest.raises(ValueError):
        direction.submit(bytes(2049), 0.0, 1000.0)
    assert direction.stats == DirectionStats()
    assert direction.bucket.backlog(0.0) == 0.0


def test_the_edges_of_the_ranges_are_accepted():
    GilbertElliott(0.0, 1.0, loss_good=1.0, loss_bad=0.0, rng=rng())
    GilbertElliott.from_mean(0.5, 1.0, rng())  # p_good_bad exactly 1
    LinkConditions(1e-3, loss_rate=0.0, mean_burst=1.0, ber=0.0)
    TokenBucket(1.0).release_time(MAX_FRAME_BITS, -5.0)
