"""One-shot console runs for CI: ``-c LINE`` and ``--script FILE`` (ground_sim.console). The lines
run in order, each echoed after ``> ``, without prompt or history; the run stops at the first line
that fails (refused, failed in ST[1], timed out, a ``wait`` that expired, a usage error) unless
``keep_going``. Exit status: 0 if every line succeeded, 1 otherwise.

| requirement | verified by |
|---|---|
| comments and blank lines are skipped; an unreadable file is a ValueError naming it |   |
|   | tests/system/test_console_script.py |
| exit 0 when every line succeeds, 1 and stop at the first failure (all run with keep_going) |   |
|   | tests/system/test_console_script.py |
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence


class LineRunner(Protocol):
    failed: bool

    def onecmd(self, line: str) -> bool: ...

    def close(self) -> None: ...


def script_lines(text: str) -> list[str]:
    """The console lines of a script: one a line; blank lines and ``#`` comment lines skipped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def read_script(path: Path) -> list[str]:
    """The lines of the script at ``path``; ValueError naming it if it cannot be read or is not UTF-8 text."""
    try:
        return script_lines(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"script {path} is not UTF-8 text: {error.reason}") from None
    except OSError as error:
        raise ValueError(f"cannot read script {path}: {error.strerror or error}") from None


def run_lines(console: LineRunner, lines: Sequence[str], keep_going: bool = False) -> int:
    """Run ``lines`` on ``console``: 0 if every one succeeded, else 1 (stopping at the first failure
    unless ``keep_going``); a ``quit`` line ends the run."""
    status = 0
    try:
        for line in lines:
            print(f"> {line}", flush=True)
            leave = console.onecmd(line)
            if console.failed:
                status = 1
                print(f"FAILED: {line}", flush=True)
                if not keep_going:
                    break
            if leave:
                break
    finally:
        console.close()
    return status
