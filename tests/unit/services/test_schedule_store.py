"""Tests of the durable schedule (flight/services/schedule_store.py) against crashes.

A writer process inserts activities and releases them as fast as it can ("released N" printed
after each hand-over, i.e. after ``take_due`` returned and before ``handed``), and is killed with
SIGKILL at moments drawn from a seed, three times over, restarted each time on the same file. What
it printed and what the store holds afterwards must account for every activity it ever inserted
exactly once: still pending, or released, or reported in doubt (an activity may be both released
and in doubt, when the kill fell between its hand-over and ``handed``), and none released twice.
Corruption is made by writing garbage in place of the database.
"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest

from flight.services.schedule_store import ScheduleStore
from flight.wire.pus import Telecommand
from flight.wire.scheduling import Activity

WRITER = """
import sys
from flight.services.schedule_store import ScheduleStore
from flight.wire.pus import Telecommand
from flight.wire.scheduling import Activity
store = ScheduleStore(sys.argv[1])
for activity in store.in_doubt:
    print("doubt", activity.release, flush=True)
store.handed()
n = 1 + max([int(sys.argv[2])] + [a.release for a in store.activities()])
while True:
    store.insert([Activity(k, Telecommand(1, k % 16384, 17, 1, source_id=k >> 14).encode()) for k in range(n, n + 5)])
    n += 5
    released, _ = store.take_due(n - 3, 4)
    for activity in released:
        print("released", activity.release, flush=True)
    store.handed()
"""


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_a_writer_killed_at_any_instant_releases_each_activity_at_most_once_and_loses_none(tmp_path, seed):
    path, draw = tmp_path / "schedule.sqlite", random.Random(seed)
    released: list[int] = []
    doubt: set[int] = set()
    last = -1
    for _ in range(3):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(last)], stdout=subprocess.PIPE,
                                  text=True)
        time.sleep(0.6 + draw.uniform(0.0, 0.4))
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate()
        for kind, number in (line.split() for line in out.split("\n")[:-1]):   # a line the kill cut: in doubt
            (released.append if kind == "released" else doubt.add)(int(number))
        last = max([last, *released, *doubt])
    store = ScheduleStore(path)
    doubt |= {a.release for a in store.in_doubt}
    pending = {a.release for a in store.activities()}
    assert len(released) > 100                                      # it ran a while each time
    assert len(released) == len(set(released))                      # never released twice
    assert not pending & (set(released) | doubt)
    everything = pending | set(released) | doubt
    assert everything == set(range(max(everything) + 1))            # none lost without a word
    store.close()


def test_an_unreadable_schedule_is_moved_aside_and_an_empty_one_started(tmp_path):
    path = tmp_path / "schedule.sqlite"
    store = ScheduleStore(path)
    store.insert([Activity(5, Telecommand(1, 1, 17, 1).encode())])
    store.close()
    path.write_bytes(b"not a database" * 500)
    again = ScheduleStore(path)
    assert again.recovered and "moved aside" in again.recovered
    assert again.activities() == [] and again.pending == 0
    assert (tmp_path / "schedule.sqlite.corrupt-1").read_bytes().startswith(b"not a database")
    again.close()
