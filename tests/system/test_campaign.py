"""``orbitfs-campaign`` as a user runs it (campaign/cli.py): a small campaign off vs on gives its
summary and JUnit; a trial replays alone with its recorded result; a campaign killed (SIGKILL)
mid-way resumes without repeating or losing a trial; the dask path (a LocalCluster) gives the
same results as the local pool."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from xml.etree import ElementTree

import pytest

pytestmark = pytest.mark.slow

CAMPAIGN = """
[campaign]
name = "small"
seed = 9
trials = {trials}
[faults]
kinds = ["single", "multi", "byte"]
[[configurations]]
name = "off"
protection = "off"
[[configurations]]
name = "mixed"
protection = "off"
scrub_every = 1
guarded = ["auto"]
[[configurations]]
name = "on"
protection = "on"
[criteria]
max_sdc = {{ on = 0.0 }}
"""
KILLED_TRIALS, KILLED_AFTER = 300, 100   # killed once the first configuration has 100 of its 300 trials


def campaign(tmp_path, trials):
    path = tmp_path / f"c{trials}.toml"
    path.write_text(CAMPAIGN.format(trials=trials))
    return path


def cli(*argv, timeout=300):
    return subprocess.run([sys.executable, "-m", "campaign.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_small_campaign_gives_its_summary_and_junit_and_a_trial_replays_alone(tmp_path):
    out = tmp_path / "out"
    result = cli(campaign(tmp_path, 300), "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    for name in ("off", "mixed", "on"):
        rows = lines(out / f"results-{name}.jsonl")
        assert sorted(r["trial"] for r in rows) == list(range(300))
        counts = summary["configurations"][name]["counts"]
        assert sum(counts.values()) == 300 and counts["runner_error"] == 0
        assert counts["sdc"] == sum(r["outcome"] == "sdc" for r in rows)
    assert summary["configurations"]["on"]["counts"]["sdc"] == 0
    suite = ElementTree.parse(out / "junit.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 4
    guarded = summary["configurations"]["mixed"]["settings"]["guarded"]
    assert guarded == summary["recommendation"]["tensors"] and guarded       # "auto", resolved from "off"
    assert summary["configurations"]["mixed"]["sdc"]["count"] <= summary["configurations"]["off"]["sdc"]["count"]
    assert (out / "report.md").exists()
    off_rows = lines(out / "results-off.jsonl")
    index = next(r["trial"] for r in off_rows if r["outcome"] == "sdc") if any(
        r["outcome"] == "sdc" for r in off_rows) else 17
    replay = cli(campaign(tmp_path, 300), "--out", out, "--replay", f"off:{index}")
    assert replay.returncode == 0 and "recorded result: the same" in replay.stdout


def test_a_killed_campaign_resumes_without_repeating_or_losing_a_trial(tmp_path):
    out, file = tmp_path / "out", campaign(tmp_path, KILLED_TRIALS)
    process = subprocess.Popen([sys.executable, "-m", "campaign.cli", str(file), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results-off.jsonl"
    deadline = time.monotonic() + 120
    while not (results.exists() and results.read_text().count("\n") >= KILLED_AFTER):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {r["trial"]: r for r in lines(results)}
    assert KILLED_AFTER <= len(before) < KILLED_TRIALS
    result = cli(file, "--out", out, "--workers", "2", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    after = lines(results)
    assert sorted(r["trial"] for r in after) == list(range(KILLED_TRIALS))           # each once
    assert all({r["trial"]: r for r in after}[i] == row for i, row in before.items())   # unchanged


def test_a_card_campaign_with_a_relative_output_folder_runs_as_the_readme_has_it(tmp_path):
    file = tmp_path / "cards.toml"
    file.write_text('[campaign]\nname = "c"\ntrials = 6\n[target]\nkind = "cards"\nframes = 3\n'
                    '[faults]\nkinds = ["crash", "wrong"]\n[[configurations]]\nname = "tmr"\n'
                    '[criteria]\nmax_lost_frames = { tmr = 0 }\n')
    result = subprocess.run([sys.executable, "-m", "campaign.cli", str(file)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = lines(tmp_path / "runs" / "campaign-c" / "results-tmr.jsonl")
    assert len(rows) == 6 and {r["outcome"] for r in rows} <= {"corrected", "masked"}


def test_the_dask_path_gives_the_local_pools_results(tmp_path):
    pytest.importorskip("distributed")
    pool, cluster = tmp_path / "pool", tmp_path / "dask"
    file = campaign(tmp_path, 60)
    assert cli(file, "--out", pool, "--workers", "2").returncode == 0
    result = cli(file, "--out", cluster, "--scheduler", "local:2")
    assert result.returncode == 0, result.stderr[-2000:]
    def by_trial(path, name):
        return sorted(lines(path / f"results-{name}.jsonl"), key=lambda r: r["trial"])

    for name in ("off", "on"):
        assert by_trial(pool, name) == by_trial(cluster, name)
