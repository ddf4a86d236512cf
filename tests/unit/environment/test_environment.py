"""Tests for flight.environment: battery, payload budget, thermal latch (the orbit:
tests/unit/environment/test_orbit.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.environment.power import Battery, PowerSystem
from flight.environment.thermal import ThermalModel

SUNLIT, ECLIPSE = 100.0, 700.0


class Sky:
    """The sun the power system sees: sunlit before mission time 500, in eclipse after."""

    def sunlit(self, t: float) -> bool:
        return t < 500.0


# --- battery -------------------------------------------------------------------------------------------


def test_discharge_by_hand() -> None:
    battery = Battery()  # 200 Wh at 0.9, minimum 0.3, discharge cap 120 W
    assert battery.step(-100.0, 1800.0) == -100.0  # 50 Wh = 0.25 of capacity
    assert battery.state_of_charge == pytest.approx(0.65)
    assert battery.step(-200.0, 600.0) == -120.0  # capped at 120 W: 20 Wh = 0.1 of capacity
    assert battery.state_of_charge == pytest.approx(0.55)
    # 0.55 - 0.3 = 0.25 -> 50 Wh above the minimum; asked for 2 h, that is 25 W on average.
    assert battery.step(-200.0, 7200.0) == pytest.approx(-25.0)
    assert battery.state_of_charge == 0.3
    assert battery.step(-10.0, 60.0) == 0.0
    assert battery.state_of_charge == 0.3


def test_charge_by_hand() -> None:
    battery = Battery(state_of_charge=0.5)
    assert battery.step(80.0, 3600.0) == 60.0  # capped at 60 W; 0.95 x 60 Wh = 57 Wh stored
    assert battery.state_of_charge == pytest.approx(0.5 + 57 / 200)
    nearly_full = Battery(state_of_charge=0.99)  # 2 Wh of room: taking 2 / 0.95 Wh fills it
    assert nearly_full.step(60.0, 3600.0) == pytest.approx(2 / 0.95)
    assert nearly_full.state_of_charge == 1.0
    assert nearly_full.step(60.0, 3600.0) == 0.0


def test_energy_bookkeeping_matches_the_integral_of_a_simple_profile() -> None:
    battery = Battery()
    delivered_wh = sum(battery.step(-100.0, 1.0) * 1.0 for _ in range(1800)) / 3600  # 100 W for 30 min
    absorbed_wh = sum(battery.step(60.0, 10.0) * 10.0 for _ in range(360)) / 3600  # 60 W for 1 h
    assert delivered_wh == pytest.approx(-50.0)
    assert absorbed_wh == pytest.approx(60.0)
    assert battery.state_of_charge == pytest.approx(0.9 - 50 / 200 + 0.95 * 60 / 200)
    # Down to the minimum: 0.935 - 0.3 = 0.635 -> 127 Wh can be given, however long we ask.
    given_wh = sum(battery.step(-120.0, 60.0) * 60.0 for _ in range(120)) / 3600  # 120 W asked for 2 h
    assert given_wh == pytest.approx(-0.635 * 200)
    assert battery.state_of_charge == 0.3


@settings(max_examples=80, deadline=None)
@given(
    soc=st.floats(0.3, 1.0),
    profile=st.lists(st.tuples(st.floats(-500.0, 500.0), st.floats(0.1, 20_000.0)), min_size=1, max_size=30),
)
def test_battery_stays_within_limits_and_books_every_step(soc: float, profile: list[tuple[float, float]]) -> None:
    battery = Battery(state_of_charge=soc)
    for net_w, dt in profile:
        before = battery.state_of_charge
        power = battery.step(net_w, dt)
        after = battery.state_of_charge
        assert 0.3 <= after <= 1.0
        assert abs(power) <= abs(net_w)
        if net_w > 0:
            assert 0.0 <= power <= 60.0
            assert after - before == pytest.approx(power * 0.95 * dt / 3600 / 200, abs=1e-12)
        elif net_w < 0:
            assert -120.0 <= power <= 0.0
            assert before - after == pytest.approx(-power * dt / 3600 / 200, abs=1e-12)


def test_battery_rejects_non_positive_dt() -> None:
    with pytest.raises(ValueError):
        Battery().step(10.0, 0.0)


# --- payload budget ----------------------------------------------------------------------------------------


def test_payload_budget_sunlit_eclipse_and_low_battery() -> None:
    sunlit, eclipse = SUNLIT, ECLIPSE
    system = PowerSystem(Sky(), Battery())
    assert system.payload_budget_w(sunlit) == 150.0 - 40.0
    assert system.payload_budget_w(eclipse) == 120.0 - 40.0
    low = PowerSystem(Sky(), Battery(state_of_charge=0.3))
    assert low.payload_budget_w(eclipse) == 0.0
    assert low.payload_budget_w(sunlit) == 110.0  # the sun does not need the battery
    weak_array = PowerSystem(Sky(), Battery(), solar_w=30.0)
    assert weak_array.payload_budget_w(sunlit) == 0.0


def test_power_system_step_charges_in_sun_and_discharges_in_eclipse() -> None:
    system = PowerSystem(Sky(), Battery(state_of_charge=0.5))
    system.step(SUNLIT, payload_w=50.0, dt=3600.0)  # 150 - 40 - 50 = 60 W surplus
    assert system.battery.state_of_charge == pytest.approx(0.5 + 0.95 * 60 / 200)
    system.step(ECLIPSE, payload_w=80.0, dt=1800.0)  # 0 - 40 - 80 = -120 W for 30 min
    assert system.battery.state_of_charge == pytest.approx(0.785 - 60 / 200)


# --- thermal -------------------------------------------------------------------------------------------------


def test_in_eclipse_a_card_settles_towards_the_eclipse_sink() -> None:
    card = ThermalModel(sink_c=10.0, eclipse_sink_c=-30.0)
    assert card.steady_state_c(30.0, sunlit=False) == -10.0
    assert card.step(30.0, 1e300, sunlit=False) == pytest.approx(-10.0)
    assert card.step(30.0, 1e300) == pytest.approx(30.0)


def test_thermal_step_is_the_analytic_exponential() -> None:
    # T_ss = 10 + 30 / 1.5 = 30 C, time constant 400 / 1.5 s.
    tau = 400 / 1.5
    card = ThermalModel()
    assert card.steady_state_c(30.0) == 30.0
    assert card.step(30.0, tau) == pytest.approx(30 - 10 / math.e)
    assert card.step(30.0, tau) == pytest.approx(30 - 10 / math.e**2)
    assert card.step(0.0, 2 * tau) == pytest.approx(10 + (20 - 10 / math.e**2) / math.e**2)


def test_thermal_small_steps_equal_one_big_step_and_approach_steady_state() -> None:
    big, small = ThermalModel(), ThermalModel()
    big.step(60.0, 1000.0)
    temperatures = [small.step(60.0, 1.0) for _ in range(1000)]
    assert small.temperature_c == pytest.approx(big.temperature_c, abs=1e-9)
    assert all(a < b < 50.0 for a, b in zip(temperatures, temperatures[1:]))  # rising towards 10 + 60 / 1.5
    assert big.step(60.0, 20 * 400 / 1.5) == pytest.approx(50.0, abs=1e-6)


@pytest.mark.parametrize("dt", [1e6, 1e12, 1e300])
def test_thermal_step_is_stable_for_huge_dt(dt: float) -> None:
    card = ThermalModel(temperature_c=-40.0)
    assert card.step(90.0, dt) == pytest.approx(10 + 90 / 1.5)
    assert card.over_limit is False  # 70 C < 85 C


def test_over_limit_latch_with_hysteresis_by_example() -> None:
    card = ThermalModel()
    card.temperature_c = 84.9
    card.step(112.5, 0.0)  # dt = 0 re-evaluates the latch without changing T
    assert not card.over_limit
    card.temperature_c = 85.0
    card.step(112.5, 0.0)
    assert card.over_limit  # set at the limit
    card.temperature_c = 75.0
    card.step(0.0, 0.0)
    assert card.over_limit  # 75 is not below 85 - 10
    card.temperature_c = 74.99
    card.step(0.0, 0.0)
    assert not card.over_limit
    card.temperature_c = 84.0
    card.step(0.0, 0.0)
    assert not card.over_limit  # rising again, still clear until 85
    assert ThermalModel(temperature_c=90.0).over_limit  # latched from construction


@settings(max_examples=80, deadline=None)
@given(
    start=st.floats(0.0, 100.0),
    profile=st.lists(st.tuples(st.floats(0.0, 200.0), st.floats(0.0, 3000.0)), min_size=1, max_size=40),
)
def test_over_limit_latch_changes_only_at_the_thresholds(start: float, profile: list[tuple[float, float]]) -> None:
    card = ThermalModel(temperature_c=start)
    latched = card.over_limit
    for power_w, dt in profile:
        t = card.step(power_w, dt)
        if t >= 85.0:
            assert card.over_limit
        elif t < 75.0:
            assert not card.over_limit
        else:
            assert card.over_limit == latched
        latched = card.over_limit
