"""The campaign report (campaign/report.py): it names every configuration and criterion and links
PNG files that exist."""
from __future__ import annotations

import re

import pytest

from campaign.summary import summarize

pytest.importorskip("matplotlib")


def rows(outcomes, tensor):
    return [{"outcome": o, "tensor": tensor, "field": "exponent", "bit": 30, "copy": "live", "kind": "single"}
            for o in outcomes]


def test_the_report_names_every_configuration_and_criterion_and_links_pngs_that_exist(tmp_path):
    from campaign.report import write_report

    configurations = [{"name": "bare", "protection": "off"}, {"name": "guarded", "protection": "on"}]
    results = {"bare": rows(["sdc"] * 3 + ["masked"] * 97, "conv") + rows(["masked"] * 20, "padding"),
               "guarded": rows(["corrected"] * 120, "conv")}
    summary = summarize("demo", results, configurations, {"max_sdc": {"guarded": 0.0}})
    text = write_report(summary, tmp_path).read_text()
    assert "| bare | 120 |" in text and "| guarded | 120 |" in text
    assert all(case["name"] in text for case in summary["criteria"])
    images = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert "rates.png" in images and "sdc-tensor.png" in images and len(images) == 4
    for image in images:
        assert (tmp_path / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
