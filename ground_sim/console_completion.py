"""Tab completion for the operator console, from the mission dictionary: the verbs; command names
after ``cmd``, ``sched TIME`` and ``ea add EVENT``, then each argument position (the argument's
name, type and range as the completion's meta, its enumeration names as completions); channel
names after ``tlm``, ``watch``, ``wait tlm``, ``channels`` and ``mon add ID``; event names after
``events``, ``eventdefs``, ``wait event`` and ``ea add``; parameter names after ``prm get|set``
and ``params``, and the enumeration names of ``prm set NAME``.

| requirement | verified by |
|---|---|
| verbs, command names, argument positions (meta) and enumeration names complete |   |
|   | tests/unit/ground/test_console_completion.py, tests/system/test_console_script.py |
| channel, event and parameter names complete after their verbs | tests/unit/ground/test_console_completion.py |
"""
from __future__ import annotations

import shlex
from typing import Iterable, Iterator, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from flight.core.types import Enumeration, Field
from flight.wire.dictionary import Dictionary
from ground_sim.console_listings import describe_field
from ground_sim.console_view import OPERATORS

SUBVERBS = {"sched": ("enable", "disable", "reset", "report"), "prm": ("get", "set"), "wait": ("tlm", "event"),
            "mon": ("add", "enable", "disable", "delete", "on", "off", "report"),
            "ea": ("add", "enable", "disable", "delete", "report"),
            "seq": ("upload", "load", "activate", "abort", "unload"),
            "file": ("up", "down", "ls", "rm"), "time": ("correlate", "rate")}


def split_words(text: str) -> list[str]:
    """The words before the cursor; the last is the one being typed ('' after a space)."""
    try:
        words = shlex.split(text)
    except ValueError:            # an open quote: the quoted word is being typed
        words = text.split()
    return words + [""] if not text or text[-1].isspace() else words


class DictionaryCompleter(Completer):
    """Completes console lines from ``dictionary`` and the console's ``verbs``."""

    def __init__(self, dictionary: Dictionary, verbs: Sequence[str]) -> None:
        self.dictionary = dictionary
        self.verbs = sorted(verbs)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        words = split_words(document.text_before_cursor)
        current = words[-1]
        for text, meta in self._candidates(words[:-1]):
            if text.lower().startswith(current.lower()):
                yield Completion(text, -len(current), display_meta=meta)
        argument = self._argument(words[:-1])
        if argument is not None and not argument.enumeration:    # nothing to complete: say what is expected
            yield Completion("", 0, display=f"<{argument.name}>", display_meta=describe_field(argument))

    def _candidates(self, before: list[str]) -> Iterable[tuple[str, str]]:
        d, n = self.dictionary, len(before)
        verb, sub = (before + ["", ""])[:2]
        if n == 0:
            return ((v, "") for v in self.verbs)
        if n == 1 and verb in SUBVERBS:
            return ((s, "") for s in SUBVERBS[verb])
        if (verb, n) in (("cmd", 1), ("sched", 2)) or (verb, sub, n) == ("ea", "add", 3):
            return ((c.name, c.description) for c in d.commands)
        if (verb in ("tlm", "channels") and n == 1) or verb in ("watch", "plot") or (verb, sub, n) in (
                ("wait", "tlm", 2), ("mon", "add", 3)):
            return ((c.name, c.units) for c in d.channels)
        if (verb in ("events", "eventdefs") and n <= 2) or (verb, sub, n) in (("wait", "event", 2), ("ea", "add", 2)):
            return ((e.name, e.severity.name) for e in d.events)
        if (verb, sub) == ("prm", "get") or (verb, sub, n) == ("prm", "set", 2) or (verb, n) == ("params", 1):
            return ((p.name, describe_field(p.field)) for p in d.parameters)
        if (verb, sub, n) == ("wait", "tlm", 3):
            return ((op, "") for op in OPERATORS)
        if (verb, sub, n) == ("wait", "tlm", 4) and before[2] in d.channel_by_name:
            return self._enumeration(d.channel_by_name[before[2]].enumeration, before[2])
        argument = self._argument(before)
        return self._enumeration(argument.enumeration, describe_field(argument)) if argument is not None else ()

    def _argument(self, before: list[str]) -> Field | None:
        """The command argument or parameter being typed after ``before``, if any."""
        verb, n = (before + [""])[0], len(before)
        first = {"cmd": 1, "sched": 2}.get(verb) or (3 if before[:2] == ["ea", "add"] else None)
        if first is not None and n > first and before[first] in self.dictionary.command_by_name:
            args = self.dictionary.command_by_name[before[first]].args
            return args[n - first - 1] if n - first - 1 < len(args) else None
        if before[:2] == ["prm", "set"] and n == 3 and before[2] in self.dictionary.parameter_by_name:
            return self.dictionary.parameter_by_name[before[2]].field
        return None

    @staticmethod
    def _enumeration(enumeration: Enumeration, meta: str) -> Iterable[tuple[str, str]]:
        return ((name, f"{number}  {meta}") for number, name in enumeration)
