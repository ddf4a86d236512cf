"""TmStore: the on-board TM store, durable: a packet is on disk before it counts as produced, and
leaves only when the ground has acknowledged it.

SQLite in WAL mode with ``synchronous = FULL``, the measured choice (tools/bench_store.py): an
append-only segment file with fdatasync writes faster at the same group commit, but SQLite
commits a batch of records, the counters that numbered them and the evictions that made room in
one atomic transaction, and finds the oldest record of a class or a range by time with an index,
all of which a segment file would need a second log and its own indexes for; its rate is well
above what the flight produces. Every record carries a CRC-32C of its
packet, checked whenever it is read; a record that fails it (or has lost its packet, or has a
column of another type than the schema's) is reported, marked corrupt and skipped, never fatal.
A database SQLite itself cannot open, or that fails its integrity check at open (every page, and
every index entry against its row: about 1.4 s for a 165 MB store of a million records, once per
start), is moved aside (``.corrupt-N``) and a fresh store started with every record that can
still be read whole salvaged into it (flight.services.tm_salvage: through the table, never its
indexes, each record's CRC checked, ids and counters kept), and that is reported too, with what
was salvaged: a damaged page or index is found there, not by a later read that would raise out of
the store or miss records without a word (campaigns/store.toml).

A record: the packet, its APID, its unwrapped source sequence number ``n`` (the packet carries
``n mod 16384``), its time (CUC 4+2 as an integer: strictly increasing per APID, so (APID, time)
names a packet uniquely, as Yamcs keys its archive), its class (:class:`StoreClass`), the virtual
channel it goes down on, the mission time it was stored, its CRC and its state: live (waiting
for acknowledgement), or a tombstone (acknowledged, evicted, corrupt) kept, without the packet,
so that a range the ground names can be checked against what was stored.

The counters that number packets (per-APID sequence and last time, per-service message
counters) are saved in the same transaction as the records they numbered, so after a crash
they continue exactly after the last packet that was stored: a packet numbered but not yet
committed was never sent, and its numbers are given again.

Bounded by the octets of live packets (``capacity``). Eviction order, oldest first within a
class: housekeeping, then events, then products; an alert is never evicted while
unacknowledged. A new record evicts only records of its own class or of a class evicted before
it; when that is not enough it is refused. Evictions and refusals are counted by class.

| requirement | verified by |
|---|---|
| every committed record and counter is there after a SIGKILL at any moment | tests/unit/services/test_tm_store.py |
| take returns live records alert, product, event, housekeeping, oldest first; acknowledge |   |
|   removes exactly a range the store holds whole (hypothesis, against a model) | tests/unit/services/test_tm_store.py |
| a corrupted record is reported and skipped; an unreadable database is moved aside |   |
|   | tests/unit/services/test_tm_store.py |
| a damaged page, index entry or schema is moved aside at open; a packet typed text, a record |   |
|   without its packet or with a column of another type is never returned wrong nor raises out of |   |
|   ``take`` | tests/unit/services/test_tm_store_damage.py |
| eviction order and refusals when full; never an unacknowledged alert | tests/unit/services/test_tm_store.py |
"""
from __future__ import annotations

import enum
import sqlite3
from collections import Counter
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flight.core.wal_database import open_checked
from flight.services.tm_salvage import salvage
from native import crc32c

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    apid INTEGER NOT NULL, n INTEGER NOT NULL, time INTEGER NOT NULL,
    class INTEGER NOT NULL, vcid INTEGER NOT NULL, stored REAL NOT NULL,
    crc INTEGER NOT NULL, state INTEGER NOT NULL, packet BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS by_time ON records (apid, time);
CREATE INDEX IF NOT EXISTS by_class ON records (state, class, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class StoreClass(enum.IntEnum):
    """A record's class: the order packets go down in when a pass opens."""

    ALERT = 0          # never evicted while unacknowledged
    PRODUCT = 1
    EVENT = 2
    HOUSEKEEPING = 3   # evicted first


EVICTION_ORDER = (StoreClass.HOUSEKEEPING, StoreClass.EVENT, StoreClass.PRODUCT)


class State(enum.IntEnum):
    LIVE = 0
    ACKNOWLEDGED = 1
    EVICTED = 2
    CORRUPT = 3


@dataclass(frozen=True)
class NewRecord:
    """A packet to store, numbered: its APID, unwrapped sequence number, time (CUC ticks), class,
    virtual channel and the mission time it was stored."""

    packet: bytes
    apid: int
    n: int
    time: int
    cls: StoreClass
    vcid: int
    stored: float


@dataclass(frozen=True)
class StoredRecord(NewRecord):
    """A record read back from the store, with its id (store order, never reused)."""

    id: int = 0


class AckRefused(ValueError):
    """An acknowledged range the store cannot match to what it stored, with the reason."""


@dataclass
class StoreStats:
    stored: Counter = field(default_factory=Counter)     # class -> records committed
    evicted: Counter = field(default_factory=Counter)    # class -> records evicted
    refused: Counter = field(default_factory=Counter)    # class -> records refused (full)
    acknowledged: int = 0
    corrupt: int = 0
    recovered: str | None = None  # why the database was moved aside at open, if it was


def _typed(apid: object, n: object, time: object, vcid: object, stored: object) -> bool:
    """A record's columns of the types the schema declares. SQLite does not enforce them: an upset in
    a record's header can make a column an empty blob or text, which no reader of the record expects
    (the framer looks its virtual channel up)."""
    return all(type(value) is int for value in (apid, n, time, vcid)) and type(stored) is float


class TmStore:
    """For one thread at a time (comms' downlink thread owns it once the flight runs)."""

    def __init__(self, path: str | Path, capacity: int, tombstones: int = 1_000_000) -> None:
        self.path, self.capacity, self.tombstones = Path(path), capacity, tombstones
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stats = StoreStats()
        try:
            self._db = self._open()
        except (sqlite3.DatabaseError, ValueError) as error:   # ValueError: SQLite's message is not UTF-8
            aside = self._move_aside()
            self._db = self._open()
            found = salvage(aside, self._db, {int(c) for c in StoreClass}, {int(s) for s in State}, State.LIVE)
            self.counters = dict(self._db.execute("SELECT name, value FROM counters"))
            self._count_live()
            self.stats.recovered = (f"{self.path} could not be read ({error}): moved aside to {aside.name}, "
                                    f"{found.describe()}")

    LIVE = "SELECT COUNT(*), COALESCE(SUM(LENGTH(packet)), 0) FROM records WHERE state = 0"

    def _count_live(self) -> None:
        self.live_count, self.live_bytes = self._db.execute(self.LIVE).fetchone()

    def _open(self) -> sqlite3.Connection:
        """The database, checked whole before anything is read from it (every page, every index entry
        against its row: damage found here, not by a read that would raise later or miss records),
        with its schema, counters and live totals read."""
        db = open_checked(self.path, SCHEMA)
        try:
            db.execute("SELECT id, apid, n, time, class, vcid, stored, crc, state, packet FROM records LIMIT 0")
            self.counters: dict[str, int] = dict(db.execute("SELECT name, value FROM counters"))
            self.live_count, self.live_bytes = db.execute(self.LIVE).fetchone()
        except (sqlite3.DatabaseError, ValueError):
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        """The database and its WAL renamed to ``NAME.corrupt-N`` (``-wal``, ``-shm``: still one
        database SQLite can open, for the salvage and for a look on the ground); the new path."""
        number = 1
        while self.path.with_name(f"{self.path.name}.corrupt-{number}").exists():
            number += 1
        aside = self.path.with_name(f"{self.path.name}.corrupt-{number}")
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                part.rename(aside.with_name(aside.name + suffix))
        return aside

    def close(self) -> None:
        self._db.close()

    # --- writing ---------------------------------------------------------------------------------
    def append(self, records: Sequence[NewRecord], counters: dict[str, int]) -> list[int | None]:
        """Commit ``records`` and the ``counters`` that numbered them in one transaction; the id of
        each record, or None for one refused because the store is full. Durable on return."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self.live_bytes + sum(len(r.packet) for r in records) <= self.capacity:
                ids: list[int | None] = list(self._insert_all(records))
            else:
                ids = [self._insert(record) for record in records]
            self._db.executemany("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", counters.items())
            self._prune()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._count_live()
            raise
        self.counters.update(counters)
        for record, rid in zip(records, ids):
            (self.stats.stored if rid is not None else self.stats.refused)[record.cls] += 1
        return ids

    INSERT = ("INSERT INTO records (apid, n, time, class, vcid, stored, crc, state, packet) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)")

    def _row(self, record: NewRecord) -> tuple:
        return (record.apid, record.n, record.time, int(record.cls), record.vcid, record.stored,
                crc32c(record.packet), record.packet)

    def _insert_all(self, records: Sequence[NewRecord]) -> range:
        """All of ``records`` (they fit): one statement; AUTOINCREMENT numbers them consecutively."""
        (last,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'records'"
                                   ).fetchone() or (0,)
        self._db.executemany(self.INSERT, [self._row(record) for record in records])
        self.live_bytes += sum(len(record.packet) for record in records)
        self.live_count += len(records)
        return range(last + 1, last + 1 + len(records))

    def _insert(self, record: NewRecord) -> int | None:
        if not self._make_room(len(record.packet), record.cls):
            return None
        cursor = self._db.execute(self.INSERT, self._row(record))
        self.live_bytes += len(record.packet)
        self.live_count += 1
        return cursor.lastrowid

    def _make_room(self, size: int, cls: StoreClass) -> bool:
        """Evict (oldest first, in EVICTION_ORDER, only classes evicted no later than ``cls``)
        until ``size`` more octets fit; False, and nothing evicted, if they cannot."""
        victims = [int(c) for c in EVICTION_ORDER if c >= cls]
        if self.live_bytes + size > self.capacity:
            marks = ",".join("?" * len(victims))
            (evictable,) = self._db.execute(f"SELECT COALESCE(SUM(LENGTH(packet)), 0) FROM records WHERE state = 0 "
                                            f"AND class IN ({marks})", victims).fetchone() if victims else (0,)
            if self.live_bytes - evictable + size > self.capacity:
                return False
        for victim in victims:
            while self.live_bytes + size > self.capacity:
                rid, length = self._db.execute("SELECT id, LENGTH(packet) FROM records WHERE state = 0 AND "
                                               "class = ? ORDER BY id LIMIT 1", (victim,)).fetchone() or (None, 0)
                if rid is None:
                    break
                self._db.execute("UPDATE records SET state = ?, packet = NULL WHERE id = ?", (State.EVICTED, rid))
                self.live_bytes -= length
                self.live_count -= 1
                self.stats.evicted[StoreClass(victim)] += 1
        return True

    def _prune(self) -> None:
        """Keep at most ``tombstones`` tombstones, dropping the oldest."""
        self._db.execute("DELETE FROM records WHERE state != 0 AND id <= (SELECT id FROM records WHERE state != 0 "
                         "ORDER BY id DESC LIMIT 1 OFFSET ?)", (self.tombstones,))

    # --- reading ---------------------------------------------------------------------------------
    def take(self, limit: int, exclude: Container[int] = (), after: Mapping[StoreClass, int] | None = None
             ) -> list[StoredRecord]:
        """Up to ``limit`` live records not in ``exclude``: alerts, products, events, housekeeping,
        oldest first in each, each class from after its id in ``after`` (a sender's cursor, so it
        does not read again what it sent). A record whose CRC fails, without its packet or with a column
        of another type than the schema's, is marked corrupt, counted and skipped."""
        after = after or {}
        out: list[StoredRecord] = []
        corrupt: list[int] = []
        for cls in StoreClass:
            # the packet as bytes whatever type its record says (an upset type: text, never decoded)
            rows = self._db.execute("SELECT id, apid, n, time, vcid, stored, crc, CAST(packet AS BLOB) FROM records "
                                    "WHERE state = 0 AND class = ? AND id > ? ORDER BY id",
                                    (int(cls), after.get(cls, 0)))
            for rid, apid, n, time, vcid, stored, crc, packet in rows:
                if len(out) >= limit:
                    break
                if rid in exclude:
                    continue
                if packet is None or crc32c(packet) != crc or not _typed(apid, n, time, vcid, stored):
                    corrupt.append(rid)
                    continue
                out.append(StoredRecord(packet, apid, n, time, cls, vcid, stored, id=rid))
            rows.close()
        if corrupt:
            self._mark(corrupt, State.CORRUPT)
            self.stats.corrupt += len(corrupt)
        return out

    def live(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM records WHERE state = 0").fetchone()
        return count

    def flip(self, offset: int, bit: int) -> tuple[int, int]:
        """Flip a bit of the live packets seen as one run of octets in store order (an upset in
        storage, for the SEU injector); the CRC is left as it was, so reading finds it."""
        for rid, packet in self._db.execute("SELECT id, packet FROM records WHERE state = 0 ORDER BY id"):
            if offset < len(packet):
                changed = bytearray(packet)
                old = changed[offset]
                changed[offset] ^= 1 << bit
                self._db.execute("UPDATE records SET packet = ? WHERE id = ?", (bytes(changed), rid))
                return old, changed[offset]
            offset -= len(packet)
        raise IndexError("offset beyond the stored packets")

    def _mark(self, ids: list[int], state: State) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        count, size = self._db.execute(f"SELECT COUNT(*), COALESCE(SUM(LENGTH(packet)), 0) FROM records WHERE "
                                       f"state = 0 AND id IN ({','.join('?' * len(ids))})", ids).fetchone()
        self._db.executemany("UPDATE records SET state = ?, packet = NULL WHERE id = ? AND state = 0",
                             [(int(state), rid) for rid in ids])
        self._db.execute("COMMIT")
        self.live_bytes -= size
        self.live_count -= count

    # --- acknowledgement -------------------------------------------------------------------------
    def acknowledge(self, apid: int, first_time: int, last_time: int, count: int) -> list[int]:
        """The ground holds the ``count`` packets of ``apid`` from the one stamped ``first_time`` to
        the one stamped ``last_time``, every one between: those still live are acknowledged
        (removed, their tombstones kept). AckRefused, and nothing changes, unless the store holds
        both ends and exactly ``count`` packets were numbered from one to the other. Returns the
        ids of the live records the range removed."""
        ends = self._db.execute("SELECT time, n FROM records WHERE apid = ? AND time IN (?, ?)",
                                (apid, first_time, last_time)).fetchall()
        numbers = dict(ends)
        if first_time not in numbers or last_time not in numbers:
            raise AckRefused(f"APID {apid}: the store holds no packet stamped "
                             f"{first_time if first_time not in numbers else last_time}")
        span = numbers[last_time] - numbers[first_time] + 1
        if span != count:
            raise AckRefused(f"APID {apid}: {span} packets were stored from {first_time} to {last_time}, "
                             f"the ground says {count}")
        ids = [rid for (rid,) in self._db.execute("SELECT id FROM records WHERE apid = ? AND state = 0 AND "
                                                   "time BETWEEN ? AND ?", (apid, first_time, last_time))]
        if ids:
            self._mark(ids, State.ACKNOWLEDGED)
        self.stats.acknowledged += len(ids)
        return ids

    def ids_between(self, apid: int, after: int, before: int) -> list[int]:
        """The live records of ``apid`` stamped strictly between ``after`` and ``before``."""
        return [rid for (rid,) in self._db.execute("SELECT id FROM records WHERE apid = ? AND state = 0 AND "
                                                    "time > ? AND time < ?", (apid, after, before))]

    def tombstone_state(self, apid: int, time: int) -> State | None:
        """What became of the packet of ``apid`` stamped ``time`` (None if the store has no record of it)."""
        row = self._db.execute("SELECT state FROM records WHERE apid = ? AND time = ?", (apid, time)).fetchone()
        return None if row is None else State(row[0])
