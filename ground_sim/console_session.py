"""The interactive console session (prompt_toolkit): a prompt with completion from the dictionary
(ground_sim.console_completion) and persistent history; events and alarms printed by the console's
thread appear above the prompt (patch_stdout) with their colours.

History: ``--history FILE``, else ``$XDG_STATE_HOME/orbitfs/console_history``, else
``~/.local/state/orbitfs/console_history``; its folder is created. When it cannot be, the session
keeps history in memory and says so in one line.

| requirement | verified by |
|---|---|
| the default history path follows XDG; an unusable one falls back to memory with one line |   |
|   | tests/unit/ground/test_console_completion.py |
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from ground_sim.console_completion import DictionaryCompleter


def default_history_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME")
    return (Path(state) if state else Path.home() / ".local" / "state") / "orbitfs" / "console_history"


def open_history(path: Path | None) -> History:
    """File history at ``path`` (default :func:`default_history_path`), or in memory if it cannot be kept."""
    path = path or default_history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return FileHistory(str(path))
    except OSError as error:
        print(f"history kept in memory only: cannot use {path} ({error.strerror or error})")
        return InMemoryHistory()


def interact(console: Any, history_path: Path | None) -> int:
    """Prompt for lines and run them on ``console`` until ``quit`` or end of input (Ctrl-D); Ctrl-C
    clears the line, or stops waiting for a verb's outcome. Returns 0."""
    session: PromptSession[str] = PromptSession(
        history=open_history(history_path), completer=DictionaryCompleter(console.station.dictionary, console.verbs()),
        complete_while_typing=True)
    print("help lists the verbs; Tab completes")
    with patch_stdout(raw=True):
        while True:
            try:
                line = session.prompt("orbitfs> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            try:
                if console.onecmd(line):
                    break
            except KeyboardInterrupt:      # Ctrl-C while a verb waits: back to the prompt
                print("interrupted (the flight may still run what was sent)")
    console.close()
    return 0
