"""Tests of the campaign executor (campaign/executor.py), with real processes.

The toy trial draws its outcome and value from ``random.Random(trial_seed(seed, index))`` and
raises for every index that is 13 modulo 50, so the expected lines of any campaign are known
in advance (``expected_lines``, computed here by calling the trial directly, without the
executor). Campaigns killed or interrupted run in a subprocess (``python -c``) in its own
session, so the whole process group (parent and pool workers) can be signalled and checked.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from campaign.executor import (
    RUNNER_ERROR, Progress, completed_trials, run_campaign, trial_seed,
)

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
OUTCOMES = ("masked", "corrected", "sdc")
SEED = 2024


def toy_trial(config: dict, index: int) -> dict:
    """A module-level (picklable) trial: outcome and value from the trial's seed; index 13 mod 50 fails."""
    if index % 50 == 13:
        raise ValueError(f"bad trial {index}")
    rng = random.Random(trial_seed(config["seed"], index))
    return {"outcome": OUTCOMES[rng.randrange(3)], "value": rng.random()}


def slow_trial(config: dict, index: int) -> dict:
    time.sleep(config["sleep"])
    return toy_trial(config, index)


def odd_trial(config: dict, index: int) -> dict:
    """Results the executor must refuse as runner errors (config["mode"] picks which)."""
    mode = config["mode"]
    if mode == "list":
        return ["masked"]  # type: ignore[return-value]
    if mode == "no_outcome":
        return {"value": 1}
    return {"outcome": "masked", "value": object()}  # not JSON-serialisable


def interrupting_trial(config: dict, index: int) -> dict:
    if index == config["stop_at"]:
        raise KeyboardInterrupt
    return toy_trial(config, index)


def expected_record(seed: int, index: int) -> dict:
    try:
        return {"trial": index, **toy_trial({"seed": seed}, index)}
    except ValueError as exc:
        return {"trial": index, "outcome": RUNNER_ERROR, "error": f"ValueError: {exc}"}


def expected_lines(seed: int, trials: int) -> set[str]:
    return {json.dumps(expected_record(seed, index)) for index in range(trials)}


def lines_of(path: Path) -> list[str]:
    data = path.read_bytes().decode()
    assert data.endswith("\n"), "the file ends with a torn line"
    return data.splitlines()


def assert_each_index_once(path: Path, trials: int) -> list[dict]:
    records = [json.loads(line) for line in lines_of(path)]
    assert sorted(record["trial"] for record in records) == list(range(trials))
    return records


# --- local, pool and dask give the same results ----------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_results_are_the_trials_own(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "results.jsonl"
    reports: list[tuple[int, int]] = []
    final = run_campaign(toy_trial, {"seed": SEED}, 500, path, workers=workers, chunk=16,
                         progress=lambda p: reports.append((p.done, p.total)))
    assert set(lines_of(path)) == expected_lines(SEED, 500)
    assert len(lines_of(path)) == 500
    assert final.done == 500 and final.total == 500
    assert final.counts == collections.Counter(json.loads(line)["outcome"] for line in lines_of(path))
    assert final.counts[RUNNER_ERROR] == 10  # 13, 63, ..., 463
    assert reports[0] == (0, 500) and reports[-1] == (500, 500)


def test_a_trials_exception_is_its_runner_error(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    run_campaign(toy_trial, {"seed": SEED}, 64, path, workers=2, chunk=8)
    records = completed_trials(path)
    assert records[13] == {"trial": 13, "outcome": RUNNER_ERROR, "error": "ValueError: bad trial 13"}
    assert records[63]["outcome"] == RUNNER_ERROR
    assert all(records[index]["outcome"] in OUTCOMES for index in range(64) if index % 50 != 13)


@pytest.mark.parametrize("mode, error", [
    ("list", "TypeError: trial returned list, not dict"),
    ("no_outcome", "TypeError: trial result's outcome is None, not a string"),
    ("unserialisable", "TypeError: Object of type object is not JSON serializable"),
])
def test_a_bad_result_is_a_runner_error(tmp_path: Path, mode: str, error: str) -> None:
    path = tmp_path / "results.jsonl"
    final = run_campaign(odd_trial, {"mode": mode}, 3, path)
    assert final.counts == {RUNNER_ERROR: 3}
    assert completed_trials(path)[1] == {"trial": 1, "outcome": RUNNER_ERROR, "error": error}


def test_dask_local_cluster_gives_the_same_results(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    final = run_campaign(toy_trial, {"seed": SEED}, 500, path, scheduler="local:2", chunk=16)
    assert set(lines_of(path)) == expected_lines(SEED, 500)
    assert len(lines_of(path)) == 500 and final.done == 500


def test_dask_scheduler_address_resumes(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    path = tmp_path / "results.jsonl"
    run_campaign(toy_trial, {"seed": SEED}, 200, path)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        final = run_campaign(toy_trial, {"seed": SEED}, 500, path, scheduler=cluster.scheduler_address, chunk=16)
    assert set(lines_of(path)) == expected_lines(SEED, 500)
    assert len(lines_of(path)) == 500
    assert final.resumed == 200 and final.done == 500 and sum(final.counts.values()) == 500


def test_a_bad_local_scheduler_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="local:N"):
        run_campaign(toy_trial, {"seed": SEED}, 5, tmp_path / "r.jsonl", scheduler="local:two")


# --- kill, Ctrl-C, resume ----------------------------------------------------------------------------


SCRIPT = """
import sys
sys.path[:0] = [{root!r}, {here!r}]
from pathlib import Path
from campaign.executor import run_campaign
from test_executor import slow_trial

if __name__ == "__main__":
    try:
        run_campaign(slow_trial, {{"seed": {seed}, "sleep": 0.005}}, {trials}, Path({path!r}),
                     workers={workers}, chunk=4)
    except KeyboardInterrupt:
        sys.exit(130)
"""


def start_campaign(path: Path, trials: int, workers: int) -> subprocess.Popen:
    """The campaign in a subprocess, in a session of its own; its output goes to ``path``.log (a
    file, not a pipe: a worker left behind would hold a pipe open)."""
    script = SCRIPT.format(root=str(ROOT), here=str(HERE), seed=SEED, trials=trials, path=str(path),
                           workers=workers)
    with open(path.with_suffix(".log"), "wb") as log:
        return subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=log, stderr=log)


def log_of(path: Path) -> str:
    return path.with_suffix(".log").read_text(errors="replace")


def wait_for_lines(process: subprocess.Popen, path: Path, count: int) -> None:
    deadline = time.monotonic() + 20
    while not (path.exists() and path.read_bytes().count(b"\n") >= count):
        assert process.poll() is None, log_of(path)
        assert time.monotonic() < deadline, "no results from the campaign"
        time.sleep(0.01)


def live_members(group: int) -> list[int]:
    """The processes of process group ``group`` that still run (zombies, waiting for init to reap
    them, are not counted), from /proc (Linux)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, _, pgrp = (entry / "stat").read_text().rpartition(")")[2].split()[:3]
            except (OSError, ValueError):
                continue  # gone meanwhile
            if int(pgrp) == group and state not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def assert_group_gone(group: int) -> None:
    """No process of the campaign's session still runs (the pool's workers were stopped)."""
    deadline = time.monotonic() + 5
    while live_members(group):
        assert time.monotonic() < deadline, f"processes of the campaign still run: {live_members(group)}"
        time.sleep(0.05)


@pytest.mark.parametrize("whole_group", [True, False], ids=["group", "parent_only"])
def test_a_killed_campaign_resumes_without_repeating_or_losing(tmp_path: Path, whole_group: bool) -> None:
    path = tmp_path / "results.jsonl"
    trials = 300
    process = start_campaign(path, trials, workers=2)
    try:
        wait_for_lines(process, path, 20)
        # the campaign and its workers (kill -9 of the job), or the campaign alone: its workers must die with it
        (os.killpg if whole_group else os.kill)(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
        assert_group_gone(process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    before = completed_trials(path)
    assert 20 <= len(before) < trials, "the kill came too late to test anything"
    with open(path, "ab") as out:
        out.write(b'{"trial": 299, "outcome": "mas')  # killed mid-write
    reports: list[Progress] = []
    final = run_campaign(toy_trial, {"seed": SEED}, trials, path, workers=2, progress=reports.append)
    records = assert_each_index_once(path, trials)
    assert all(before[record["trial"]] == record for record in records if record["trial"] in before)
    assert set(lines_of(path)) == expected_lines(SEED, trials)
    assert final.resumed == len(before) and final.done == trials
    assert final.counts == collections.Counter(record["outcome"] for record in records)


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_keeps_whole_lines_exits_130_and_resumes(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "results.jsonl"
    trials = 400
    process = start_campaign(path, trials, workers=workers)
    try:
        wait_for_lines(process, path, 20)
        os.kill(process.pid, signal.SIGINT)  # the parent only: the pool's workers ignore SIGINT anyway
        process.wait(timeout=20)
        assert process.returncode == 130, log_of(path)
        assert_group_gone(process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    kept = lines_of(path)  # whole lines only
    assert 20 <= len(kept) < trials, "the interrupt came too late to test anything"
    assert set(kept) <= expected_lines(SEED, trials)
    run_campaign(toy_trial, {"seed": SEED}, trials, path, workers=workers)
    assert_each_index_once(path, trials)
    assert set(lines_of(path)) == expected_lines(SEED, trials)


def test_keyboard_interrupt_in_process_reraises_after_keeping_the_lines(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    reports: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        run_campaign(interrupting_trial, {"seed": SEED, "stop_at": 7}, 20, path,
                     progress=lambda p: reports.append(p.done))
    assert [json.loads(line)["trial"] for line in lines_of(path)] == list(range(7))
    assert reports[-1] == 7
    final = run_campaign(toy_trial, {"seed": SEED}, 20, path)
    assert final.resumed == 7 and final.done == 20
    assert set(lines_of(path)) == expected_lines(SEED, 20)


# --- completed_trials --------------------------------------------------------------------------------


def test_completed_trials_ignores_a_torn_last_line_and_resume_truncates_it(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    whole = "".join(json.dumps(expected_record(SEED, index)) + "\n" for index in range(3))
    path.write_text(whole + '{"trial": 3, "outcome": "sdc", "val')
    assert sorted(completed_trials(path)) == [0, 1, 2]
    assert completed_trials(path)[1] == expected_record(SEED, 1)
    run_campaign(toy_trial, {"seed": SEED}, 5, path)
    assert path.read_text().startswith(whole)
    assert lines_of(path) == [json.dumps(expected_record(SEED, index)) for index in range(5)]


def test_completed_trials_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert completed_trials(tmp_path / "none.jsonl") == {}


@pytest.mark.parametrize("content, message", [
    ('{"trial": 0, "outcome": "sdc"}\nnot json\n{"trial": 2, "outcome": "sdc"}\n', ":2: not a result line"),
    ('{"trial": 0, "outcome": "sdc"}\n{"outcome": "sdc"}\n', ":2: not a result line"),
    ('{"trial": 0, "outcome": "sdc"}\n{"trial": 0, "outcome": "masked"}\n', ":2: trial 0 appears twice"),
    ('{"trial": "0", "outcome": "sdc"}\n', ":1: trial index '0' is not an integer"),
])
def test_completed_trials_refuses_a_corrupt_whole_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        completed_trials(path)


# --- Progress ----------------------------------------------------------------------------------------


def test_progress_line_shows_rate_counts_by_size_and_eta() -> None:
    counts = collections.Counter(sdc=3, masked=1000, corrected=200)
    progress = Progress(done=1234, total=16590, counts=counts, started=100.0)
    # 1234 trials in 10 s: 123.4 trials/s; 15356 left: 124.4 s
    assert progress.line(now=110.0) == (
        "1234/16590 trials  123.4 trials/s  masked 1000 corrected 200 sdc 3  ETA 2 min 04 s")


@pytest.mark.parametrize("progress, now, line", [
    (Progress(300, 400, collections.Counter(masked=300), 0.0), 10.0,
     "300/400 trials  30.0 trials/s  masked 300  ETA 3 s"),
    (Progress(150, 200, collections.Counter(sdc=1, corrected=1), 0.0, resumed=100), 10.0,
     "150/200 trials  5.0 trials/s  corrected 1 sdc 1  ETA 10 s"),
    (Progress(0, 10, collections.Counter(), 0.0), 5.0, "0/10 trials  0.0 trials/s  ETA ?"),
    (Progress(1, 100001, collections.Counter(masked=1), 0.0), 1.0,
     "1/100001 trials  1.0 trials/s  masked 1  ETA 27 h 46 min"),
    (Progress(10, 10, collections.Counter(masked=10), 0.0), 2.0, "10/10 trials  5.0 trials/s  masked 10  ETA 0 s"),
])
def test_progress_line_cases(progress: Progress, now: float, line: str) -> None:
    assert progress.line(now=now) == line


# --- trial_seed --------------------------------------------------------------------------------------


def test_trial_seed_is_pinned() -> None:
    # BLAKE2b-64 of b"1:0", big-endian: changing it would re-plan every trial of an existing campaign
    assert trial_seed(1, 0) == 5929455767908386171


@given(st.integers(0, 2**63 - 1), st.integers(0, 10**9), st.integers(0, 10**9))
def test_trial_seed_is_deterministic_and_distinct_per_index(master: int, first: int, second: int) -> None:
    seed = trial_seed(master, first)
    assert seed == trial_seed(master, first)
    assert 0 <= seed < 2**64
    if first != second:
        assert seed != trial_seed(master, second)
    assert seed != trial_seed(master + 1, first)


# --- the flight side never needs dask ----------------------------------------------------------------


def test_the_executor_does_not_import_dask(tmp_path: Path) -> None:
    script = (
        f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(HERE)!r}]\n"
        "from pathlib import Path\n"
        "from campaign.executor import run_campaign\n"
        "from test_executor import toy_trial\n"
        f"run_campaign(toy_trial, {{'seed': 1}}, 40, Path({str(tmp_path / 'r.jsonl')!r}), workers=2)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')], 'dask imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
