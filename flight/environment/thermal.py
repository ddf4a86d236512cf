"""Thermal model of one card: a lumped mass conducting to a radiator, ``C dT/dt = P - G (T - T_sink)``.

The radiator's temperature is ``sink_c`` in sunlight and ``eclipse_sink_c`` in the Earth's shadow
(the orbit says which, flight.environment.orbit, through the payload's power manager).

Units: seconds, watts, degrees Celsius. ``step`` applies the exact solution for constant ``P``
over ``dt``, ``T_ss + (T - T_ss) exp(-G dt / C)`` with ``T_ss = T_sink + P / G``, stable for any
``dt``. ``over_limit`` is a latch, evaluated after every step: set when ``T >= limit_c``, cleared
only when ``T < limit_c - hysteresis_c``, unchanged in between. Within a step the solution moves
monotonically towards ``T_ss``, so checking the end of each step misses no crossing.

| requirement | verified by |
|---|---|
| thermal step = analytic exponential, reaches steady state, any ``dt`` | tests/unit/environment/test_environment.py |
|   | (closed forms; steps compose; ``dt = 1e300``) |
| ``over_limit`` changes only at the documented thresholds | tests/unit/environment/test_environment.py |
| in eclipse the card settles towards ``eclipse_sink_c`` | tests/unit/environment/test_environment.py |
|   | (hypothesis over power profiles; example) |
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from flight.core.settings import Setting


@dataclass
class ThermalModel:
    """One card as a lumped thermal mass conducting to a radiator: ``C dT/dt = P - G (T - T_sink)``."""

    temperature_c: float = 20.0
    heat_capacity_j_per_k: float = 400.0
    conductance_w_per_k: float = 1.5
    sink_c: float = 10.0
    eclipse_sink_c: float = -10.0
    limit_c: float = 85.0
    hysteresis_c: float = 10.0
    _over_limit: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._update_latch()

    def steady_state_c(self, power_w: float, sunlit: bool = True) -> float:
        """The temperature the card settles at under constant ``power_w``."""
        return (self.sink_c if sunlit else self.eclipse_sink_c) + power_w / self.conductance_w_per_k

    def step(self, power_w: float, dt: float, sunlit: bool = True) -> float:
        """Advance ``dt`` s at constant ``power_w`` (exact solution), in sunlight or eclipse; the
        new temperature."""
        if dt < 0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        steady = self.steady_state_c(power_w, sunlit)
        decay = math.exp(-self.conductance_w_per_k * dt / self.heat_capacity_j_per_k)
        self.temperature_c = steady + (self.temperature_c - steady) * decay
        self._update_latch()
        return self.temperature_c

    @property
    def over_limit(self) -> bool:
        """Latched over-temperature: set at ``>= limit_c``, cleared below ``limit_c - hysteresis_c``."""
        return self._over_limit

    def _update_latch(self) -> None:
        if self.temperature_c >= self.limit_c:
            self._over_limit = True
        elif self.temperature_c < self.limit_c - self.hysteresis_c:
            self._over_limit = False


THERMAL_SETTINGS = {
    "temperature_c": Setting(float, 20.0, -150.0, 200.0, description="at mission start"),
    "heat_capacity_j_per_k": Setting(float, 400.0, 0.001, 1e9, description="the card's heat capacity"),
    "conductance_w_per_k": Setting(float, 1.5, 0.001, 1e6, description="to the radiator"),
    "sink_c": Setting(float, 10.0, -150.0, 200.0, description="radiator temperature in sunlight"),
    "eclipse_sink_c": Setting(float, -10.0, -150.0, 200.0, description="radiator temperature in eclipse"),
    "limit_c": Setting(float, 85.0, -150.0, 300.0, description="the card is parked at or above"),
    "hysteresis_c": Setting(float, 10.0, 0.0, 200.0, description="back in service below limit - this"),
}
