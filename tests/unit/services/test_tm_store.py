"""Tests of the durable TM store (flight/services/tm_store.py).

A model (a plain dict of what should be live, and the numbers each APID stored) is the oracle
for random sequences of appends, takes, acknowledgements (right and wrong) and reopenings. A
writer process killed with SIGKILL while it commits shows that every commit it reported is on
disk. Corruption is made by writing into the database behind the store's back.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from flight.services.tm_store import AckRefused, NewRecord, State, StoreClass, TmStore

APIDS = (0x10, 0x20)


def record(apid: int, n: int, cls: StoreClass = StoreClass.HOUSEKEEPING, size: int = 20) -> NewRecord:
    return NewRecord(bytes([n % 256]) * size, apid, n, 1000 + n, cls, 0, float(n))


class Model:
    """What the store should hold: live records by (apid, n), and every n stored per APID."""

    def __init__(self) -> None:
        self.live: dict[tuple[int, int], StoreClass] = {}
        self.stored: dict[int, list[int]] = {apid: [] for apid in APIDS}


operations = st.lists(st.one_of(
    st.tuples(st.just("append"), st.lists(st.tuples(st.sampled_from(APIDS), st.sampled_from(list(StoreClass))),
                                          min_size=1, max_size=6)),
    st.tuples(st.just("take"), st.integers(1, 10)),
    st.tuples(st.just("ack"), st.sampled_from(APIDS), st.integers(0, 30), st.integers(0, 30), st.integers(-1, 1)),
    st.tuples(st.just("reopen"),),
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(ops=operations)
def test_the_store_holds_what_a_model_of_it_says_across_reopening(ops):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.sqlite"
        store, model, ids = TmStore(path, capacity=1 << 30), Model(), {}
        for op in ops:
            if op[0] == "append":
                batch = []
                for apid, cls in op[1]:
                    n = len(model.stored[apid])
                    model.stored[apid].append(n)
                    batch.append(record(apid, n, cls))
                counters = {f"seq:{apid}": len(model.stored[apid]) for apid in APIDS}
                for new, rid in zip(batch, store.append(batch, counters)):
                    ids[(new.apid, new.n)] = rid
                    model.live[(new.apid, new.n)] = new.cls
            elif op[0] == "take":
                expected = sorted(model.live, key=lambda key: (model.live[key], ids[key]))[:op[1]]
                assert [(r.apid, r.n) for r in store.take(op[1])] == expected
            elif op[0] == "ack":
                _, apid, first, length, error = op
                numbers = model.stored[apid]
                if not numbers:
                    with pytest.raises(AckRefused, match="holds no packet"):
                        store.acknowledge(apid, 1000 + first, 1000 + first + length, length + 1)
                    continue
                first = first % len(numbers)
                last = min(len(numbers) - 1, first + length % 8)
                length = last - first
                if error:
                    with pytest.raises(AckRefused, match="the ground says"):
                        store.acknowledge(apid, 1000 + first, 1000 + last, length + 1 + error)
                    continue
                gone = [n for n in range(first, last + 1) if model.live.pop((apid, n), None) is not None]
                assert len(store.acknowledge(apid, 1000 + first, 1000 + last, length + 1)) == len(gone)
            else:
                store.close()
                store = TmStore(path, capacity=1 << 30)
                assert store.counters == ({f"seq:{apid}": len(model.stored[apid]) for apid in APIDS}
                                          if any(model.stored.values()) else {})
            assert store.live() == len(model.live)
            assert store.live_bytes == 20 * len(model.live)
        store.close()


def test_eviction_goes_housekeeping_events_products_oldest_first_and_never_an_alert(tmp_path):
    store = TmStore(tmp_path / "store.sqlite", capacity=100)          # room for five 20-octet records
    classes = [StoreClass.PRODUCT, StoreClass.HOUSEKEEPING, StoreClass.ALERT, StoreClass.EVENT,
               StoreClass.HOUSEKEEPING]
    assert None not in store.append([record(0x10, n, cls) for n, cls in enumerate(classes)], {})
    assert store.append([record(0x10, 5, StoreClass.PRODUCT)], {}) != [None]       # evicts HK n=1
    assert store.append([record(0x10, 6, StoreClass.EVENT)], {}) != [None]         # evicts HK n=4
    assert store.append([record(0x10, 7, StoreClass.HOUSEKEEPING)], {}) == [None]  # HK evicts only HK: none left
    assert store.append([record(0x10, 8, StoreClass.ALERT)], {}) != [None]         # evicts event n=3
    assert store.append([record(0x10, 9, StoreClass.ALERT)], {}) != [None]         # evicts event n=6
    assert store.append([record(0x10, 10, StoreClass.ALERT)], {}) != [None]        # evicts product n=0
    assert store.append([record(0x10, 11, StoreClass.ALERT)], {}) != [None]        # evicts product n=5
    assert store.append([record(0x10, 12, StoreClass.ALERT)], {}) == [None]        # only alerts: refused
    assert [r.n for r in store.take(10)] == [2, 8, 9, 10, 11]
    assert store.stats.evicted == {StoreClass.HOUSEKEEPING: 2, StoreClass.EVENT: 2, StoreClass.PRODUCT: 2}
    assert store.stats.refused == {StoreClass.HOUSEKEEPING: 1, StoreClass.ALERT: 1}
    assert [store.tombstone_state(0x10, 1000 + n) for n in (1, 4, 3, 6, 0, 5)] == [State.EVICTED] * 6
    assert store.tombstone_state(0x10, 1000 + 7) is None                          # refused: never stored


def test_a_corrupted_record_is_reported_and_skipped(tmp_path):
    path = tmp_path / "store.sqlite"
    store = TmStore(path, capacity=1 << 20)
    store.append([record(0x10, n) for n in range(3)], {})
    with sqlite3.connect(path) as behind:                      # a bit flips in the stored packet
        behind.execute("UPDATE records SET packet = ? WHERE n = 1", (b"\x01" * 19 + b"\x00",))
    assert [r.n for r in store.take(10)] == [0, 2]
    assert store.stats.corrupt == 1 and store.tombstone_state(0x10, 1001) is State.CORRUPT
    assert [r.n for r in store.take(10)] == [0, 2] and store.stats.corrupt == 1


def test_an_unreadable_database_is_moved_aside_and_a_fresh_store_started(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"not a database at all, " * 100)
    store = TmStore(path, capacity=1 << 20)
    assert "could not be read" in store.stats.recovered and "\n" not in store.stats.recovered
    assert (tmp_path / "store.sqlite.corrupt-1").read_bytes().startswith(b"not a database")
    assert store.append([record(0x10, 0)], {"seq:16": 1}) != [None] and store.live() == 1


WRITER = """
import sys
from flight.services.tm_store import NewRecord, StoreClass, TmStore
store = TmStore(sys.argv[1], capacity=1 << 30)
n = store.counters.get("seq:16", 0)
while True:
    batch = [NewRecord(bytes([i % 256]) * 200, 16, n + i, 1000 + n + i, StoreClass.PRODUCT, 1, 0.0) for i in range(7)]
    store.append(batch, {"seq:16": n + 7})
    n += 7
    print(n, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_every_commit_a_killed_writer_reported_is_on_disk(tmp_path, delay):
    path = tmp_path / "store.sqlite"
    reported = 0
    for _ in range(2):                                          # killed, restarted, killed again
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        time.sleep(delay + 0.5)                                  # its start, then some commits
        os.kill(writer.pid, signal.SIGKILL)
        out, _ = writer.communicate()
        lines = out.split()
        assert lines, "the writer committed nothing before it was killed"
        reported = int(lines[-1])
    store = TmStore(path, capacity=1 << 30)
    live = store.take(10 ** 6)
    assert store.counters["seq:16"] >= reported                 # a commit may land before its print
    assert [r.n for r in live] == list(range(store.counters["seq:16"]))   # every number once, none torn
    assert store.stats.corrupt == 0


def test_take_reads_each_class_on_from_its_cursor(tmp_path):
    store = TmStore(tmp_path / "store.sqlite", capacity=1 << 20)
    classes = [StoreClass.HOUSEKEEPING, StoreClass.ALERT, StoreClass.HOUSEKEEPING, StoreClass.ALERT]
    ids = store.append([record(0x10, n, cls) for n, cls in enumerate(classes)], {})
    assert [r.n for r in store.take(10)] == [1, 3, 0, 2]
    assert [r.n for r in store.take(10, after={StoreClass.ALERT: ids[1], StoreClass.HOUSEKEEPING: ids[2]})] == [3]
    assert [r.n for r in store.take(10, exclude={ids[3]}, after={StoreClass.ALERT: 0})] == [1, 0, 2]
    assert [r.n for r in store.take(2)] == [1, 3]
