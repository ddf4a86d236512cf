"""The flight's ONNX Runtime check (flight/runtime_check.py): a missing runtime is one line and exit 2."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

from flight import runtime_check

HIDE_ORT = """
import sys
sys.modules["onnxruntime"] = None          # as if no ONNX Runtime were installed
from flight.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_this_environment_has_a_runtime_and_names_it():
    assert runtime_check.missing_onnxruntime() is None
    assert any(name.startswith("onnxruntime") for name in runtime_check.installed_distributions())


def test_no_runtime_names_the_builds_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert runtime_check.missing_onnxruntime() == runtime_check.MISSING


def test_the_flight_refuses_to_start_without_a_runtime(tmp_path):
    done = subprocess.run([sys.executable, "-c", HIDE_ORT, "--run-dir", str(tmp_path / "flight")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [f"orbitfs-flight: {runtime_check.MISSING}"]
    assert "Traceback" not in done.stderr


def test_two_distributions_together_are_warned_about():
    assert runtime_check.conflict_warning(["onnxruntime 1.20.1"]) is None
    warning = runtime_check.conflict_warning(["onnxruntime 1.20.1", "onnxruntime-gpu 1.20.1"])
    assert "onnxruntime 1.20.1 and onnxruntime-gpu 1.20.1" in warning and "install one" in warning
