"""``orbitfs-dict``: write the dictionary a topology generates, e.g. for a ground on another host.

    orbitfs-dict --topology my.toml -o dictionary.json
"""
from __future__ import annotations

import argparse
import sys

from flight.topology import TopologyError, build_dictionary, load_topology


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-dict", description=__doc__.split("\n")[0])
    parser.add_argument("--topology", help="topology TOML (default: the packaged default)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("-o", "--output", default="dictionary.json")
    args = parser.parse_args(argv)
    try:
        dictionary = build_dictionary(load_topology(args.topology, args.overrides))
    except TopologyError as error:
        print(f"orbitfs-dict: {error}", file=sys.stderr)
        return 2
    dictionary.write(args.output)
    print(f"{args.output}: {len(dictionary.commands)} commands, {len(dictionary.channels)} "
          f"channels, {len(dictionary.events)} events, {len(dictionary.parameters)} parameters, "
          f"digest {dictionary.digest:08x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
