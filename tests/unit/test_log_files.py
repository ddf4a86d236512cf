"""One rotating log file per process (flight/core/log_files.py, flight/cli_common.py): rotation at
the bound, the file instead of stderr, a child's file beside its parent's, an unopenable file."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest

from flight import cli_common
from flight.__main__ import main as flight_main
from flight.core.log_files import child_log, configure_child
from flight.dictionary_cli import main as dict_main

BOUND = 2000


pytestmark = pytest.mark.usefixtures("restore_root_logger")

def _configure(*argv: str) -> None:
    parser = argparse.ArgumentParser(prog="tool")
    cli_common.add_common_options(parser, default_level="INFO")
    cli_common.configure_logging(parser.parse_args(list(argv)))


def test_rotation_at_the_bound(tmp_path: Path) -> None:
    log_file = tmp_path / "tool.log"
    _configure("--log-file", str(log_file), "--log-max-bytes", str(BOUND), "--log-backups", "3")
    longest = 0
    for i in range(400):
        message = f"record {i} " + "x" * (i % 97)
        logging.getLogger("t").info(message)
        longest = max(longest, len(message) + 80)   # with the text format's time, level and logger
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["tool.log", "tool.log.1", "tool.log.2", "tool.log.3"]
    assert all(f.stat().st_size <= BOUND + longest for f in files)
    assert all(f.stat().st_size > BOUND // 2 for f in files[1:])   # rotated full, not early
    assert log_file.read_text().splitlines()[-1].endswith("record 399 " + "x" * (399 % 97))


def test_file_instead_of_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _configure("--log-file", str(tmp_path / "a.log"))
    logging.getLogger("t").warning("to the file")
    assert capsys.readouterr().err == ""
    _configure("--log-file", str(tmp_path / "b.log"), "--log-stderr")
    logging.getLogger("t").warning("to both")
    assert capsys.readouterr().err.endswith("WARNING t: to both\n")
    assert [p.read_text().count("WARNING t: ") for p in (tmp_path / "a.log", tmp_path / "b.log")] == [1, 1]
    _configure()
    logging.getLogger("t").warning("to stderr")
    assert capsys.readouterr().err.endswith("WARNING t: to stderr\n")


def test_child_log_beside_the_parents(tmp_path: Path) -> None:
    no_file = argparse.Namespace(prog="t", log_level="INFO", log_format="text", log_file=None,
                                 log_max_bytes=1, log_backups=1, log_stderr=False)
    cli_common.configure_logging(no_file)      # whatever an earlier test configured is replaced
    assert child_log("card0") is None          # no file of its own: the child writes none either
    _configure("--log-file", str(tmp_path / "flight.log"), "--log-max-bytes", "5000", "--log-backups", "2",
               "--log-format", "json", "--log-level", "debug")
    settings = child_log("card0")
    assert settings == {"file": str(tmp_path / "flight.card0.log"), "max_bytes": 5000, "backups": 2,
                        "level": "DEBUG", "format": "json"}
    cli_common.configure_logging(no_file)
    before = list(logging.getLogger().handlers)
    configure_child(settings)
    try:
        logging.getLogger("card").info("started")
        assert '"message": "started"' in (tmp_path / "flight.card0.log").read_text()
        assert "started" not in (tmp_path / "flight.log").read_text()
    finally:                                   # the child's handler is this test's only
        for handler in set(logging.getLogger().handlers) - set(before):
            logging.getLogger().removeHandler(handler)
            handler.close()


def test_no_child_log_from_a_forked_copy_of_the_parents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _configure("--log-file", str(tmp_path / "campaign.log"))
    assert child_log("card0") is not None
    monkeypatch.setattr(os, "getpid", lambda: -1)     # as in a process forked after the file was opened
    assert child_log("card0") is None


@pytest.mark.parametrize("where", ["a directory", "a missing folder"])
def test_unopenable_log_file(tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path if where == "a directory" else tmp_path / "missing" / "x.log"
    for name, main, argv in (("orbitfs-dict", dict_main, ["-o", str(tmp_path / "d.json")]),
                             ("orbitfs-flight", flight_main, ["--run-dir", str(tmp_path / "run")])):
        with pytest.raises(SystemExit) as done:
            main([*argv, "--log-file", str(path)])
        assert done.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"{name}: cannot open the log file {path}: "), err
