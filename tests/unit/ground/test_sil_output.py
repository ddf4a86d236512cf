"""The SIL summary's explanations and its JSON / JUnit writers, from constructed data (no flight).

Verifies: the upset account matches each injection to the first later finding of its chunk and copy
(live and golden share a chunk's finding, TMR copies do not; an uncorrectable finding covers every
copy) and its parts add up to the upsets injected; the slip row gives each group's share of its
cycles and a verdict; the summary text holds no Python repr and every row its meaning; the JSON
holds config, rows with numbers as numbers and the checks; the JUnit XML has one testcase per check
and a failure element for each failed one; an unwritable output path is refused with one line;
the report hook returns one line whatever the report module does; a dictionary digest that differs
fails its check.
"""
from __future__ import annotations

import json
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from ground_sim.decoder import EventRecord
from ground_sim.sil import progress_line
from ground_sim.sil_output import (check_writable, junit_xml, run_config, summary_json, write_outputs,
                                   write_run_report)
from ground_sim.sil_rows import dictionary_check
from ground_sim.sil_summary import (Check, Row, Summary, account_upsets, card_table, limit_text, slip_row)
from flight.core.types import Severity

CHUNK = 64


def upset(time: float, region: str, target: str, offset: int) -> dict:
    return {"tick": int(time * 10), "time": time, "region": region, "target": target, "offset": offset,
            "mask": 1, "kind": "single", "old": 0, "new": 1}


def repaired(time: float, region: str, copy: str, offset: int) -> EventRecord:
    return EventRecord("scrubber.UpsetRepaired", Severity.WARNING_LO,
                       {"region": region, "copy": copy, "offset": offset, "bits": 1}, "", time)


def account(injections, findings, end=10.0, recoveries=()):
    return account_upsets(injections, findings, len(findings), lambda region: CHUNK, end, 0.1, recoveries)


def test_upsets_sharing_a_chunk_before_the_scrubber_returns_make_one_finding():
    injections = [upset(1.0, "card0_weights", "live", 3), upset(1.0, "card0_weights", "golden", 60),
                  upset(1.0, "parameters", "0", 5), upset(1.0, "parameters", "1", 9),
                  upset(2.0, "card0_weights", "live", 3), upset(9.95, "card1_weights", "live", 0)]
    findings = [repaired(1.1, "card0_weights", "live", 3),   # live and golden of one chunk: one finding
                repaired(1.1, "parameters", "0", 5), repaired(1.1, "parameters", "1", 9),  # TMR: one per copy
                repaired(2.1, "card0_weights", "live", 3)]
    result = account(injections, findings)
    assert (result.injected, result.found, result.shared, result.unreached, result.unexplained) == (6, 4, 1, 1, 0)
    text = result.explanation()
    assert text.startswith("injected 6 = 4 found") and "1 upset in a chunk already hit" in text
    assert "1 injected in the scrubber's last pass" in text


def test_recovery_erases_and_unmatched_upsets_are_said_unknown_not_guessed():
    injections = [upset(1.0, "card0_weights", "live", 200), upset(1.0, "parameters", "2", 0)]
    result = account(injections, [], recoveries=[("card0_weights", 1.5)])
    assert (result.erased, result.unexplained) == (1, 1)
    assert "cannot tell apart" in result.explanation()


@pytest.mark.parametrize("region, targets", [("parameters", ("0", "1")), ("card0_weights", ("live", "golden"))])
def test_an_uncorrectable_finding_covers_every_copy_of_its_chunk(region, targets):
    injections = [upset(1.0, region, target, 5) for target in targets]
    finding = EventRecord("scrubber.UncorrectableError", Severity.WARNING_HI, {"region": region, "offset": 5}, "", 1.1)
    result = account(injections, [finding], recoveries=[(region, 1.1)])
    assert result.found + result.shared == 2 and result.erased == result.unexplained == 0


@settings(max_examples=50, deadline=None)
@given(hs.lists(hs.tuples(hs.integers(0, 50), hs.sampled_from(["live", "golden", "0", "1"]), hs.integers(0, 255)),
                max_size=30), hs.sets(hs.integers(0, 60), max_size=20))
def test_the_parts_of_the_upset_account_add_up(raw, scrub_ticks):
    injections = [upset(t / 10, "r", target, offset) for t, target, offset in raw]
    findings = [repaired(t / 10 + 0.05, "r", copy, offset) for t in scrub_ticks
                for _, copy, offset in raw]
    result = account(injections, findings, end=5.0)
    assert (result.found + result.shared + result.unreached + result.erased + result.unexplained
            == result.injected == len(injections))


def test_slips_per_group_with_their_share_and_a_verdict():
    row = slip_row({"rgFast": (17, 51), "rgSlow": (0, 5)}, frames_lost=0)
    assert row.text == "17  (rgFast 17 of 51 cycles (33.3%), rgSlow 0 of 5 cycles (0.0%))"
    assert "next cycle's deadline" in row.meaning and "no frame was lost" in row.meaning
    assert row.value == {"rgFast": {"slips": 17, "cycles": 51}, "rgSlow": {"slips": 0, "cycles": 5}}
    assert "every cycle finished" in slip_row({"rgFast": (0, 10)}, 0).meaning
    assert "2 frames lost" in slip_row({"rgFast": (3, 10)}, 2).meaning


def summary(passed: bool = True) -> Summary:
    rows = [Row("limit excursions", {"cluster.card0_Temperature": 2},
                limit_text({"cluster.card0_Temperature": 2, "cluster.BatteryCharge": 1}), "channels out of limits"),
            Row("frames", 40, "40", "frames imaged")]
    table = card_table({"card0": {"Inferences": 40, "LatencyP50": 1.2, "LatencyP99": 5.0, "BusyTime": 0.5,
                                  "Resets": 1, "Errors": 2, "Temperature": 20.04}}, imaging_time=2.0)
    return Summary("SIL summary", rows, [Check("all products", True, "40/40"),
                                         Check("zero drops", passed, "3 <drops> & more")], [table])


def test_the_summary_text_has_no_repr_and_explains_its_rows_and_card_columns():
    text = summary().text()
    bare = text.replace("[PASS]", "").replace("[FAIL]", "")
    assert "{" not in bare and "[" not in bare and "(" + "'" not in bare
    assert "cluster.BatteryCharge 1, cluster.card0_Temperature 2" in text
    assert "errors: the card's failed inferences" in text and "resets: times the cluster quarantined" in text
    assert "util %: the card's total compute time" in text
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("  frames "))
    assert lines[row].split() == ["frames", "40"] and lines[row + 1].strip() == "frames imaged"


def test_the_json_holds_config_rows_as_numbers_and_checks(tmp_path):
    config = run_config(frames=40, seed=3, mode="TMR", run_dir=tmp_path)
    data = json.loads(json.dumps(summary_json(summary(False), config)))
    assert data["config"]["frames"] == 40 and data["config"]["run_dir"] == str(tmp_path)
    assert isinstance(data["config"]["version"], str)
    assert data["rows"][1] == {"name": "frames", "value": 40, "text": "40", "meaning": "frames imaged"}
    assert data["checks"][1] == {"name": "zero drops", "passed": False, "detail": "3 <drops> & more"}
    assert data["passed"] is False and data["result"] == "RESULT: FAIL: zero drops"
    assert data["tables"][0]["rows"][0] == ["card0", 40, 1.2, 5.0, 25.0, 1, 2, 20.0]


def test_the_junit_has_one_testcase_per_check_and_a_failure_for_each_failed_one():
    root = ET.fromstring(junit_xml(summary(False), 12.5))
    suite = root.find("testsuite")
    assert suite.get("name") == "orbitfs-sil" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["all products", "zero drops"]
    assert cases[0].find("failure") is None
    assert cases[1].find("failure").get("message") == "3 <drops> & more"
    assert "RESULT: FAIL: zero drops" in suite.find("system-out").text


def test_outputs_are_written_and_an_unwritable_path_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_writable(tmp_path / "file" / "out.json", "--json") == (
        f"--json {tmp_path / 'file' / 'out.json'}: {tmp_path / 'file'} is a file, not a folder")
    assert check_writable(tmp_path, "--junit") == f"--junit {tmp_path}: is a directory; give a file path"
    assert check_writable(tmp_path / "new" / "out.xml", "--junit") is None
    assert check_writable(None, "--json") is None
    lines = write_outputs(summary(), {}, 1.0, tmp_path / "a" / "s.json", tmp_path / "s.xml")
    assert lines == [f"json: {tmp_path / 'a' / 's.json'}", f"junit: {tmp_path / 's.xml'}"]
    assert json.loads((tmp_path / "a" / "s.json").read_text())["passed"] is True


@pytest.mark.parametrize("behaviour, expected", [
    ("ok", "report: {out}/report.md"),
    ("unavailable", "report: none: matplotlib is not installed (install orbitfs[plot])"),
    ("broken", "report: none: OSError: disk full"),
])
def test_the_report_hook_is_one_line_whatever_the_report_does(tmp_path, monkeypatch, behaviour, expected):
    module = types.ModuleType("ground_sim.report")

    class ReportUnavailable(Exception):
        pass

    def write_report(archive: Path, dictionary, out_dir: Path, title: str = "orbitfs run") -> Path:
        if behaviour == "unavailable":
            raise ReportUnavailable("matplotlib is not installed")
        if behaviour == "broken":
            raise OSError("disk full")
        return out_dir / "report.md"

    module.ReportUnavailable, module.write_report = ReportUnavailable, write_report
    monkeypatch.setitem(sys.modules, "ground_sim.report", module)
    assert write_run_report(tmp_path / "a.sqlite", None, tmp_path, "t") == expected.format(out=tmp_path)


def test_a_dictionary_digest_that_differs_fails_its_check():
    assert dictionary_check(0x1234, 0x1234).passed
    mismatch = dictionary_check(0x1234, 0xABCD)
    assert not mismatch.passed and mismatch.detail == "flight 00001234, ground 0000abcd"
    assert not dictionary_check(None, 0xABCD).passed


def test_the_progress_line_has_an_eta_once_there_is_a_rate():
    assert progress_line(0, 40, 1.0).endswith("ETA --)")
    assert progress_line(20, 40, 2.0) == "  products    20/40  (  10.0 frames/s, ETA     2 s)"
