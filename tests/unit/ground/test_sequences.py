"""Sequence files (ground_sim/sequences.py): a good file gives TCs the flight accepts; every bad
file is refused with one line naming the file, the step and what is wrong."""
from __future__ import annotations

from pathlib import Path

import pytest

from flight.app import load_flight_topology
from flight.wire import sequencing as sq
from flight.wire.dictionary import build_dictionary
from flight.wire.pus import TelemetryPacket
from ground_sim.commanding import CommandEncoder
from ground_sim.decoder import TmDecoder
from ground_sim.sequences import SequenceFileError, main, read_sequence

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "sequences" / "pass_start.toml"


@pytest.fixture(scope="module")
def dictionary():
    return build_dictionary(load_flight_topology())


def test_the_readme_example_is_valid_and_encodes_its_steps(dictionary):
    sequence = read_sequence(EXAMPLE, dictionary)
    assert sequence.name == "pass_start" and [a for a, _, _ in sequence.steps] == [0.0, 0.5, 1.0]
    data, tcs = sequence.load_request(CommandEncoder(dictionary))
    name, steps = sq.unpack_load(data)
    assert name == "pass_start" and [s.delay_ms for s in steps] == [0, 500, 1000]
    assert [s.request for s in steps] == [tc.encode() for tc in tcs]


STEP = '[[steps]]\nafter_s = 1\ncommand = "dispatcher.NO_OP_STRING"\nargs = ["x"]\n'


@pytest.mark.parametrize("text,says", [
    ('name = "a"\n[[steps]\n', "a.toml:"),
    ('name = "a"\ncolour = 1\n' + STEP, "unknown key 'colour'"),
    ('name = ""\n' + STEP, "name must be"),
    ('name = "' + "x" * 33 + '"\n' + STEP, "name must be"),
    ('name = "a"\n', "0 steps"),
    ('name = "a"\n' + STEP * 65, "65 steps"),
    ('name = "a"\n' + STEP.replace("dispatcher.NO_OP_STRING", "dispatcher.FLY"),
     "steps[0]: no command 'dispatcher.FLY'"),
    ('name = "a"\n' + STEP.replace('["x"]', "[1]"), "steps[0]: dispatcher.NO_OP_STRING"),
    ('name = "a"\n' + STEP.replace('["x"]', '["x", "y"]'), "takes 1 arguments, got 2"),
    ('name = "a"\n' + STEP.replace('["x"]', '{ txt = "x" }'), "has no argument(s) ['txt']"),
    ('name = "a"\n' + STEP + STEP.replace("after_s = 1", "after_s = -1"), "steps[1]: after_s must be"),
    ('name = "a"\n' + STEP.replace("after_s = 1", 'after_s = "soon"'), "after_s must be"),
    ('name = "a"\n' + STEP.replace("args", "argz"), "steps[0]: unknown key 'argz'"),
    ('name = "a"\nsteps = [1]\n', "steps[0]: a step is a table"),
])
def test_a_bad_file_is_refused_with_one_line_naming_it(tmp_path, dictionary, text, says):
    path = tmp_path / "a.toml"
    path.write_text(text)
    with pytest.raises(SequenceFileError) as refused:
        read_sequence(path, dictionary)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("a.toml") and says in message, message


def test_an_argument_out_of_range_is_refused(tmp_path, dictionary):
    command = next(c for c in dictionary.commands if any(a.high is not None for a in c.args))
    args = [a.high + 1 if a.high is not None else (0 if a.type.name != "STRING" else "x") for a in command.args]
    path = tmp_path / "a.toml"
    path.write_text(f'name = "a"\n[[steps]]\ncommand = "{command.name}"\nargs = {args!r}\n'.replace("'", '"'))
    with pytest.raises(SequenceFileError, match=r"steps\[0\]: " + command.name):
        read_sequence(path, dictionary)


def test_the_check_command_prints_one_line_and_its_status(tmp_path, capsys):
    assert main(["check", str(EXAMPLE)]) == 0
    assert "3 steps" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "a"\n')
    assert main(["check", str(bad)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_the_ground_decodes_the_status_report(dictionary):
    raw = TelemetryPacket(1, 0, sq.SERVICE, sq.STATUS_REPORT, sq.pack_status([("a", True), ("b", False)]), 5.0).encode()
    decoded = TmDecoder(dictionary).decode(raw)
    assert decoded.to_json()["value"] == [{"sequence": "a", "running": True}, {"sequence": "b", "running": False}]
