"""The campaign summary (campaign/summary.py): counts are those of the result lines, the reduction
factor and bounds follow their formulas, the breakdowns by fault model and region count every
outcome class with campaign.stats' SDC interval, and a broken criterion or a runner error fails its
JUnit case."""
from __future__ import annotations

import math
from xml.etree import ElementTree

from hypothesis import given, settings, strategies as st

from campaign.stats import rule_of_three, wilson
from campaign.summary import OUTCOMES, junit_xml, summarize

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


UPSET = st.fixed_dictionaries({"outcome": st.sampled_from(OUTCOMES), "kind": st.sampled_from(["single", "multi"]),
                                "region": st.sampled_from(["card0_weights", "card1_weights", "slot"])})


@settings(max_examples=50, deadline=None)
@given(st.lists(UPSET, max_size=80), st.lists(UPSET, min_size=1, max_size=80))
def test_by_fault_model_and_by_region_count_every_class_with_the_sdc_interval_of_the_stats(off, on):
    summary = summarize("t", {"off": off, "on": on}, CONFIGURATIONS, {})
    for name, lines in (("off", off), ("on", on)):
        for key, field in (("by_fault_model", "kind"), ("by_region", "region")):
            breakdown = summary["configurations"][name][key]
            assert list(breakdown) == sorted({line[field] for line in lines})
            for value, row in breakdown.items():
                mine = [line["outcome"] for line in lines if line[field] == value]
                assert row["trials"] == len(mine)
                assert row["counts"] == {outcome: mine.count(outcome) for outcome in OUTCOMES}
                interval = wilson(mine.count("sdc"), len(mine))
                assert (row["sdc"]["count"], row["sdc"]["low"], row["sdc"]["high"]) == (
                    mine.count("sdc"), interval.low, interval.high)
                assert row["sdc"]["rate"] == mine.count("sdc") / len(mine)
                if not mine.count("sdc"):
                    assert row["sdc"]["upper_rule_of_three"] == rule_of_three(len(mine))


def test_the_fault_model_of_a_card_fault_is_its_fault_and_a_line_without_one_is_left_out():
    cards = [{"outcome": "hang", "fault": "hang"}, {"outcome": "corrected", "fault": "crash"},
             {"outcome": "sdc", "fault": "wrong"}, {"outcome": "runner_error", "error": "OSError: gone"}]
    on = summarize("t", {"off": cards, "on": cards}, CONFIGURATIONS, {})["configurations"]["on"]
    assert list(on["by_fault_model"]) == ["crash", "hang", "wrong"]
    assert [row["counts"]["hang"] for row in on["by_fault_model"].values()] == [0, 1, 0]
    assert on["by_fault_model"]["wrong"]["sdc"]["count"] == 1 and on["by_fault_model"]["crash"]["counts"]["corrected"]
    assert on["by_region"] == {}                                                  # no region: nothing to break down


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


def test_a_board_burned_by_a_latch_up_fails_max_burned_and_none_passes():
    burned = summarize("t", {"off": rows(["masked"]), "on": rows(["corrected", "burned"])}, CONFIGURATIONS,
                       {"max_burned": {"on": 0}})
    case = next(c for c in burned["criteria"] if "burned" in c["name"])
    assert not case["passed"] and case["detail"].startswith("1 boards burned")
    whole = summarize("t", {"off": rows(["masked"]), "on": rows(["corrected"])}, CONFIGURATIONS,
                      {"max_burned": {"on": 0}})
    assert [c["passed"] for c in whole["criteria"] if "burned" in c["name"]] == [True]
