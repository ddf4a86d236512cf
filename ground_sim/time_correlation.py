"""Time correlation: the on-board clock's offset and drift against the ground's, by round trip.

A sample: the ground sends TC[17,1] asking only for its acceptance report, at ground time
``sent``; the TM[1,1] that comes back at ``received`` carries the on-board time it was made at
(its CUC stamp), which lies between the two, at least one light time ``L`` from each. Its offset
sample is ``onboard - (sent + received) / 2`` (one-way delay = round trip / 2), good to within
the half-width ``h = (received - sent) / 2 - L`` (plus half the stamp's resolution); the
acceptance report names its TC (the request id), so a reply that comes late or not at all (loss,
the end of a pass) never pairs with the wrong request. Samples accumulate (over passes) until a correction is applied.

The fit (:func:`fit`): offset = a + b (t - t_ref), weighted least squares with weights 1/h^2 (the
tightest round trips count most), ``t_ref`` their weighted mean time. Uncertainties are a
coverage factor times the standard errors, the scale taken from the residuals but never below
that of errors spread evenly over each sample's interval (h / sqrt 3); the factor is 4, not the
3 of a normal error, because a few tight round trips can carry the whole fit; the offset's adds the
smallest half-width, for what the midpoint rule cannot see (an up- and a downlink delay that
differ). Drift is in ppm of ground time. :meth:`Correlation.adjustment` gives the arguments of
the flight's ``timeManagement.ADJUST_TIME`` that take both out (flight.services.time_management).

| requirement | verified by |
|---|---|
| for random offsets, drifts and round trips the fit recovers them within the uncertainty it |   |
|   reports (hypothesis) | tests/unit/ground/test_time_correlation.py |
| an injected offset and drift are measured on a real flight, and ~0 after the adjustment |   |
|   | tests/system/test_clock_correlation.py |
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from flight.wire.pus import CUC_TICKS, AckFlags
from ground_sim.station import CommandRecord, GroundStation

COVERAGE = 4.0
RESOLUTION = 1.0 / CUC_TICKS   # of the CUC stamp: every half-width has half of it added (rounding)


@dataclass(frozen=True)
class Sample:
    sent: float       # ground UTC, s
    received: float   # ground UTC, s
    onboard: float    # the report's on-board stamp, s

    @property
    def midpoint(self) -> float:
        return (self.sent + self.received) / 2

    @property
    def offset(self) -> float:
        return self.onboard - self.midpoint

    def half_width(self, light_time: float = 0.0) -> float:
        return max(0.0, (self.received - self.sent) / 2 - light_time) + RESOLUTION / 2


@dataclass(frozen=True)
class Correlation:
    offset_s: float               # on-board minus ground time at ``reference``
    drift_ppm: float              # on-board seconds gained per ground second, x 1e6
    offset_uncertainty_s: float
    drift_uncertainty_ppm: float
    residual_rms_s: float
    reference: float              # ground UTC of ``offset_s``
    samples: int
    span_s: float                 # ground time from the first sample to the last

    def offset_at(self, ground_time: float) -> float:
        return self.offset_s + self.drift_ppm * 1e-6 * (ground_time - self.reference)

    def adjustment(self, ground_time: float) -> tuple[float, float]:
        """ADJUST_TIME's (offset_s, rate_ppm) that zero the offset at ``ground_time`` and the drift."""
        drift = self.drift_ppm * 1e-6
        return -self.offset_at(ground_time), -self.drift_ppm / (1 + drift)

    def __str__(self) -> str:
        return (f"offset {self.offset_s * 1e3:+.3f} ± {self.offset_uncertainty_s * 1e3:.3f} ms, drift "
                f"{self.drift_ppm:+.1f} ± {self.drift_uncertainty_ppm:.1f} ppm ({self.samples} samples over "
                f"{self.span_s:.1f} s, residual rms {self.residual_rms_s * 1e3:.3f} ms)")


def fit(samples: Sequence[Sample], light_time: float = 0.0) -> Correlation:
    """Offset and drift from at least three samples (see the module docstring)."""
    if len(samples) < 3:
        raise ValueError(f"{len(samples)} samples: a fit of offset and drift needs 3 or more")
    widths = [s.half_width(light_time) for s in samples]
    weights = [1 / h ** 2 for h in widths]
    total = sum(weights)
    base = samples[0].midpoint     # sums of times near 1e9 s, weighted by up to 1e10, would lose the fit
    centre = sum(w * (s.midpoint - base) for w, s in zip(weights, samples)) / total
    xs = [s.midpoint - base - centre for s in samples]
    ys = [s.offset for s in samples]
    spread = sum(w * x * x for w, x in zip(weights, xs))
    if max(xs) == min(xs):
        raise ValueError("the samples are all at one time: no drift can be measured")
    offset = sum(w * y for w, y in zip(weights, ys)) / total
    slope = sum(w * x * (y - offset) for w, x, y in zip(weights, xs, ys)) / spread
    residuals = [y - offset - slope * x for x, y in zip(xs, ys)]
    scale = max(sum(w * r * r for w, r in zip(weights, residuals)) / (len(samples) - 2), 1 / 3)
    return Correlation(offset, slope * 1e6, COVERAGE * math.sqrt(scale / total) + min(widths),
                       COVERAGE * math.sqrt(scale / spread) * 1e6,
                       math.sqrt(sum(r * r for r in residuals) / len(residuals)), base + centre, len(samples),
                       max(s.midpoint for s in samples) - min(s.midpoint for s in samples))


class TimeCorrelator:
    """Takes samples over a station's link and fits them; ``light_time``: the one-way light time
    now, s (the link model's, ground_sim.link_model; 0 on a direct link)."""

    def __init__(self, station: GroundStation, light_time: Callable[[], float] = lambda: 0.0) -> None:
        self.station = station
        self.light_time = light_time
        self.samples: list[Sample] = []
        self.lost = 0

    def sample(self, timeout: float) -> Sample | None:
        """One round trip: the sample, or None if the acceptance report did not come in time."""
        record = self.station.send(self.station.encoder.ping(AckFlags.ACCEPTANCE), "time correlation")
        with self.station.changed:
            self.station.changed.wait_for(lambda: _answered(record), timeout)
        if record.accepted_at is None:
            self.lost += 1
            return None
        stamp, arrival = record.accepted_at
        taken = Sample(record.sent_at, arrival, stamp)
        self.samples.append(taken)
        return taken

    def correlate(self, samples: int, interval: float = 0.2, timeout: float = 5.0) -> Correlation:
        """Take ``samples`` more (``interval`` s apart; lost ones are taken again, up to as many
        again) and fit every sample kept."""
        wanted, tries = len(self.samples) + samples, 2 * samples
        while len(self.samples) < wanted and tries > 0:
            tries -= 1
            self.sample(timeout)
            time.sleep(interval)
        if len(self.samples) < wanted:
            raise AssertionError(f"time correlation: {self.lost} round trips lost, "
                                 f"{len(self.samples)} of {wanted} samples")
        return fit(self.samples, self.light_time())

    def forget(self) -> None:
        """Drop the samples (on-board time was changed: they no longer describe it)."""
        self.samples.clear()


def _answered(record: CommandRecord) -> bool:
    return record.accepted_at is not None or record.failure is not None
