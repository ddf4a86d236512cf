"""Tests of flight.app, the composition root: the executive it builds for the default topology
carries the mission dictionary, written for the ground, and every component wired and served."""
from __future__ import annotations

import json

import pytest

from flight.app import DEFAULT_TOPOLOGY, build_flight, load_flight_topology
from flight.core.roles import ROLES
from flight.wire.dictionary import Dictionary

pytestmark = pytest.mark.usefixtures("restore_root_logger")   # main() configures logging


def test_the_default_flight_is_built_with_its_dictionary_and_wiring(tmp_path):
    topology = load_flight_topology(overrides=["mission.seed=9"])
    assert DEFAULT_TOPOLOGY.is_file() and topology.seed == 9
    executive = build_flight(topology, tmp_path / "run")
    written = Dictionary.load(tmp_path / "run" / "dictionary.json")
    assert written.to_json() == Dictionary.of(executive.catalog).to_json()
    assert executive.ready_info == {"dictionary": str(tmp_path / "run" / "dictionary.json"),
                                     "digest": written.digest}
    components = executive.components
    assert set(topology.roles) == set(ROLES)
    assert executive.context.parameters is components["prmDb"]
    assert executive.context.emit_event == components["eventLog"].log_event
    for connection in topology.connections:  # every declared connection is made
        assert components[connection.source].outputs[connection.output].connections >= 1
    assert components["comms"].outputs["tc"].connections == 1
    assert components["prmDb"].outputs["regions"].connections == 2  # scrubber and SEU injector
    assert json.loads((tmp_path / "run" / "dictionary.json").read_text())["mission"] == "orbitfs-demo"


def test_orbitfs_flight_refuses_a_miswired_topology_with_one_line_and_exit_2(tmp_path, capsys):
    from flight.__main__ import main

    text = DEFAULT_TOPOLOGY.read_text()
    wrong_type = text.replace('"camera.captures     -> cluster.tiles"', '"camera.captures     -> comms.tm"')
    missing = text.replace('"camera.captures     -> cluster.tiles",', "")
    assert wrong_type != text and missing != text
    for document, reason in ((wrong_type, "camera.captures carries Capture, comms.tm takes TmPacket"),
                             (missing, "camera.captures (Capture) is required but not connected")):
        path = tmp_path / "topology.toml"
        path.write_text(document)
        assert main(["--topology", str(path), "--run-dir", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err.strip()
        assert reason in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "run" / "flight-ready.json").exists()


def test_every_flight_component_declares_its_settings():
    import importlib
    import pkgutil

    import flight
    from flight.core.component import ActiveComponent, Component
    from flight.core.rate_group import RateGroup

    for module in pkgutil.walk_packages(flight.__path__, "flight."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    classes = set()
    pending = [Component]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("flight."):
                classes.add(sub)
    classes -= {ActiveComponent, RateGroup}  # a base; and a group is configured by [[rate_groups]]
    assert {c.__name__ for c in classes} >= {"Comms", "CommandDispatcher", "InferenceCluster", "Camera",
                                             "Scrubber", "SeuInjector", "ParameterDb", "EventLog"}
    undeclared = sorted(c.__name__ for c in classes if c.settings() is None)
    assert not undeclared, f"no SETTINGS declared: {undeclared}"
