"""The durable TM store and the acknowledged downlink against real processes (issue 12): what the
flight stored comes down exactly once, whoever is killed.

Each scenario images 60 frames, so products, events and housekeeping flow, and at a moment drawn
from the seed kills (SIGKILL) the flight, the ground, or both, or has the ground stop reading
and go away; then a flight on the same run directory and a ground on the same archive carry on
until the flight shuts down cleanly. The oracle is the flight's store itself: every record it
holds (acknowledged or not) must be in the ground's archive exactly once, none evicted, refused
or corrupt, and the archive must hold nothing the store never had.
"""
from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ground_sim.api import IntegrationApi
from ground_sim.flight_process import FlightProcess

GROUND = """
import sys, time
from flight.wire.dictionary import Dictionary
from ground_sim.station import GroundStation
station = GroundStation(Dictionary.load(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], keys=sys.argv[5],
                        link_state=sys.argv[6]).start()
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def ground_process(flight: FlightProcess, archive: Path) -> subprocess.Popen:
    ready = flight.ready
    process = subprocess.Popen([sys.executable, "-c", GROUND, ready["dictionary"], ready["tc_endpoint"],
                                ready["tm_endpoint"], str(archive), str(flight.ground_keys),
                                str(flight.ground_keys.with_suffix(".state"))], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def stored_and_archived(run_dir: Path, archive: Path) -> tuple[dict, list]:
    with sqlite3.connect(run_dir / "tm_store.sqlite") as store:
        records = {(apid, stamp): state for apid, stamp, state in
                   store.execute("SELECT apid, time, state FROM records")}
    with sqlite3.connect(archive) as db:
        keys = db.execute("SELECT apid, time_cuc FROM packets WHERE direction = 'down' AND time_cuc IS NOT NULL"
                          ).fetchall()
    return records, keys


def live_up_to(run_dir: Path, last_id: int) -> int:
    """How many of the store's records up to ``last_id`` are still unacknowledged."""
    with sqlite3.connect(run_dir / "tm_store.sqlite") as store:
        return store.execute("SELECT COUNT(*) FROM records WHERE state = 0 AND id <= ?", (last_id,)).fetchone()[0]


def finish(flight: FlightProcess, archive: Path) -> None:
    """A ground on ``archive`` until the imaging is over and the store has been sent, then a clean stop.

    "Sent" is judged by the store itself: every record it held when the imaging ended must be
    acknowledged (housekeeping stored since then is still coming down, and is checked after the stop).
    """
    api = IntegrationApi(flight.connect(archive), process=flight)
    api.await_telemetry("camera.FramesRemaining", lambda v: v == 0, timeout=60)
    with sqlite3.connect(flight.run_dir / "tm_store.sqlite") as store:
        last_id = store.execute("SELECT MAX(id) FROM records").fetchone()[0]
    deadline = time.monotonic() + 90
    while (left := live_up_to(flight.run_dir, last_id)) > 0:
        assert time.monotonic() < deadline, f"{left} packets stored before the imaging ended still unacknowledged"
        time.sleep(0.2)
    api.send_and_assert_command("executive.SHUTDOWN")
    assert flight.wait(30) == 0
    time.sleep(1.0)                                       # what the flight sent as it stopped arrives
    assert api.station.close() is None


@pytest.mark.parametrize("seed, killed", [(1, "flight"), (2, "ground"), (3, "both"), (4, "ground goes away")])
def test_what_the_flight_stored_comes_down_exactly_once_whoever_is_killed(tmp_path, demo_model, seed, killed):
    moment = random.Random(seed).uniform(0.5, 2.5)
    run_dir, archive = tmp_path / "flight", tmp_path / "ground" / "archive.sqlite"
    archive.parent.mkdir()
    overrides = [f'cluster.model="{demo_model}"', "comms.ack_timeout=3.0"]
    flight = FlightProcess(run_dir, None, overrides)
    flight.start()
    try:
        api = IntegrationApi(flight.connect(archive), process=flight)
        api.send_and_assert_command("camera.START_IMAGING", [60, 0])
        if killed == "ground goes away":
            time.sleep(moment)
            api.station.link.close()                      # stops reading; its queue goes with it
            time.sleep(2.0)
            api.station.close()
        else:
            api.station.close()
            ground = ground_process(flight, archive)
            time.sleep(moment)
            if killed in ("ground", "both"):
                ground.send_signal(signal.SIGKILL)
            if killed in ("flight", "both"):
                flight.process.send_signal(signal.SIGKILL)
                flight.wait(10)
                flight.kill()
                flight = FlightProcess(run_dir, None, overrides)
                flight.start()
            ground.kill()
            ground.wait(10)
        finish(flight, archive)
    finally:
        flight.kill()
    records, keys = stored_and_archived(run_dir, archive)
    assert len(keys) == len(set(keys))                    # nothing archived twice
    assert set(keys) == set(records)                      # every stored packet archived, nothing else
    assert set(records.values()) <= {0, 1}                # live or acknowledged: none evicted or corrupt
    assert sum(1 for state in records.values() if state == 1) > 0.5 * len(records)
