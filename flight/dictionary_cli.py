"""``orbitfs-dict``: write the dictionary a topology generates, or show how the topology is wired.

    orbitfs-dict --topology my.toml -o dictionary.json     # for a ground on another host
    orbitfs-dict --wiring                                  # every connection, with its message type
    orbitfs-dict --wiring mermaid                          # the same as a Mermaid flowchart
"""
from __future__ import annotations

import argparse
import sys

from flight.app import load_flight_topology
from flight.core.topology import TopologyError
from flight.core.wiring import describe, mermaid
from flight.wire.dictionary import build_dictionary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-dict", description=__doc__.split("\n")[0])
    parser.add_argument("--topology", help="topology TOML (default: the packaged default)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override a topology setting")
    parser.add_argument("-o", "--output", default="dictionary.json")
    parser.add_argument("--wiring", nargs="?", const="text", choices=["text", "mermaid"],
                        help="print the wiring (text, or a Mermaid flowchart) instead")
    args = parser.parse_args(argv)
    try:
        topology = load_flight_topology(args.topology, args.overrides)
    except TopologyError as error:
        print(f"orbitfs-dict: {error}", file=sys.stderr)
        return 2
    if args.wiring == "mermaid":
        print(mermaid(topology.classes(), topology.connections))
        return 0
    if args.wiring == "text":
        print(describe(topology.classes(), topology.connections, topology.roles))
        return 0
    dictionary = build_dictionary(topology)
    dictionary.write(args.output)
    print(f"{args.output}: {len(dictionary.commands)} commands, {len(dictionary.channels)} "
          f"channels, {len(dictionary.events)} events, {len(dictionary.parameters)} parameters, "
          f"digest {dictionary.digest:08x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
