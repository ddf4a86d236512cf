"""``orbitfs-ground``: the operator console on a running flight, interactive or one-shot for CI.

    orbitfs-ground --tc tcp://HOST:5550 --tm tcp://HOST:5551 --dictionary dictionary.json
    orbitfs-ground --run-dir runs/flight        # endpoints and dictionary from flight-ready.json
    orbitfs-ground --run-dir runs/flight -c 'cmd dispatcher.NO_OP' --script checks.txt   # one-shot

Commands: ``cmd NAME [ARG ...]``, ``ping``, ``prm get NAME ...``, ``prm set NAME VALUE``,
``sched AT|+SECONDS NAME [ARG ...]``, ``sched enable|disable|reset|report``, ``seq ...``,
``time correlate [N] [apply]``, ``time rate EXPONENT``, ``file up LOCAL NAME``, ``file down PATH LOCAL``,
``file ls [FOLDER]``, ``file rm NAME`` (CFDP and ST[23]), ``commands``, ``raw HEX``, ``list [SUBSTRING]``,
``stats``, ``status``, ``help [VERB]``, ``quit``; telemetry (ground_sim.console_view): ``tlm [SUBSTRING]``,
``watch [SUBSTRING ...]``, ``plot CHANNEL ... [-o FILE.png]`` (from the archive, the plot extra),
``wait tlm CHANNEL OP VALUE [TIMEOUT]``, ``wait event NAME [TIMEOUT]``;
listings (ground_sim.console_listings): ``channels``, ``eventdefs``, ``params``, ``events [N] [NAME]``,
``products [N]``, ``product FRAME``. On-board autonomy (ground_sim.onboard_console): ``mon add ID
CHANNEL LOW HIGH [REPETITIONS]``, ``mon enable|disable|delete ID ...``, ``mon on|off|report``, ``ea add
EVENT[:ARGUMENT] COMMAND [ARG ...]``, ``ea enable|disable|delete EVENT[:ARGUMENT] ...``, ``ea report``,
``safe [REASON]``, ``nominal``, ``defaults``. An argument or parameter that is an enumeration takes its
names as well as its numbers.

Interactive (ground_sim.console_session; it needs prompt_toolkit, ``pip install 'orbitfs[ground]'``):
completion from the dictionary, persistent history (``--history``), events printed above the prompt
as they arrive, coloured by severity. One-shot (``-c LINE``, repeatable, then ``--script FILE``;
ground_sim.console_script): the lines run in order without prompt or history, the events that came
printed after each line; exit status 0 if every line succeeded, 1 at the first that was refused,
failed (ST[1]) or timed out, or whose ``wait`` expired (every line runs with ``--keep-going``),
2 if the script cannot be read.

On connecting, the console compares the flight's ``executive.DictionaryDigest`` with its
dictionary's digest: a mismatch is a loud ``[WARNING]`` line (and exit status 1 in one-shot mode,
unless ``--allow-dictionary-mismatch``); without housekeeping in time it says the check was not done.

Every packet goes to the SQLite archive (``--archive``, default ``ground-archive.sqlite``, appended
to). A path that cannot hold it is refused at start: one line naming it and why, exit status 2.
When the archive fails (a full disk, an I/O error) or loses rows, an ``[ALARM]`` line says so as
soon as it happens (checked twice a second, with the events), ``status`` shows the archive's
health at any time, and the console's exit status is 1 if a row was lost.

| requirement | verified by |
|---|---|
| an unusable --archive path: one line naming it, exit 2, no traceback | tests/system/test_sil_data.py |
| a failed archive raises an [ALARM] line once, and ``status`` shows it | tests/unit/ground/test_archive.py |
| a script's commands, reads and waits succeed with exit 0; a refused command exits 1 |   |
|   | tests/system/test_console_script.py |
| the dictionary digest is checked on connect; a mismatch fails a script; without housekeeping |   |
|   it says the check was not done | tests/system/test_console_script.py, tests/unit/ground/test_console_view.py |
| an unreadable script, or the interactive console without prompt_toolkit: one line, exit 2 |   |
|   | tests/system/test_console_script.py |
"""
from __future__ import annotations

import argparse
import shlex
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from flight.cli_common import add_common_options, configure_logging
from flight.wire.link import LinkParameters
from ground_sim.api import IntegrationApi
from ground_sim.archive import ArchiveError
from ground_sim.console_listings import ListingCommands, describe_field
from ground_sim.console_script import read_script, run_lines
from ground_sim.console_view import TelemetryCommands, format_event, parse_argument
from ground_sim.ground_options import add_station_options, open_station, resolve_station_options
from ground_sim.onboard_console import OnboardCommands

DIGEST_TIMEOUT = 5.0


class Console(OnboardCommands, TelemetryCommands, ListingCommands):
    """The verbs (``do_VERB(rest_of_line)``); ``onecmd(line)`` runs one line and sets ``failed`` when it
    was refused, failed or timed out. Archive alarms are printed as they come, events too when
    ``interactive`` (else after each line)."""

    def __init__(self, api: IntegrationApi, colour: bool = False, interactive: bool = False) -> None:
        self.api = api
        self.station = api.station
        self.colour, self.interactive = colour, interactive
        self.failed = False
        self.previous_event_mark = self._event_mark = len(self.station.events)
        self._printed_events = 0
        self._archive_state: tuple[str | None, bool] = (None, False)  # (error, rows lost) last alarmed
        self._stop = threading.Event()
        self._printer = threading.Thread(target=self._print_events, daemon=True)
        self._printer.start()

    # --- running lines ---------------------------------------------------------------------------
    @classmethod
    def verbs(cls) -> list[str]:
        return sorted(name[3:] for name in dir(cls) if name.startswith("do_"))

    def onecmd(self, line: str) -> bool:
        """Run one console line; True when it asks to leave."""
        self.failed = False
        self.previous_event_mark, self._event_mark = self._event_mark, len(self.station.events)
        verb, _, rest = line.strip().partition(" ")
        if not verb:
            return False
        handler = getattr(self, f"do_{verb}", None)
        if handler is None:
            self.refuse(f"no verb {verb!r} (help lists them)")
            return False
        leave = bool(handler(rest.strip()))
        if not self.interactive:
            self.print_events()
        return leave

    def print_events(self) -> None:
        """Print the events that came since the last printed."""
        with self.station.changed:
            new = self.station.events[self._printed_events:]
            self._printed_events += len(new)
        for event in new:
            print(format_event(event, self.colour), flush=True)

    def close(self) -> None:
        """Stop printing events and alarms."""
        self._stop.set()
        with self.station.changed:
            self.station.changed.notify_all()
        self._printer.join(timeout=2)

    def _print_events(self) -> None:
        """Twice a second and as packets come: the archive's alarms, and interactively the events
        (above the prompt; a one-shot run prints them after each line, unmixed with its output)."""
        while not self._stop.is_set():
            with self.station.changed:
                self.station.changed.wait(0.5)
            if self._stop.is_set():
                return
            if self.interactive:
                self.print_events()
            self.check_archive()

    def check_archive(self) -> None:
        """Print an [ALARM] line when the archive fails or starts losing rows (once for each)."""
        archive = self.station.archive
        state = (archive.error, archive.lost > 0)
        if state != self._archive_state:
            self._archive_state = state
            print(f"[ALARM] {archive.alarm}", flush=True)

    def _arguments(self, words: list[str]) -> list[Any]:
        """The arguments of command ``words[0]`` from ``words[1:]`` (KeyError: no such command)."""
        definition = self.station.dictionary.command_by_name.get(words[0])
        if definition is None:
            raise KeyError(f"no command {words[0]!r} (try: list)")
        return [parse_argument(a.type, w, a.enumeration) for a, w in zip(definition.args, words[1:])]

    # --- verbs -----------------------------------------------------------------------------------
    def do_help(self, line: str) -> None:
        """help [VERB]: the verbs, or one verb's usage."""
        if line:
            handler = getattr(self, f"do_{line}", None)
            print(" ".join((handler.__doc__ or "").split()) if handler else f"no verb {line!r}")
            return
        for verb in self.verbs():
            print(f"  {' '.join((getattr(self, f'do_{verb}').__doc__ or verb).split()).split(': ')[0]}")

    def do_cmd(self, line: str) -> None:
        """cmd NAME [ARG ...]: send a command by dictionary name (an enumerated argument by name or number)."""
        words = shlex.split(line)
        if not words:
            self.usage("cmd NAME [ARG ...]")
            return
        try:
            args = self._arguments(words)
            self.show(self.api.await_verification(self.station.send_command(words[0], args), timeout=10))
        except (KeyError, ValueError, AssertionError) as error:
            self.refuse(error)

    def do_sched(self, line: str) -> None:
        """sched AT|+SECONDS NAME [ARG ...]: release a command on board at mission time AT (s since
        1970), or SECONDS from now; sched enable|disable|reset: the release function, the schedule;
        sched report: every activity on board (ST[11])."""
        words = shlex.split(line)
        try:
            if words in (["enable"], ["disable"], ["reset"]):
                self.show(self.api.schedule_control(words[0], timeout=10))
            elif words == ["report"]:
                for activity in self.api.schedule_report(timeout=10):
                    print(f"  {activity.release_seconds:.3f}  {activity.request_id}  {activity.packet.hex()}")
            elif len(words) >= 2:
                at = float(words[0]) + (self.api.mission_time() if words[0].startswith("+") else 0.0)
                record = self.api.schedule(at, words[1], self._arguments(words[1:]), timeout=10)
                print(f"scheduled at {at:.3f}: {record}")
            else:
                self.usage("sched AT|+SECONDS NAME [ARG ...] | sched enable|disable|reset|report")
        except (KeyError, ValueError, AssertionError) as error:
            self.refuse(error)

    def do_seq(self, line: str) -> None:
        """seq upload FILE: check a sequence file, load and activate it; seq load FILE: load it only;
        seq activate|abort|unload NAME (ST[21])."""
        words = shlex.split(line)
        try:
            if len(words) == 2 and words[0] in ("upload", "load"):
                steps = self.api.upload_sequence(words[1], activate=words[0] == "upload", timeout=10)
                print(f"{words[0]}ed {words[1]}: {len(steps)} steps")
            elif len(words) == 2 and words[0] in ("activate", "abort", "unload"):
                self.show(self.api.sequence_control(words[0], words[1], timeout=10))
            else:
                self.usage("seq upload|load FILE | seq activate|abort|unload NAME")
        except (KeyError, ValueError, AssertionError) as error:   # SequenceFileError is a ValueError
            self.refuse(error)

    def do_time(self, line: str) -> None:
        """time correlate [N] [apply]: N round trips (default 20), the on-board clock's offset and drift
        (then corrected with ADJUST_TIME if ``apply``); time rate EXPONENT: a TM[9,2] every 2^EXPONENT s."""
        words = shlex.split(line)
        try:
            if words[:1] == ["correlate"] and len(words) <= 3 and set(words[2:]) <= {"apply"}:
                print(self.api.correlate(int(words[1]) if len(words) > 1 else 20, apply="apply" in words))
            elif words[:1] == ["rate"] and len(words) == 2:
                self.show(self.api.set_time_report_rate(int(words[1]), timeout=10))
            else:
                self.usage("time correlate [N] [apply] | time rate EXPONENT")
        except (ValueError, AssertionError) as error:
            self.refuse(error)

    def do_file(self, line: str) -> None:
        """file up LOCAL NAME: to the flight's store; file down PATH LOCAL: any file under the flight's
        run directory; file ls [FOLDER]: a folder of it (default the store); file rm NAME: from the store."""
        try:
            words = shlex.split(line)
            if words[:1] == ["up"] and len(words) == 3:
                self.api.upload_file(words[1], words[2])
                print(f"{words[1]} is on board as files/{words[2]}")
            elif words[:1] == ["down"] and len(words) == 3:
                self.api.download_file(words[1], words[2])
                print(f"{words[1]} is at {words[2]}")
            elif words[:1] == ["ls"] and len(words) <= 2:
                for entry in self.api.file_directory(*words[1:], timeout=10):
                    print(f"  {entry.name}{'/' if entry.directory else ''}  {entry.size:,}")
            elif words[:1] == ["rm"] and len(words) == 2:
                self.show(self.api.delete_file(words[1], timeout=10))
            else:
                self.usage("file up LOCAL NAME | file down PATH LOCAL | file ls [FOLDER] | file rm NAME")
        except (OSError, ValueError, AssertionError) as error:
            self.refuse(error)

    def do_ping(self, line: str) -> None:
        """ping: TC[17,1] and wait for TM[17,2]."""
        try:
            self.show(self.api.ping(timeout=10))
        except (ValueError, AssertionError) as error:
            self.refuse(error)

    def do_prm(self, line: str) -> None:
        """prm get NAME ... | prm set NAME VALUE: on-board parameters (an enumerated one by name or number)."""
        words = shlex.split(line)
        try:
            if words[:1] == ["get"] and len(words) > 1:
                print(self.api.get_parameters(words[1:], timeout=10))
            elif words[:1] == ["set"] and len(words) == 3:
                field = self.station.dictionary.parameter_by_name[words[1]].field
                self.show(self.api.set_parameters({words[1]: parse_argument(field.type, words[2], field.enumeration)},
                                                  timeout=10))
            else:
                self.usage("prm get NAME ... | prm set NAME VALUE")
        except (KeyError, ValueError, AssertionError) as error:
            self.refuse(error)

    def do_commands(self, line: str) -> None:
        """commands: every command sent and its verification."""
        for record in self.station.command_log:
            print(f"  {record}")

    def do_raw(self, line: str) -> None:
        """raw HEX: send packet bytes as they are."""
        try:
            self.show(self.api.await_verification(self.station.send_raw(bytes.fromhex(line.replace(" ", ""))),
                                                  timeout=10))
        except (ValueError, AssertionError) as error:
            self.refuse(error)

    def do_list(self, line: str) -> None:
        """list [SUBSTRING]: commands with their arguments (type, range, enumeration)."""
        for definition in self.station.dictionary.commands:
            if line.strip() in definition.name:
                print(f"  {definition.name}({', '.join(map(describe_field, definition.args))})  "
                      f"{definition.description}")

    def do_stats(self, line: str) -> None:
        """stats: link accounting."""
        print(f"  {self.station.stats}")

    def do_status(self, line: str) -> None:
        """status: the archive's health."""
        archive = self.station.archive
        print(f"  archive {archive.path}: {archive.committed:,} rows archived, {archive.queued:,} queued, "
              f"{archive.lost:,} lost")
        print(f"  {archive.alarm or 'archive OK'}")

    def do_quit(self, line: str) -> bool:
        """quit: leave the console (the flight keeps running)."""
        self.close()
        return True


def check_dictionary(api: IntegrationApi, timeout: float = DIGEST_TIMEOUT) -> bool | None:
    """Compare the flight's ``executive.DictionaryDigest`` with the console's dictionary and say so:
    True if equal, False (a loud line) if not, None if no housekeeping came within ``timeout``."""
    expected = api.station.dictionary.digest
    try:
        digest = api.await_telemetry("executive.DictionaryDigest", timeout=timeout)
    except (AssertionError, KeyError):
        print(f"dictionary check NOT DONE: no executive.DictionaryDigest within {timeout:g} s")
        return None
    if digest != expected:
        print(f"[WARNING] DICTIONARY MISMATCH: the flight's is {digest:08x}, this console's {expected:08x}: "
              "names, arguments and values shown may be wrong")
        return False
    print(f"dictionary {expected:08x} matches the flight's")
    return True


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="orbitfs-ground", description=__doc__.split("\n")[0])
    add_station_options(parser, archive="ground-archive.sqlite")
    parser.add_argument("--history", type=Path, help="interactive history file (default: "
                                                     "$XDG_STATE_HOME/orbitfs/console_history)")
    parser.add_argument("-c", dest="lines", action="append", default=[], metavar="LINE",
                        help="run this console line and exit (repeatable, run in order); no prompt")
    parser.add_argument("--script", type=Path, help="run this file's console lines (one a line, # comments) "
                                                    "after any -c, and exit")
    parser.add_argument("--keep-going", action="store_true", help="one-shot: run every line even after one failed")
    parser.add_argument("--allow-dictionary-mismatch", action="store_true",
                        help="one-shot: run even if the flight's dictionary digest differs")
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    resolve_station_options(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    one_shot = bool(args.lines or args.script)
    try:
        interact = None if one_shot else interactive_session()
        lines = args.lines + (read_script(args.script) if args.script else [])
        station = open_station(args)
    except (ArchiveError, OSError, ValueError) as error:
        print(f"orbitfs-ground: {error}", file=sys.stderr)
        return 2
    station.start()
    try:
        security = link_security(station.dictionary.link_parameters, args.keys is not None)
        print(f"orbitfs ground console: {args.tc} / {args.tm}, {security}, archive {args.archive}")
        api = IntegrationApi(station)
        matches = check_dictionary(api)
        if interact is None:
            status = 1 if matches is False and not args.allow_dictionary_mismatch else run_lines(
                Console(api), lines, args.keep_going)
        else:
            status = interact(Console(api, colour=True, interactive=True), args.history)
    finally:
        station.close()
    if station.archive.alarm:
        print(f"orbitfs-ground: {station.archive.alarm}", file=sys.stderr)
        return 1
    return status


def interactive_session() -> Callable[[Console, Path | None], int]:
    """ground_sim.console_session's ``interact`` (prompt_toolkit is imported only for it); ValueError
    saying what to install when prompt_toolkit is missing."""
    try:
        from ground_sim.console_session import interact
    except ImportError as error:
        raise ValueError(f"the interactive console needs prompt_toolkit ({error}): pip install 'orbitfs[ground]', "
                         "or run lines with -c / --script") from None
    return interact


def link_security(link: LinkParameters, keyed: bool) -> str:
    """The link's security as the console's banner says it."""
    tc = ("TC authenticated (SDLS)" if link.authenticated and keyed else
          "TC authenticated (SDLS) but no --keys: LISTENING ONLY" if link.authenticated else
          "TC NOT authenticated (mission.link.sdls = off)")
    tm = ("TM verified (SDLS)" if link.tm_authenticated and keyed else
          "TM NOT VERIFIED (no --keys)" if link.tm_authenticated else
          "TM not authenticated (mission.link.tm_sdls = off)")
    return f"{tc}, {tm}"


if __name__ == "__main__":
    sys.exit(main())
