"""The ground's packet archive (ground_sim/archive.py), the console's archive alarm
(ground_sim/console.py) and the SIL's preparation of its run directory (ground_sim/sil.py).

Verifies: an unusable path raises ArchiveError at construction, one line naming the path and why,
and starts no thread; the journal is WAL and no transaction holds more than 1000 rows; every
recorded row is either committed, byte for byte and in order, or counted lost (hypothesis); a
full queue counts rows lost at once instead of blocking or growing; a database that was there is
appended to; on a full disk ``close`` returns the reason without raising and the console raises one
[ALARM] line and shows it in ``status``; the SIL refuses a non-empty run directory without
touching it, and with ``force`` replaces only the run's own files.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.app import load_flight_topology
from flight.wire.dictionary import build_dictionary
from ground_sim.api import IntegrationApi
from ground_sim.archive import ArchiveError, PacketArchive
from ground_sim.console import Console
from ground_sim.sil import UsageError, prepare
from ground_sim.station import GroundStation


def _unusable(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An archive path that cannot be used, and the reason the error must give."""
    if kind == "under a file":
        (tmp_path / "file").write_text("not a folder")
        return tmp_path / "file" / "archive.sqlite", f"{tmp_path / 'file'} is a file, not a folder"
    if kind == "missing folder":
        return tmp_path / "missing" / "archive.sqlite", f"folder {tmp_path / 'missing'} does not exist"
    if kind == "a folder":
        return tmp_path, "it is a folder"
    (tmp_path / "notes.txt").write_text("these are my notes, not a database " * 100)
    return tmp_path / "notes.txt", "file is not a database"


@pytest.mark.parametrize("kind", ["under a file", "missing folder", "a folder", "not a database"])
def test_an_unusable_path_raises_one_line_at_construction(tmp_path, kind):
    path, reason = _unusable(tmp_path, kind)
    threads = threading.active_count()
    with pytest.raises(ArchiveError) as raised:
        PacketArchive(path)
    assert str(raised.value) == f"cannot open archive {path}: {reason}"
    assert threading.active_count() == threads  # no writer was started


def test_the_journal_is_wal_and_a_transaction_holds_at_most_1000_rows(tmp_path):
    archive = PacketArchive(tmp_path / "a.sqlite")
    statements: list[str] = []
    archive._db.set_trace_callback(statements.append)  # the writer's own connection, idle until a row comes
    for n in range(3500):
        archive.record("down", float(n), bytes([n % 256]), {"apid": 1, "sequence": n})
    assert archive.close() is None
    inserts, largest = 0, 0
    for statement in statements:
        if statement.startswith("INSERT"):
            inserts += 1
            largest = max(largest, inserts)
        elif statement == "COMMIT":
            inserts = 0
    assert largest == 1000 and statements.count("COMMIT") >= 4
    assert archive.query("PRAGMA journal_mode") == [("wal",)]
    assert archive.query("SELECT COUNT(*) FROM packets") == [(3500,)]
    assert (archive.committed, archive.lost) == (3500, 0)


ROWS = st.lists(st.tuples(
    st.sampled_from(["up", "down"]), st.binary(max_size=64),
    st.one_of(st.none(), st.fixed_dictionaries({"apid": st.integers(0, 2047), "sequence": st.integers(0, 16383)})),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
    st.one_of(st.none(), st.text(max_size=20))), max_size=60)


@settings(max_examples=60)
@given(rows=ROWS, capacity=st.integers(1, 8), after_close=st.integers(0, 3))
def test_every_row_is_committed_byte_for_byte_or_counted_lost(tmp_path_factory, rows, capacity, after_close):
    archive = PacketArchive(tmp_path_factory.mktemp("a") / "a.sqlite", capacity=capacity)
    kept = [row for row in rows if archive.record(row[0], 1.5, row[1], row[2], row[3], row[4])]
    assert archive.close() is None
    for _ in range(after_close):
        assert not archive.record("down", 2.5, b"late", None)
    stored = archive.query("SELECT direction, raw, apid, sequence, error FROM packets ORDER BY id")
    assert stored == [(d, raw, (h or {}).get("apid"), (h or {}).get("sequence"), e) for d, raw, h, _, e in kept]
    assert archive.committed == len(kept)
    assert archive.lost == len(rows) - len(kept) + after_close
    assert (archive.alarm is None) == (archive.lost == 0)


def test_a_full_queue_counts_rows_lost_at_once_instead_of_blocking(tmp_path):
    path = tmp_path / "a.sqlite"
    archive = PacketArchive(path, capacity=10)
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN IMMEDIATE")  # the writer now waits for the lock with its batch
    archive.record("down", 0.0, b"first", None)
    time.sleep(0.5)
    began = time.monotonic()
    accepted = sum(archive.record("down", 0.0, bytes([n]), None) for n in range(100))
    assert time.monotonic() - began < 1.0
    assert accepted <= 10 and archive.queued <= 10
    assert archive.lost == 100 - accepted >= 89
    assert "rows lost" in archive.alarm
    blocker.rollback()
    blocker.close()
    assert archive.close() is None  # a full queue is a loss, not a failure of the writer
    assert archive.query("SELECT COUNT(*) FROM packets")[0][0] == archive.committed == 1 + accepted


def test_flush_is_true_once_every_row_queued_is_committed_and_false_once_any_was_lost(tmp_path):
    path = tmp_path / "a.sqlite"
    archive = PacketArchive(path, capacity=10)
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN IMMEDIATE")                          # the writer cannot commit for now
    archive.record("down", 0.0, b"held", None)
    assert archive.flush(timeout=0.3) is False                  # queued, not committed
    blocker.rollback()
    assert archive.flush(timeout=5.0) is True and archive.committed == 1
    blocker.execute("BEGIN IMMEDIATE")
    for n in range(30):                                         # the queue of 10 overflows: rows lost
        archive.record("down", 0.0, bytes([n]), None)
    blocker.rollback()
    blocker.close()
    assert archive.flush(timeout=5.0) is False and archive.lost > 0
    archive.close()


def test_an_existing_archive_is_appended_to(tmp_path):
    for n in range(2):
        archive = PacketArchive(tmp_path / "a.sqlite")
        archive.record("up", float(n), bytes([n]), None)
        assert archive.close() is None
    assert archive.query("SELECT raw FROM packets ORDER BY id") == [(b"\0",), (b"\1",)]


def test_a_full_disk_is_returned_by_close_and_raises_one_console_alarm(tmp_path, full_disk, capsys):
    station = GroundStation(build_dictionary(load_flight_topology()), "tcp://127.0.0.1:1",
                            "tcp://127.0.0.1:2", tmp_path / "a.sqlite")
    console = Console(IntegrationApi(station))
    try:
        recorded = full_disk(station.archive)
        deadline = time.monotonic() + 5
        while "[ALARM]" not in (out := capsys.readouterr().out) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert f"[ALARM] ARCHIVE FAILED: {tmp_path / 'a.sqlite'}: " in out and "RLIMIT_FSIZE" in out
        time.sleep(1.2)  # two more checks: the same failure is not announced again
        assert "[ALARM]" not in capsys.readouterr().out
        console.onecmd("status")
        assert "ARCHIVE FAILED" in capsys.readouterr().out
    finally:
        console.onecmd("quit")
    error = station.archive.close()
    assert error == station.archive.error and "RLIMIT_FSIZE" in error
    assert not station.archive.writing
    assert station.archive.committed + station.archive.lost == recorded
    assert station.archive.query("SELECT COUNT(*) FROM packets")[0][0] == station.archive.committed > 0


def test_the_sil_refuses_a_non_empty_run_directory_and_force_keeps_other_files(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / "flight.log").write_text("old run")
    with pytest.raises(UsageError, match=f"run directory {run_dir} is not empty: pass --force"):
        prepare(run_dir, False, None)
    assert sorted(p.name for p in run_dir.iterdir()) == ["flight.log", "notes.txt"]
    archive = prepare(run_dir, True, None)
    assert archive.close() is None
    assert sorted(p.name for p in run_dir.iterdir()) == ["archive.sqlite", "notes.txt"]
    assert (run_dir / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    for fresh in (tmp_path / "missing" / "run", tmp_path / "empty"):
        assert prepare(fresh, False, None).close() is None
        assert (fresh / "archive.sqlite").is_file()


def test_a_run_without_run_dir_takes_a_fresh_directory(tmp_path):
    from ground_sim.sil import fresh_run_dir

    assert fresh_run_dir(tmp_path, "sil") == tmp_path / "sil"
    (tmp_path / "sil").mkdir()
    assert fresh_run_dir(tmp_path, "sil") == tmp_path / "sil"  # empty: usable
    (tmp_path / "sil" / "archive.sqlite").write_text("x")
    (tmp_path / "sil-2").mkdir()
    (tmp_path / "sil-2" / "flight.log").write_text("x")
    (tmp_path / "sil-3").write_text("a file, not a directory")
    assert fresh_run_dir(tmp_path, "sil") == tmp_path / "sil-4"
