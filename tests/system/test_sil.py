"""The main job end to end: ``orbitfs-sil`` as a user runs it (flight and ground, two processes).

Verifies that a short SIL run passes all its own checks (the dictionary digests match, every
product delivered, zero drops, detections equal to the ground truth, commands verified, clean
shutdown, archive complete) and prints the summary for people: no Python repr, an ETA on each
progress line, the upsets injected vs detected, the slips and the card columns explained; that
``--json`` holds the same checks as printed, the config and the rows with numbers as numbers; that
``--junit`` parses with one testcase per check; and that the run's report lists its five figures,
which exist and are not empty.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET



def test_sil_main_job_passes_and_prints_its_summary(tmp_path):
    run_dir, json_path, junit_path = tmp_path / "sil", tmp_path / "out" / "sil.json", tmp_path / "sil.xml"
    result = subprocess.run([sys.executable, "-m", "ground_sim.sil", "--frames", "40", "--seed",
                             "3", "--run-dir", str(run_dir), "--json", str(json_path), "--junit", str(junit_path)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "RESULT: PASS" in out
    assert "products downlinked                  40" in out
    assert (run_dir / "archive.sqlite").exists()

    summary = out[out.index("================ SIL summary"):]
    assert "{" not in out and "[" not in summary.replace("[PASS]", "").replace("[FAIL]", "")
    assert "parameters: cluster.DetectionThreshold = 0.5" in out
    progress = [line for line in out.splitlines() if line.lstrip().startswith("products ") and "/40" in line]
    assert progress and all(re.search(r"ETA (--|\s*\d+ s)\)$", line) for line in progress)
    injected = int(re.search(r"upsets injected / bits flipped +(\d+)", out).group(1))
    assert f"injected {injected} = " in out and "found (one finding each)" in out
    assert "a slip is a rate-group cycle that finished after the next cycle's deadline" in out
    assert re.search(r"rate-group slips +\d+ +\(rgFast \d+ of \d+ cycles", out)
    assert "errors: the card's failed inferences" in out and "util %: the card's total compute time" in out

    printed = re.findall(r"\[(PASS|FAIL)\] ([^:]+): (.*)", out)
    data = json.loads(json_path.read_text())
    assert [(c["name"], c["passed"], c["detail"]) for c in data["checks"]] == [
        (name, verdict == "PASS", detail) for verdict, name, detail in printed]
    assert "dictionary matches" in [c["name"] for c in data["checks"]]
    assert data["passed"] is True and data["config"]["frames"] == 40 and data["config"]["seed"] == 3
    assert data["config"]["run_dir"] == str(run_dir) and data["config"]["version"]
    rows = {row["name"]: row for row in data["rows"]}
    assert rows["products downlinked"]["value"]["products"] == 40
    assert rows["upsets injected / bits flipped"]["value"]["injected"] == injected
    assert all(row["meaning"] for row in data["rows"])

    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite.get("name") == "orbitfs-sil" and suite.get("failures") == "0"
    assert [case.get("name") for case in suite.findall("testcase")] == [name for _, name, _ in printed]

    report = run_dir / "report" / "report.md"
    assert f"report: {report}" in out and report.exists()
    figures = re.findall(r"\]\(([^)]+\.png)\)", report.read_text())
    assert len(figures) == 5 and all((report.parent / f).stat().st_size > 0 for f in figures)
