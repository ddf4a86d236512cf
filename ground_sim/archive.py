"""PacketArchive: every raw packet sent and received, in SQLite, with its decoded fields; and when
it cannot keep them, it says so.

Table ``packets``: id, direction ('up' | 'down' | 'up_frame' | 'down_frame', or 'pass' for a
pass's start or end on the link model), wall_time, apid, sequence, service, subtype,
raw (the exact bytes), decoded (JSON), error (why it could not be decoded, if so), time_cuc (a
TM packet's time, CUC 4+2 as an integer: with the APID it names the packet, so a new ground
process rebuilds what it holds from :meth:`PacketArchive.down_keys`). An archive written before
``time_cuc`` existed gets the column when it is opened.

The database is opened, put in WAL mode and given its schema in the constructor: a path that
cannot hold it (a missing folder, a path under a regular file, a read-only location, a file that
is not a database) raises :class:`ArchiveError` there, with one line naming the path and why.
``record`` never blocks and never lets memory grow without bound: it puts the row in a queue of
at most ``capacity`` rows (default 100,000) and returns at once; a row that finds the queue full,
the writer failed or the archive closed is counted in ``lost``. One writer thread owns the
connection from then on and commits in transactions of at most 1000 rows (or what came within
0.2 s). Any error of the writer (``database or disk is full``, ``disk I/O error``, ...) is caught:
the archive keeps a readable reason in ``error`` (with the free space and the process's file-size
limit when it is a write error), counts the rows it could not write in ``lost``, logs it, stops
writing, and the thread ends; the rows committed before (``committed``) stay in the database.
``close`` writes every queued row, ends the thread and returns ``error`` (None if the archive
never failed); it does not raise, so a caller's ``finally`` still runs to its end. ``alarm`` is
the one line an operator must see (None while no row was lost). After ``close``,
``committed + lost`` is the number of rows recorded.

| requirement | verified by |
| an unusable path raises ArchiveError at construction, one line naming it | tests/unit/ground/test_archive.py |
| the journal is WAL; a transaction holds at most 1000 rows | tests/unit/ground/test_archive.py |
| every recorded row is committed or counted lost, committed rows are |   |
|   in the database byte for byte (hypothesis) | tests/unit/ground/test_archive.py |
| a full queue counts rows lost instead of blocking or growing | tests/unit/ground/test_archive.py |
| a full disk (RLIMIT_FSIZE) is caught: reason, rows lost, thread ended, |   |
|   memory bounded, committed rows readable afterwards | tests/system/test_sil_data.py |
| ``close`` returns the error, and does not raise | tests/unit/ground/test_archive.py |
| ``flush`` is True once every row queued before it is committed, False once any row was lost |   |
|   | tests/unit/ground/test_archive.py |
"""
from __future__ import annotations

import collections
import json
import logging
import resource
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS packets (
    id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL,
    wall_time REAL NOT NULL,
    apid INTEGER, sequence INTEGER, service INTEGER, subtype INTEGER,
    raw BLOB NOT NULL,
    decoded TEXT,
    error TEXT,
    time_cuc INTEGER
)"""
INSERT = ("INSERT INTO packets (direction, wall_time, apid, sequence, service, subtype, raw, decoded, "
          "error, time_cuc) VALUES (?,?,?,?,?,?,?,?,?,?)")
DEFAULT_CAPACITY = 100_000  # rows queued at most (~100 MB of typical packets, over a minute of SIL TM)
BATCH_ROWS = 1000  # rows per transaction at most
BATCH_WINDOW = 0.2  # s: a batch is committed this long after its first row at the latest

log = logging.getLogger(__name__)
Row = tuple[Any, ...]


class ArchiveError(Exception):
    """The archive cannot be opened at its path (the message is one line: the path and why)."""


def _why_not(path: Path, error: sqlite3.Error) -> str:
    """Why SQLite could not open ``path``, in the words of the filesystem where they are clearer."""
    existing = next((p for p in path.parents if p.exists()), path.parent)
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if existing != path.parent:
        return f"folder {path.parent} does not exist"
    if path.is_dir():
        return "it is a folder"
    return str(error)


def _open(path: Path) -> sqlite3.Connection:
    db = None
    try:
        db = sqlite3.connect(path, check_same_thread=False)  # handed to the writer thread, used there only
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise sqlite3.OperationalError(f"its journal cannot be put in WAL mode (it is {mode!r})")
        db.execute(SCHEMA)
        if "time_cuc" not in {row[1] for row in db.execute("PRAGMA table_info(packets)")}:
            db.execute("ALTER TABLE packets ADD COLUMN time_cuc INTEGER")
        db.commit()
        return db
    except sqlite3.Error as error:
        if db is not None:
            db.close()
        raise ArchiveError(f"cannot open archive {path}: {_why_not(path, error)}") from None


def _reason(error: Exception, folder: Path) -> str:
    """A readable reason for a writer error; for a write error, the facts that usually explain it."""
    reason = f"{error} ({getattr(error, 'sqlite_errorname', type(error).__name__)})"
    if isinstance(error, OSError) or "disk" in str(error):  # "database or disk is full", "disk I/O error"
        try:
            reason += f"; {shutil.disk_usage(folder).free:,} bytes free on its filesystem"
        except OSError:
            pass  # the folder itself is gone: the error says enough
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY:
            reason += f"; this process's file size limit is {limit:,} bytes (RLIMIT_FSIZE)"
    return reason


class PacketArchive:
    """The archive of one ground station: ``record`` from any thread, one writer thread."""

    def __init__(self, path: str | Path, capacity: int = DEFAULT_CAPACITY) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self._db = _open(self.path)
        self._rows: collections.deque[Row] = collections.deque()
        self._ready = threading.Condition()  # guards the queue, _closing, _error, _lost; wakes the writer
        self._closing = False
        self._error: str | None = None
        self._queued_total = 0  # rows ever accepted into the queue
        self._committed = 0
        self._lost = 0
        self._thread = threading.Thread(target=self._write_loop, name="archive", daemon=True)
        self._thread.start()

    # --- health ---------------------------------------------------------------------------------
    @property
    def error(self) -> str | None:
        """Why the writer failed (it then stopped writing), or None."""
        return self._error

    @property
    def committed(self) -> int:
        """Rows committed to the database."""
        return self._committed

    @property
    def lost(self) -> int:
        """Rows recorded that are not and will not be in the database."""
        return self._lost

    @property
    def writing(self) -> bool:
        """True while the writer thread runs."""
        return self._thread.is_alive()

    @property
    def queued(self) -> int:
        """Rows waiting for the writer."""
        return len(self._rows)

    @property
    def alarm(self) -> str | None:
        """One line for the operator when rows are lost (failure or full queue), else None."""
        if self._error is not None:
            return (f"ARCHIVE FAILED: {self.path}: {self._error}; {self._lost:,} rows lost, "
                    f"{self._committed:,} kept; packets are no longer archived")
        if self._lost:
            return (f"ARCHIVE LOSING ROWS: {self.path}: {self._lost:,} rows lost (not queued: queue of "
                    f"{self.capacity:,} rows full, or archive closed)")
        return None

    # --- writing --------------------------------------------------------------------------------
    def record(self, direction: str, wall_time: float, raw: bytes, header: dict[str, int] | None,
               decoded: Any = None, error: str | None = None) -> bool:
        """Queue one packet for the archive; False if it was counted lost instead. Never blocks."""
        header = header or {}
        row = (direction, wall_time, header.get("apid"), header.get("sequence"), header.get("service"),
               header.get("subtype"), bytes(raw), None if decoded is None else json.dumps(decoded, default=str),
               error, header.get("time_cuc"))
        with self._ready:
            if self._error is None and not self._closing and len(self._rows) < self.capacity:
                self._rows.append(row)
                self._queued_total += 1
                if len(self._rows) in (1, BATCH_ROWS):
                    self._ready.notify()
                return True
            self._lost += 1
            return False

    def _take(self) -> list[Row] | None:
        """The next batch to commit; None once closing and everything is written."""
        with self._ready:
            self._ready.wait_for(lambda: self._rows or self._closing)
            if not self._rows:
                return None
            self._ready.wait_for(lambda: len(self._rows) >= BATCH_ROWS or self._closing, BATCH_WINDOW)
            return [self._rows.popleft() for _ in range(min(BATCH_ROWS, len(self._rows)))]

    def _write_loop(self) -> None:
        try:
            while rows := self._take():
                self._db.executemany(INSERT, rows)
                self._db.commit()
                with self._ready:
                    self._committed += len(rows)
                    self._ready.notify_all()
        except Exception as error:  # disk full, I/O error, anything: reported, never a silent dead thread
            self._fail(error)
        finally:
            try:
                self._db.close()  # rolls back a failed transaction
            except sqlite3.Error:
                pass  # already reported by _fail: the last checkpoint could not be written either

    def _fail(self, error: Exception) -> None:
        reason = _reason(error, self.path.parent)
        with self._ready:
            self._error = reason
            self._lost += self._queued_total - self._committed  # the failed batch and the queue
            self._rows.clear()
        log.error("archive %s failed: %s; %d rows kept, %d lost, no more packets archived",
                  self.path, reason, self._committed, self._lost)

    def close(self) -> str | None:
        """Write every queued row, end the writer, and return ``error`` (None: all was written)."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()
        return self._error

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row queued so far is committed; True only if they all are and the
        archive never lost a row (what the ground acknowledges to the flight must be kept)."""
        with self._ready:
            target = self._queued_total
            self._ready.notify()
            self._ready.wait_for(lambda: self._committed >= target or self._error is not None, timeout)
            return self._error is None and self._lost == 0 and self._committed >= target

    def down_keys(self) -> list[tuple[int, int, int]]:
        """(APID, time, sequence count) of every TM packet archived, in archive order."""
        return [tuple(row) for row in self.query("SELECT apid, time_cuc, sequence FROM packets WHERE direction = "
                                                 "'down' AND time_cuc IS NOT NULL ORDER BY id")]

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Read the archive (from any thread; committed rows only)."""
        with sqlite3.connect(self.path) as db:
            return db.execute(sql, params).fetchall()
