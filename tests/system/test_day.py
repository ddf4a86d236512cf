"""The accelerated day (``orbitfs-sil --day``, ground_sim/day.py) as a user runs it, shortened to
four hours (three passes over Svalbard) at 5 % bursty loss and a bit error rate of 1e-6 on the
downlink: every check of its summary passes (the dictionary's digest included), the summary has no
Python repr, an ETA on its progress lines and the upsets explained, and its ``--json`` and ``--junit``
files hold the checks it printed; the passes the flight reported (its PassStarted and
PassEnded events, in the archive) agree with skyfield's within a second; the archive holds no
packet the flight did not store, byte for byte, and every product the flight stored is in it.
"""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
from skyfield.api import EarthSatellite, load, wgs84

from flight.core.clock import parse_epoch
from flight.environment.orbit import mission_orbit
from flight.services.tm_store import State, StoreClass
from native import crc32c

pytestmark = pytest.mark.slow
EPOCH = parse_epoch("2026-01-01T00:00:00Z")
HOURS = 4.0


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("day") / "run"
    result = subprocess.run([sys.executable, "-m", "ground_sim.sil", "--day", "--hours", str(HOURS), "--speedup",
                             "800", "--loss", "0.05", "--burst", "4", "--ber", "1e-6", "--run-dir", str(run_dir),
                             "--json", str(run_dir.parent / "day.json"), "--junit", str(run_dir.parent / "day.xml")],
                            capture_output=True, text=True, timeout=600)
    return result, run_dir


def test_the_day_passes_every_check_of_its_summary(day):
    result, _ = day
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "RESULT: PASS" in result.stdout
    for check in ("every product down or counted", "archive holds no corrupted packet",
                  "alerts by the first pass after capture", "passes as the orbit gives them", "archive complete"):
        assert f"[PASS] {check}" in result.stdout
    lost, corrupted = (int(n.replace(",", "")) for n in result.stdout.split("lost / corrupted / refused by CRC")[1]
                       .split()[:3:2])
    assert lost > 0 and corrupted > 0                       # the link did lose and corrupt frames
    assert "[PASS] dictionary matches" in result.stdout
    summary = result.stdout[result.stdout.index("================ SIL day summary"):]
    assert "{" not in summary and "[" not in summary.replace("[PASS]", "").replace("[FAIL]", "")
    assert re.search(r"ETA (--|\s*\d+ s)$", result.stdout.split("first pass over")[1].splitlines()[1])
    assert re.search(r"upsets detected / repaired / uncorr\. +\d+ / \d+ / \d+", summary)
    assert re.search(r"injected \d+ = \d+ found", summary)


def test_the_days_json_and_junit_hold_its_checks(day):
    result, run_dir = day
    printed = re.findall(r"\[(PASS|FAIL)\] ([^:]+): (.*)", result.stdout)
    data = json.loads((run_dir.parent / "day.json").read_text())
    assert [(c["name"], c["passed"]) for c in data["checks"]] == [(name, v == "PASS") for v, name, _ in printed]
    assert data["config"]["kind"] == "day" and data["config"]["hours"] == HOURS
    rows = {row["name"]: row["value"] for row in data["rows"]}
    assert rows["products produced / on the ground"]["produced"] > 50
    cases = ET.parse(run_dir.parent / "day.xml").getroot().findall("testsuite/testcase")
    assert [case.get("name") for case in cases] == [name for _, name, _ in printed]


def sky_passes():
    orbit = mission_orbit({})
    station = orbit.stations[0]
    scale = load.timescale(builtin=True)
    satellite = EarthSatellite.from_satrec(orbit.satellite, scale)
    at = lambda t: scale.from_datetime(datetime.fromtimestamp(t, timezone.utc))  # noqa: E731
    times, kinds = satellite.find_events(wgs84.latlon(station.lat_deg, station.lon_deg, elevation_m=station.alt_m),
                                         at(EPOCH), at(EPOCH + HOURS * 3600),
                                         altitude_degrees=station.min_elevation_deg)
    return [(t.utc_datetime().timestamp(), kind) for t, kind in zip(times, kinds) if kind in (0, 2)]


def test_the_flights_passes_agree_with_skyfield_within_a_second(day):
    _, run_dir = day
    with sqlite3.connect(run_dir / "archive.sqlite") as db:
        decoded = [json.loads(d) for (d,) in db.execute("SELECT decoded FROM packets WHERE direction = 'down'")]
    events = [d["value"] for d in decoded if d["kind"] == "event" and d["value"]["name"].startswith("transmitter.Pass")]
    reported = sorted((e["args"]["at"], 0 if e["name"].endswith("Started") else 2) for e in events)
    expected = sky_passes()
    assert len(expected) >= 5
    assert len(reported) >= len(expected) - 1              # the last LOS is reported after the last pass
    for (t, kind), (sky_t, sky_kind) in zip(reported, expected):
        assert kind == sky_kind and abs(t - sky_t) < 1.0


def test_every_product_stored_is_in_the_archive_once_and_every_packet_there_is_the_flights(day):
    _, run_dir = day
    with sqlite3.connect(run_dir / "tm_store.sqlite") as db:
        stored = {(a, t): (c, crc, state) for a, t, c, crc, state in db.execute(
            "SELECT apid, time, class, crc, state FROM records")}
    with sqlite3.connect(run_dir / "archive.sqlite") as db:
        rows = list(db.execute("SELECT apid, time_cuc, raw FROM packets WHERE direction = 'down'"))
    keys = [(a, t) for a, t, _ in rows]
    assert len(keys) == len(set(keys)) > 1000
    assert all(crc32c(bytes(raw)) == stored[(a, t)][1] for a, t, raw in rows)
    products = {k for k, (c, _, state) in stored.items() if c in (StoreClass.ALERT, StoreClass.PRODUCT)
                and state not in (State.EVICTED, State.CORRUPT)}      # those are counted in the summary
    assert len(products) > 50 and products <= set(keys)
