"""The campaign report (campaign/report.py): it names every configuration and criterion and links
PNG files that exist; it breaks the outcomes down by fault model and by region, configurations side
by side, with the summary's numbers, and leaves out a breakdown with a single value."""
from __future__ import annotations

import re

import pytest

from campaign.summary import summarize

pytest.importorskip("matplotlib")

CONFIGURATIONS = [{"name": "bare", "protection": "off"}, {"name": "guarded", "protection": "on"}]


def rows(outcomes, tensor, kind="single", region="card0_weights"):
    return [{"outcome": o, "tensor": tensor, "field": "exponent", "bit": 30, "copy": "live", "kind": kind,
             "region": region} for o in outcomes]


def report(summary, folder):
    """The report's text and the images it links, after checking each is a PNG that exists and
    that no PNG is written that it does not link."""
    from campaign.report import write_report

    text = write_report(summary, folder).read_text()
    images = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    for image in images:
        assert (folder / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(path.name for path in folder.glob("*.png")) == sorted(images)
    return text, images


def test_the_report_names_every_configuration_and_criterion_and_links_pngs_that_exist(tmp_path):
    results = {"bare": rows(["sdc"] * 3 + ["masked"] * 97, "conv") + rows(["masked"] * 20, "padding"),
               "guarded": rows(["corrected"] * 120, "conv")}
    summary = summarize("demo", results, CONFIGURATIONS, {"max_sdc": {"guarded": 0.0}})
    text, images = report(summary, tmp_path)
    assert "| bare | 120 |" in text and "| guarded | 120 |" in text
    assert all(case["name"] in text for case in summary["criteria"])
    assert "rates.png" in images and "sdc-tensor.png" in images and len(images) == 4


def test_outcomes_by_fault_model_and_by_region_are_plotted_and_tabled_side_by_side(tmp_path):
    results = {"bare": rows(["sdc"] * 4 + ["masked"] * 36, "conv", "single", "card0_weights")
               + rows(["due"] * 2 + ["masked"] * 18, "conv", "byte", "card1_weights"),
               "guarded": rows(["corrected"] * 40, "conv", "single", "card0_weights")
               + rows(["due"] + ["corrected"] * 19, "conv", "byte", "card1_weights")}
    summary = summarize("demo", results, CONFIGURATIONS, {})
    text, images = report(summary, tmp_path)
    assert "outcomes-fault-model.png" in images and "sdc-region.png" in images
    assert "| fault model | configuration | trials | masked | corrected | due | sdc | SDC rate [95 % Wilson] |" in text
    single_bare = summary["configurations"]["bare"]["by_fault_model"]["single"]["sdc"]
    assert f"| single | bare | 40 | 36 | 0 | 0 | 4 | {single_bare['rate']:.2e} [{single_bare['low']:.2e}, " in text
    byte_guarded = summary["configurations"]["guarded"]["by_region"]["card1_weights"]["sdc"]
    assert (f"| card1_weights | guarded | 20 | 0 | 19 | 1 | 0 | 0.00e+00 [0.00e+00, {byte_guarded['high']:.2e}]; "
            f"rule of three <= {byte_guarded['upper_rule_of_three']:.2e} |") in text


def test_a_single_fault_model_or_region_has_no_breakdown_plot_or_table(tmp_path):
    results = {"bare": rows(["sdc"] * 2 + ["masked"] * 8, "conv", region="card0_weights")
               + rows(["masked"] * 10, "conv", region="card2_weights"),
               "guarded": rows(["corrected"] * 20, "conv", region="card2_weights")}
    text, images = report(summarize("demo", results, CONFIGURATIONS, {}), tmp_path)
    assert "sdc-region.png" in images and "outcomes-fault-model.png" not in images
    assert "| fault model |" not in text and "| region | configuration |" in text
    one_region = {name: [{**row, "region": "card0_weights"} for row in lines] for name, lines in results.items()}
    (tmp_path / "one").mkdir()
    text, images = report(summarize("demo", one_region, CONFIGURATIONS, {}), tmp_path / "one")
    assert "sdc-region.png" not in images and "| region |" not in text
