"""Passes: when each ground station sees the satellite (above its minimum elevation), from the
mission's orbit (flight.environment.orbit).

:func:`passes` samples the elevation every ``step`` seconds and refines each crossing of the
minimum elevation by bisection to ``tolerance``; a pass shorter than ``step`` that starts and
ends between two samples can be missed, so the step is well under the shortest pass wanted
(10 s by default: a 750 km orbit is in view above 5 degrees for minutes).

| requirement | verified by |
|---|---|
| rise and set times agree with skyfield's (an independent SGP4 and frame chain) within one |   |
|   second over a day of the default orbit | tests/unit/environment/test_orbit.py |
"""
from __future__ import annotations

from dataclasses import dataclass

from flight.environment.orbit import Orbit, Station


@dataclass(frozen=True)
class Pass:
    station: str
    rise: float        # mission time the satellite climbs above the minimum elevation
    set: float         # ... and goes below it again
    max_elevation: float

    @property
    def duration(self) -> float:
        return self.set - self.rise


def crossing(orbit: Orbit, station: Station, low: float, high: float, rising: bool, tolerance: float) -> float:
    """The time in [low, high] the elevation crosses the station's minimum (bisection)."""
    while high - low > tolerance:
        middle = (low + high) / 2
        above = orbit.elevation(station, middle) >= station.min_elevation_deg
        if above == rising:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def passes(orbit: Orbit, station: Station, start: float, end: float, step: float = 10.0,
           tolerance: float = 0.001) -> list[Pass]:
    """The passes over ``station`` that rise and set within [start, end] (one in progress at
    ``start`` rises at ``start``; one in progress at ``end`` sets at ``end``)."""
    out: list[Pass] = []
    times = [start + k * step for k in range(int((end - start) // step) + 1)] + [end]
    above_before = orbit.elevation(station, start) >= station.min_elevation_deg
    rise = start if above_before else None
    peak = orbit.elevation(station, start)
    for before, now in zip(times, times[1:]):
        elevation = orbit.elevation(station, now)
        above = elevation >= station.min_elevation_deg
        if above and not above_before:
            rise, peak = crossing(orbit, station, before, now, True, tolerance), elevation
        elif above:
            peak = max(peak, elevation)
        elif above_before and rise is not None:
            out.append(Pass(station.name, rise, crossing(orbit, station, before, now, False, tolerance), peak))
            rise = None
        above_before = above
    if above_before and rise is not None:
        out.append(Pass(station.name, rise, end, peak))
    return out


def all_passes(orbit: Orbit, start: float, end: float, step: float = 10.0) -> list[Pass]:
    """Every station's passes in [start, end], in order of rise."""
    return sorted((p for station in orbit.stations for p in passes(orbit, station, start, end, step)),
                  key=lambda p: p.rise)
