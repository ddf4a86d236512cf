"""Tests of flight.environment.orbit and .passes: the default orbit is what it says, and the
sub-satellite point, the SAA flag and the passes agree with skyfield (its own SGP4 wrapper,
time scales and Earth-fixed frames: an independent computation, with no file downloaded); the
sun and the eclipse against the almanac and geometry."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from skyfield.api import EarthSatellite, load, wgs84

from flight.core.clock import parse_epoch
from flight.core.settings import SettingError, check_settings
from flight.environment.orbit import (EARTH_RADIUS_KM, ORBIT_SETTINGS, mission_orbit, sun_direction,
                                      sun_synchronous_inclination)
from flight.environment.passes import passes

EPOCH = parse_epoch("2026-01-01T00:00:00Z")   # the default elements' epoch
DAY = 86400.0
ORBIT = mission_orbit({})
TIMESCALE = load.timescale(builtin=True)
SKY_SATELLITE = EarthSatellite.from_satrec(ORBIT.satellite, TIMESCALE)
ISS = ["1 25544U 98067A   26152.50000000  .00016717  00000-0  30000-3 0  9990",
       "2 25544  51.6400 200.0000 0004000  90.0000 270.0000 15.50000000400000"]


def skyfield_time(t: float):
    return TIMESCALE.from_datetime(datetime.fromtimestamp(t, timezone.utc))


def test_the_default_orbit_is_a_750_km_circular_sun_synchronous_dawn_dusk_orbit():
    heights = [np.linalg.norm(ORBIT.position(EPOCH + k * 60.0)) - EARTH_RADIUS_KM for k in range(1440)]
    assert 735 < min(heights) and max(heights) < 765
    assert math.degrees(ORBIT.satellite.inclo) == pytest.approx(sun_synchronous_inclination(750.0))
    assert 98.0 < sun_synchronous_inclination(750.0) < 98.8
    assert 2 * math.pi / ORBIT.satellite.no_kozai == pytest.approx(99.8, abs=0.2)     # minutes
    sun = sun_direction(EPOCH)
    node_hours = (math.degrees(ORBIT.satellite.nodeo - math.atan2(sun[1], sun[0])) / 15.0 + 12.0) % 24.0
    assert node_hours == pytest.approx(18.0, abs=0.01)                                   # dawn-dusk


@settings(max_examples=60, deadline=None)
@given(offset=st.floats(0.0, DAY))
def test_the_sub_satellite_point_and_the_saa_flag_agree_with_skyfield(offset):
    t = EPOCH + offset
    lat, lon = ORBIT.subpoint(t)
    point = wgs84.subpoint_of(SKY_SATELLITE.at(skyfield_time(t)))
    their_lat, their_lon = point.latitude.degrees, point.longitude.degrees
    assert lat == pytest.approx(their_lat, abs=0.1)
    assert (lon - their_lon + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=0.1)
    lat_min, lat_max, lon_min, lon_max = ORBIT.saa_box
    margin = 0.1
    inside = lat_min + margin <= their_lat <= lat_max - margin and lon_min + margin <= their_lon <= lon_max - margin
    outside = not (lat_min - margin <= their_lat <= lat_max + margin
                   and lon_min - margin <= their_lon <= lon_max + margin)
    if inside or outside:
        assert ORBIT.in_saa(t) is bool(inside)


@pytest.mark.parametrize("when, declination", [("2026-03-20T14:46:00Z", 0.0), ("2026-06-21T08:24:00Z", 23.436),
                                               ("2026-12-21T20:50:00Z", -23.436)])
def test_the_sun_at_the_2026_equinox_and_solstices(when, declination):
    sun = sun_direction(parse_epoch(when))
    assert math.degrees(math.asin(sun[2])) == pytest.approx(declination, abs=0.05)
    assert np.linalg.norm(sun) == pytest.approx(1.0)


def test_a_noon_midnight_orbit_at_the_equinox_is_in_shadow_asin_r_over_a_over_pi_of_the_time():
    start = parse_epoch("2026-03-20T14:46:00Z")
    orbit = mission_orbit({"orbit": {"ltan_h": 12.0, "epoch": "2026-03-20T14:46:00Z"}})
    shadowed = sum(not orbit.sunlit(start + k * 10.0) for k in range(8640)) / 8640
    assert shadowed == pytest.approx(math.asin(EARTH_RADIUS_KM / (EARTH_RADIUS_KM + 750.0)) / math.pi, abs=0.01)
    june = parse_epoch("2026-06-01T00:00:00Z")
    dawn_dusk = mission_orbit({"orbit": {"ltan_h": 6.0, "epoch": "2026-06-01T00:00:00Z"}})
    assert all(dawn_dusk.sunlit(june + k * 30.0) for k in range(2880))    # beta beyond the shadow in June


def test_passes_agree_with_skyfield_within_a_second():
    station = ORBIT.stations[0]
    ours = passes(ORBIT, station, EPOCH, EPOCH + DAY)
    topos = wgs84.latlon(station.lat_deg, station.lon_deg, elevation_m=station.alt_m)
    times, kinds = SKY_SATELLITE.find_events(topos, skyfield_time(EPOCH), skyfield_time(EPOCH + DAY),
                                             altitude_degrees=station.min_elevation_deg)
    rises = [t.utc_datetime().timestamp() for t, kind in zip(times, kinds) if kind == 0]
    sets = [t.utc_datetime().timestamp() for t, kind in zip(times, kinds) if kind == 2]
    assert len(ours) == len(rises) == len(sets) >= 10                      # Svalbard sees most orbits
    assert max(abs(p.rise - r) for p, r in zip(ours, rises)) < 1.0
    assert max(abs(p.set - s) for p, s in zip(ours, sets)) < 1.0
    assert all(p.max_elevation >= station.min_elevation_deg for p in ours)


def test_a_tle_flies_as_sgp4_has_it():
    orbit = mission_orbit({"orbit": {"tle": ISS}})
    assert math.degrees(orbit.satellite.inclo) == pytest.approx(51.64)
    t = parse_epoch("2026-06-01T12:00:00Z")
    assert np.linalg.norm(orbit.position(t)) - EARTH_RADIUS_KM == pytest.approx(410, abs=30)


@pytest.mark.parametrize("table, words", [
    ({"tle": [ISS[0]]}, "two lines"),
    ({"tle": [ISS[0], ISS[0]]}, "not a valid two-line element set"),
    ({"saa_box": [0, -50, -90, 40]}, "each min below its max"),
    ({"epoch": "June"}, "ISO 8601"),
    ({"altitude_km": 50.0}, "from 160 to 2,000"),
    ({"stations": [{"name": "x", "lat_deg": 95.0}]}, "lat_deg"),
])
def test_a_bad_orbit_table_is_refused_with_one_line(table, words):
    with pytest.raises(SettingError) as refused:
        check_settings("mission.orbit", table, ORBIT_SETTINGS)
    assert words in str(refused.value) and "\n" not in str(refused.value)
