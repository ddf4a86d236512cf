"""``--version``, ``--log-level`` and ``--log-format`` on every entry point (``flight/cli_common.py``)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

import pytest

from campaign.cli import main as campaign_main
from flight import cli_common
from flight.__main__ import main as flight_main
from flight.dictionary_cli import main as dict_main
from ground_sim.console import main as ground_main
from ground_sim.sequences import main as seq_main
from ground_sim.sil import main as sil_main

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS: dict[str, Callable[[list[str]], int]] = {
    "orbitfs-flight": flight_main, "orbitfs-dict": dict_main, "orbitfs-ground": ground_main,
    "orbitfs-sil": sil_main, "orbitfs-campaign": campaign_main, "orbitfs-seq": seq_main,
}


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """Each test configures the root logger; leave it as pytest had it."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    cli_common._installed.clear()
    root.setLevel(level)


def test_entry_points_are_the_packaged_ones() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == set(ENTRY_POINTS)
    for name, target in scripts.items():
        module, function = target.split(":")
        assert (ENTRY_POINTS[name].__module__, ENTRY_POINTS[name].__name__) == (module, function)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_version(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        ENTRY_POINTS[name](["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"{name} {metadata.version('orbitfs')}\n"


def test_version_without_installed_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert cli_common.version() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_bad_log_level(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        ENTRY_POINTS[name](["--log-level", "loud"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == [err.splitlines()[-1]]
    assert errors[0].startswith(f"{name}: error: argument --log-level: invalid choice: 'LOUD'")


def test_log_level_any_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dict_main(["--log-level", "debug", "-o", str(tmp_path / "d.json")]) == 0
    assert logging.getLogger().level == logging.DEBUG
    assert "DEBUG flight.cli_common: orbitfs-dict " in capsys.readouterr().err


def _json_lines(text: str) -> list[dict]:
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry)
    return entries


def test_json_log_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dict_main(["--log-level", "DEBUG", "--log-format", "json", "-o", str(tmp_path / "d.json")]) == 0
    (entry,) = _json_lines(capsys.readouterr().err)
    assert entry["level"] == "DEBUG" and entry["logger"] == "flight.cli_common"
    assert entry["message"].startswith(f"orbitfs-dict {cli_common.version()}, Python ")
    assert entry["time"].endswith("+00:00")
    # The flight (stopped at start here: its fresh run directory has no key file) logs to its file too.
    run_dir = tmp_path / "flight"
    assert flight_main(["--run-dir", str(run_dir), "--log-level", "DEBUG", "--log-format", "json"]) == 2
    err = capsys.readouterr().err
    assert [e["message"] for e in _json_lines(err)][0].startswith("orbitfs-flight ")
    assert all(line.startswith("{") for line in (run_dir / "flight.log").read_text().splitlines())
    assert _json_lines((run_dir / "flight.log").read_text())


def test_json_formatter_exception() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info())
    entry = json.loads(cli_common.JsonFormatter().format(record))
    assert entry["message"] == "failed once" and "ValueError: bad" in entry["exception"]


def test_configure_replaces_own_handlers() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    args = argparse.Namespace(prog="p", log_level="INFO", log_format="text")
    cli_common.configure_logging(args)
    cli_common.configure_logging(args)
    added = [handler for handler in root.handlers if handler not in before]
    assert len(added) == 1 and isinstance(added[0], cli_common.StderrHandler)
    assert all(handler in root.handlers for handler in before)
