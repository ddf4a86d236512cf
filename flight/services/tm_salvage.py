"""Salvage of a damaged TM store: every record that can still be read whole, copied into a fresh one.

A store that fails SQLite's integrity check at open (an upset or a torn write on the medium) is
moved aside by flight.services.tm_store.TmStore; what was stored in it is still worth sending
down. :func:`salvage` reads the moved-aside database's records through the table itself, never its
indexes (an index is the usual casualty, and it holds no data of its own), in id order and in
batches; where a batch cannot be read (a damaged page of the table) it steps over ever larger
ranges of ids until it reads again. A record is kept only if its columns have the schema's types,
its class and state are known, and a packet, where it has one, matches its CRC-32C; a live record
must have its packet. Kept records go into the fresh store with their ids, so the downlink's cursors
and the ground's acknowledgements still name them. The counters (sequence and time per APID) are
taken from the damaged store where readable, and never below what the salvaged records show, so a
sequence number is never reused.

| requirement | verified by |
|---|---|
| a store with a damaged index or a damaged table page is salvaged: every readable record whose |   |
|   CRC holds is kept with its id; the counters never go back | tests/unit/services/test_tm_store_damage.py |
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from native import crc32c

COLUMNS = "id, apid, n, time, class, vcid, stored, crc, state, packet"   # the schema's order
BATCH = 256
MAX_STEP = 1 << 24     # ids stepped over at most at once past an unreadable range


@dataclass
class Salvaged:
    """What a salvage kept and what it could not."""

    records: int = 0
    refused: int = 0              # read, but not whole (types, CRC, a live record without its packet)
    unreadable_ranges: int = 0    # ranges of ids on pages that could not be read
    counters_read: bool = False

    def describe(self) -> str:
        counters = "counters kept" if self.counters_read else "counters rebuilt from the records"
        return (f"{self.records} records salvaged, {self.refused} refused, {self.unreadable_ranges} unreadable "
                f"ranges, {counters}")


def _whole(row: tuple, classes: set[int], states: set[int], live: int) -> bool:
    if len(row) != COLUMNS.count(",") + 1:
        return False
    _, apid, n, time, cls, vcid, stored, crc, state, packet = row
    if not (all(type(v) is int for v in (apid, n, time, cls, vcid, crc, state)) and type(stored) is float):
        return False
    if cls not in classes or state not in states:
        return False
    if packet is None:
        return state != live
    return type(packet) is bytes and crc32c(packet) == crc


def _rows(source: sqlite3.Connection, found: Salvaged) -> list[tuple]:
    """Every row of the records table that can be read, in id order, each once. A batch that does
    not move past the last id read (a damaged page can point back) counts as unreadable too."""
    rows: dict[int, tuple] = {}
    last, step = 0, 1
    while step <= MAX_STEP:
        try:
            batch = source.execute("SELECT * FROM records NOT INDEXED WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                   (last, BATCH)).fetchall()   # by position: a damaged column name still reads
        except (sqlite3.DatabaseError, ValueError):
            batch = None
        if batch == []:
            break
        ahead = [row for row in batch or () if type(row[0]) is int and row[0] > last]
        if not ahead:
            found.unreadable_ranges += step == 1
            last, step = last + step, step * 2
            continue
        rows.update((row[0], row) for row in ahead)
        last, step = max(rows), 1
    return [rows[key] for key in sorted(rows)]


def _counters(source: sqlite3.Connection, kept: list[tuple], found: Salvaged) -> dict[str, int]:
    """The damaged store's counters where readable, raised to what the kept records show."""
    counters: dict[str, int] = {}
    try:
        counters = {name: value for name, value in source.execute("SELECT name, value FROM counters")
                    if type(name) is str and type(value) is int}
        found.counters_read = bool(counters)
    except (sqlite3.DatabaseError, ValueError):
        pass
    for _, apid, n, time, *_ in kept:
        counters[f"seq:{apid}"] = max(counters.get(f"seq:{apid}", 0), n + 1)
        counters[f"time:{apid}"] = max(counters.get(f"time:{apid}", -1), time)
    return counters


def salvage(damaged: Path, fresh: sqlite3.Connection, classes: set[int], states: set[int], live: int) -> Salvaged:
    """Copy into ``fresh`` (a store with the schema, empty) every whole record of the database at
    ``damaged`` and its counters; what was kept and what was not."""
    found = Salvaged()
    try:
        source = sqlite3.connect(damaged)
    except sqlite3.DatabaseError:
        return found
    try:
        rows = _rows(source, found)
        kept = [row for row in rows if _whole(row, classes, states, live)]
        counters = _counters(source, kept, found)
    except (sqlite3.DatabaseError, ValueError):   # e.g. no records table left to read
        kept, counters = [], {}
        rows = []
    finally:
        source.close()
    found.refused = len(rows) - len(kept)
    _write(fresh, kept, counters, found)
    return found


def _write(fresh: sqlite3.Connection, kept: list[tuple], counters: dict[str, int], found: Salvaged) -> None:
    """The kept records and the counters into ``fresh``, in one transaction; a record that collides
    with one kept before it (a damaged time, outside the CRC) is refused."""
    fresh.execute("BEGIN IMMEDIATE")
    try:
        for row in kept:
            try:
                fresh.execute(f"INSERT INTO records ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                found.records += 1
            except sqlite3.IntegrityError:
                found.refused += 1
        fresh.executemany("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", counters.items())
        fresh.execute("COMMIT")
    except BaseException:
        fresh.execute("ROLLBACK")
        raise
