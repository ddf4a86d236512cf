"""A pure, deterministic model of one direction of a space-ground radio link.

A real CCSDS link does not lose frames one at a time and independently: fades, multipath and
interference come in bursts, so losses cluster (a frame after a lost frame is much more likely to
be lost too), and the frames that do get through can carry random bit errors. This module models
both, plus what a radio takes in time, so the ground and flight protocol layers (FOP-1/FARM-1,
the TM downlink, the CLCW) can be exercised against losses and corruption that look like a real
pass, reproducibly:

- :func:`one_way_delay`: the light time over the slant range.
- :class:`GilbertElliott`: the two-state (GOOD/BAD) Markov chain of burst losses;
  :meth:`GilbertElliott.from_mean` sets it from a loss rate and a mean burst length.
- :func:`flip_bits`: independent bit errors at a bit error rate, drawn gap by gap (geometric
  distribution), so a BER of 1e-6 costs one draw per frame, not one per bit.
- :class:`TokenBucket`: the transmitter's serialization at its bit rate (frames go one after
  another; see the class for why it carries that name).
- :class:`LinkConditions` / :class:`LinkDirection`: all of the above for one direction, with
  counters (:class:`DirectionStats`).

Nothing here opens a socket, starts a thread or reads a clock: every call takes the simulated time
``now`` (seconds) and all randomness comes from a :class:`random.Random` given by the caller, so a
run is reproduced exactly from its seed. A frame delivered with flipped bits is delivered as it
is: rejecting it is the receiver's job (its frame CRC / FECF), checked elsewhere, not here.

| requirement | verified by |
|---|---|
| Gilbert-Elliott from (loss rate, mean burst): over 200,000 frames the measured loss, the mean |   |
|   run of losses and P(run of 1) are within 5 sigma of the asked values; a general chain loses |   |
|   its ``mean_loss``, each state its own; loss 0 never loses; same seed, same sequence |   |
|   | tests/unit/ground/test_link_model.py |
| flip_bits: the count returned is the Hamming distance from the input; BER 0 leaves the frame |   |
|   alone; the flips match BER x bits, spread evenly over the frame and over the bits of an |   |
|   octet, with binomial variance per frame; one draw per frame + one per flip | tests/unit/ground/test_link_model.py |
| TokenBucket: releases non-decreasing, each >= its submission + bits/rate, throughput never |   |
|   above the rate, no idle time while a frame waits; backlog = queued time | tests/unit/ground/test_link_model.py |
| one_way_delay: 1000 km -> 3.336 ms | tests/unit/ground/test_link_model.py |
| LinkDirection: frames == lost + delivered, arrival >= now + bits/rate + delay, the counts of |   |
|   corrupted frames and flipped bits match the Hamming distances, lost frames still occupy the |   |
|   transmitter, loss and errors follow the conditions (5 sigma over 50,000 frames), the loss |   |
|   pattern of a seed does not depend on the BER, same seed same run | tests/unit/ground/test_link_model.py |
| every bad argument raises ValueError with a one-line message naming it; a rejected frame |   |
|   changes nothing | tests/unit/ground/test_link_model.py |
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

SPEED_OF_LIGHT_KM_S = 299792.458
MAX_FRAME_OCTETS = 2048  # the longest TM transfer frame (CCSDS 132.0-B-3), as ground_sim.link
MAX_FRAME_BITS = MAX_FRAME_OCTETS * 8


def _check_range(name: str, value: float, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> None:
    """Raise ValueError (one line, naming ``name`` and the range) unless low <=/< value <=/< high."""
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):  # NaN fails both comparisons
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


def _check_burst_reachable(loss_rate: float, mean_burst: float) -> None:
    """A stationary loss ``loss_rate`` with bursts of mean ``mean_burst`` needs p_good_bad <= 1."""
    least = loss_rate / (1.0 - loss_rate)
    if mean_burst < least:
        raise ValueError(f"mean_burst must be >= loss_rate/(1-loss_rate) = {least:g} for loss_rate {loss_rate:g}, "
                         f"got {mean_burst!r}")


def one_way_delay(slant_range_km: float) -> float:
    """Light time in seconds over ``slant_range_km`` (>= 0)."""
    _check_range("slant_range_km", slant_range_km, 0.0, math.inf, high_open=True)
    return slant_range_km / SPEED_OF_LIGHT_KM_S


class GilbertElliott:
    """Two-state burst-loss channel: per frame, lost with ``loss_good`` / ``loss_bad`` in the
    GOOD / BAD state, then GOOD -> BAD with ``p_good_bad`` and BAD -> GOOD with ``p_bad_good``.

    The chain starts in GOOD. With loss_good 0 and loss_bad 1 a run of losses is a stay in BAD:
    geometric, of mean 1/p_bad_good. ``rng`` is keyword-only and required.
    """

    GOOD = 0
    BAD = 1

    def __init__(self, p_good_bad: float, p_bad_good: float, loss_good: float = 0.0, loss_bad: float = 1.0,
                 *, rng: random.Random) -> None:
        _check_range("p_good_bad", p_good_bad, 0.0, 1.0)
        _check_range("p_bad_good", p_bad_good, 0.0, 1.0, low_open=True)
        _check_range("loss_good", loss_good, 0.0, 1.0)
        _check_range("loss_bad", loss_bad, 0.0, 1.0)
        self.p_good_bad = p_good_bad
        self.p_bad_good = p_bad_good
        self.loss_good = loss_good
        self.loss_bad = loss_bad
        self.rng = rng
        self.state = self.GOOD

    @classmethod
    def from_mean(cls, loss_rate: float, mean_burst: float, rng: random.Random) -> GilbertElliott:
        """The chain with loss_good 0, loss_bad 1, stationary loss ``loss_rate`` (in [0, 1)) and mean
        run of losses ``mean_burst`` (>= 1, and >= loss_rate/(1-loss_rate) so p_good_bad <= 1)."""
        _check_range("loss_rate", loss_rate, 0.0, 1.0, high_open=True)
        _check_range("mean_burst", mean_burst, 1.0, math.inf, high_open=True)
        _check_burst_reachable(loss_rate, mean_burst)
        p_bad_good = 1.0 / mean_burst
        p_good_bad = min(1.0, loss_rate * p_bad_good / (1.0 - loss_rate))
        return cls(p_good_bad, p_bad_good, 0.0, 1.0, rng=rng)

    @property
    def mean_loss(self) -> float:
        """Stationary probability that a frame is lost."""
        bad = self.p_good_bad / (self.p_good_bad + self.p_bad_good)
        return bad * self.loss_bad + (1.0 - bad) * self.loss_good

    def lost(self) -> bool:
        """Advance one frame: whether it is lost (in the current state), then the state transition."""
        if self.state == self.GOOD:
            loss, leave, other = self.loss_good, self.p_good_bad, self.BAD
        else:
            loss, leave, other = self.loss_bad, self.p_bad_good, self.GOOD
        is_lost = loss >= 1.0 or (loss > 0.0 and self.rng.random() < loss)
        if self.rng.random() < leave:
            self.state = other
        return is_lost


def flip_bits(data: bytes, ber: float, rng: random.Random) -> tuple[bytes, int]:
    """Flip each bit of ``data`` independently with probability ``ber`` (in [0, 1]).

    Returns the new octets and how many bits flipped. The gap to the next flipped bit is drawn
    from the geometric distribution (one draw per flip, plus one that runs past the end), so the
    cost grows with the flips, not the bits; bit 0 is the most significant bit of octet 0.
    """
    _check_range("ber", ber, 0.0, 1.0)
    n_bits = len(data) * 8
    if ber == 0.0 or n_bits == 0:
        return bytes(data), 0
    if ber == 1.0:
        return bytes(b ^ 0xFF for b in data), n_bits
    out = bytearray(data)
    log_keep = math.log1p(-ber)
    flips = 0
    position = -1
    while True:
        kept = math.log1p(-rng.random()) / log_keep  # bits kept before the next flip (may be inf for a tiny ber)
        if kept >= n_bits - position - 1:
            return bytes(out), flips
        position += 1 + int(kept)
        out[position >> 3] ^= 0x80 >> (position & 7)
        flips += 1


class TokenBucket:
    """The transmitter's serialization at ``rate_bps`` bits per simulated second.

    Named for its (rate, burst) parameters, but the semantics are a serializing rate limiter, not
    a token bucket that lets a burst out at once: the radio is one transmitter, so frames go out
    one after another, each taking bits/rate seconds, starting when it is submitted or when the
    previous frame has finished (``free_at``), whichever is later. ``burst_bits`` is the largest
    frame accepted (as a bucket of that depth could never pass a larger one).
    """

    def __init__(self, rate_bps: float, burst_bits: int = MAX_FRAME_BITS) -> None:
        _check_range("rate_bps", rate_bps, 0.0, math.inf, low_open=True, high_open=True)
        _check_range("burst_bits", burst_bits, 1, math.inf, high_open=True)
        self.rate_bps = rate_bps
        self.burst_bits = burst_bits
        self.free_at = -math.inf  # when the transmitter finishes the frames accepted so far

    def release_time(self, bits: int, now: float) -> float:
        """Accept a frame of ``bits`` at ``now``: the time (>= now) its transmission finishes."""
        _check_range("bits", bits, 1, self.burst_bits)
        _check_range("now", now, -math.inf, math.inf, low_open=True, high_open=True)
        start = max(now, self.free_at)
        self.free_at = start + bits / self.rate_bps
        return self.free_at

    def backlog(self, now: float) -> float:
        """Seconds of transmission still queued at ``now`` (0 when the transmitter is idle)."""
        return max(0.0, self.free_at - now)


@dataclass
class LinkConditions:
    """One direction's conditions: bit rate, burst loss (rate, mean burst in frames) and bit error rate."""

    rate_bps: float
    loss_rate: float = 0.0
    mean_burst: float = 1.0
    ber: float = 0.0

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ValueError (one line, naming the field and its allowed range) on a bad field."""
        _check_range("rate_bps", self.rate_bps, 0.0, math.inf, low_open=True, high_open=True)
        _check_range("loss_rate", self.loss_rate, 0.0, 1.0, high_open=True)
        _check_range("mean_burst", self.mean_burst, 1.0, math.inf, high_open=True)
        _check_range("ber", self.ber, 0.0, 0.01, high_open=True)
        _check_burst_reachable(self.loss_rate, self.mean_burst)

    def __str__(self) -> str:
        loss = f"loss {self.loss_rate:.1%} in bursts of {self.mean_burst:g}" if self.loss_rate else "no loss"
        return f"{self.rate_bps / 1e3:g} kbit/s, {loss}, BER {self.ber:g}"


@dataclass
class DirectionStats:
    """Counters of one direction: ``octets`` are those submitted; ``corrupted`` frames were
    delivered with at least one flipped bit (``bits_flipped`` in all)."""

    frames: int = 0
    octets: int = 0
    lost: int = 0
    corrupted: int = 0
    bits_flipped: int = 0
    delivered: int = 0


class LinkDirection:
    """One direction of the link: transmitter (:class:`TokenBucket`), burst loss
    (:class:`GilbertElliott`), bit errors (:func:`flip_bits`) and light time.

    Every frame occupies the transmitter, a lost one too (it is lost on the way, not at the
    radio). The loss chain and the bit errors draw from two generators seeded from ``rng`` at
    construction, so for a given seed the pattern of lost frames does not depend on the BER.
    """

    def __init__(self, conditions: LinkConditions, rng: random.Random) -> None:
        conditions.check()
        self.conditions = conditions
        self.bucket = TokenBucket(conditions.rate_bps)
        self.channel = GilbertElliott.from_mean(conditions.loss_rate, conditions.mean_burst,
                                                random.Random(rng.getrandbits(64)))
        self._error_rng = random.Random(rng.getrandbits(64))
        self.stats = DirectionStats()

    def submit(self, frame: bytes, now: float, slant_range_km: float) -> tuple[float, bytes] | None:
        """Send ``frame`` at ``now`` over ``slant_range_km``: None if it is lost, else its arrival time
        (end of its transmission + light time) and the octets delivered (maybe with flipped bits)."""
        delay = one_way_delay(slant_range_km)
        released = self.bucket.release_time(len(frame) * 8, now)
        self.stats.frames += 1
        self.stats.octets += len(frame)
        if self.channel.lost():
            self.stats.lost += 1
            return None
        delivered, flips = flip_bits(frame, self.conditions.ber, self._error_rng)
        self.stats.delivered += 1
        if flips:
            self.stats.corrupted += 1
            self.stats.bits_flipped += flips
        return released + delay, delivered


__all__ = ["SPEED_OF_LIGHT_KM_S", "MAX_FRAME_OCTETS", "MAX_FRAME_BITS", "one_way_delay", "GilbertElliott", "flip_bits",
           "TokenBucket", "LinkConditions", "DirectionStats", "LinkDirection"]
