"""One clock for the executive: wall time for hardware-in-the-loop, simulated time for SIL.

Rate groups run on ticks of a base period. A clock answers two questions for tick k: the mission
time stamped on everything produced in it, and the monotonic wall deadline when it may start.

- :class:`WallClock`: mission time is the host's UTC time; ticks are due every base period.
- :class:`SimulatedClock`: mission time is ``epoch + k * period`` exactly, so a run is
  reproducible from its config and seed; ticks are paced at ``speedup`` times real time
  (``speedup = 0`` runs as fast as the work allows). A 96-minute orbit at speedup 100 passes in
  under a minute.

Requirements (verified in tests/unit/core/test_executive.py): simulated mission time depends only on the
tick number; deadlines are spaced by period / speedup.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    period: float

    def start(self) -> None: ...
    def mission_time(self, tick: int) -> float: ...
    def deadline(self, tick: int) -> float: ...
    @property
    def simulated(self) -> bool: ...


def parse_epoch(text: str) -> float:
    """Seconds since 1970-01-01 UTC for an ISO-8601 time such as 2026-01-01T00:00:00Z."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


class WallClock:
    simulated = False

    def __init__(self, period: float) -> None:
        self.period = period
        self._start = time.monotonic()

    def start(self) -> None:
        self._start = time.monotonic()

    def mission_time(self, tick: int) -> float:
        return time.time()

    def deadline(self, tick: int) -> float:
        return self._start + tick * self.period


class SimulatedClock:
    simulated = True

    def __init__(self, period: float, epoch: float, speedup: float) -> None:
        if speedup < 0:
            raise ValueError("speedup must be >= 0 (0 = as fast as possible)")
        self.period = period
        self.epoch = epoch
        self.speedup = speedup
        self._start = time.monotonic()

    def start(self) -> None:
        self._start = time.monotonic()

    def mission_time(self, tick: int) -> float:
        return self.epoch + tick * self.period

    def deadline(self, tick: int) -> float:
        if self.speedup == 0:
            return 0.0
        return self._start + tick * self.period / self.speedup
