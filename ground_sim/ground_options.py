"""The command-line options of a program that is a ground of a running flight, and the station they open.

``--run-dir`` (a local flight: endpoints and dictionary from its flight-ready.json, keys from
RUN_DIR/keys/ground.json), or ``--tc``, ``--tm`` and ``--dictionary``; ``--archive``; ``--keys``
(the link's key file, SDLS); ``--server-key`` and ``--client-key`` (CURVE). The same options as
orbitfs-ground, for other programs that run a ground (orbitfs-bridge).

| requirement | verified by |
| a run directory gives the endpoints, dictionary and keys; bad options: exit 2 | tests/system/test_udp_bridge.py |
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from flight.services.link_security import CurveClient
from flight.wire.dictionary import Dictionary
from ground_sim.station import GroundStation

READY_WAIT = 10.0     # s for a run directory's flight-ready.json to appear (a flight started just before)


def add_station_options(parser: argparse.ArgumentParser, archive: str) -> None:
    """Add the options of :func:`open_station`; ``archive``: the default archive path."""
    parser.add_argument("--run-dir", type=Path, help="a flight run directory (local flight)")
    parser.add_argument("--tc", help="the flight's TC endpoint, e.g. tcp://10.0.0.2:5550")
    parser.add_argument("--tm", help="the flight's TM endpoint, e.g. tcp://10.0.0.2:5551")
    parser.add_argument("--dictionary", type=Path, help="dictionary JSON (orbitfs-dict)")
    parser.add_argument("--archive", type=Path, default=Path(archive),
                        help="SQLite archive of every packet, appended to (default: %(default)s)")
    parser.add_argument("--server-key", type=Path, help="the flight's public CURVE certificate (flight.key), "
                                                        "for a flight whose link uses CURVE")
    parser.add_argument("--client-key", type=Path, help="this ground's secret CURVE certificate "
                                                        "(NAME.key_secret), authorized by the flight")
    parser.add_argument("--keys", type=Path, help="this ground's copy of the link's key file (SDLS; default "
                                                  "with --run-dir: RUN_DIR/keys/ground.json)")
    parser.add_argument("--ready-timeout", type=float, default=READY_WAIT, metavar="SECONDS",
                        help="with --run-dir: how long to wait for a starting flight's flight-ready.json "
                             "(default %(default)g)")


def resolve_station_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill what ``--run-dir`` gives (waiting up to ``--ready-timeout`` for its flight-ready.json, so a
    flight started just before can be joined); a missing or contradictory option is a parser error (exit 2)."""
    if args.run_dir:
        ready_file = args.run_dir / "flight-ready.json"
        deadline = time.monotonic() + args.ready_timeout
        while not ready_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        try:
            ready = json.loads(ready_file.read_text())
            args.tc, args.tm = args.tc or ready["tc_endpoint"], args.tm or ready["tm_endpoint"]
            args.dictionary = args.dictionary or Path(ready["dictionary"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            parser.error(f"--run-dir {args.run_dir}: no readable flight-ready.json of a started flight ({error})")
        if args.keys is None and (args.run_dir / "keys" / "ground.json").exists():
            args.keys = args.run_dir / "keys" / "ground.json"
    if not (args.tc and args.tm and args.dictionary):
        parser.error("give --run-dir, or --tc, --tm and --dictionary")
    if bool(args.server_key) != bool(args.client_key):
        parser.error("--server-key and --client-key go together")


def open_station(args: argparse.Namespace, **options: Any) -> GroundStation:
    """A station (not started) of resolved options. ArchiveError, OSError or ValueError (one line)
    when a file cannot be used."""
    curve = CurveClient.load(args.server_key, args.client_key) if args.server_key else None
    return GroundStation(Dictionary.load(args.dictionary), args.tc, args.tm, args.archive, curve,
                         keys=args.keys, link_state=args.keys.with_suffix(".state") if args.keys else None,
                         **options)
