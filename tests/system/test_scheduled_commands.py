"""The time-based schedule (ST[11], flight.services.time_schedule) against a real flight process over
real sockets: 1,000 time-tagged commands run once each, at their tick, across a SIGKILL and a
restart in the middle of the schedule.

The commands are ``dispatcher.NO_OP_STRING`` with a text of their own, ten per release time, one
release time every simulated second, inserted by the scenario API (``schedule_many``) in as few
TC[11,4] as fit. The flight is killed (SIGKILL) half-way, between two release times (the mission
time it publishes says when), and started again on the same run directory; then the ground on the
same archive waits for the rest. Oracles: the flight log, which the process writes line by line
(each ``NoOpString`` event is the command having run: exactly one line per text across both
runs), and the ground's archive (each command's ``NoOpString`` event came down stamped with the
mission time of the tick it ran in, within one tick of its release time, and its ST[1] completion
came down). A kill during a release (after it is recorded, before it runs) would leave its
activities in doubt, never run: the kill is placed between release times for this test to measure
exactly once; tests/unit/services/test_time_schedule.py and test_schedule_store.py cover the kill
at any instant.
"""
from __future__ import annotations

import json
import re
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

from flight.core.clock import BEACON_FILE, BeaconReader
from ground_sim.api import IntegrationApi
from ground_sim.console import Console
from ground_sim.flight_process import FlightProcess

COUNT, PER_INSTANT, SPACING_S, LEAD_S, TICK_S = 1000, 10, 1.0, 40.0, 0.1


def mission_time(run_dir: Path) -> float:
    reader = BeaconReader(run_dir / BEACON_FILE)
    try:
        return reader.read() or 0.0
    finally:
        reader.close()


def archived(archive: Path) -> tuple[dict[str, float], set[str]]:
    """What came down: each NoOpString text with the mission time of its packet; the request ids
    (hex) of the completions reported."""
    texts: dict[str, float] = {}
    completions: set[str] = set()
    with sqlite3.connect(archive) as db:
        for (decoded,) in db.execute("SELECT decoded FROM packets WHERE direction = 'down' AND decoded IS NOT NULL"):
            packet = json.loads(decoded)
            value = packet["value"]
            if packet["kind"] == "event" and value["name"] == "dispatcher.NoOpString":
                texts[value["args"]["text"]] = packet["time"]
            elif packet["kind"] == "verification" and value["stage"] == "COMPLETION" and value["success"]:
                completions.add(value["request_id"])
    return texts, completions


def test_1000_time_tagged_commands_run_once_each_at_their_tick_across_a_sigkill(tmp_path, demo_model):
    began = time.monotonic()
    run_dir, archive = tmp_path / "flight", tmp_path / "ground" / "archive.sqlite"
    archive.parent.mkdir()
    overrides = [f'cluster.model="{demo_model}"', "clock.speedup=10.0", "comms.ack_timeout=3.0",
                 "timeSchedule.enabled=true"]
    flight = FlightProcess(run_dir, None, overrides)
    flight.start()
    try:
        api = IntegrationApi(flight.connect(archive), process=flight)
        first = api.mission_time() + LEAD_S                     # on the tick grid, as the beacon is
        due = {f"act-{k:04d}": first + (k // PER_INSTANT) * SPACING_S for k in range(COUNT)}
        uploaded = time.monotonic()
        records = api.schedule_many([(at, "dispatcher.NO_OP_STRING", [text]) for text, at in due.items()], timeout=60)
        upload_s, upload_margin = time.monotonic() - uploaded, first - mission_time(run_dir)
        assert upload_margin > 0, "the schedule went up after its first release time"
        middle = first + (COUNT // PER_INSTANT // 2 + 0.8) * SPACING_S   # between two release times
        while mission_time(run_dir) < middle:
            time.sleep(0.002)
        flight.process.send_signal(signal.SIGKILL)
        killed_at = mission_time(run_dir)
        flight.wait(10)
        flight.kill()
        api.station.close()
        flight = FlightProcess(run_dir, None, overrides)
        flight.start()
        api = IntegrationApi(flight.connect(archive), process=flight)
        api.await_telemetry("timeSchedule.Released", lambda n: n >= COUNT // 2 - PER_INSTANT, timeout=60)
        deadline = time.monotonic() + 60
        while len(archived(archive)[0]) < COUNT or len(archived(archive)[1]) < COUNT:
            assert time.monotonic() < deadline, f"{len(archived(archive)[0])} commands came down"
            time.sleep(0.5)
        api.send_and_assert_command("executive.SHUTDOWN")
        assert flight.wait(30) == 0
        assert api.station.close() is None
    finally:
        flight.kill()
    log = (run_dir / "flight.log").read_text()
    runs = Counter(re.findall(r"dispatcher\.NoOpString: No-op: (act-\d{4})", log))
    assert set(runs) == set(due) and set(runs.values()) == {1}          # each ran exactly once
    assert "ActivityInDoubt" not in log and "ActivitySkipped" not in log
    released_late = [float(x) for x in re.findall(r"timeSchedule\.ActivityReleased: .* (-?[\d.]+) s late", log)]
    texts, completions = archived(archive)
    lateness = [texts[text] - at for text, at in due.items()]
    assert min(lateness) > -1e-6 and max(lateness) < TICK_S - 1e-6      # at its tick: within one
    assert {r.request_id.hex() for r in records} <= completions          # each reported through ST[1]
    assert len(released_late) == COUNT, [line for line in log.splitlines() if "ActivityReleased" in line][:3]
    assert max(released_late) < TICK_S and min(released_late) > -1e-3
    print(f"\n{COUNT} commands, upload {upload_s:.1f} s ({upload_margin:.1f} s of mission time to spare), "
          f"killed at +{killed_at - first:.1f} s of the schedule ({sum(t < killed_at for t in due.values())} "
          f"released before); ran once each: {len(runs)}; "
          f"max lateness {max(lateness) / TICK_S:.2f} ticks (ground), {max(released_late) / TICK_S:.2f} ticks "
          f"(flight); {time.monotonic() - began:.1f} s in all")


def test_the_readme_example_works_as_written(flight, readme_example):
    readme_example("flight.schedule(")(flight)


def test_the_ground_reports_deletes_shifts_and_resets_the_schedule(flight):
    at = flight.mission_time() + 600.0
    records = flight.schedule_many([(at + k, "dispatcher.NO_OP_STRING", [f"later-{k}"]) for k in range(3)])
    report = flight.schedule_report()
    assert [a.request_id.sequence for a in report] == [int.from_bytes(r.request_id[2:], "big") & 0x3FFF
                                                       for r in records]
    assert [round(a.release_seconds - at, 3) for a in report] == [0.0, 1.0, 2.0]
    flight.schedule_control("delete", records=records[1:2])
    flight.schedule_control("shift", 10.0, records=records[:1])
    flight.schedule_control("shift", -5.0)
    assert [round(a.release_seconds - at, 3) for a in flight.schedule_report()] == [-3.0, 5.0]
    flight.schedule_control("reset")
    assert flight.schedule_report() == []
    flight.await_telemetry("timeSchedule.Pending", 0)


def test_the_console_schedules_and_reports(flight, capsys):
    console = Console(flight)
    try:
        console.onecmd("sched +600 dispatcher.NO_OP_STRING 'from the console'")
        assert "scheduled at " in capsys.readouterr().out
        console.onecmd("sched report")
        [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("  ")]
        assert line.split()[1].startswith("0/1/") and b"from the console" in bytes.fromhex(line.split()[2])
        console.onecmd("sched nonsense")
        assert "usage" in capsys.readouterr().out
        console.onecmd("sched +600 no.SUCH")
        assert "refused" in capsys.readouterr().out
    finally:
        console.onecmd("quit")
