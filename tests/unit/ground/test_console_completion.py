"""The console's completion from the dictionary (ground_sim/console_completion.py) and its history
file (ground_sim/console_session.py): prompt_toolkit's Document and CompleteEvent, no terminal."""
from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, InMemoryHistory

from flight.app import load_flight_topology
from flight.wire.dictionary import build_dictionary
from ground_sim.console import Console
from ground_sim.console_completion import DictionaryCompleter
from ground_sim.console_session import default_history_path, open_history


@pytest.fixture(scope="module")
def completer() -> DictionaryCompleter:
    return DictionaryCompleter(build_dictionary(load_flight_topology()), Console.verbs())


def complete(completer: DictionaryCompleter, text: str) -> dict[str, str]:
    """Completion text -> its meta, for the cursor at the end of ``text``."""
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return {c.text or c.display_text: c.display_meta_text for c in found}


def test_verbs_complete_at_the_start_of_a_line(completer):
    assert {"cmd", "wait", "watch", "tlm", "products", "mon", "help", "quit"} <= set(complete(completer, ""))
    assert set(complete(completer, "wa")) == {"wait", "watch"}


def test_command_names_then_enumeration_names_of_their_arguments(completer):
    assert set(complete(completer, "cmd cluster.SET_MO")) == {"cluster.SET_MODE", "cluster.SET_MODE_IF"}
    names = complete(completer, "cmd cluster.SET_MODE ")
    assert set(names) == {"THROUGHPUT", "TMR", "DMR"} and "mode: U8" in names["TMR"]
    assert set(complete(completer, "cmd cluster.SET_MODE t")) == {"THROUGHPUT", "TMR"}   # any case
    assert set(complete(completer, "cmd cluster.SET_MODE_IF TMR d")) == {"DMR"}            # second argument
    assert set(complete(completer, "sched +60 cluster.SET_MODE ")) == {"THROUGHPUT", "TMR", "DMR"}
    assert set(complete(completer, "cmd cluster.SET_MODE TMR ")) == set()                  # no more arguments


def test_an_argument_without_enumeration_shows_its_name_type_and_range(completer):
    shown = complete(completer, "cmd camera.START_IMAGING ")
    assert shown == {"<count>": "count: U32 [1..1000000]"}
    assert complete(completer, "cmd camera.START_IMAGING 5 ") == {"<priority>": "priority: U8 [0..7]"}


def test_channel_event_and_parameter_names_complete_after_their_verbs(completer):
    assert set(complete(completer, "tlm modes.")) == {"modes.Mode"}
    assert "cluster.Mode" in complete(completer, "watch modes.Mode cluster.")
    assert set(complete(completer, "wait ")) == {"tlm", "event"}
    assert set(complete(completer, "wait tlm modes.Mode ")) == {"==", "!=", "<", "<=", ">", ">="}
    assert set(complete(completer, "wait tlm modes.Mode == ")) == {"NOMINAL", "SAFE"}
    assert "monitor.BelowLowLimit" in complete(completer, "wait event monitor.")
    assert "monitor.BelowLowLimit" in complete(completer, "events 5 monitor.")
    assert "cluster.DetectionThreshold" in complete(completer, "prm get health.PingTimeoutCycles cluster.")
    assert "cluster.DetectionThreshold" in complete(completer, "prm set cluster.")
    assert "cluster.BatteryCharge" in complete(completer, "mon add 12 cluster.Bat")
    assert "dispatcher.NO_OP_STRING" in complete(completer, "ea add monitor.BelowLowLimit:12 dispatcher.NO")


def test_an_open_quote_does_not_stop_completion(completer):
    assert complete(completer, "cmd dispatcher.NO_OP_STRING 'hel") == {
        "<text>": complete(completer, "cmd dispatcher.NO_OP_STRING ")["<text>"]}


def test_history_goes_to_xdg_state_home_and_falls_back_to_memory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_history_path() == tmp_path / "state" / "orbitfs" / "console_history"
    history = open_history(None)
    assert isinstance(history, FileHistory) and default_history_path().exists()
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_history_path() == tmp_path / ".local" / "state" / "orbitfs" / "console_history"
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert isinstance(open_history(blocker / "history"), InMemoryHistory)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"history kept in memory only: cannot use {blocker / 'history'}")


def test_a_history_file_keeps_lines_across_sessions(tmp_path: Path):
    open_history(tmp_path / "h").store_string("cmd dispatcher.NO_OP")
    assert list(open_history(tmp_path / "h").load_history_strings()) == ["cmd dispatcher.NO_OP"]
