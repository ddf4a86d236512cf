"""Tests for flight.environment.land: the 0.5-degree land/sea mask (requirements table in its docstring)."""

from __future__ import annotations

import math
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.environment import land
from flight.environment.land import land_fraction, over_land

# --- known points --------------------------------------------------------------------------------------

LAND = {
    "Paris": (48.86, 2.35),
    "Sahara": (23.0, 13.0),
    "Antarctica interior": (-80.0, 0.0),
    "Siberia": (62.0, 100.0),
    "Amazon": (-5.0, -60.0),
    "Australia interior": (-25.0, 134.0),
}
SEA = {
    "Mid-Atlantic": (30.0, -40.0),
    "Pacific": (0.0, -150.0),
    "South Atlantic": (-30.0, -20.0),
    "Indian Ocean": (-20.0, 80.0),
    "Arctic Ocean near the pole": (88.0, 0.0),
}


@pytest.mark.parametrize("name", sorted(LAND))
def test_known_land(name: str) -> None:
    assert over_land(*LAND[name]) is True


@pytest.mark.parametrize("name", sorted(SEA))
def test_known_sea(name: str) -> None:
    assert over_land(*SEA[name]) is False


def test_land_fraction_is_earths() -> None:
    fraction = land_fraction()
    assert 0.27 <= fraction <= 0.31  # Earth: ~29 % land (GLOBE counts Antarctica and lakes as land)
    assert land_fraction() == fraction  # deterministic, from the cached mask


# --- wrap, clamp, bad input ----------------------------------------------------------------------------

# Values on a 1e-3-degree grid: adding 360 to them is exact enough never to cross a cell edge (edges are
# multiples of 0.5), whereas a float just below an edge can round onto it when 360 is added.
lat_st = st.integers(-90_000, 90_000).map(lambda k: k / 1000)
lon_st = st.integers(-180_000, 179_999).map(lambda k: k / 1000)


@given(lat=lat_st, lon=lon_st, turns=st.integers(-3, 3))
def test_longitude_wraps(lat: float, lon: float, turns: int) -> None:
    assert over_land(lat, lon) == over_land(lat, lon + 360.0)
    assert over_land(lat, lon) == over_land(lat, lon + 360.0 * turns)


@given(lon=lon_st, excess=st.floats(min_value=0.0, max_value=1e6))
def test_latitude_is_clamped(lon: float, excess: float) -> None:
    assert over_land(90.0 + excess, lon) == over_land(90.0, lon) == over_land(89.9, lon)
    assert over_land(-90.0 - excess, lon) == over_land(-90.0, lon) == over_land(-89.9, lon)


def test_edges_of_the_longitude_range() -> None:
    assert over_land(-80.0, 180.0) == over_land(-80.0, -180.0)
    assert over_land(-80.0, -180.0 - 1e-14) == over_land(-80.0, 179.99)  # just west of -180 is the last column
    assert over_land(0.0, 1e300) in (True, False)  # huge but finite: still a cell


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        over_land(bad, 0.0)
    with pytest.raises(ValueError):
        over_land(0.0, bad)


def test_mask_shape_and_orientation() -> None:
    mask = land._mask()
    assert land.MASK_FILE.stat().st_size == 32_400
    assert mask.shape == (360, 720) and mask.dtype == bool
    assert mask[0].all()  # row 0 is the southernmost: Antarctica, land all round
    assert not mask[-1].any()  # the northernmost row is Arctic Ocean
    assert land._mask() is mask  # loaded once


def test_mask_is_package_data() -> None:
    """pyproject.toml declares the file as package data, so an installed wheel or an sdist carries it."""
    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    package_data = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    candidates = [("flight", "environment/land_mask.bin"), ("flight.environment", "land_mask.bin")]
    assert any(
        fnmatch(relative, pattern) for package, relative in candidates for pattern in package_data.get(package, [])
    ), package_data


# --- agreement with the source data --------------------------------------------------------------------

SUB_OFFSETS = np.array([-0.2, -0.1, 0.0, 0.1, 0.2])  # as documented in tools/make_land_mask.py


def test_agrees_with_global_land_mask() -> None:
    """At random points, the shipped bit is the majority of global-land-mask's 5 x 5 sub-samples of the
    point's cell, and (coasts aside) agrees with global-land-mask at the cell centre."""
    globe = pytest.importorskip("global_land_mask").globe
    rng = np.random.default_rng(20240601)
    n = 2000
    lats = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))  # uniform over the sphere's area
    lons = rng.uniform(-180.0, 180.0, n)
    centre_lats = (np.floor((lats + 90.0) / 0.5) + 0.5) * 0.5 - 90.0
    centre_lons = (np.floor((lons + 180.0) / 0.5) + 0.5) * 0.5 - 180.0

    ours = np.array([over_land(a, b) for a, b in zip(lats, lons)])
    sub_lats = (centre_lats[:, None, None] + SUB_OFFSETS[None, :, None]) * np.ones((1, 1, SUB_OFFSETS.size))
    sub_lons = (centre_lons[:, None, None] + SUB_OFFSETS[None, None, :]) * np.ones((1, SUB_OFFSETS.size, 1))
    votes = np.asarray(globe.is_land(sub_lats, sub_lons), dtype=bool).sum(axis=(1, 2))
    np.testing.assert_array_equal(ours, votes >= 13)

    at_centre = np.asarray(globe.is_land(centre_lats, centre_lons), dtype=bool)
    assert (ours == at_centre).mean() >= 0.97  # the whole-grid disagreement is ~0.5 % of the cells
    assert 0.2 < ours.mean() < 0.4  # the sample itself sees about the Earth's land fraction
