"""Stored sequences (ST[21], flight.services.sequencer) in a real flight process over real sockets:
the README's example as written (a sequence file uploaded, activated, its steps at their times,
each with its ST[1] completion); then a sequence running when the flight is killed (SIGKILL) is
reported at the next start and not resumed, while the loaded sequences are still there."""
from __future__ import annotations

import signal
from pathlib import Path

from ground_sim.console import Console

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "sequences" / "pass_start.toml"


def test_the_readme_example_works_as_written(flight, monkeypatch, readme_example):
    monkeypatch.chdir(ROOT)
    readme_example("upload_sequence(")(flight)
    flight.await_telemetry("sequencer.Completed", 1)


def test_a_sequence_running_at_a_sigkill_is_reported_and_not_resumed(flight_factory, tmp_path):
    sequence = tmp_path / "long.toml"
    sequence.write_text('name = "long"\n'
                        '[[steps]]\ncommand = "dispatcher.NO_OP_STRING"\nargs = ["first"]\n'
                        '[[steps]]\nafter_s = 3.0\ncommand = "dispatcher.NO_OP_STRING"\nargs = ["second"]\n')
    run_dir = tmp_path / "run"
    flight = flight_factory(run_dir=run_dir)
    flight.upload_sequence(EXAMPLE, activate=False)
    flight.upload_sequence(sequence)
    flight.await_event("dispatcher.NoOpString", {"text": "first"}, timeout=20)
    flight.process.process.send_signal(signal.SIGKILL)
    flight.process.wait(10)
    flight.station.close()
    again = flight_factory(run_dir=run_dir)
    again.await_telemetry("sequencer.Interrupted", 1, timeout=20)
    again.await_telemetry("sequencer.Loaded", 2)
    again.sequence_control("activate", "pass_start")   # what was loaded is still there
    again.await_event("dispatcher.NoOpString", {"text": "pass ready"}, timeout=20)
    assert "No-op: second" not in (run_dir / "flight.log").read_text()
    again.sequence_control("activate", "long")
    again.await_event("dispatcher.NoOpString", {"text": "second"}, timeout=20)


def test_the_console_uploads_and_controls_a_sequence(flight, tmp_path, capsys):
    console = Console(flight)
    try:
        console.onecmd(f"seq load {EXAMPLE}")
        assert "loaded" in capsys.readouterr().out
        console.onecmd("seq activate pass_start")
        flight.await_event("dispatcher.NoOpString", {"text": "pass start"}, timeout=20)
        console.onecmd("seq abort pass_start")
        console.onecmd("seq unload pass_start")
        capsys.readouterr()
        bad = tmp_path / "bad.toml"
        bad.write_text('name = "bad"\n[[steps]]\ncommand = "no.SUCH"\n')
        console.onecmd(f"seq upload {bad}")
        assert "refused: bad.toml: steps[0]: no command 'no.SUCH'" in capsys.readouterr().out
        console.onecmd("seq nonsense")
        assert "usage" in capsys.readouterr().out
    finally:
        console.onecmd("quit")
    flight.await_telemetry("sequencer.Loaded", 0)
