"""The console's view of telemetry: values as an operator reads them (enumeration names, units,
the on-board time of the sample, the limit state), coloured for a terminal or plain for a script,
and the verbs that show them: ``tlm``, ``watch`` (a live block refreshed as housekeeping comes)
and ``wait`` (a channel condition or an event, for scripts).

Values typed by the operator go through :func:`parse_argument`: a number, or for an enumerated
field or channel one of its names (any case).

| requirement | verified by |
|---|---|
| a row shows the enumeration name, units, on-board time and limit state; colour only when asked |   |
|   | tests/unit/ground/test_console_view.py |
| an enumeration name is accepted for a value, a bad one is refused naming the allowed names |   |
|   | tests/unit/ground/test_console_view.py |
| ``wait tlm`` and ``wait event`` succeed on what comes down, fail at their timeout |   |
|   | tests/unit/ground/test_console_view.py, tests/system/test_console_script.py |
"""
from __future__ import annotations

import operator
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from flight.core.catalog import ChannelDef
from flight.core.types import DataType, Enumeration, Severity
from ground_sim.api import IntegrationApi
from ground_sim.console_verbs import ConsoleVerbs

RESET = "\x1b[0m"
COLOURS = {"ok": "\x1b[32m", "yellow": "\x1b[33m", "red": "\x1b[1;31m", "-": ""}
SEVERITY_COLOURS = {Severity.ACTIVITY: "", Severity.WARNING_LO: "\x1b[33m", Severity.WARNING_HI: "\x1b[1;33m",
                    Severity.FATAL: "\x1b[1;31m"}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
DEFAULT_WAIT = 10.0


def parse_argument(data_type: DataType, text: str, enumeration: Enumeration = ()) -> Any:
    """The value ``text`` names: an enumeration name (any case) or a literal of ``data_type``
    (ValueError naming the allowed names when it is neither)."""
    for number, name in enumeration:
        if name.lower() == text.lower():
            return number
    if data_type is DataType.STRING:
        return text
    if data_type is DataType.BOOL:
        return text.lower() in ("1", "true", "yes", "on")
    try:
        return float(text) if data_type.is_float else int(text, 0)
    except ValueError:
        if enumeration:
            raise ValueError(f"{text!r} is not one of {', '.join(n for _, n in enumeration)} "
                             "(or their numbers)") from None
        raise


@dataclass(frozen=True)
class Row:
    """One channel as the console shows it."""

    name: str
    value: str
    time: str
    state: str   # ok, yellow, red; '-' without limits


def channel_row(channel: ChannelDef, sample: tuple[float, Any]) -> Row:
    """The row of ``channel``'s ``sample`` (on-board time, value)."""
    stamp, value = sample
    text = channel.label(value) if channel.enumeration else (
        f"{value:.6g}" if isinstance(value, float) else str(value))
    state = "-"
    if channel.limits is not None and isinstance(value, (int, float)):
        state = channel.limits.classify(value)
    clock = time.strftime("%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp % 1 * 1000):03d}"
    return Row(channel.name, f"{text} {channel.units}".rstrip(), clock, state)


def channel_rows(api: IntegrationApi, substrings: list[str]) -> list[Row]:
    """The latest sample of every channel received whose name contains one of ``substrings``."""
    station = api.station
    with station.changed:
        latest = {name: history[-1] for name, history in station.telemetry.items() if history}
    return [channel_row(station.dictionary.channel_by_name[name], latest[name]) for name in sorted(latest)
            if name in station.dictionary.channel_by_name and (not substrings or any(s in name for s in substrings))]


def format_rows(rows: list[Row], colour: bool) -> str:
    """The rows as text: name, value, on-board time (UTC), limit state, coloured by state if asked."""
    lines = []
    for row in rows:
        state = f"{COLOURS[row.state]}{row.state}{RESET}" if colour and COLOURS[row.state] else row.state
        lines.append(f"  {row.name:<40} {row.value:>20}  {row.time}  {state}")
    return "\n".join(lines) if lines else "  (no telemetry matches)"


def format_event(event: Any, colour: bool) -> str:
    """An event line, ``[SEVERITY] name: text``, coloured by severity if asked."""
    line = f"[{event.severity.name}] {event.name}: {event.text}"
    start = SEVERITY_COLOURS.get(event.severity, "") if colour else ""
    return f"{start}{line}{RESET}" if start else line


def watch(api: IntegrationApi, substrings: list[str]) -> None:
    """Show the matching channels in a block redrawn twice a second until Enter, q or Ctrl-C."""
    from prompt_toolkit.application import Application
    from prompt_toolkit.formatted_text import ANSI
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.layout import FormattedTextControl, Layout, Window

    keys = KeyBindings()

    @keys.add("enter")
    @keys.add("c-c")
    @keys.add("q")
    def _leave(event: Any) -> None:
        event.app.exit()

    def text() -> ANSI:
        return ANSI(format_rows(channel_rows(api, substrings), colour=True) + "\n  (Enter, q or Ctrl-C to leave)")

    Application(layout=Layout(Window(FormattedTextControl(text))), key_bindings=keys, refresh_interval=0.5,
                full_screen=False).run()


class TelemetryCommands(ConsoleVerbs):
    """For the console (ground_sim.console.Console): ``tlm``, ``watch`` and ``wait``."""

    colour: bool
    interactive: bool
    previous_event_mark: int   # the event count when the previous console line began

    def do_tlm(self, line: str) -> None:
        """tlm [SUBSTRING]: latest value of each channel (enumeration name, units), its on-board time
        (UTC) and limit state."""
        print(format_rows(channel_rows(self.api, line.split()[:1]), self.colour))

    def do_watch(self, line: str) -> None:
        """watch [SUBSTRING ...]: the matching channels, redrawn as housekeeping comes (Enter leaves);
        in a script, one snapshot."""
        if self.interactive:
            watch(self.api, line.split())
        else:
            print(format_rows(channel_rows(self.api, line.split()), colour=False))

    def do_plot(self, line: str) -> None:
        """plot CHANNEL [CHANNEL ...] [-o FILE.png]: draw the channels over on-board time from this console's
        archive into a PNG (default plot.png; needs matplotlib, the plot extra)."""
        words = shlex.split(line)
        out = Path("plot.png")
        if "-o" in words[:-1]:
            at = words.index("-o")
            out, words = Path(words[at + 1]), words[:at] + words[at + 2:]
        if not words:
            self.usage("plot CHANNEL [CHANNEL ...] [-o FILE.png]")
            return
        from ground_sim.plot_cli import UsageError, plot_channels
        from ground_sim.report_figures import ReportUnavailable
        station = self.api.station
        station.archive.flush()
        try:
            print(f"  {plot_channels(Path(station.archive.path), station.dictionary, words, out)}")
        except (UsageError, ReportUnavailable, OSError) as error:
            self.refuse(error)

    def do_wait(self, line: str) -> None:
        """wait tlm CHANNEL OP VALUE [TIMEOUT]: until the channel's latest value satisfies OP (== != < <= > >=)
        VALUE (a number or enumeration name); wait event NAME [TIMEOUT]: until the event comes (from the
        start of the previous console line on). TIMEOUT in seconds, default 10."""
        words = shlex.split(line)
        try:
            if words[:1] == ["tlm"] and len(words) in (4, 5) and words[2] in OPERATORS:
                self._wait_telemetry(words[1], words[2], words[3], float(words[4]) if len(words) == 5 else DEFAULT_WAIT)
            elif words[:1] == ["event"] and len(words) in (2, 3):
                timeout = float(words[2]) if len(words) == 3 else DEFAULT_WAIT
                event = self.api.await_event(words[1], timeout=timeout, start=self.previous_event_mark)
                print(f"  {format_event(event, self.colour)}")
            else:
                self.usage("wait tlm CHANNEL ==|!=|<|<=|>|>= VALUE [TIMEOUT] | wait event NAME [TIMEOUT]")
        except (KeyError, ValueError, AssertionError) as error:
            self.refuse(error)

    def _wait_telemetry(self, name: str, op: str, text: str, timeout: float) -> None:
        channel = self.api.station.dictionary.channel_by_name.get(name)
        if channel is None:
            raise KeyError(f"no channel {name!r} (try: channels)")
        wanted = parse_argument(channel.type, text, channel.enumeration)
        start = max(self.api.telemetry_mark(name) - 1, 0)   # the latest value counts
        value = self.api.await_telemetry(name, lambda v: OPERATORS[op](v, wanted), timeout=timeout, start=start)
        print(f"  {name} = {channel.label(value)} {channel.units}".rstrip())
