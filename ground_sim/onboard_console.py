"""The console's commands for the on-board autonomy (ground_sim.onboard), mixed into
ground_sim.console's Console: ``mon`` (ST[12] monitoring by channel name), ``ea`` (ST[19]
event-actions by event and command names), ``safe``, ``nominal`` and ``defaults``.

| requirement | verified by |
|---|---|
| each command reaches its ground_sim.onboard helper; a refusal prints one line |   |
|   | tests/system/test_onboard_state.py |
"""
from __future__ import annotations

import shlex
from typing import Any

from ground_sim.console_verbs import ConsoleVerbs


class OnboardCommands(ConsoleVerbs):
    """For the console (ground_sim.console.Console), which gives ``_arguments(words)`` (the arguments
    of command ``words[0]``)."""

    def _arguments(self, words: list[str]) -> list[Any]:
        raise NotImplementedError

    def do_mon(self, line: str) -> None:
        """mon add ID CHANNEL LOW HIGH [REPETITIONS] | mon enable|disable|delete ID ... | mon on|off|report:
        on-board monitoring (ST[12]) by channel name; an added PMON is enabled at once."""
        words, onboard = shlex.split(line), self.api.onboard
        try:
            if words[:1] == ["add"] and len(words) in (5, 6):
                self.show(onboard.add_monitor(int(words[1]), words[2], float(words[3]), float(words[4]),
                                          repetitions=int(words[5]) if len(words) == 6 else 1, timeout=10))
            elif words[:1] in (["enable"], ["disable"], ["delete"]) and len(words) > 1:
                verb = {"enable": onboard.enable_monitors, "disable": onboard.disable_monitors,
                        "delete": onboard.delete_monitors}[words[0]]
                self.show(verb(*(int(w) for w in words[1:]), timeout=10))
            elif words in (["on"], ["off"]):
                self.show(onboard.monitoring(words[0] == "on", timeout=10))
            elif words == ["report"]:
                for d in onboard.monitor_report(timeout=10):
                    print(f"  PMON {d['pmon']:>3} {'on ' if d['enabled'] else 'off'} {d['channel']} {d['check']} "
                          f"low {d['low']} high {d['high']} x{d['repetitions']}")
            else:
                self.usage("mon add ID CHANNEL LOW HIGH [REPETITIONS] | mon enable|disable|delete ID ... | "
                      "mon on|off|report")
        except (KeyError, ValueError, AssertionError) as error:
            self.refuse(error)

    def do_ea(self, line: str) -> None:
        """ea add EVENT[:ARGUMENT] COMMAND [ARG ...] | ea enable|disable|delete EVENT[:ARGUMENT] ... |
        ea report: event-actions (ST[19]) by event and command names; an added one is enabled at once."""
        words, onboard = shlex.split(line), self.api.onboard
        keys = [tuple(w.split(":", 1)) if ":" in w else w for w in words[1:]]
        try:
            if words[:1] == ["add"] and len(words) >= 3:
                event, _, argument = words[1].partition(":")
                self.show(onboard.add_event_action(event, words[2], self._arguments(words[2:]), argument, timeout=10))
            elif words[:1] in (["enable"], ["disable"], ["delete"]) and keys:
                verb = {"enable": onboard.enable_event_actions, "disable": onboard.disable_event_actions,
                        "delete": onboard.delete_event_actions}[words[0]]
                self.show(verb(*keys, timeout=10))
            elif words == ["report"]:
                for d in onboard.event_action_report(timeout=10):
                    print(f"  {'on ' if d['enabled'] else 'off'} {d['event']}:{d['argument']} -> {d['command']}")
            else:
                self.usage("ea add EVENT[:ARGUMENT] COMMAND [ARG ...] | ea enable|disable|delete "
                      "EVENT[:ARGUMENT] ... | ea report")
        except (KeyError, ValueError, AssertionError) as error:
            self.refuse(error)

    def do_safe(self, line: str) -> None:
        """safe [REASON]: enter SAFE mode (cards parked, imaging stopped)."""
        try:
            self.show(self.api.onboard.enter_safe(line.strip() or "by the ground", timeout=10))
        except AssertionError as error:
            self.refuse(error)

    def do_nominal(self, line: str) -> None:
        """nominal: leave SAFE mode."""
        try:
            self.show(self.api.onboard.exit_safe(timeout=10))
        except AssertionError as error:
            self.refuse(error)

    def do_defaults(self, line: str) -> None:
        """defaults: the topology's monitoring definitions and event-actions again (now and after restarts)."""
        try:
            self.api.onboard.restore_defaults(timeout=10)
            print("the topology's definitions restored")
        except AssertionError as error:
            self.refuse(error)
