"""The sky the satellite flies under, from one propagated orbit: where it is, whether it is sunlit,
whether it is over the South Atlantic Anomaly, and when a ground station sees it.

Configured once, in the topology's ``[mission.orbit]`` table (:data:`ORBIT_SETTINGS`), for every
component that depends on it (:func:`mission_orbit`): the payload's power budget (sunlit), the
SEU rate (SAA), the link (passes, slant range). Mission time is UTC seconds since 1970
(flight.core.clock); nothing here reads a clock, so every answer is a function of the mission
time given, and runs are reproducible.

- Orbit: SGP4 (the ``sgp4`` package, the propagator TLEs are made for) from a two-line element
  set (``tle``) or from mean elements: by default a circular 750 km sun-synchronous orbit with
  its ascending node at 18:00 local time (dawn-dusk, as compute constellations fly), the
  inclination that makes it sun-synchronous at that altitude (J2 nodal precession of one turn a
  year), its node placed from the sun's right ascension at ``epoch``.
- Sun: the Astronomical Almanac's low-precision solar coordinates (about 0.01 degrees from 1950
  to 2050; no ephemeris file, nothing downloaded). Eclipse: the satellite is in the Earth's
  cylindrical shadow (umbra and penumbra not told apart, as mission analysis usually does first).
- Earth-fixed position: SGP4's TEME frame turned by Greenwich mean sidereal time (IAU 1982);
  polar motion and UT1 - UTC are neglected (tens of metres, under a second).
- SAA: the sub-satellite point inside ``saa_box`` (latitude and longitude bounds, degrees), by
  default latitude -50..0, longitude -90..+40: a box around the proton flux the AP8 model puts at
  500-800 km over the South Atlantic, the box mission analyses commonly use.
- Stations: each a name, WGS-84 latitude, longitude and height, and a minimum elevation; a pass is
  the time the satellite is above that elevation (flight.environment.passes finds them).

| requirement | verified by |
|---|---|
| the default orbit is a 750 km circular sun-synchronous dawn-dusk orbit | tests/unit/environment/test_orbit.py |
| the sub-satellite point agrees with skyfield's within 0.1 degree; the SAA flag follows it |   |
|   | tests/unit/environment/test_orbit.py |
| the sun at the 2026 equinox and solstice within 0.05 degree of the almanac; eclipse fraction |   |
|   of a noon-midnight orbit = asin(R/a) / pi | tests/unit/environment/test_orbit.py |
| a bad orbit table (one TLE line, a malformed TLE, a box out of range) is refused with one line |   |
|   | tests/unit/environment/test_orbit.py |
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from sgp4.api import WGS72, Satrec

from flight.core.clock import parse_epoch
from flight.core.settings import Setting, check_settings

EARTH_RADIUS_KM = 6378.137        # WGS-84 equatorial
FLATTENING = 1 / 298.257223563    # WGS-84
MU_KM3_S2 = 398600.8              # WGS-72 (the constants SGP4 uses)
J2 = 1.082616e-3
SSO_RATE = 2 * math.pi / (365.2421897 * 86400)   # rad/s: the node turns once a tropical year
UNIX_JD = 2440587.5               # Julian date of 1970-01-01T00:00Z
J2000_JD = 2451545.0
SGP4_EPOCH_JD = 2433281.5         # SGP4 counts epoch days from 1949-12-31T00:00Z


@dataclass(frozen=True)
class Station:
    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    min_elevation_deg: float = 5.0

    @functools.cached_property
    def ecef_km(self) -> np.ndarray:
        return geodetic_to_ecef(self.lat_deg, self.lon_deg, self.alt_m / 1000.0)


def julian(t: float) -> tuple[float, float]:
    """Mission time (UTC seconds since 1970) as a Julian date, split whole + fraction for SGP4."""
    days = t / 86400.0
    whole = math.floor(days)
    return UNIX_JD + whole, days - whole


def sun_direction(t: float) -> np.ndarray:
    """Unit vector to the sun, equator and equinox of date (Astronomical Almanac, low precision)."""
    n = (t / 86400.0 + UNIX_JD) - J2000_JD
    mean_longitude = math.radians((280.460 + 0.9856474 * n) % 360.0)
    anomaly = math.radians((357.528 + 0.9856003 * n) % 360.0)
    ecliptic = mean_longitude + math.radians(1.915 * math.sin(anomaly) + 0.020 * math.sin(2 * anomaly))
    obliquity = math.radians(23.439 - 0.0000004 * n)
    return np.array([math.cos(ecliptic), math.cos(obliquity) * math.sin(ecliptic),
                     math.sin(obliquity) * math.sin(ecliptic)])


def gmst(t: float) -> float:
    """Greenwich mean sidereal time, radians (IAU 1982, UT1 taken as UTC)."""
    d = (t / 86400.0 + UNIX_JD) - J2000_JD
    centuries = d / 36525.0
    degrees = 280.46061837 + 360.98564736629 * d + 0.000387933 * centuries ** 2
    return math.radians(degrees % 360.0)


def teme_to_ecef(position: np.ndarray, t: float) -> np.ndarray:
    angle = gmst(t)
    c, s = math.cos(angle), math.sin(angle)
    x, y, z = position
    return np.array([c * x + s * y, -s * x + c * y, z])


def geodetic_to_ecef(lat_deg: float, lon_deg: float, alt_km: float) -> np.ndarray:
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    e2 = FLATTENING * (2 - FLATTENING)
    n = EARTH_RADIUS_KM / math.sqrt(1 - e2 * math.sin(lat) ** 2)
    return np.array([(n + alt_km) * math.cos(lat) * math.cos(lon), (n + alt_km) * math.cos(lat) * math.sin(lon),
                     (n * (1 - e2) + alt_km) * math.sin(lat)])


def ecef_to_geodetic(position: np.ndarray) -> tuple[float, float, float]:
    """(latitude deg, longitude deg, height km) on WGS-84 (Bowring's iteration, to micro-degrees)."""
    x, y, z = position
    e2 = FLATTENING * (2 - FLATTENING)
    p = math.hypot(x, y)
    lat = math.atan2(z, p * (1 - e2))
    for _ in range(5):
        n = EARTH_RADIUS_KM / math.sqrt(1 - e2 * math.sin(lat) ** 2)
        height = p / math.cos(lat) - n
        lat = math.atan2(z, p * (1 - e2 * n / (n + height)))
    n = EARTH_RADIUS_KM / math.sqrt(1 - e2 * math.sin(lat) ** 2)
    return math.degrees(lat), math.degrees(math.atan2(y, x)), p / math.cos(lat) - n


class Orbit:
    """The propagated orbit and what depends on it; for one thread (each component makes its own)."""

    def __init__(self, satellite: Satrec, saa_box: tuple[float, float, float, float],
                 stations: tuple[Station, ...]) -> None:
        self.satellite, self.saa_box, self.stations = satellite, saa_box, stations
        self._last: tuple[float, np.ndarray] | None = None

    def position(self, t: float) -> np.ndarray:
        """Position in TEME, km."""
        if self._last is not None and self._last[0] == t:
            return self._last[1]
        error, position, _ = self.satellite.sgp4(*julian(t))
        if error:
            raise ValueError(f"SGP4 error {error} at mission time {t}: the orbit has decayed or is invalid")
        result = np.array(position)
        self._last = (t, result)
        return result

    def ecef(self, t: float) -> np.ndarray:
        return teme_to_ecef(self.position(t), t)

    def subpoint(self, t: float) -> tuple[float, float]:
        """(latitude, longitude) of the sub-satellite point, degrees."""
        lat, lon, _ = ecef_to_geodetic(self.ecef(t))
        return lat, lon

    def sunlit(self, t: float) -> bool:
        """Outside the Earth's cylindrical shadow."""
        r, sun = self.position(t), sun_direction(t)
        along = float(r @ sun)
        return along > 0 or float(np.linalg.norm(r - along * sun)) > EARTH_RADIUS_KM

    def in_saa(self, t: float) -> bool:
        lat, lon = self.subpoint(t)
        lat_min, lat_max, lon_min, lon_max = self.saa_box
        return lat_min <= lat <= lat_max and lon_min <= lon <= lon_max

    def elevation(self, station: Station, t: float) -> float:
        """Elevation of the satellite above ``station``'s horizon, degrees."""
        return look(station, self.ecef(t))[0]

    def slant_range_km(self, station: Station, t: float) -> float:
        return look(station, self.ecef(t))[1]

    def visible_station(self, t: float) -> Station | None:
        """The first station (in configured order) that sees the satellite at or above its minimum
        elevation: a pass is on. None between passes."""
        position = self.ecef(t)
        for station in self.stations:
            if look(station, position)[0] >= station.min_elevation_deg:
                return station
        return None


def look(station: Station, satellite_ecef: np.ndarray) -> tuple[float, float]:
    """(elevation deg, range km) of a satellite at ``satellite_ecef`` from ``station``."""
    lat, lon = math.radians(station.lat_deg), math.radians(station.lon_deg)
    up = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
    line = satellite_ecef - station.ecef_km
    distance = float(np.linalg.norm(line))
    return math.degrees(math.asin(float(line @ up) / distance)), distance


# --- configuration ----------------------------------------------------------------------------------
def sun_synchronous_inclination(altitude_km: float) -> float:
    """Degrees: the inclination whose J2 nodal precession turns the node once a year."""
    a = EARTH_RADIUS_KM + altitude_km
    n = math.sqrt(MU_KM3_S2 / a ** 3)
    return math.degrees(math.acos(-SSO_RATE / (1.5 * J2 * n * (EARTH_RADIUS_KM / a) ** 2)))


def satellite_from_elements(epoch: float, altitude_km: float, inclination_deg: float, ltan_h: float,
                            eccentricity: float = 0.0, arg_perigee_deg: float = 0.0,
                            mean_anomaly_deg: float = 10.0) -> Satrec:
    """An SGP4 satellite from mean elements at ``epoch`` (mission time); its node at local time
    ``ltan_h`` (the sun's right ascension + (ltan_h - 12) hours)."""
    sun = sun_direction(epoch)
    raan = (math.atan2(sun[1], sun[0]) + math.radians(15.0 * (ltan_h - 12.0))) % (2 * math.pi)
    a = EARTH_RADIUS_KM + altitude_km
    mean_motion = math.sqrt(MU_KM3_S2 / a ** 3) * 60.0          # rad/min
    satellite = Satrec()
    whole, fraction = julian(epoch)
    satellite.sgp4init(WGS72, "i", 1, whole + fraction - SGP4_EPOCH_JD, 0.0, 0.0, 0.0, eccentricity,
                       math.radians(arg_perigee_deg), math.radians(inclination_deg),
                       math.radians(mean_anomaly_deg), mean_motion, raan)
    return satellite


def _tle_reason(tle: list[Any]) -> str | None:
    if not tle:
        return None
    if len(tle) != 2 or not all(isinstance(line, str) for line in tle):
        return "a TLE is two lines, [\"1 ...\", \"2 ...\"]"
    satellite = Satrec.twoline2rv(tle[0], tle[1])
    return None if satellite.error == 0 and satellite.no_kozai > 0 else "not a valid two-line element set"


def _epoch_reason(text: str) -> str | None:
    try:
        parse_epoch(text)
    except ValueError:
        return "an ISO 8601 UTC time such as 2026-06-01T00:00:00Z"
    return None


def _box_reason(box: list[Any]) -> str | None:
    ok = (len(box) == 4 and all(isinstance(x, (int, float)) for x in box)
          and -90 <= box[0] < box[1] <= 90 and -180 <= box[2] < box[3] <= 180)
    return None if ok else "[lat_min, lat_max, lon_min, lon_max], degrees, each min below its max"


STATION_SETTINGS = {
    "name": Setting(str, "station", description="the station's name, in events and telemetry"),
    "lat_deg": Setting(float, 0.0, -90.0, 90.0, description="WGS-84 latitude"),
    "lon_deg": Setting(float, 0.0, -180.0, 180.0, description="longitude, east positive"),
    "alt_m": Setting(float, 0.0, -500.0, 9000.0, description="height above the ellipsoid"),
    "min_elevation_deg": Setting(float, 5.0, 0.0, 90.0, description="the satellite is in view above this"),
}
SVALBARD = {"name": "svalbard", "lat_deg": 78.23, "lon_deg": 15.41, "alt_m": 500.0, "min_elevation_deg": 5.0}

ORBIT_SETTINGS = {
    "tle": Setting(list, [], check=_tle_reason, description="a two-line element set; when given, the elements "
                                                           "below are not used"),
    "epoch": Setting(str, "2026-01-01T00:00:00Z", check=_epoch_reason,
                     description="UTC epoch of the elements below (ISO 8601)"),
    "altitude_km": Setting(float, 750.0, 160.0, 2000.0, description="circular altitude above the equator"),
    "sun_synchronous": Setting(bool, True, description="take the sun-synchronous inclination for the altitude"),
    "inclination_deg": Setting(float, 98.0, 0.0, 180.0, description="used when sun_synchronous is false"),
    "ltan_h": Setting(float, 18.0, 0.0, 24.0, description="local time of the ascending node (18: dawn-dusk)"),
    "eccentricity": Setting(float, 0.0, 0.0, 0.5),
    "arg_perigee_deg": Setting(float, 0.0, 0.0, 360.0),
    "mean_anomaly_deg": Setting(float, 10.0, 0.0, 360.0,
                                description="where the satellite is at the epoch (10: just past the ascending "
                                            "node, clear of the SAA for the first hours)"),
    "saa_box": Setting(list, [-50.0, 0.0, -90.0, 40.0], check=_box_reason,
                       description="[lat_min, lat_max, lon_min, lon_max] of the South Atlantic Anomaly, "
                                   "degrees"),
    "stations": Setting(list, [SVALBARD], item=Setting(dict, {}, fields=STATION_SETTINGS),
                        description="ground stations (name, lat_deg, lon_deg, alt_m, min_elevation_deg)"),
}


def mission_orbit(mission: Mapping[str, Any]) -> Orbit:
    """The orbit the topology's ``[mission.orbit]`` table describes (defaults where it is silent):
    one orbit for every component that depends on it."""
    config = check_settings("mission.orbit", mission.get("orbit", {}), ORBIT_SETTINGS)
    if config["tle"]:
        satellite = Satrec.twoline2rv(*config["tle"])
    else:
        inclination = (sun_synchronous_inclination(config["altitude_km"]) if config["sun_synchronous"]
                       else config["inclination_deg"])
        satellite = satellite_from_elements(parse_epoch(config["epoch"]), config["altitude_km"], inclination,
                                            config["ltan_h"], config["eccentricity"], config["arg_perigee_deg"],
                                            config["mean_anomaly_deg"])
    stations = tuple(Station(**station) for station in config["stations"])
    return Orbit(satellite, tuple(config["saa_box"]), stations)
