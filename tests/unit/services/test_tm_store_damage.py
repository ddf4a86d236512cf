"""The TM store (flight/services/tm_store.py) contains damage to its database file: what the
fault-injection campaign (campaigns/store.toml) found raising out of the store's API, or losing
records silently, made by hand here. Each database is written by the store, closed (its WAL
checkpointed into the main file, as at a flight restart), damaged on disk, then opened again.

- a records page SQLite cannot read at open: moved aside (it raised DatabaseError out of the
  constructor, after the part that moves a database aside), the records on other pages salvaged;
- an index entry that no longer matches its row (a tombstone's index entry saying live): moved
  aside (``take`` raised TypeError on the tombstone's missing packet; entries the other way lost
  records without a word), every record salvaged (flight/services/tm_salvage.py);
- a column name in the schema's text damaged: moved aside (``take`` raised OperationalError),
  every record salvaged;
- a packet whose SQLite type says text, bytes unchanged: delivered intact (``take`` raised
  OperationalError decoding it as UTF-8);
- a live record without its packet: counted corrupt and skipped (``take`` raised TypeError);
- a record whose virtual channel became an empty blob (serial type 8, the constant 0, one bit from
  12, a blob of no bytes): counted corrupt and skipped (``take`` returned it, and the downlink's
  framer raised KeyError looking the channel up: the downlink thread died on it at every restart).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from flight.services.tm_store import NewRecord, StoreClass, TmStore

APID = 0x41


def packet(n: int) -> bytes:
    return bytes([0xFF, n % 256]) * 10      # 0xFF: not UTF-8


def written(tmp_path: Path, count: int = 40, acknowledged: int = 10) -> Path:
    """A closed store of ``count`` housekeeping records, the first ``acknowledged`` of them tombstones."""
    path = tmp_path / "tm_store.sqlite"
    store = TmStore(path, capacity=1 << 20)
    store.append([NewRecord(packet(n), APID, n, 1000 + n, StoreClass.HOUSEKEEPING, 0, float(n))
                  for n in range(count)], {f"seq:{APID}": count})
    if acknowledged:
        store.acknowledge(APID, 1000, 1000 + acknowledged - 1, acknowledged)
    store.close()
    assert not path.with_name(path.name + "-wal").exists()
    return path


def page_of(path: Path, name: str, kind: str = "%") -> tuple[int, int]:
    """(offset, size) of the first page of ``name``'s b-tree that holds cells (of page type ``kind``:
    leaf, internal; any by default)."""
    with sqlite3.connect(path) as db:
        (size,) = db.execute("PRAGMA page_size").fetchone()
        (number,) = db.execute("SELECT MIN(pageno) FROM dbstat WHERE name = ? AND ncell > 0 AND pagetype LIKE ?",
                               (name, kind)).fetchone()
    return (number - 1) * size, size


def damage(path: Path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] = value
    path.write_bytes(bytes(data))


def assert_salvaged(path: Path, live: list[int]) -> TmStore:
    """Moved aside, and the live records ``live`` (by n) salvaged whole, with their ids; the
    sequence counter not gone back."""
    store = TmStore(path, capacity=1 << 20)
    assert store.stats.recovered and "could not be read" in store.stats.recovered
    assert f"{len(live) + 10} records salvaged" in store.stats.recovered or not live
    assert path.with_name(path.name + ".corrupt-1").exists()
    taken = store.take(100)
    assert [(r.n, r.id, r.packet) for r in taken] == [(n, n + 1, packet(n)) for n in live]
    assert store.live() == len(live) and store.counters[f"seq:{APID}"] >= 40
    return store


def test_a_records_page_sqlite_cannot_read_is_moved_aside_and_the_other_pages_salvaged(tmp_path):
    path = written(tmp_path, count=400, acknowledged=0)
    start, _ = page_of(path, "records", "leaf")
    damage(path, start, 0x00)              # a leaf's page type: no b-tree page
    store = TmStore(path, capacity=1 << 20)
    assert store.stats.recovered and "1 unreadable ranges" in store.stats.recovered
    taken = [r.n for r in store.take(1000)]
    assert taken and taken == list(range(taken[0], 400)) and taken[0] > 0   # the first page's lost, no other
    assert store.counters[f"seq:{APID}"] == 400                               # the counters read
    store.close()


def test_an_index_entry_that_says_a_tombstone_is_live_is_moved_aside(tmp_path):
    path = written(tmp_path)
    start, size = page_of(path, "by_class")
    page = path.read_bytes()[start:start + size]
    # an index record (state, class, id, the row's id): header length 5, the serial types, the values;
    # state 1 (acknowledged) is serial type 9, state 0 (live) type 8: one bit apart
    entry = page.index(bytes([5, 9, 1, 1, 1, int(StoreClass.HOUSEKEEPING)]))
    damage(path, start + entry + 1, 8)
    assert_salvaged(path, list(range(10, 40))).close()


def test_a_damaged_column_name_in_the_schema_is_moved_aside(tmp_path):
    path = written(tmp_path)
    data = path.read_bytes()
    at = data.index(b"stored REAL")
    damage(path, at + 2, data[at + 2] ^ 0x02)   # "stored" -> "stmred"
    assert_salvaged(path, list(range(10, 40))).close()


def test_a_packet_typed_text_with_its_bytes_intact_is_delivered_intact(tmp_path):
    path = written(tmp_path, acknowledged=0)
    with sqlite3.connect(path) as behind:       # the record's serial type: blob -> text, same bytes
        behind.execute("UPDATE records SET packet = CAST(packet AS TEXT) WHERE n = 3")
    store = TmStore(path, capacity=1 << 20)
    assert [r.packet for r in store.take(100)] == [packet(n) for n in range(40)]
    assert store.stats.corrupt == 0 and store.stats.recovered is None


def test_a_live_record_without_its_packet_is_counted_corrupt_and_skipped(tmp_path):
    path = written(tmp_path)
    with sqlite3.connect(path) as behind:       # a tombstone live again, its packet gone
        behind.execute("UPDATE records SET state = 0 WHERE n = 2")
    store = TmStore(path, capacity=1 << 20)
    assert [r.n for r in store.take(100)] == list(range(10, 40))
    assert store.stats.corrupt == 1 and store.stats.recovered is None


def test_a_record_whose_virtual_channel_is_no_longer_an_integer_is_counted_corrupt_and_skipped(tmp_path):
    path = written(tmp_path, acknowledged=0)
    with sqlite3.connect(path) as behind:       # the column's serial type: the constant 0 -> an empty blob
        behind.execute("UPDATE records SET vcid = X'' WHERE n = 4")
    store = TmStore(path, capacity=1 << 20)
    taken = store.take(100)
    assert [r.n for r in taken] == [n for n in range(40) if n != 4] and {type(r.vcid) for r in taken} == {int}
    assert store.stats.corrupt == 1
