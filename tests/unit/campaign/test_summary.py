"""The campaign summary (campaign/summary.py): counts are those of the result lines, the reduction
factor and bounds follow their formulas, and a broken criterion or a runner error fails its JUnit
case."""
from __future__ import annotations

import math
from xml.etree import ElementTree

from hypothesis import given, settings, strategies as st

from campaign.summary import junit_xml, summarize

CONFIGURATIONS = [{"name": "off", "protection": "off"}, {"name": "on", "protection": "on"}]
OUTCOME = st.sampled_from(["masked", "corrected", "due", "sdc"])


def rows(outcomes, tensor="w"):
    return [{"outcome": o, "tensor": tensor, "field": "exponent", "bit": 30, "copy": "live", "kind": "single"}
            for o in outcomes]


@settings(max_examples=50, deadline=None)
@given(st.lists(OUTCOME, max_size=60), st.lists(OUTCOME, min_size=1, max_size=60))
def test_the_counts_are_those_of_the_result_lines(off, on):
    summary = summarize("t", {"off": rows(off), "on": rows(on)}, CONFIGURATIONS, {})
    for name, outcomes in (("off", off), ("on", on)):
        counts = summary["configurations"][name]["counts"]
        assert all(counts[o] == outcomes.count(o) for o in ("masked", "corrected", "due", "sdc"))
        assert summary["configurations"][name]["trials"] == len(outcomes)


def test_the_reduction_factor_is_the_ratio_or_a_bound_by_the_rule_of_three():
    off = rows(["sdc"] * 10 + ["masked"] * 990)
    observed = summarize("t", {"off": off, "on": rows(["sdc"] + ["corrected"] * 999)}, CONFIGURATIONS, {})
    assert observed["reduction"]["on"] == {"factor": 10.0, "bound": "observed"}
    bounded = summarize("t", {"off": off, "on": rows(["corrected"] * 1000)}, CONFIGURATIONS, {})
    assert math.isclose(bounded["reduction"]["on"]["factor"], 0.01 / (-math.log(0.05) / 1000))
    assert bounded["configurations"]["on"]["sdc"]["upper_rule_of_three"] > 0


def test_the_vulnerability_map_ranks_tensors_by_sdc_rate():
    off = rows(["sdc", "sdc", "masked"], "conv") + rows(["sdc", "masked", "masked", "masked"], "bias") + rows(
        ["masked"] * 5, "padding")
    summary = summarize("t", {"off": off, "on": rows(["corrected"])}, CONFIGURATIONS, {})
    by_tensor = summary["configurations"]["off"]["by_tensor"]
    assert list(by_tensor) == ["conv", "bias", "padding"]
    assert by_tensor["conv"] == {"trials": 3, "sdc": 2, "rate": 2 / 3}


def test_the_recommendation_is_the_fewest_tensors_with_ninety_percent_of_the_sdc():
    from campaign.summary import recommend

    by_tensor = {"a": {"sdc": 50}, "b": {"sdc": 30}, "c": {"sdc": 15}, "d": {"sdc": 5}, "padding": {"sdc": 0}}
    assert recommend(by_tensor) == {"tensors": ["a", "b", "c"], "sdc_share": 0.95}
    assert recommend(by_tensor, share=0.8) == {"tensors": ["a", "b"], "sdc_share": 0.8}
    assert recommend({"a": {"sdc": 0}}) == {"tensors": [], "sdc_share": 0.0}


def test_a_broken_criterion_and_a_runner_error_are_failed_junit_cases():
    results = {"off": rows(["sdc"]), "on": rows(["sdc", "corrected"]) + [{"outcome": "runner_error"}]}
    summary = summarize("t", results, CONFIGURATIONS, {"max_sdc": {"on": 0.0}, "max_lost_frames": {"on": 0}})
    suite = ElementTree.fromstring(junit_xml(summary))
    failed = {case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None}
    assert failed == {"on: SDC rate <= 0", "on: no runner error"}
    assert suite.get("tests") == "4" and suite.get("failures") == "2"       # no frame lost: passed
    lost = summarize("t", {"off": rows(["masked"]), "on": [{"outcome": "hang", "lost": 2}]}, CONFIGURATIONS,
                     {"max_lost_frames": {"on": 0}})
    assert [c["passed"] for c in lost["criteria"] if "lost" in c["name"]] == [False]
