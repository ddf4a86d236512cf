"""``orbitfs-ground``: an interactive operator console on a running flight.

    orbitfs-ground --tc tcp://HOST:5550 --tm tcp://HOST:5551 --dictionary dictionary.json
    orbitfs-ground --run-dir runs/flight        # endpoints and dictionary from flight-ready.json

Commands: ``cmd NAME [ARG ...]``, ``ping``, ``prm get NAME ...``, ``prm set NAME VALUE``,
``sched AT|+SECONDS NAME [ARG ...]``, ``sched enable|disable|reset|report``,
``time correlate [N] [apply]``, ``time rate EXPONENT``, ``file up LOCAL NAME``, ``file down PATH LOCAL``,
``file ls [FOLDER]``, ``file rm NAME`` (CFDP and ST[23]), ``tlm [SUBSTRING]``,
``events [N]``, ``commands``, ``raw HEX``, ``list [SUBSTRING]``, ``stats``, ``status``, ``quit``.
On-board autonomy (ground_sim.onboard_console): ``mon add ID CHANNEL LOW HIGH [REPETITIONS]``,
``mon enable|disable|delete ID ...``, ``mon on|off|report``, ``ea add EVENT[:ARGUMENT] COMMAND
[ARG ...]``, ``ea enable|disable|delete EVENT[:ARGUMENT] ...``, ``ea report``, ``safe [REASON]``,
``nominal``, ``defaults``. Events are printed as they arrive.

Every packet goes to the SQLite archive (``--archive``, default ``ground-archive.sqlite``, appended
to). A path that cannot hold it is refused at start: one line naming it and why, exit status 2.
When the archive fails (a full disk, an I/O error) or loses rows, an ``[ALARM]`` line says so as
soon as it happens (checked twice a second, with the events), ``status`` shows the archive's
health at any time, and the console's exit status is 1 if a row was lost.

| requirement | verified by |
| an unusable --archive path: one line naming it, exit 2, no traceback | tests/system/test_sil_data.py |
| a failed archive raises an [ALARM] line once, and ``status`` shows it | tests/unit/ground/test_archive.py |
"""
from __future__ import annotations

import argparse
import cmd
import json
import shlex
import sys
import threading
from pathlib import Path
from typing import Any

from flight.cli_common import add_common_options, configure_logging
from flight.core.types import DataType
from flight.services.link_security import CurveClient
from flight.wire.dictionary import Dictionary
from flight.wire.link import LinkParameters
from ground_sim.api import IntegrationApi
from ground_sim.archive import ArchiveError
from ground_sim.onboard_console import OnboardCommands
from ground_sim.station import GroundStation


def parse_argument(data_type: DataType, text: str) -> Any:
    if data_type is DataType.STRING:
        return text
    if data_type is DataType.BOOL:
        return text.lower() in ("1", "true", "yes", "on")
    return float(text) if data_type.is_float else int(text, 0)


class Console(OnboardCommands, cmd.Cmd):
    prompt = "orbitfs> "

    def __init__(self, api: IntegrationApi) -> None:
        super().__init__()
        self.api = api
        self.station = api.station
        self._printed_events = 0
        self._archive_state: tuple[str | None, bool] = (None, False)  # (error, rows lost) last alarmed
        self._stop = threading.Event()
        threading.Thread(target=self._print_events, daemon=True).start()

    def _print_events(self) -> None:
        while not self._stop.is_set():
            with self.station.changed:
                self.station.changed.wait(0.5)
                new = self.station.events[self._printed_events:]
                self._printed_events += len(new)
            for event in new:
                print(f"\n[{event.severity.name}] {event.name}: {event.text}")
            self.check_archive()

    def check_archive(self) -> None:
        """Print an [ALARM] line when the archive fails or starts losing rows (once for each)."""
        archive = self.station.archive
        state = (archive.error, archive.lost > 0)
        if state != self._archive_state:
            self._archive_state = state
            print(f"\n[ALARM] {archive.alarm}", flush=True)

    def _report(self, record: Any) -> None:
        print(self.api.await_verification(record, timeout=10))

    def do_cmd(self, line: str) -> None:
        """cmd NAME [ARG ...]: send a command by dictionary name."""
        words = shlex.split(line)
        if not words:
            print("usage: cmd NAME [ARG ...]")
            return
        try:
            args = self._arguments(words)
            self._report(self.station.send_command(words[0], args))
        except (KeyError, ValueError, AssertionError) as error:
            print(f"refused: {error}")

    def _arguments(self, words: list[str]) -> list[Any]:
        """The arguments of command ``words[0]`` from ``words[1:]`` (KeyError: no such command)."""
        definition = self.station.dictionary.command_by_name.get(words[0])
        if definition is None:
            raise KeyError(f"no command {words[0]!r} (try: list)")
        return [parse_argument(a.type, w) for a, w in zip(definition.args, words[1:])]

    def do_sched(self, line: str) -> None:
        """sched AT|+SECONDS NAME [ARG ...]: release a command on board at mission time AT (s since
        1970), or SECONDS from now; sched enable|disable|reset: the release function, the schedule;
        sched report: every activity on board (ST[11])."""
        words = shlex.split(line)
        try:
            if words in (["enable"], ["disable"], ["reset"]):
                print(self.api.schedule_control(words[0], timeout=10))
            elif words == ["report"]:
                for activity in self.api.schedule_report(timeout=10):
                    print(f"  {activity.release_seconds:.3f}  {activity.request_id}  {activity.packet.hex()}")
            elif len(words) >= 2:
                at = float(words[0]) + (self.api.mission_time() if words[0].startswith("+") else 0.0)
                record = self.api.schedule(at, words[1], self._arguments(words[1:]), timeout=10)
                print(f"scheduled at {at:.3f}: {record}")
            else:
                print("usage: sched AT|+SECONDS NAME [ARG ...] | sched enable|disable|reset|report")
        except (KeyError, ValueError, AssertionError) as error:
            print(f"refused: {error}")

    def do_seq(self, line: str) -> None:
        """seq upload FILE: check a sequence file, load and activate it; seq load FILE: load it only;
        seq activate|abort|unload NAME (ST[21])."""
        words = shlex.split(line)
        try:
            if len(words) == 2 and words[0] in ("upload", "load"):
                steps = self.api.upload_sequence(words[1], activate=words[0] == "upload", timeout=10)
                print(f"{words[0]}ed {words[1]}: {len(steps)} steps")
            elif len(words) == 2 and words[0] in ("activate", "abort", "unload"):
                print(self.api.sequence_control(words[0], words[1], timeout=10))
            else:
                print("usage: seq upload|load FILE | seq activate|abort|unload NAME")
        except (KeyError, ValueError, AssertionError) as error:   # SequenceFileError is a ValueError
            print(f"refused: {error}")

    def do_time(self, line: str) -> None:
        """time correlate [N] [apply]: N round trips (default 20), the on-board clock's offset and drift
        (then corrected with ADJUST_TIME if ``apply``); time rate EXPONENT: a TM[9,2] every 2^EXPONENT s."""
        words = shlex.split(line)
        try:
            if words[:1] == ["correlate"] and len(words) <= 3 and set(words[2:]) <= {"apply"}:
                print(self.api.correlate(int(words[1]) if len(words) > 1 else 20, apply="apply" in words))
            elif words[:1] == ["rate"] and len(words) == 2:
                print(self.api.set_time_report_rate(int(words[1]), timeout=10))
            else:
                print("usage: time correlate [N] [apply] | time rate EXPONENT")
        except (ValueError, AssertionError) as error:
            print(f"refused: {error}")

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
                print(self.api.delete_file(words[1], timeout=10))
            else:
                print("usage: file up LOCAL NAME | file down PATH LOCAL | file ls [FOLDER] | file rm NAME")
        except (OSError, ValueError, AssertionError) as error:
            print(f"refused: {error}")

    def do_ping(self, line: str) -> None:
        """ping: TC[17,1] and wait for TM[17,2]."""
        try:
            print(self.api.ping(timeout=10))
        except (ValueError, AssertionError) as error:
            print(error)

    def do_prm(self, line: str) -> None:
        """prm get NAME ... | prm set NAME VALUE"""
        words = shlex.split(line)
        try:
            if words[:1] == ["get"] and len(words) > 1:
                print(self.api.get_parameters(words[1:], timeout=10))
            elif words[:1] == ["set"] and len(words) == 3:
                field = self.station.dictionary.parameter_by_name[words[1]].field
                print(self.api.set_parameters({words[1]: parse_argument(field.type, words[2])},
                                              timeout=10))
            else:
                print("usage: prm get NAME ... | prm set NAME VALUE")
        except (KeyError, ValueError, AssertionError) as error:
            print(f"refused: {error}")

    def do_tlm(self, line: str) -> None:
        """tlm [SUBSTRING]: latest value of each channel."""
        for name in sorted(self.station.telemetry):
            if line.strip() in name:
                print(f"  {name:<40} {self.station.latest(name)}")

    def do_events(self, line: str) -> None:
        """events [N]: the last N events (default 20)."""
        for event in self.station.events[-int(line or 20):]:
            print(f"  [{event.severity.name}] {event.name}: {event.text}")

    def do_commands(self, line: str) -> None:
        """commands: every command sent and its verification."""
        for record in self.station.command_log:
            print(f"  {record}")

    def do_raw(self, line: str) -> None:
        """raw HEX: send packet bytes as they are."""
        try:
            self._report(self.station.send_raw(bytes.fromhex(line.replace(" ", ""))))
        except ValueError as error:
            print(f"refused: {error}")

    def do_list(self, line: str) -> None:
        """list [SUBSTRING]: commands with their arguments."""
        for definition in self.station.dictionary.commands:
            if line.strip() in definition.name:
                args = ", ".join(f"{a.name}: {a.type.name}" for a in definition.args)
                print(f"  {definition.name}({args})  {definition.description}")

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
        self._stop.set()
        return True

    do_EOF = do_quit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-ground", description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path, help="a flight run directory (local flight)")
    parser.add_argument("--tc", help="the flight's TC endpoint, e.g. tcp://10.0.0.2:5550")
    parser.add_argument("--tm", help="the flight's TM endpoint, e.g. tcp://10.0.0.2:5551")
    parser.add_argument("--dictionary", type=Path, help="dictionary JSON (orbitfs-dict)")
    parser.add_argument("--archive", type=Path, default=Path("ground-archive.sqlite"),
                        help="SQLite archive of every packet, appended to (default: %(default)s)")
    parser.add_argument("--server-key", type=Path, help="the flight's public CURVE certificate (flight.key), "
                                                        "for a flight whose link uses CURVE")
    parser.add_argument("--client-key", type=Path, help="this ground's secret CURVE certificate "
                                                        "(NAME.key_secret), authorized by the flight")
    parser.add_argument("--keys", type=Path, help="this ground's copy of the link's key file (SDLS; default "
                                                  "with --run-dir: RUN_DIR/keys/ground.json); without it the "
                                                  "console of an authenticated link only listens")
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    if args.run_dir:
        ready = json.loads((args.run_dir / "flight-ready.json").read_text())
        args.tc, args.tm = args.tc or ready["tc_endpoint"], args.tm or ready["tm_endpoint"]
        args.dictionary = args.dictionary or Path(ready["dictionary"])
        if args.keys is None and (args.run_dir / "keys" / "ground.json").exists():
            args.keys = args.run_dir / "keys" / "ground.json"
    if not (args.tc and args.tm and args.dictionary):
        parser.error("give --run-dir, or --tc, --tm and --dictionary")
    if bool(args.server_key) != bool(args.client_key):
        parser.error("--server-key and --client-key go together")
    try:
        curve = CurveClient.load(args.server_key, args.client_key) if args.server_key else None
        station = GroundStation(Dictionary.load(args.dictionary), args.tc, args.tm, args.archive, curve,
                                keys=args.keys, link_state=args.keys.with_suffix(".state") if args.keys else None)
    except (ArchiveError, OSError, ValueError) as error:
        print(f"orbitfs-ground: {error}", file=sys.stderr)
        return 2
    station.start()
    try:
        security = link_security(station.dictionary.link_parameters, args.keys is not None)
        Console(IntegrationApi(station)).cmdloop(f"orbitfs ground console: {args.tc} / {args.tm}, {security}, "
                                                 f"archive {args.archive} (help for commands)")
    finally:
        station.close()
    if station.archive.alarm:
        print(f"orbitfs-ground: {station.archive.alarm}", file=sys.stderr)
        return 1
    return 0


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
