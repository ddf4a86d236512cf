"""A SQLite database as the flight's durable stores open it: WAL, ``synchronous = FULL``, checked
whole before anything is read from it.

Every page and every index entry is checked against its row (``PRAGMA integrity_check``), so that
damage on the medium is found at open, where a store can set the file aside, and not by a later
read that would raise out of the store or miss rows without a word; then the schema is applied.

| requirement | verified by |
|---|---|
| a damaged page, index entry or schema is refused at open (DatabaseError) |   |
|   | tests/unit/services/test_tm_store_damage.py |
"""
from __future__ import annotations

import sqlite3
from pathlib import Path


def open_checked(path: Path, schema: str) -> sqlite3.Connection:
    """The database at ``path`` in WAL mode with full sync, checked whole, with ``schema`` applied;
    sqlite3.DatabaseError (or ValueError, for a message that is not UTF-8) if it is damaged, with
    nothing left open."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        (verdict,) = db.execute("PRAGMA integrity_check(1)").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {verdict}")
        db.executescript(schema)
    except (sqlite3.DatabaseError, ValueError):
        db.close()
        raise
    return db
