"""The flight application: where the layers meet (the composition root).

The core (flight.core) knows no mission; this module gives it one. It knows the packaged default
topology, generates the mission dictionary from the topology (flight.wire.dictionary), writes it to
the run directory for the ground, and builds the executive around it, with the dictionary's path
and digest in the ready file. ``orbitfs-flight`` (flight.__main__) and the component tester
(flight.testing) start here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from flight.core.executive import Executive
from flight.core.topology import Topology, load_topology
from flight.wire.dictionary import build_dictionary

DEFAULT_TOPOLOGY = Path(__file__).parent / "topologies" / "default.toml"


def load_flight_topology(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Topology:
    """The topology at ``path`` (the packaged default if None), with ``--set`` overrides applied."""
    return load_topology(path or DEFAULT_TOPOLOGY, overrides)


def build_flight(topology: Topology, run_dir: str | Path) -> Executive:
    """The executive for ``topology``, its dictionary written to ``run_dir/dictionary.json``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dictionary = build_dictionary(topology)
    path = dictionary.write(run_dir / "dictionary.json")
    return Executive(topology, run_dir, dictionary,
                     ready_info={"dictionary": str(path), "digest": dictionary.digest})
