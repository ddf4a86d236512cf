"""Log files: one rotating log file per process, and how a process gives its children their own.

Every process of the flight writes its own file, never another's: two processes appending to one
file would interleave records and rotate it under each other. The flight writes ``flight.log``
(``--log-file``); each card worker the file beside it named after the flight's and the card,
``flight.card0.log``, with the flight's bound, backups, level and format. A file is rotated
(``logging.handlers.RotatingFileHandler``) before the record that would take it past
``max_bytes``: ``flight.log`` becomes ``flight.log.1``, and so on up to ``backups`` files.

The settings a child needs travel as a plain dict (:func:`child_log`, :func:`configure_child`),
so the worker needs nothing but this module. Lives in the core because every layer may import
the core: the card worker (flight.payload) sets up its log with it, and flight.cli_common the
entry points' logs.

| requirement | verified by |
| a file is rotated at its bound: no file exceeds ``max_bytes`` plus one record, at most ``backups`` old files |   |
|   | tests/unit/test_log_files.py |
| a child's file is the parent's sibling, with the parent's bound, backups, level and format |   |
|   | tests/unit/test_log_files.py |
| no child file when the parent writes none, or only the file of the parent it was forked from |   |
|   | tests/unit/test_log_files.py |
| a card worker of a flight run writes its own file, and no log record reaches flight.out |   |
|   | tests/system/test_log_files_flight.py |
| JSON lines carry time (UTC), level, logger, message (and exception) | tests/unit/test_cli_flags.py |
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def formatter(kind: str) -> logging.Formatter:
    """The formatter of a log format: ``text`` or ``json``."""
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


class ProcessLog(logging.handlers.RotatingFileHandler):
    """This process's own log file, rotated at ``max_bytes`` keeping ``backups`` old files.

    Raises OSError (as ``open`` does) when the file cannot be opened for appending."""

    def __init__(self, path: str | Path, max_bytes: int, backups: int, kind: str) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self.kind = kind
        self.pid = os.getpid()   # a forked child inherits the handler, not the file: see child_log
        self.setFormatter(formatter(kind))


def child_log(name: str) -> dict[str, Any] | None:
    """The log settings for a child process called ``name`` of this process: its own file beside
    this process's log file (``flight.log`` -> ``flight.<name>.log``), same bound, backups, level
    and format; None when this process writes no log file of its own (none, or only the one a
    forked parent opened: its children would share names with the parent's other children)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, ProcessLog) and handler.pid == os.getpid():
            path = Path(handler.baseFilename)
            return {"file": str(path.with_name(f"{path.stem}.{name}{path.suffix or '.log'}")),
                    "max_bytes": handler.maxBytes, "backups": handler.backupCount,
                    "level": logging.getLevelName(root.level), "format": handler.kind}
    return None


def configure_child(settings: dict[str, Any] | None) -> None:
    """Log to the file :func:`child_log` named for this process (nothing when ``settings`` is None).

    A child that cannot open its file logs nowhere rather than fail: its work matters more than
    its log, and its parent's log says it started."""
    if not settings:
        return
    try:
        handler = ProcessLog(settings["file"], settings["max_bytes"], settings["backups"], settings["format"])
    except OSError:
        return
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(settings["level"])
