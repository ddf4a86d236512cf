"""The operator console (ground_sim/console.py) driven by scripts against a real flight: the
completer on the flight's own dictionary, a script that commands, waits and reads with exit 0,
refusals and ST[1] failures with exit 1 (stopping, or not with --keep-going), the dictionary
digest check on connect, an unreadable script with exit 2, and the real exit code of
``python -m ground_sim.console``.

One flight for the module's flight test: its test station is closed first, so that each console
is the flight's only ground (one COP-1 sequence, one IV reservation), as it is in operations."""
from __future__ import annotations

import json
import subprocess
import sys

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from flight.wire.dictionary import Dictionary
from ground_sim.console import Console, main
from ground_sim.console_completion import DictionaryCompleter

SCRIPT = """\
# a command and its completion, an event, an enumerated argument by name and a wait on its channel
cmd dispatcher.NO_OP_STRING 'from a script'

wait event dispatcher.NoOpString 10
cmd cluster.SET_MODE TMR
wait tlm cluster.Mode == TMR 10
tlm cluster.Mode
plot cluster.Mode cluster.FramesDelivered -o {png}
"""


def completions(completer: DictionaryCompleter, text: str) -> set[str]:
    return {c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))}


def test_scripts_against_a_flight_exit_0_when_all_succeed_and_1_at_a_failure(flight, tmp_path, capsys):
    run_dir = flight.process.run_dir
    flight.station.close()
    dictionary = Dictionary.load(json.loads((run_dir / "flight-ready.json").read_text())["dictionary"])
    completer = DictionaryCompleter(dictionary, Console.verbs())
    assert completions(completer, "cmd cluster.SET_MOD") == {"cluster.SET_MODE", "cluster.SET_MODE_IF"}
    assert completions(completer, "cmd cluster.SET_MODE T") == {"THROUGHPUT", "TMR"}
    assert "cluster.Mode" in completions(completer, "plot cluster.Mo")

    base = ["--run-dir", str(run_dir), "--archive", str(tmp_path / "console.sqlite")]
    script = tmp_path / "checks.txt"
    script.write_text(SCRIPT.format(png=tmp_path / "mode.png"))
    assert main([*base, "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "matches the flight's" in out and "dispatcher.NO_OP_STRING" in out and "completed" in out
    assert "[ACTIVITY] dispatcher.NoOpString: " in out and "cluster.Mode = TMR" in out
    assert ["cluster.Mode", "TMR"] in [line.split()[:2] for line in out.splitlines()] and "FAILED" not in out
    assert (tmp_path / "mode.png").read_bytes().startswith(b"\x89PNG") and f"  {tmp_path / 'mode.png'}" in out

    refused = ["-c", "cmd camera.START_IMAGING 0 0", "-c", "cmd dispatcher.NO_OP"]
    assert main([*base, *refused]) == 1
    out = capsys.readouterr().out
    assert "refused: " in out and "FAILED: cmd camera.START_IMAGING 0 0" in out and "> cmd dispatcher.NO_OP" not in out

    failing = ["-c", "cmd modes.ENTER_NOMINAL", "-c", "wait tlm modes.Mode == SAFE 0.5", "-c", "cmd dispatcher.NO_OP"]
    assert main([*base, "--keep-going", *failing]) == 1         # NOMINAL already; the wait expires
    out = capsys.readouterr().out
    assert "modes.ENTER_NOMINAL" in out and "failed at" in out and "timed out" in out
    assert "FAILED: cmd dispatcher.NO_OP" not in out and "dispatcher.NO_OP [" in out

    other = tmp_path / "other.json"
    other.write_text(dictionary.dumps().replace("Do nothing", "Do next to nothing", 1))
    assert main([*base, "--dictionary", str(other), "-c", "cmd dispatcher.NO_OP"]) == 1
    assert "DICTIONARY MISMATCH" in capsys.readouterr().out
    assert main([*base, "--dictionary", str(other), "--allow-dictionary-mismatch", "-c", "cmd dispatcher.NO_OP"]) == 0
    assert "completed" in capsys.readouterr().out

    python = subprocess.run([sys.executable, "-m", "ground_sim.console", *base, "-c", "cmd modes.ENTER_NOMINAL"],
                            capture_output=True, text=True, timeout=60)
    assert python.returncode == 1 and "failed at" in python.stdout, python.stdout + python.stderr


def test_an_unreadable_script_is_one_line_and_exit_2(tmp_path, capsys):
    args = ["--tc", "tcp://127.0.0.1:1", "--tm", "tcp://127.0.0.1:2", "--dictionary", str(tmp_path / "d.json"),
            "--archive", str(tmp_path / "a.sqlite"), "--script", str(tmp_path / "missing.txt")]
    assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"orbitfs-ground: cannot read script {tmp_path / 'missing.txt'}: No such file or directory"]
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00")
    assert main([*args[:-1], str(tmp_path / "binary.txt")]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err
    assert not (tmp_path / "a.sqlite").exists()           # refused before connecting


def test_without_prompt_toolkit_the_interactive_console_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ground_sim.console_session", None)     # as if prompt_toolkit were missing
    assert main(["--tc", "tcp://127.0.0.1:1", "--tm", "tcp://127.0.0.1:2", "--dictionary", str(tmp_path / "d.json"),
                 "--archive", str(tmp_path / "a.sqlite")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "pip install 'orbitfs[ground]'" in err[0]
