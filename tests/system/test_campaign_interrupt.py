"""``orbitfs-campaign`` stopped with Ctrl-C (campaign/cli.py's own path, as a user meets it): SIGINT
to the command's process group, as a terminal sends it, mid-campaign. The command exits 130 with
one line on stderr and no traceback, keeps only whole result lines, each trial once, and the same
command run again completes the campaign, every trial once, the earlier lines unchanged.

In process (``--workers 1``, the default) and with a process pool (``--workers 2``, whose workers
get the SIGINT too and must leave it to the parent)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TRIALS = 300
CAMPAIGN = f"""
[campaign]
name = "interrupted"
seed = 5
trials = {TRIALS}
[faults]
kinds = ["single", "multi", "byte"]
[[configurations]]
name = "off"
protection = "off"
"""
MESSAGE = "interrupted: the trials done are kept; run the same command to resume"


def wait_for_lines(path: Path, count: int, process: subprocess.Popen) -> None:
    """Until ``path`` holds ``count`` lines; fails if the command ends first or takes a minute."""
    deadline = time.monotonic() + 60
    while not (path.exists() and path.read_bytes().count(b"\n") >= count):
        assert process.poll() is None, f"the campaign ended before {count} results (exit {process.returncode})"
        assert time.monotonic() < deadline, f"no {count} results in {path} within a minute"
        time.sleep(0.05)


def interrupt(command: list[str], results: Path, stderr: Path) -> int:
    """Run ``command``, press Ctrl-C once ``results`` has 100 lines; its exit status."""
    with open(stderr, "wb") as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    try:
        wait_for_lines(results, 100, process)
        os.killpg(process.pid, signal.SIGINT)            # a terminal's Ctrl-C: the whole foreground group
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def trials_of(data: bytes) -> list[int]:
    """The trial index of each line; every line whole (ended by a newline, a JSON result)."""
    assert data.endswith(b"\n")
    return [json.loads(line)["trial"] for line in data.splitlines()]


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_exits_130_keeping_whole_lines_and_the_same_command_completes_the_campaign(tmp_path, workers):
    file, out = tmp_path / "campaign.toml", tmp_path / "out"
    file.write_text(CAMPAIGN)
    command = [sys.executable, "-m", "campaign.cli", str(file), "--out", str(out), "--workers", str(workers)]
    results = out / "results-off.jsonl"
    assert interrupt(command, results, tmp_path / "stderr") == 130
    assert (tmp_path / "stderr").read_text().strip() == MESSAGE                 # one line, no traceback
    before = results.read_bytes()
    kept = trials_of(before)
    assert 100 <= len(kept) < TRIALS and len(set(kept)) == len(kept)
    assert not (out / "summary.json").exists()
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = results.read_bytes()
    assert after.startswith(before)                                             # the earlier lines unchanged
    assert sorted(trials_of(after)) == list(range(TRIALS))                      # every trial once
    assert json.loads((out / "summary.json").read_text())["configurations"]["off"]["trials"] == TRIALS
