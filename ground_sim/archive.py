"""PacketArchive: every raw packet sent and received, in SQLite, with its decoded fields.

Table ``packets``: id, direction ('up' | 'down'), wall_time, apid, sequence, service, subtype,
raw (the exact bytes), decoded (JSON), error (why it could not be decoded, if so). Writes go
through one writer thread (SQLite connections stay in one thread) and are committed in batches;
``close`` commits everything.
"""
from __future__ import annotations

import json
import queue
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
    error TEXT
)"""


class PacketArchive:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._write_loop, name="archive", daemon=True)
        self._thread.start()

    def record(self, direction: str, wall_time: float, raw: bytes, header: dict[str, int] | None,
               decoded: Any = None, error: str | None = None) -> None:
        header = header or {}
        self._queue.put((direction, wall_time, header.get("apid"), header.get("sequence"),
                         header.get("service"), header.get("subtype"), bytes(raw),
                         None if decoded is None else json.dumps(decoded, default=str), error))

    def _write_loop(self) -> None:
        db = sqlite3.connect(self.path)
        db.execute(SCHEMA)
        while True:
            rows = [self._queue.get()]
            while len(rows) < 1000:
                try:
                    rows.append(self._queue.get(timeout=0.05))
                except queue.Empty:
                    break
            stop = rows[-1] is None
            rows = [r for r in rows if r is not None]
            db.executemany("INSERT INTO packets (direction, wall_time, apid, sequence, service, "
                           "subtype, raw, decoded, error) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            db.commit()
            if stop:
                db.close()
                return

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=30)

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Read the archive (from any thread; committed rows only)."""
        with sqlite3.connect(self.path) as db:
            return db.execute(sql, params).fetchall()
