"""A flight run writes each log record once: the flight's to flight.log, each card worker's to its
own file beside it, and none to flight.out (the flight's stdout and stderr), which keeps only what
is not a log record (flight/core/log_files.py, ground_sim/flight_process.py)."""
from __future__ import annotations

import re
import time

from ground_sim.flight_process import FlightProcess

RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def test_one_log_file_per_process_and_no_record_in_flight_out(tmp_path, demo_model):
    run_dir = tmp_path / "flight"
    process = FlightProcess(run_dir, None, [f'cluster.model="{demo_model}"'])
    process.start()
    deadline = time.monotonic() + 60       # the card workers boot after the flight is ready
    while len(cards := sorted(run_dir.glob("flight.card*.log"))) < 3 or not all(c.stat().st_size for c in cards):
        assert process.alive() and time.monotonic() < deadline, process.output_tail()
        time.sleep(0.1)
    process.kill()      # SIGTERM: the flight stops (its cards too) and exits
    assert process.process.returncode == 0
    flight_log = (run_dir / "flight.log").read_text().splitlines()
    assert flight_log and all(RECORD.match(line) or line.startswith((" ", "Traceback")) for line in flight_log)
    assert [c.name for c in cards] == ["flight.card0.log", "flight.card1.log", "flight.card2.log"]
    for card in cards:
        lines = card.read_text().splitlines()
        assert re.search(rf"{card.stem.split('.')[1]} pid \d+: model CRC-32C [0-9a-f]{{8}}, providers", lines[0])
        assert not set(lines) & set(flight_log)
    out = (run_dir / "flight.out").read_text().splitlines()
    assert not [line for line in out if RECORD.match(line) or line in flight_log], out
