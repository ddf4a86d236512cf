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
from flight.core.settings import Setting, SettingError, check_settings
from flight.core.topology import MISSION_SETTINGS, Topology, TopologyError, load_topology
from flight.environment.orbit import ORBIT_SETTINGS
from flight.messages import Capture
from flight.wire.dictionary import build_dictionary
from flight.wire.link import LINK_SETTINGS, check_link

DEFAULT_TOPOLOGY = Path(__file__).parent / "topologies" / "default.toml"


SHARED_SETTINGS = {"orbit": Setting(dict, {}, fields=ORBIT_SETTINGS,
                                   description="the orbit every component flies (flight.environment.orbit)"),
                   "link": Setting(dict, {}, fields=LINK_SETTINGS, check=check_link,
                                   description="frames, virtual channels and SDLS of the ground link "
                                               "(flight.wire.link)")}


def load_flight_topology(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Topology:
    """The topology at ``path`` (the packaged default if None), with ``--set`` overrides applied,
    checked as a whole: the mission's shared settings, and tiles that fit where they go."""
    topology = load_topology(path or DEFAULT_TOPOLOGY, overrides)
    shared = {k: v for k, v in topology.settings.items() if k not in MISSION_SETTINGS}
    try:
        topology.settings.update(check_settings("mission", shared, SHARED_SETTINGS))
    except SettingError as error:
        raise TopologyError(str(error)) from None
    _check_tile_sizes(topology)
    return topology


def _check_tile_sizes(topology: Topology) -> None:
    """A sensor's tiles must have the size the component they go to computes on."""
    classes = topology.classes()
    for c in topology.connections:
        if classes[c.source].ports()[c.output].message is not Capture:
            continue
        sent, taken = topology.component(c.source).config, topology.component(c.target).config
        if sent.get("size") != taken.get("size"):
            raise TopologyError(f"{c.source}.size = {sent.get('size')} but {c.target}.size = "
                                f"{taken.get('size')}: the tiles of {c} must have the size "
                                f"{c.target} computes on")


def build_flight(topology: Topology, run_dir: str | Path) -> Executive:
    """The executive for ``topology``, its dictionary written to ``run_dir/dictionary.json``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dictionary = build_dictionary(topology)
    path = dictionary.write(run_dir / "dictionary.json")
    return Executive(topology, run_dir, dictionary,
                     ready_info={"dictionary": str(path), "digest": dictionary.digest})
