"""One clock for the executive: wall time for hardware-in-the-loop, simulated time for SIL.

Rate groups run on ticks of a base period. A clock answers two questions for tick k: the mission
time stamped on everything produced in it, and the monotonic wall deadline when it may start.

- :class:`WallClock`: mission time is the host's UTC time; ticks are due every base period. Its
  :class:`TimeCorrection` (which a component sets through ``Context.clock``, e.g. from the ground's
  time correlation) is added to it; for tests, an ``offset_s`` and ``drift_ppm`` make it a deliberately wrong
  oscillator (a constant error and one growing from the clock's creation).
- :class:`SimulatedClock`: mission time is ``epoch + k * period`` exactly, so a run is
  reproducible from its config and seed; ticks are paced at ``speedup`` times real time
  (``speedup = 0`` runs as fast as the work allows). A 96-minute orbit at speedup 100 passes in
  under a minute.

The executive publishes the mission time of the tick it runs in a :class:`TimeBeacon`, a small
file in the run directory (``mission_time.bin``) that other processes map and read: the ground's
link model (ground_sim.link_relay) runs on the flight's simulated time through it.

Requirements (verified in tests/unit/core/test_executive.py): simulated mission time depends only on the
tick number; deadlines are spaced by period / speedup; a beacon's reader sees the time of the
last tick run, never a torn value, and the new flight's after a restart. A wall clock's correction
never makes its time run backwards and settles where its adjustments add up (property test in
tests/unit/services/test_time_management.py).
"""
from __future__ import annotations

import mmap
import os
import struct
import time
from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

BEACON_FILE = "mission_time.bin"
_BEACON = struct.Struct("<Qdd")   # generation, time, time again: a reader retries until both agree
_READ_TRIES = 100


class Clock(Protocol):
    period: float

    def start(self, first_tick: int = 0) -> None: ...
    def mission_time(self, tick: int) -> float: ...
    def deadline(self, tick: int) -> float: ...
    @property
    def simulated(self) -> bool: ...


def parse_epoch(text: str) -> float:
    """Seconds since 1970-01-01 UTC for an ISO-8601 time such as 2026-01-01T00:00:00Z."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


@dataclass(frozen=True)
class TimeCorrection:
    """Added to an uncorrected time t: ``offset + rate_ppm * 1e-6 * (t - reference)``, and a step
    back of ``slewing`` s (<= 0) taken gradually, at ``slew_ppm`` from ``reference``: corrected time
    never runs backwards (TM time stamps must increase; intervals measured on it stay >= 0)."""

    offset: float = 0.0
    rate_ppm: float = 0.0
    reference: float = 0.0
    slewing: float = 0.0
    slew_ppm: float = 0.0

    def at(self, raw: float) -> float:
        elapsed = raw - self.reference
        return self.offset + self.rate_ppm * 1e-6 * elapsed + max(self.slewing, -self.slew_ppm * 1e-6 * elapsed)

    def pending(self, raw: float) -> float:
        """The part of the step back not taken yet at ``raw`` (<= 0)."""
        return self.slewing - max(self.slewing, -self.slew_ppm * 1e-6 * (raw - self.reference))

    def adjusted(self, raw: float, offset: float, rate_ppm: float, slew_ppm: float) -> "TimeCorrection":
        """This correction changed at ``raw`` by ``offset`` (forwards at once, backwards at
        ``slew_ppm``, with what was still to be taken back) and by ``rate_ppm`` from then on."""
        step = self.pending(raw) + offset
        return TimeCorrection(self.at(raw) + max(step, 0.0), self.rate_ppm + rate_ppm, raw, min(step, 0.0),
                              slew_ppm)


class WallClock:
    simulated = False

    def __init__(self, period: float, offset_s: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.period = period
        self._start, self._first = time.monotonic(), 0
        self._error = TimeCorrection(offset_s, drift_ppm, time.time())   # a test oscillator's
        self.correction = TimeCorrection()    # replaced whole (atomic): read from any thread

    def uncorrected(self) -> float:
        """The on-board oscillator's time: UTC with the test error, without the correction."""
        now = time.time()
        return now + self._error.at(now)

    def start(self, first_tick: int = 0) -> None:
        self._start, self._first = time.monotonic(), first_tick

    def mission_time(self, tick: int) -> float:
        raw = self.uncorrected()
        return raw + self.correction.at(raw)

    def deadline(self, tick: int) -> float:
        return self._start + (tick - self._first) * self.period


class SimulatedClock:
    simulated = True

    def __init__(self, period: float, epoch: float, speedup: float) -> None:
        if speedup < 0:
            raise ValueError("speedup must be >= 0 (0 = as fast as possible)")
        self.period = period
        self.epoch = epoch
        self.speedup = speedup
        self._start, self._first = time.monotonic(), 0

    def start(self, first_tick: int = 0) -> None:
        """Pace from now, ``first_tick`` first (a restarted flight goes on from its last tick)."""
        self._start, self._first = time.monotonic(), first_tick

    def mission_time(self, tick: int) -> float:
        return self.epoch + tick * self.period

    def deadline(self, tick: int) -> float:
        if self.speedup == 0:
            return 0.0
        return self._start + (tick - self._first) * self.period / self.speedup


class TimeBeacon:
    """The mission time of the tick being run, in a file other processes map (:meth:`read`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fresh = self.path.with_suffix(".new")     # a new file, renamed over the old one: a reader
        with open(fresh, "w+b") as file:          # of the old one is never cut short (SIGBUS)
            file.write(bytes(_BEACON.size))
            file.flush()
            self._map = mmap.mmap(file.fileno(), _BEACON.size)
        os.replace(fresh, self.path)
        self._generation = 0

    def write(self, mission_time: float) -> None:
        self._generation += 1
        self._map[:_BEACON.size] = _BEACON.pack(self._generation, mission_time, mission_time)

    def close(self) -> None:
        self._map.close()


class BeaconReader:
    """Reads a :class:`TimeBeacon`'s file: None until the flight ran its first tick."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._map: mmap.mmap | None = None
        self._inode = -1
        self._last: float | None = None

    def read(self) -> float | None:
        try:
            inode = os.stat(self.path).st_ino
            if inode != self._inode:          # a restarted flight made a new one
                with open(self.path, "rb") as file:
                    mapped = mmap.mmap(file.fileno(), _BEACON.size, access=mmap.ACCESS_READ)
                self.close()
                self._map, self._inode, self._last = mapped, inode, None
        except (OSError, ValueError):         # not there (yet)
            return None
        for _ in range(_READ_TRIES):
            generation, first, second = _BEACON.unpack(self._map[:_BEACON.size])
            if first == second:
                self._last = first if generation else None
                return self._last
        return self._last      # the writer was mid-write at every try: the last whole value

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
