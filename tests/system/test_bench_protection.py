"""tools/bench_protection.py's upset campaign (its figure 3) runs region trials through the
campaign runner, protection on and off, and reports each configuration's figures from the result
lines: every trial classified, on: every upset repaired exactly and no SDC."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "bench_protection.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("bench_protection", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_upset_campaign_runs_through_the_runner_and_reports_from_its_results(tmp_path, demo_model, capsys):
    tool = load_tool()
    figure = tool.upset_campaign(tmp_path, demo_model, 8, 11, workers=1)
    for name in ("on", "off"):
        run = figure[name]
        assert run["trials"] == 8 == sum(run["counts"].values()) and run["counts"]["runner_error"] == 0
        assert sum(sum(counts.values()) for counts in run["by_region"].values()) == 8
        assert run["lost"] == 0 and run["off_schedule"] == 0
    on, off = figure["on"], figure["off"]
    assert on["repaired_exactly"] == on["scrubbed"] == 8 and on["counts"]["corrected"] == 8 and on["latent"] == 0
    assert off["scrubbed"] == 0 and off["counts"]["masked"] + off["counts"]["sdc"] == 8
    assert on["sdc"]["count"] == 0 and on["sdc"]["high"] > 0                  # a Wilson interval, not just 0
    tool._print_campaign(figure, argparse.Namespace())
    assert "repairs matched exactly" in capsys.readouterr().out
