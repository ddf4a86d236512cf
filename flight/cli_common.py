"""The options every orbitfs entry point shares: ``--version``, ``--log-level``, ``--log-format``.

Lives in ``flight`` because every package may import ``flight`` (and ``flight`` imports
nothing else).  Requirements, each verified in ``tests/unit/test_cli_flags.py``:

- ``--version`` prints ``NAME VERSION`` and exits 0; the version is the installed
  distribution's, else the ``pyproject.toml`` beside the packages (a source tree):
  ``test_version``, ``test_version_without_installed_distribution``;
- ``--log-level`` takes DEBUG, INFO, WARNING or ERROR in any case; another value is
  argparse's usage and one-line error with exit 2, no traceback: ``test_log_level_any_case``,
  ``test_bad_log_level``;
- ``--log-format json`` writes one JSON object per record and line, with ``time`` (UTC,
  ISO 8601), ``level``, ``logger`` and ``message`` (and ``exception`` when there is one):
  ``test_json_log_lines``, ``test_json_formatter_exception``;
- configuring again replaces the handlers installed before, not anyone else's:
  ``test_configure_replaces_own_handlers``.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DISTRIBUTION = "orbitfs"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_installed: list[logging.Handler] = []


def version() -> str:
    """The orbitfs version: the installed distribution's, else the source tree's pyproject."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return tomllib.loads(PYPROJECT.read_text())["project"]["version"]


def add_common_options(parser: argparse.ArgumentParser, default_level: str = "WARNING") -> None:
    """Add ``--version``, ``--log-level`` and ``--log-format`` to an entry point's parser.

    ``default_level`` WARNING keeps a tool's output to what it prints (as Python's own
    last-resort handler did); the flight passes INFO, its log being its record."""
    parser.set_defaults(prog=parser.prog)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=default_level,
                        help=f"least severe level logged (default {default_level})")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="text lines, or one JSON object per line (time, level, logger, message)")


def configure_logging(args: argparse.Namespace, *files: Path) -> None:
    """Log at ``args.log_level`` in ``args.log_format`` to stderr and to each of ``files``.

    The first record (DEBUG) names the program, its version and the Python, so a log says
    what wrote it (``test_json_log_lines``)."""
    formatter = JsonFormatter() if args.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    root = logging.getLogger()
    while _installed:
        old = _installed.pop()
        root.removeHandler(old)
        old.close()
    for handler in [StderrHandler(), *(logging.FileHandler(path) for path in files)]:
        handler.setFormatter(formatter)
        root.addHandler(handler)
        _installed.append(handler)
    root.setLevel(args.log_level)
    logging.getLogger(__name__).debug("%s %s, Python %s on %s", args.prog, version(),
                                      platform.python_version(), platform.machine())


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record (so a replaced stderr is followed)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # noqa: ANN201 - whatever sys.stderr is
        return sys.stderr


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)
