"""Sequence files: ST[21] request sequences written on the ground, checked against the dictionary
before they go up (flight.services.sequencer runs them on board).

A sequence file is TOML::

    name = "pass_start"              # the sequence id on board: 1 to 32 octets
    [[steps]]
    after_s = 0.0                    # s after the previous step's release (the first: activation)
    command = "dispatcher.NO_OP_STRING"
    args = ["hello"]                 # in order, or a table by argument name; none: leave it out

:func:`read_sequence` refuses a file whose TOML does not parse, a key it does not know, an unknown
command, an argument of the wrong name, count, type or range, a delay out of range, no step or more
than ``max_steps``, with :class:`SequenceFileError`: one line naming the file, the step and what is
wrong. ``python -m ground_sim.sequences check FILE`` (``orbitfs-seq check FILE``) prints that line
and exits 1, or the sequence's size and exits 0.

| requirement | verified by |
|---|---|
| a good file gives the TCs the flight accepts; every kind of bad file is one line naming it |   |
|   | tests/unit/ground/test_sequences.py |
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flight.app import load_flight_topology
from flight.cli_common import add_common_options, configure_logging
from flight.wire import sequencing as sq
from flight.wire.dictionary import Dictionary, build_dictionary
from flight.wire.pus import AckFlags
from ground_sim.commanding import CommandEncoder

MAX_STEPS = 64   # the flight's sequencer.max_steps by default
FILE_KEYS, STEP_KEYS = {"name", "steps"}, {"after_s", "command", "args"}


class SequenceFileError(ValueError):
    """A sequence file that cannot go up: the message is one line saying where and why."""


@dataclass(frozen=True)
class SequenceFile:
    name: str
    steps: list[tuple[float, str, Any]]   # (after_s, command, args)

    def load_request(self, encoder: CommandEncoder) -> tuple[bytes, list]:
        """The TC[21,1] application data, and each step's TC (for its ST[1] reports)."""
        tcs = [encoder.command(command, args, AckFlags.ALL) for _, command, args in self.steps]
        steps = [sq.Step(round(after * 1000), tc.encode()) for (after, _, _), tc in zip(self.steps, tcs)]
        return sq.pack_load(self.name, steps), tcs


def read_sequence(path: str | Path, dictionary: Dictionary, max_steps: int = MAX_STEPS) -> SequenceFile:
    """The sequence in ``path``, checked (SequenceFileError if anything is wrong)."""
    where = Path(path).name
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SequenceFileError(f"{where}: {_one_line(error)}") from None
    _known(where, doc, FILE_KEYS)
    name = doc.get("name")
    if not isinstance(name, str) or not 1 <= len(name.encode()) <= sq.MAX_NAME:
        raise SequenceFileError(f"{where}: name must be a string of 1 to {sq.MAX_NAME} octets, not {name!r}")
    steps = doc.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= max_steps:
        count = len(steps) if isinstance(steps, list) else 0
        raise SequenceFileError(f"{where}: {count} steps, a sequence has 1 to {max_steps}")
    encoder = CommandEncoder(dictionary)
    return SequenceFile(name, [_step(f"{where}: steps[{i}]", step, encoder) for i, step in enumerate(steps)])


def _step(where: str, step: Any, encoder: CommandEncoder) -> tuple[float, str, Any]:
    if not isinstance(step, dict):
        raise SequenceFileError(f"{where}: a step is a table, not {step!r}")
    _known(where, step, STEP_KEYS)
    after = step.get("after_s", 0.0)
    if isinstance(after, bool) or not isinstance(after, (int, float)) or not 0 <= after * 1000 <= sq.MAX_DELAY_MS:
        raise SequenceFileError(f"{where}: after_s must be 0 to {sq.MAX_DELAY_MS / 1000:.0f} s, not {after!r}")
    command, args = step.get("command"), step.get("args", [])
    if not isinstance(command, str):
        raise SequenceFileError(f"{where}: command must be a command's name, not {command!r}")
    try:
        encoder.command(command, args)
    except (ValueError, TypeError) as error:
        raise SequenceFileError(f"{where}: {_one_line(error)}") from None
    return float(after), command, args


def _known(where: str, table: dict, keys: set[str]) -> None:
    unknown = sorted(set(table) - keys)
    if unknown:
        raise SequenceFileError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-seq", description="Check an ST[21] sequence file")
    parser.add_argument("action", choices=["check"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--dictionary", type=Path, help="dictionary JSON (default: the default topology's)")
    parser.add_argument("--max-steps", type=int, default=MAX_STEPS)
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    if args.dictionary:
        dictionary = Dictionary.load(args.dictionary)
    else:
        dictionary = build_dictionary(load_flight_topology())
    try:
        sequence = read_sequence(args.file, dictionary, args.max_steps)
    except SequenceFileError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args.file}: sequence {sequence.name!r}, {len(sequence.steps)} steps, "
          f"{sum(after for after, _, _ in sequence.steps):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
