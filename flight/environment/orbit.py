"""The orbit the satellite flies: where it is in its orbit, whether it is sunlit, whether it is
over the South Atlantic Anomaly. One model, configured once in the topology's ``[mission.orbit]``
table, for everything that depends on it (:func:`mission_orbit`: the payload's power budget, the
SEU rate, later the link).

Units: seconds of mission time. Nothing here reads a clock, so every answer is a deterministic
function of the mission time given.

:class:`OrbitModel` is a circular LEO. ``phase(t) = (epoch_phase + t / period_s) % 1``. Eclipse
is the phase arc ``[eclipse_start_phase, eclipse_start_phase + eclipse_fraction)``, wrapping past
1.0; the satellite is sunlit elsewhere. It is over the South Atlantic Anomaly in the half-open
phase arcs ``saa_windows`` (``(start, end)``; ``end < start`` wraps past 1.0). Fixed SAA windows
are a simplification: Earth turns under the orbit, so real passes cross the anomaly on only some
orbits and at varying phases; a mission loads windows per orbit instead.

| requirement | verified by |
|---|---|
| sunlit share of an orbit = ``1 - eclipse_fraction``; |   |
|   eclipse placed, wraps | tests/unit/environment/test_environment.py (fine sampling; edge examples) |
| SAA flag exactly inside the windows; phase wraps, starts at |   |
|   ``epoch_phase`` | tests/unit/environment/test_environment.py (edge examples; hypothesis) |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from flight.core.settings import Setting


def _in_arc(phase: float, start: float, length: float) -> bool:
    """Whether ``phase`` lies in the half-open arc of ``length`` starting at ``start`` (mod 1)."""
    return (phase - start) % 1.0 < length


@dataclass
class OrbitModel:
    """A circular LEO (default: ~700 km sun-synchronous, 96 min period) with fixed eclipse and SAA arcs."""

    period_s: float = 5760.0
    eclipse_fraction: float = 0.35
    eclipse_start_phase: float = 0.6
    saa_windows: tuple[tuple[float, float], ...] = ((0.15, 0.22),)
    epoch_phase: float = 0.0

    def __post_init__(self) -> None:
        if self.period_s <= 0:
            raise ValueError("period_s must be > 0")
        if not 0.0 <= self.eclipse_fraction < 1.0:
            raise ValueError("eclipse_fraction must be in [0, 1)")

    def phase(self, t: float) -> float:
        """Orbit phase in ``[0, 1)`` at mission time ``t``."""
        return (self.epoch_phase + t / self.period_s) % 1.0

    def sunlit(self, t: float) -> bool:
        return not _in_arc(self.phase(t), self.eclipse_start_phase, self.eclipse_fraction)

    def in_saa(self, t: float) -> bool:
        phase = self.phase(t)
        return any(_in_arc(phase, start, (end - start) % 1.0) for start, end in self.saa_windows)


def _arcs_reason(windows: list[Any]) -> str | None:
    for window in windows:
        if (not isinstance(window, list) or len(window) != 2
                or not all(isinstance(x, (int, float)) and 0 <= x < 1 for x in window)):
            return "each window is [start, end], orbit phases in [0, 1)"
    return None


ORBIT_SETTINGS = {
    "period_s": Setting(float, 5760.0, 60.0, 1e7, description="orbit period"),
    "eclipse_fraction": Setting(float, 0.35, 0.0, 0.99, description="share of the orbit in eclipse"),
    "eclipse_start_phase": Setting(float, 0.6, 0.0, 1.0, description="orbit phase where eclipse begins"),
    "saa_windows": Setting(list, [[0.15, 0.22]], check=_arcs_reason,
                           description="orbit phase arcs [start, end) over the South Atlantic Anomaly"),
    "epoch_phase": Setting(float, 0.0, 0.0, 1.0, description="orbit phase at mission time 0"),
}


def mission_orbit(mission: Mapping[str, Any]) -> OrbitModel:
    """The orbit the topology's ``[mission.orbit]`` table describes (defaults where it is silent):
    one orbit for every component that depends on it."""
    return OrbitModel(**mission.get("orbit", {}))
