"""ScheduleStore: the time-based schedule on disk, so it survives a restart, a SIGKILL at any instant
included, and never releases an activity twice.

SQLite in WAL mode with ``synchronous = FULL``, as the TM store (flight.services.tm_store): a
change of the schedule (an insert of many activities, a delete, a time shift, a reset) is one
transaction, on disk when the call returns, and a schedule of thousands of activities is read in
release order through an index; a :class:`flight.core.durable.DurableRecord` would have to
rewrite the whole schedule, within a slot's size, for every change.

An activity is a row: its release time (1/65536 s since 1970-01-01), its request id (unique), its
request (the whole TC packet) and its insertion order, which breaks ties between equal times.

Release is at most once: :meth:`ScheduleStore.take_due` removes the activities it returns and,
in the same transaction, lists them as *in flight*; only after that transaction is on disk does
the caller hand them over, and :meth:`ScheduleStore.handed` then empties the list (without a
sync of its own: it need only survive the process, and if it is lost after all the activities are
merely reported in doubt). A store opened on a list that is not empty (a crash between the two)
holds those activities in :attr:`ScheduleStore.in_doubt`: they may or may not have run and are
never released again. At least once would run a command twice after a crash at the wrong
instant (a second "fire thruster", a second "switch off"); on a spacecraft a command lost and
reported is the lesser harm, and the ground can send it again.

A database SQLite cannot open, or that fails its integrity check at open, is moved aside
(``.corrupt-N``) and an empty schedule started; :attr:`ScheduleStore.recovered` says why.

| requirement | verified by |
|---|---|
| the schedule is what a model says across reopening, for any sequence of operations (hypothesis) |   |
|   | tests/unit/services/test_time_schedule.py |
| a writer killed with SIGKILL at any instant: every activity is pending, released once, or in |   |
|   doubt, never two of these | tests/unit/services/test_schedule_store.py |
| an unreadable database is moved aside and an empty schedule started | tests/unit/services/test_schedule_store.py |
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from flight.core.durable import move_aside
from flight.core.wal_database import open_checked
from flight.wire.scheduling import Activity, RequestId

SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT, release INTEGER NOT NULL,
    source INTEGER NOT NULL, apid INTEGER NOT NULL, sequence INTEGER NOT NULL, packet BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS by_release ON activities (release, id);
CREATE UNIQUE INDEX IF NOT EXISTS by_request ON activities (source, apid, sequence);
CREATE TABLE IF NOT EXISTS in_flight (id INTEGER PRIMARY KEY, release INTEGER NOT NULL, packet BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
ORDER = "ORDER BY release, id"


class ScheduleStore:
    """For one thread at a time (the executive's, which runs both the dispatcher and the ticks)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recovered: str | None = None
        try:
            self._db = self._open()
        except (sqlite3.DatabaseError, ValueError) as error:   # ValueError: a message that is not UTF-8
            self.recovered = f"{self.path} could not be read ({error}): moved aside, an empty schedule started"
            move_aside(self.path, ("", "-wal", "-shm"))
            self._db = self._open()
        self.in_doubt = self._activities("SELECT release, packet FROM in_flight ORDER BY id")
        (self.pending,) = self._db.execute("SELECT COUNT(*) FROM activities").fetchone()

    def _open(self) -> sqlite3.Connection:
        return open_checked(self.path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _activities(self, query: str, args: Sequence = ()) -> list[Activity]:
        return [Activity(release, bytes(packet)) for release, packet in self._db.execute(query, args)]

    def _transaction(self, *statements: tuple[str, Iterable[Sequence]]) -> None:
        """Run each (statement, rows) for every row, all in one transaction, durable on return."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement, rows in statements:
                self._db.executemany(statement, rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        finally:
            (self.pending,) = self._db.execute("SELECT COUNT(*) FROM activities").fetchone()

    # --- reading ---------------------------------------------------------------------------------
    def activities(self) -> list[Activity]:
        """Every pending activity, in release order (ties: insertion order)."""
        return self._activities(f"SELECT release, packet FROM activities {ORDER}")

    def releases(self, ids: Iterable[RequestId]) -> dict[RequestId, int]:
        """The release time of each of ``ids`` that is scheduled."""
        found = {}
        for rid in set(ids):
            row = self._db.execute("SELECT release FROM activities WHERE source = ? AND apid = ? AND sequence = ?",
                                   rid).fetchone()
            if row is not None:
                found[rid] = row[0]
        return found

    def span(self) -> tuple[int, int] | None:
        """The earliest and latest release times, None if the schedule is empty."""
        first, last = self._db.execute("SELECT MIN(release), MAX(release) FROM activities").fetchone()
        return None if first is None else (first, last)

    def enabled(self, default: bool) -> bool:
        """Whether the release function is enabled (``default`` if this schedule never said)."""
        row = self._db.execute("SELECT value FROM state WHERE name = 'enabled'").fetchone()
        return default if row is None else bool(row[0])

    # --- changing --------------------------------------------------------------------------------
    def insert(self, activities: Sequence[Activity]) -> None:
        """Add ``activities``, after every activity already there (sqlite3.IntegrityError, and
        nothing added, if a request id is scheduled already)."""
        self._transaction(("INSERT INTO activities (release, source, apid, sequence, packet) VALUES (?, ?, ?, ?, ?)",
                           [(a.release, *a.request_id, a.packet) for a in activities]))

    def delete(self, ids: Iterable[RequestId]) -> None:
        self._transaction(("DELETE FROM activities WHERE source = ? AND apid = ? AND sequence = ?", set(ids)))

    def shift(self, offset: int, ids: Iterable[RequestId] | None = None) -> None:
        """Move the release time of ``ids`` (of every activity if None) by ``offset``."""
        if ids is None:
            self._transaction(("UPDATE activities SET release = release + ?", [(offset,)]))
        else:
            self._transaction(("UPDATE activities SET release = release + ? WHERE source = ? AND apid = ? AND "
                               "sequence = ?", [(offset, *rid) for rid in set(ids)]))

    def reset(self) -> None:
        """Delete every activity and disable the release function (as TC[11,3] does)."""
        self._transaction(("DELETE FROM activities", [()]),
                          ("INSERT OR REPLACE INTO state (name, value) VALUES ('enabled', 0)", [()]))

    def set_enabled(self, enabled: bool) -> None:
        self._transaction(("INSERT OR REPLACE INTO state (name, value) VALUES ('enabled', ?)", [(int(enabled),)]))

    # --- releasing -------------------------------------------------------------------------------
    def take_due(self, now: int, limit: int, stale_before: int | None = None) -> tuple[list[Activity], list[Activity]]:
        """The activities due at ``now`` (release time at or before it), at most ``limit``, in release
        order, removed from the schedule: (those to release, listed in flight; those released
        before ``stale_before``, to skip). Durable on return: hand the first over, then call
        :meth:`handed`."""
        rows = self._db.execute(f"SELECT id, release, packet FROM activities WHERE release <= ? {ORDER} LIMIT ?",
                                (now, limit)).fetchall()
        if not rows:
            return [], []
        due = [(rid, release, bytes(packet)) for rid, release, packet in rows]
        fresh = [row for row in due if stale_before is None or row[1] >= stale_before]
        self._transaction(("DELETE FROM activities WHERE id = ?", [(rid,) for rid, _, _ in due]),
                          ("INSERT INTO in_flight (id, release, packet) VALUES (?, ?, ?)", fresh))
        stale = [row for row in due if stale_before is not None and row[1] < stale_before]
        return [Activity(r, p) for _, r, p in fresh], [Activity(r, p) for _, r, p in stale]

    def handed(self) -> None:
        """The activities in flight have been handed over (or were in doubt and reported)."""
        self._db.execute("PRAGMA synchronous = NORMAL")   # survives the process; a sync is not needed
        try:
            self._db.execute("DELETE FROM in_flight")
        finally:
            self._db.execute("PRAGMA synchronous = FULL")
        self.in_doubt = []
