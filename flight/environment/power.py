"""Battery and power budget: what the payload may draw, in sunlight and in eclipse.

Units: seconds of mission time, watts, watt-hours. Nothing here reads a clock: state advances only
through explicit ``step`` calls with the mission-time ``dt``, so every result is a deterministic
function of the inputs.

* Battery (:class:`Battery`): ``step(net_w, dt)`` charges when ``net_w > 0``: the bus power taken
  is capped by ``max_charge_w`` and by the room left, and ``charge_efficiency`` of it is stored.
  It discharges when ``net_w < 0``: the power given is capped by ``max_discharge_w`` and by the
  energy above ``min_state_of_charge`` (discharge is lossless in this model). It returns the
  power actually taken or given (W, signed like ``net_w``). Discharge never takes the state of
  charge below ``min_state_of_charge``, charge never above 1.
* Budget (:class:`PowerSystem`): sunlit, the payload may draw ``solar_w - platform_load_w`` (the
  battery charges from whatever it leaves); in eclipse, what the battery may give
  (``max_discharge_w``, or 0 once the state of charge is at or below its minimum) minus
  ``platform_load_w``. Both are floored at 0. ``step`` applies
  ``net = generation - platform - payload`` to the battery, with generation ``solar_w`` if the
  satellite is sunlit at the start of the step, else 0.

| requirement | verified by |
|---|---|
| battery stays in ``[min, 1]``; charge obeys efficiency and caps | tests/unit/environment/test_environment.py |
|   | (hypothesis over profiles; hand examples) |
| battery energy bookkeeping = the integral by hand | tests/unit/environment/test_environment.py |
|   | (a profile in many small steps) |
| payload budget: sunlit, eclipse, low battery | tests/unit/environment/test_environment.py (hand examples) |
"""
from __future__ import annotations

from dataclasses import dataclass

from flight.core.settings import Setting
from typing import Protocol


class Sunlight(Protocol):
    """What the power system needs of the sky (flight.environment.orbit.Orbit has it)."""

    def sunlit(self, t: float) -> bool: ...

SECONDS_PER_HOUR = 3600.0


@dataclass
class Battery:
    """Battery state of charge; see the module docstring for the charge and discharge rules."""

    capacity_wh: float = 200.0
    state_of_charge: float = 0.9
    min_state_of_charge: float = 0.3
    max_charge_w: float = 60.0
    max_discharge_w: float = 120.0
    charge_efficiency: float = 0.95

    def step(self, net_w: float, dt: float) -> float:
        """Charge (``net_w > 0``) or discharge (``< 0``) for ``dt`` s; the power actually taken or given."""
        if dt <= 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        hours = dt / SECONDS_PER_HOUR
        soc = self.state_of_charge
        if net_w >= 0:
            room_wh = max(0.0, 1.0 - soc) * self.capacity_wh
            taken = min(net_w, self.max_charge_w, room_wh / (self.charge_efficiency * hours))
            self.state_of_charge = min(1.0, soc + taken * self.charge_efficiency * hours / self.capacity_wh)
            return taken
        available_wh = max(0.0, soc - self.min_state_of_charge) * self.capacity_wh
        given = min(-net_w, self.max_discharge_w, available_wh / hours)
        # The floor only absorbs rounding when the minimum is reached; a battery already below
        # its minimum gives nothing and keeps its charge.
        self.state_of_charge = max(soc - given * hours / self.capacity_wh, min(soc, self.min_state_of_charge))
        return -given


@dataclass
class PowerSystem:
    """Solar array, platform load and battery: the power the payload cards may draw."""

    orbit: Sunlight
    battery: Battery
    solar_w: float = 150.0
    platform_load_w: float = 40.0

    def payload_budget_w(self, t: float) -> float:
        if self.orbit.sunlit(t):
            supply = self.solar_w
        elif self.battery.state_of_charge > self.battery.min_state_of_charge:
            supply = self.battery.max_discharge_w
        else:
            supply = 0.0
        return max(0.0, supply - self.platform_load_w)

    def step(self, t: float, payload_w: float, dt: float) -> None:
        """Advance the battery over ``[t, t + dt)`` with the payload drawing ``payload_w``."""
        generation = self.solar_w if self.orbit.sunlit(t) else 0.0
        self.battery.step(generation - self.platform_load_w - payload_w, dt)


BATTERY_SETTINGS = {
    "capacity_wh": Setting(float, 200.0, 0.001, 1e6, description="battery capacity"),
    "state_of_charge": Setting(float, 0.9, 0.0, 1.0, description="at mission start"),
    "min_state_of_charge": Setting(float, 0.3, 0.0, 1.0, description="never discharged below"),
    "max_charge_w": Setting(float, 60.0, 0.0, 1e6, description="charge power limit"),
    "max_discharge_w": Setting(float, 120.0, 0.0, 1e6, description="discharge power limit"),
    "charge_efficiency": Setting(float, 0.95, 0.01, 1.0, description="share of charge power stored"),
}
POWER_SETTINGS = {
    "solar_w": Setting(float, 150.0, 0.0, 1e6, description="array power in sunlight"),
    "platform_load_w": Setting(float, 40.0, 0.0, 1e6, description="what the platform draws"),
}
