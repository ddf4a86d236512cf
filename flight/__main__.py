"""``orbitfs-flight``: run the flight executive on a topology.

    orbitfs-flight --topology flight/topologies/default.toml --run-dir runs/flight \
        --set comms.tc_endpoint=tcp://0.0.0.0:5550 --set mission.seed=7

Logs go to RUN_DIR/flight.log (rotated; ``--log-file``, ``--log-max-bytes``, ``--log-backups``), to
stderr only with ``--log-stderr``; each card worker logs to its own file beside it, RUN_DIR/flight.card0.log.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from flight import runtime_check
from flight.cli_common import add_common_options, configure_logging
from flight.core.component import StartError
from flight.core.topology import TopologyError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-flight", description=__doc__.split("\n")[1])
    parser.add_argument("--topology", help="topology TOML (default: the packaged default)")
    parser.add_argument("--run-dir", default="runs/flight",
                        help="where the dictionary, parameters, ready file and log go")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override a topology setting")
    parser.add_argument("--max-ticks", type=int, help="stop after this many base ticks")
    add_common_options(parser, default_level="INFO", default_log_file="RUN_DIR/flight.log")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(args, run_dir / "flight.log")   # the cards' logs go beside it (flight.core.log_files)
    missing = runtime_check.missing_onnxruntime()
    if missing:
        print(f"orbitfs-flight: {missing}", file=sys.stderr)
        return 2
    log_runtime()
    from flight.app import build_flight, load_flight_topology   # imports ONNX Runtime
    try:
        topology = load_flight_topology(args.topology, args.overrides)
    except TopologyError as error:
        print(f"orbitfs-flight: {error}", file=sys.stderr)
        return 2
    try:
        return build_flight(topology, run_dir).run(args.max_ticks)
    except StartError as error:
        print(f"orbitfs-flight: {error}", file=sys.stderr)
        return 2


def log_runtime() -> None:
    """Name the ONNX Runtime build in the log, and warn when two share the module."""
    installed = runtime_check.installed_distributions()
    log = logging.getLogger("flight")
    log.info("ONNX Runtime: %s", ", ".join(installed) or "a build without package metadata")
    conflict = runtime_check.conflict_warning(installed)
    if conflict:
        log.warning(conflict)


if __name__ == "__main__":
    sys.exit(main())
