"""The ground keeps its data, and says so when it cannot: real processes, a really full "disk".

The full disk is RLIMIT_FSIZE, with SIGXFSZ ignored: a write past the limit fails with EFBIG,
as on a full filesystem, and SQLite reports it as it would (``disk I/O error`` or ``database or
disk is full``). The limit belongs to a process and is inherited by its children, so:
- the archive alone: a child Python process lowers its own limit and fills an archive;
- the SIL: a harness process runs ``ground_sim.sil.main`` with ``FlightProcess.start`` wrapped so
  that the limit is lowered only once the flight process is running (the flight and its cards
  keep the normal limit, as they would on their own host) and before any packet is archived; the
  archive then fills its 64 KB mid-run. No production code reads anything for this.

Verifies: on a full disk the archive reports the reason, counts the rows lost, ends its thread,
keeps memory bounded while rows keep coming, and every row it committed is readable afterwards;
an unusable archive path makes ``orbitfs-ground`` and ``orbitfs-sil`` exit 2 with one line (and
the SIL starts no flight), as does an unusable ``--json`` or ``--junit`` path; an archive that fails
mid-run fails the SIL run (exit 1, "RESULT: FAIL: archive complete") with its reason, its JSON and
JUnit files are written all the same and say so, and its committed rows stay readable; ``orbitfs-sil`` refuses a
non-empty run directory (exit 2, one line, the user's file untouched) and with ``--force`` runs
there, keeping the user's file and replacing the run's own.
"""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET

from flight.app import load_flight_topology
from flight.wire.dictionary import build_dictionary
from ground_sim.archive import PacketArchive

FILL_ARCHIVE = """
import json, resource, signal, sys, time
from ground_sim.archive import PacketArchive

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
archive = PacketArchive(sys.argv[1], capacity=20_000)
recorded, deadline = 0, time.monotonic() + 60
while archive.error is None and time.monotonic() < deadline:
    for _ in range(50):  # then let the writer commit them: the disk fills, not the queue
        archive.record("down", time.time(), bytes(1000), {"apid": 1, "sequence": recorded}, {"n": recorded})
        recorded += 1
    while archive.error is None and archive.committed < recorded and time.monotonic() < deadline:
        time.sleep(0.01)
while archive.writing and time.monotonic() < deadline:
    time.sleep(0.01)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
largest_queue = 0
for n in range(200_000):  # 200 MB of rows if they were kept
    archive.record("down", time.time(), bytes(1000), {"apid": 1}, {"n": n})
    largest_queue = max(largest_queue, archive.queued)
recorded += 200_000
growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
print(json.dumps({"error": archive.close(), "recorded": recorded, "committed": archive.committed,
                  "lost": archive.lost, "writing": archive.writing, "growth_kb": growth_kb,
                  "largest_queue": largest_queue, "alarm": archive.alarm}))
"""

FILL_DURING_SIL = """
import resource, signal, sys
from ground_sim import sil
from ground_sim.flight_process import FlightProcess

start = FlightProcess.start

def start_then_fill_the_disk(self, *args, **kwargs):
    ready = start(self, *args, **kwargs)  # the flight process runs, with the normal limit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (131_072, resource.RLIM_INFINITY))
    return ready

FlightProcess.start = start_then_fill_the_disk
sys.exit(sil.main(sys.argv[1:]))
"""


def _run(*argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout)


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_a_full_disk_is_reported_counted_and_bounded_and_committed_rows_stay(tmp_path):
    path = tmp_path / "archive.sqlite"
    result = _run("-c", FILL_ARCHIVE, str(path))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert re.search(r"disk is full|file size limit is 300,000 bytes", report["error"]), report["error"]
    assert report["alarm"].startswith(f"ARCHIVE FAILED: {path}: ")
    assert report["lost"] >= 200_000 and report["committed"] > 0
    assert report["committed"] + report["lost"] == report["recorded"]
    assert not report["writing"]
    assert report["largest_queue"] == 0 and report["growth_kb"] < 50_000  # nothing kept after the failure
    with sqlite3.connect(path) as db:
        numbers = [json.loads(d)["n"] for (d,) in db.execute("SELECT decoded FROM packets ORDER BY id")]
    assert numbers == list(range(report["committed"]))


def test_an_unusable_archive_path_is_refused_by_the_console_and_the_sil(tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    unusable = tmp_path / "file" / "archive.sqlite"
    dictionary = build_dictionary(load_flight_topology()).write(tmp_path / "dictionary.json")
    console = _run("-m", "ground_sim.console", "--tc", "tcp://127.0.0.1:1", "--tm", "tcp://127.0.0.1:2",
                   "--dictionary", str(dictionary), "--archive", str(unusable), timeout=60)
    assert _one_line(console) == (f"orbitfs-ground: cannot open archive {unusable}: "
                                  f"{tmp_path / 'file'} is a file, not a folder\n")
    run_dir = tmp_path / "run"
    sil = _run("-m", "ground_sim.sil", "--frames", "5", "--run-dir", str(run_dir), "--archive", str(unusable),
               timeout=60)
    assert _one_line(sil) == (f"orbitfs-sil: cannot open archive {unusable}: "
                              f"{tmp_path / 'file'} is a file, not a folder\n")
    assert sil.stdout == "" and list(run_dir.iterdir()) == []  # no model written, no flight started
    for option in ("--json", "--junit"):
        out = _run("-m", "ground_sim.sil", "--frames", "5", "--run-dir", str(run_dir), option, str(unusable),
                   timeout=60)
        assert _one_line(out) == f"orbitfs-sil: {option} {unusable}: {tmp_path / 'file'} is a file, not a folder\n"
        assert out.stdout == "" and list(run_dir.iterdir()) == []


def test_an_archive_that_fails_mid_run_fails_the_sil_and_keeps_what_it_committed(tmp_path):
    run_dir = tmp_path / "run"
    json_path, junit_path = tmp_path / "sil.json", tmp_path / "sil.xml"
    result = _run("-c", FILL_DURING_SIL, "--frames", "20", "--seed", "5", "--run-dir", str(run_dir),
                  "--json", str(json_path), "--junit", str(junit_path))
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]
    assert out.rstrip().splitlines()[-1] == "RESULT: FAIL: archive complete"  # every other check passed
    assert re.search(r"^report: ", out, re.MULTILINE)          # written or not, one line, the exit status kept
    data = json.loads(json_path.read_text())                   # written on a failed run too
    assert data["passed"] is False and [c["name"] for c in data["checks"] if not c["passed"]] == ["archive complete"]
    failures = ET.parse(junit_path).getroot().findall("testsuite/testcase/failure")
    assert len(failures) == 1 and failures[0].get("message").startswith("ARCHIVE FAILED: ")
    archived, lost = map(int, re.search(r"archive rows archived / lost +(\d+) / (\d+)", out).groups())
    assert archived > 0 and lost > 0
    failed = re.search(r"\[FAIL\] archive complete: ARCHIVE FAILED: (.*)", out).group(1)
    assert str(run_dir / "archive.sqlite") in failed and "file size limit is 131,072 bytes" in failed
    with sqlite3.connect(run_dir / "archive.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM packets").fetchone()[0] == archived
        assert db.execute("SELECT COUNT(*) FROM packets WHERE direction = 'up'").fetchone()[0] > 0


def test_a_non_empty_run_directory_is_refused_and_force_keeps_the_users_files(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("my notes")
    (run_dir / "flight.log.3").write_text("an older run's rotated log")
    stale = PacketArchive(run_dir / "archive.sqlite")
    stale.record("up", 0.0, b"an older run", None)
    assert stale.close() is None
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    refused = _run("-m", "ground_sim.sil", "--frames", "5", "--run-dir", str(run_dir), timeout=60)
    assert _one_line(refused) == (f"orbitfs-sil: run directory {run_dir} is not empty: pass --force to reuse it "
                                  "(the run's own files are replaced, nothing else is deleted) or choose another\n")
    assert refused.stdout == "" and {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    forced = _run("-m", "ground_sim.sil", "--frames", "5", "--run-dir", str(run_dir), "--force", "--no-report")
    assert forced.returncode == 0, forced.stdout[-3000:] + forced.stderr[-3000:]
    assert "RESULT: PASS" in forced.stdout
    assert (run_dir / "notes.txt").read_text() == "my notes"
    assert not (run_dir / "flight.log.3").exists()
    archived = int(re.search(r"archive rows archived / lost +(\d+) / 0 ", forced.stdout).group(1))
    with sqlite3.connect(run_dir / "archive.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM packets").fetchone()[0] == archived
        assert db.execute("SELECT COUNT(*) FROM packets WHERE raw = ?", (b"an older run",)).fetchone()[0] == 0


def test_a_setting_the_flight_refuses_and_a_bad_link_option_end_the_sil_with_one_line(tmp_path):
    sil = _run("-m", "ground_sim.sil", "--frames", "5", "--run-dir", str(tmp_path / "a"),
               "--set", "mission.orbit.altitude=700", timeout=120)
    assert _one_line(sil).startswith("orbitfs-sil: the flight did not start: orbitfs-flight: "
                                     "mission.orbit.altitude: no such setting")
    day = _run("-m", "ground_sim.sil", "--day", "--loss", "1.5", "--run-dir", str(tmp_path / "b"), timeout=60)
    assert _one_line(day) == "orbitfs-sil: --loss must be in [0, 1), got 1.5\n"
    assert not (tmp_path / "b").exists()                       # refused before anything was made
