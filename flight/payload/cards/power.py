"""Orbit, battery, power budget and thermal models that bound what the accelerator cards may do.

Units: seconds of mission time, watts, watt-hours, degrees Celsius. Nothing here reads a clock:
state advances only through explicit ``step`` calls, which the cluster makes from its rate-group
tick with the mission-time ``dt``, so every result is a deterministic function of the inputs.

Rules:

* Orbit (:class:`OrbitModel`): a circular LEO. ``phase(t) = (epoch_phase + t / period_s) % 1``.
  Eclipse is the phase arc ``[eclipse_start_phase, eclipse_start_phase + eclipse_fraction)``,
  wrapping past 1.0; the satellite is sunlit elsewhere. It is over the South Atlantic Anomaly in
  the half-open phase arcs ``saa_windows`` (``(start, end)``; ``end < start`` wraps past 1.0).
  Fixed SAA windows are a simplification: Earth turns under the orbit, so real passes cross the
  anomaly on only some orbits and at varying phases; a mission loads windows per orbit instead.
* Battery (:class:`Battery`): ``step(net_w, dt)`` charges when ``net_w > 0``: the bus power taken
  is capped by ``max_charge_w`` and by the room left, and ``charge_efficiency`` of it is stored.
  It discharges when ``net_w < 0``: the power given is capped by ``max_discharge_w`` and by the
  energy above ``min_state_of_charge`` (discharge is lossless in this model). It returns the
  power actually taken or given (W, signed like ``net_w``). Discharge never takes the state of
  charge below ``min_state_of_charge``, charge never above 1.
* Budget (:class:`PowerSystem`): sunlit, the cards may draw ``solar_w - platform_load_w`` (the
  battery charges from whatever they leave); in eclipse, what the battery may give
  (``max_discharge_w``, or 0 once the state of charge is at or below its minimum) minus
  ``platform_load_w``. Both are floored at 0. ``step`` applies
  ``net = generation - platform - payload`` to the battery, with generation ``solar_w`` if the
  satellite is sunlit at the start of the step, else 0.
* Thermal (:class:`ThermalModel`): one card as a lumped mass, ``C dT/dt = P - G (T - T_sink)``.
  ``step`` applies the exact solution for constant ``P`` over ``dt``,
  ``T_ss + (T - T_ss) exp(-G dt / C)`` with ``T_ss = T_sink + P / G``, stable for any ``dt``.
  ``over_limit`` is a latch, evaluated after every step: set when ``T >= limit_c``, cleared
  only when ``T < limit_c - hysteresis_c``, unchanged in between. Within a step the solution
  moves monotonically towards ``T_ss``, so checking the end of each step misses no crossing.
* Plan (:func:`plan_active_cards`): hot cards (``over_limit``) are always parked. The others
  are taken in the given order (the caller's preference) and each is admitted if its
  ``active_w`` fits in what the cards admitted before it left of ``budget_w``, otherwise parked
  (a later, smaller card may still fit). A parked card is powered down and draws 0 W; a card
  that may run is budgeted at ``active_w``, since it may be busy at any moment, so its
  ``idle_w`` does not enter the plan (the cluster may use it to estimate the actual draw).

Requirements and how they are verified (``tests/test_power.py``):

| requirement | verified by |
|---|---|
| sunlit share of an orbit = ``1 - eclipse_fraction``; eclipse placed, wraps | fine sampling; edge examples |
| SAA flag exactly inside the windows; phase wraps, starts at ``epoch_phase`` | edge examples; hypothesis |
| battery stays in ``[min, 1]``; charge obeys efficiency and caps | hypothesis over profiles; hand examples |
| battery energy bookkeeping = the integral by hand | a profile in many small steps |
| payload budget: sunlit, eclipse, low battery | hand examples |
| thermal step = analytic exponential, reaches steady state, any ``dt`` | closed forms; steps compose; ``dt = 1e300`` |
| ``over_limit`` changes only at the documented thresholds | hypothesis over power profiles; example |
| plan: within budget, no hot card, admitted in order | hypothesis over card lists; hand example |
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

SECONDS_PER_HOUR = 3600.0


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

    orbit: OrbitModel
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


@dataclass
class ThermalModel:
    """One card as a lumped thermal mass conducting to a radiator: ``C dT/dt = P - G (T - T_sink)``."""

    temperature_c: float = 20.0
    heat_capacity_j_per_k: float = 400.0
    conductance_w_per_k: float = 1.5
    sink_c: float = 10.0
    limit_c: float = 85.0
    hysteresis_c: float = 10.0
    _over_limit: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._update_latch()

    def steady_state_c(self, power_w: float) -> float:
        """The temperature the card settles at under constant ``power_w``."""
        return self.sink_c + power_w / self.conductance_w_per_k

    def step(self, power_w: float, dt: float) -> float:
        """Advance ``dt`` s at constant ``power_w`` (exact solution); the new temperature."""
        if dt < 0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        steady = self.steady_state_c(power_w)
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


@dataclass(frozen=True)
class CardPower:
    """What :func:`plan_active_cards` needs to know of a card."""

    name: str
    idle_w: float
    active_w: float
    hot: bool  # its ThermalModel.over_limit


def plan_active_cards(cards: Sequence[CardPower], budget_w: float) -> tuple[set[str], set[str]]:
    """``(may_run, parked)`` names: hot cards parked, the others admitted in order while they fit."""
    may_run: set[str] = set()
    parked: set[str] = set()
    total_w = 0.0
    for card in cards:
        if not card.hot and total_w + card.active_w <= budget_w:
            may_run.add(card.name)
            total_w += card.active_w
        else:
            parked.add(card.name)
    return may_run, parked
