"""The main job end to end: ``orbitfs-sil`` as a user runs it (flight and ground, two processes).

Verifies that a short SIL run passes all its own checks (every product delivered, zero drops,
detections equal to the ground truth, commands verified, clean shutdown) and prints the summary.
"""
from __future__ import annotations

import subprocess
import sys


def test_sil_main_job_passes_and_prints_its_summary(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ground_sim.sil", "--frames", "40", "--seed",
                             "3", "--run-dir", str(tmp_path / "sil")],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "RESULT: PASS" in out
    assert "products downlinked                  40" in out
    assert (tmp_path / "sil" / "archive.sqlite").exists()
