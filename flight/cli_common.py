"""The options every orbitfs entry point shares: ``--version``, ``--log-level``, ``--log-format``,
``--log-file``, ``--log-max-bytes``, ``--log-backups`` and ``--log-stderr``.

Lives in ``flight`` because every package may import ``flight`` (and ``flight`` imports
nothing else). Where records go: to the log file when there is one (the flight's default is
``RUN_DIR/flight.log``; the other tools write none unless ``--log-file`` is given), rotated at
``--log-max-bytes`` keeping ``--log-backups`` old files (flight.core.log_files); to stderr when
there is no file, or with ``--log-stderr`` as well. So a flight's stderr carries only what is not
a log record (a crash's traceback, faulthandler's output), and its log lines are written once.

| requirement | verified by |
| ``--version`` prints ``NAME VERSION`` and exits 0; the installed distribution's version, else |   |
|   the source tree's ``pyproject.toml`` | tests/unit/test_cli_flags.py |
| ``--log-level`` takes DEBUG, INFO, WARNING or ERROR in any case | tests/unit/test_cli_flags.py |
| ``--log-format json``: one JSON object per record and line | tests/unit/test_cli_flags.py |
| configuring again replaces the handlers installed before, not anyone else's | tests/unit/test_cli_flags.py |
| a bad ``--log-level``, ``--log-max-bytes`` or ``--log-backups``: argparse's one-line error, exit 2 |   |
|   | tests/unit/test_cli_flags.py |
| a log file that cannot be opened: one line naming it and why, exit 2, no traceback | tests/unit/test_log_files.py |
| records go to the file only, unless ``--log-stderr``; with no file, to stderr | tests/unit/test_log_files.py |
| the file rotates at ``--log-max-bytes`` keeping ``--log-backups`` files | tests/unit/test_log_files.py |
"""
from __future__ import annotations

import argparse
import logging
import platform
import sys
from importlib import metadata
from pathlib import Path

from flight.core.log_files import ProcessLog, formatter

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DISTRIBUTION = "orbitfs"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5

_installed: list[logging.Handler] = []


def version() -> str:
    """The orbitfs version: the installed distribution's, else the source tree's pyproject."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return tomllib.loads(PYPROJECT.read_text())["project"]["version"]


def _at_least(least: int):  # noqa: ANN202 - an argparse type
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {least}")
        return value
    return parse


def add_common_options(parser: argparse.ArgumentParser, default_level: str = "WARNING",
                       default_log_file: str = "") -> None:
    """Add the logging options and ``--version`` to an entry point's parser.

    ``default_level`` WARNING keeps a tool's output to what it prints (as Python's own
    last-resort handler did); the flight passes INFO, its log being its record.
    ``default_log_file`` names, for the help, the file the entry point logs to without
    ``--log-file`` (it passes that path to :func:`configure_logging`); empty: none."""
    parser.set_defaults(prog=parser.prog)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=default_level,
                        help=f"least severe level logged (default {default_level})")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="text lines, or one JSON object per line (time, level, logger, message)")
    parser.add_argument("--log-file", metavar="PATH",
                        help=f"log to this file, rotated (default {default_log_file or 'none: log to stderr'})")
    parser.add_argument("--log-max-bytes", type=_at_least(1), default=DEFAULT_MAX_BYTES, metavar="N",
                        help=f"rotate the log file before it exceeds N bytes (default {DEFAULT_MAX_BYTES})")
    parser.add_argument("--log-backups", type=_at_least(1), default=DEFAULT_BACKUPS, metavar="N",
                        help=f"rotated log files kept: FILE.1 (newest) .. FILE.N (default {DEFAULT_BACKUPS})")
    parser.add_argument("--log-stderr", action="store_true",
                        help="log to stderr as well as to the log file (without a file, stderr is the log)")


def configure_logging(args: argparse.Namespace, default_file: Path | None = None) -> None:
    """Log at ``args.log_level`` in ``args.log_format`` to ``args.log_file`` (else ``default_file``)
    and, when there is no file or ``args.log_stderr``, to stderr.

    A file that cannot be opened ends the program: one line, exit 2. The first record (DEBUG)
    names the program, its version and the Python, so a log says what wrote it."""
    root = logging.getLogger()
    while _installed:
        old = _installed.pop()
        root.removeHandler(old)
        old.close()
    path = args.log_file or default_file
    handlers: list[logging.Handler] = []
    if path:
        try:
            handlers.append(ProcessLog(path, args.log_max_bytes, args.log_backups, args.log_format))
        except OSError as error:
            print(f"{args.prog}: cannot open the log file {path}: {error.strerror or error}", file=sys.stderr)
            raise SystemExit(2) from None
    if not path or args.log_stderr:
        handlers.append(StderrHandler())
        handlers[-1].setFormatter(formatter(args.log_format))
    for handler in handlers:
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
