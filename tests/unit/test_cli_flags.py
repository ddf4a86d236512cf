"""``--version`` and the logging options on every entry point (``flight/cli_common.py``)."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Callable

import pytest

from flight import cli_common
from flight.__main__ import main as flight_main
from flight.core.log_files import JsonFormatter
from flight.dictionary_cli import main as dict_main

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def entry_point(name: str) -> Callable[[list[str]], int]:
    """The packaged entry point ``name`` (``module:function`` in pyproject.toml)."""
    module, function = SCRIPTS[name].split(":")
    return getattr(importlib.import_module(module), function)


pytestmark = pytest.mark.usefixtures("restore_root_logger")

@pytest.mark.parametrize("name", SCRIPTS)
def test_version(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        entry_point(name)(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"{name} {metadata.version('orbitfs')}\n"


def test_version_without_installed_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert cli_common.version() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_bad_log_level(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        entry_point(name)(["--log-level", "loud"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == [err.splitlines()[-1]]
    assert errors[0].startswith(f"{name}: error: argument --log-level: invalid choice: 'LOUD'")


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("option,value", [("--log-max-bytes", "0"), ("--log-max-bytes", "10MB"),
                                          ("--log-backups", "-1"), ("--log-backups", "0")])
def test_bad_log_rotation(name: str, option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        entry_point(name)([option, value])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error:" in line] == [
        f"{name}: error: argument {option}: '{value}' is not a whole number of at least 1"]


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
    # The flight (stopped at start here: its fresh run directory has no key file) logs to its file,
    # and to stderr as well when asked.
    run_dir = tmp_path / "flight"
    assert flight_main(["--run-dir", str(run_dir), "--log-level", "DEBUG", "--log-format", "json",
                        "--log-stderr"]) == 2
    err = capsys.readouterr().err
    assert [e["message"] for e in _json_lines(err)][0].startswith("orbitfs-flight ")
    assert all(line.startswith("{") for line in (run_dir / "flight.log").read_text().splitlines())
    assert _json_lines((run_dir / "flight.log").read_text())


def test_json_formatter_exception() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "failed once" and "ValueError: bad" in entry["exception"]


def test_configure_replaces_own_handlers() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    args = argparse.Namespace(prog="p", log_level="INFO", log_format="text", log_file=None,
                              log_max_bytes=1, log_backups=1, log_stderr=False)
    cli_common.configure_logging(args)
    cli_common.configure_logging(args)
    added = [handler for handler in root.handlers if handler not in before]
    assert len(added) == 1 and isinstance(added[0], cli_common.StderrHandler)
    assert all(handler in root.handlers for handler in before)
