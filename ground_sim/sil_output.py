"""What a SIL run leaves for programs: its summary as JSON (``--json``), its checks as JUnit XML
(``--junit``, for CI systems), and its report (ground_sim.report, when it can be made).

The JSON holds the run's config (frames or hours, seed, mode, run directory, orbitfs version, the
native dispatch this host uses), every row of the summary (name, value: numbers as numbers, text,
meaning), every table, every check (name, passed, detail) and the result. The JUnit XML is one
testsuite ``orbitfs-sil`` with one testcase per check, a ``<failure message=...>`` for each failed
one, and the summary's text in ``<system-out>``. Both are written whether the run passes or fails;
an output path that cannot be written is refused before anything starts (:func:`check_writable`).
The report never changes a run's outcome: :func:`write_run_report` returns one line saying where it
is or why there is none.

| requirement | verified by |
| --- | --- |
| the JSON holds config, rows (numbers as numbers), checks and result | tests/unit/ground/test_sil_output.py, |
|   | tests/system/test_sil.py |
| the JUnit XML parses, one testcase per check, a failure element per failed check | |
|   | tests/unit/ground/test_sil_output.py, tests/system/test_sil.py |
| an unwritable output path is refused with one line | tests/unit/ground/test_sil_output.py |
| a report failure or a missing matplotlib is one line, never an exception | tests/unit/ground/test_sil_output.py |
"""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ground_sim.sil_summary import Summary

SUITE = "orbitfs-sil"


def check_writable(path: Path | None, option: str) -> str | None:
    """Why ``path`` cannot take the file ``option`` writes (one line), or None if it can."""
    if path is None:
        return None
    if path.is_dir():
        return f"{option} {path}: is a directory; give a file path"
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{option} {path}: {existing} is a file, not a folder"
    target = path if path.exists() else existing
    if not os.access(target, os.W_OK):
        return f"{option} {path}: not writable"
    return None


def host_features() -> dict[str, Any]:
    """The native dispatch this host uses (its best CPU tier and each function's implementation)."""
    from native import _dispatch

    return {"native_tier": _dispatch.max_tier(), "native_implementations": _dispatch.implementation()}


def run_config(**config: Any) -> dict[str, Any]:
    """A run's config for the JSON: what was given, the version, the host's features."""
    from flight.cli_common import version

    out = {k: (str(v) if isinstance(v, Path) else v) for k, v in config.items()}
    out["version"] = version()
    try:
        out["cpu"] = host_features()
    except (ImportError, AttributeError, OSError) as error:   # informative only: never fails a run
        out["cpu"] = f"unknown ({error})"
    return out


def summary_json(summary: Summary, config: dict[str, Any]) -> dict[str, Any]:
    return {"suite": SUITE, "title": summary.title, "config": config,
            "rows": [asdict(row) for row in summary.rows],
            "tables": [asdict(table) for table in summary.tables],
            "checks": [asdict(check) for check in summary.checks],
            "passed": not summary.failed, "result": summary.result()}


def write_json(path: Path, summary: Summary, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary_json(summary, config), indent=2) + "\n")


def junit_xml(summary: Summary, elapsed: float) -> bytes:
    failed = summary.failed
    suite = ET.Element("testsuite", name=SUITE, tests=str(len(summary.checks)), failures=str(len(failed)),
                       errors="0", skipped="0", time=f"{elapsed:.3f}")
    for check in summary.checks:
        case = ET.SubElement(suite, "testcase", classname=SUITE, name=check.name)
        if not check.passed:
            ET.SubElement(case, "failure", message=check.detail).text = check.detail
    ET.SubElement(suite, "system-out").text = summary.text() + "\n" + summary.result() + "\n"
    suites = ET.Element("testsuites", name=SUITE, tests=suite.get("tests"), failures=suite.get("failures"))
    suites.append(suite)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def write_junit(path: Path, summary: Summary, elapsed: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(summary, elapsed))


def write_outputs(summary: Summary, config: dict[str, Any], elapsed: float, json_path: Path | None,
                  junit_path: Path | None) -> list[str]:
    """Write the JSON and JUnit files asked for; one line for each written or failed (never raises)."""
    lines = []
    for path, label, write in ((json_path, "json", lambda p: write_json(p, summary, config)),
                               (junit_path, "junit", lambda p: write_junit(p, summary, elapsed))):
        if path is None:
            continue
        try:
            write(path)
            lines.append(f"{label}: {path}")
        except OSError as error:
            lines.append(f"{label}: not written: {path}: {error.strerror or error}")
    return lines


def write_run_report(archive: Path, dictionary: Any, out_dir: Path, title: str) -> str:
    """Make the run's report (ground_sim.report); one line: where it is, or why there is none."""
    try:
        from ground_sim.report import ReportUnavailable, write_report
    except ImportError as error:
        return f"report: none: {error}"
    try:
        return f"report: {write_report(archive, dictionary, out_dir, title=title)}"
    except ReportUnavailable as error:
        return f"report: none: {error}" + ("" if "orbitfs[plot]" in str(error) else " (install orbitfs[plot])")
    except Exception as error:   # noqa: BLE001  (a report must never change the run's outcome)
        return f"report: none: {type(error).__name__}: {error}"
