"""Tests of flight.core.topology and flight.core.wiring: the default topology, configuration
errors (components, rate groups, roles, connections), and ``--set`` overrides."""
from __future__ import annotations

import copy
import tomllib

import pytest

from flight.app import DEFAULT_TOPOLOGY, load_flight_topology
from flight.core.component import Component
from flight.core.ports import OutputPort, input_port
from flight.core.rate_group import RateGroup
from flight.core.roles import HealthMonitor
from flight.core.topology import TopologyError, apply_override, load_topology, parse_topology
from flight.core.wiring import describe, mermaid
from flight.testing import kind_of

BASE = "flight.core.component:Component"


def doc(**changes):
    """A small valid topology document, with top-level tables replaced by ``changes``."""
    d = {
        "mission": {"name": "t", "apid": 3, "seed": 4},
        "clock": {"kind": "simulated", "base_rate_hz": 10},
        "components": [{"name": "a", "kind": BASE, "setting": 1}, {"name": "b", "kind": BASE}],
        "rate_groups": [{"name": "fast", "rate_hz": 10, "members": ["a"]},
                        {"name": "slow", "rate_hz": 2, "members": ["b", "a"]}],
    }
    d.update(changes)
    return d


def refused(document) -> str:
    with pytest.raises(TopologyError) as caught:
        parse_topology(document)
    return str(caught.value)


def test_default_topology_loads():
    raw = tomllib.loads(DEFAULT_TOPOLOGY.read_text())
    topology = load_flight_topology()
    assert [c.name for c in topology.components] == [c["name"] for c in raw["components"]]
    assert topology.mission == raw["mission"]["name"] and topology.apid == raw["mission"]["apid"]
    assert topology.base_rate_hz == raw["clock"]["base_rate_hz"]
    groups = {g.name: g for g in topology.rate_groups}
    for g in raw["rate_groups"]:
        assert groups[g["name"]].members == tuple(g["members"])
        assert groups[g["name"]].divider * g["rate_hz"] == raw["clock"]["base_rate_hz"]
    comms = topology.component("comms")
    assert comms.cls.__name__ == "Comms" and "name" not in comms.config
    assert comms.config["tm_store_octets"] == raw["components"][0]["tm_store_octets"]
    assert topology.component("rgSlow").cls is RateGroup
    with pytest.raises(KeyError):
        topology.component("nope")
    assert topology.roles == raw["roles"]
    assert [str(c) for c in topology.connections] == [" -> ".join(p.strip() for p in c.split("->"))
                                                      for c in raw["wiring"]["connections"]]


def test_small_topology_parses():
    topology = parse_topology(doc())
    assert (topology.mission, topology.apid, topology.seed) == ("t", 3, 4)
    assert [(g.name, g.divider, g.members) for g in topology.rate_groups] == [
        ("fast", 1, ("a",)), ("slow", 5, ("b", "a"))]
    assert topology.component("a").config == {"setting": 1}
    assert [s.name for s in topology.all_components()] == ["a", "b", "fast", "slow"]


@pytest.mark.parametrize("kind", ["flight.no_such_module:Thing", "flight.core.component:NoSuchClass",
                                  "flight.core.types:DataType", "flight.core.types:encode_fields",
                                  "nocolon"])
def test_unknown_or_wrong_kind_is_refused(kind):
    d = doc()
    d["components"][1]["kind"] = kind
    assert kind in refused(d)


def test_duplicate_component_name_is_refused():
    d = doc()
    d["components"][1]["name"] = "a"
    message = refused(d)
    assert "'a'" in message and "twice" in message


@pytest.mark.parametrize("entry", [{"kind": BASE}, {"name": "c"}, {"name": "", "kind": BASE}])
def test_component_without_name_or_kind_is_refused(entry):
    d = doc()
    d["components"].append(entry)
    refused(d)


def test_member_that_is_not_a_component_is_refused():
    d = doc()
    d["rate_groups"][1]["members"] = ["b", "ghost"]
    message = refused(d)
    assert "ghost" in message and "slow" in message


@pytest.mark.parametrize("rate", [3, 4, 20, 0, -5])
def test_rate_not_dividing_the_base_rate_is_refused(rate):
    d = doc()
    d["rate_groups"][1]["rate_hz"] = rate
    message = refused(d)
    assert "slow" in message and str(float(rate)) in message


def test_base_rate_defaults_to_the_fastest_group():
    d = doc(clock={"kind": "simulated"})
    assert parse_topology(d).base_rate_hz == 10
    d["rate_groups"][0]["rate_hz"] = 3  # 2 Hz does not divide 3 Hz
    assert "slow" in refused(d)


@pytest.mark.parametrize("base", [0, -10])
def test_non_positive_base_rate_is_refused(base):
    d = doc(clock={"kind": "simulated", "base_rate_hz": base})
    d["rate_groups"] = [{"name": "g", "rate_hz": 1, "members": []}]
    refused(d)


@pytest.mark.parametrize("missing", ["rate_hz", "name"])
def test_rate_group_missing_a_key_is_refused(missing):
    d = doc()
    del d["rate_groups"][1][missing]
    refused(d)


def test_group_name_clashing_with_a_component_is_refused():
    d = doc()
    d["rate_groups"][1]["name"] = "b"
    message = refused(d)
    assert "'b'" in message


def test_bad_clock_kind_is_refused():
    message = refused(doc(clock={"kind": "sundial", "base_rate_hz": 10}))
    assert "sundial" in message


def test_no_rate_groups_is_refused():
    refused(doc(rate_groups=[]))
    d = doc()
    del d["rate_groups"]
    assert "rate group" in refused(d)


def test_more_than_255_components_are_refused():
    components = [{"name": f"c{i}", "kind": BASE} for i in range(254)]
    fits = parse_topology(doc(components=components,
                              rate_groups=[{"name": "g", "rate_hz": 1, "members": []}]))
    assert len(fits.all_components()) == 255
    components.append({"name": "one_too_many", "kind": BASE})
    assert "255" in refused(doc(components=components,
                                rate_groups=[{"name": "g", "rate_hz": 1, "members": []}]))


def test_unreadable_topology_file_is_refused(tmp_path):
    with pytest.raises(TopologyError):
        load_topology(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[mission\nname = 1")
    with pytest.raises(TopologyError):
        load_topology(broken)


# --- overrides ---------------------------------------------------------------------------------
def test_overrides_reach_components_mission_and_clock():
    topology = load_flight_topology(overrides=[
        "comms.tm_store_octets=7000", "prmDb.file=\"p x.json\"", "seu.targets=[\"A\", \"B\"]",
        "comms.tc_endpoint=tcp://127.0.0.1:*", "mission.apid=9", "mission.seed=42",
        "clock.speedup=0", "clock.kind=\"wall\"", "cluster.weights=\"optimized\"",
    ])
    assert topology.component("comms").config["tm_store_octets"] == 7000
    assert topology.component("prmDb").config["file"] == "p x.json"
    assert topology.component("comms").config["tc_endpoint"] == "tcp://127.0.0.1:*"
    assert topology.component("seu").config["targets"] == ["A", "B"]
    assert topology.component("cluster").config["weights"] == "optimized"
    assert (topology.apid, topology.seed) == (9, 42)
    assert topology.clock["speedup"] == 0 and topology.clock["kind"] == "wall"
    # the override went to that component only; the others keep their (default) values
    assert topology.component("cluster").config["policy"] == "earliest-finish"


def test_override_creates_a_missing_table_and_leaves_others_alone():
    d = doc()
    del d["clock"]
    before = copy.deepcopy(d)
    apply_override(d, "clock.base_rate_hz=20")
    assert d["clock"] == {"base_rate_hz": 20}
    assert d["components"] == before["components"] and d["mission"] == before["mission"]
    apply_override(d, "a.setting = 2.5")
    assert d["components"][0]["setting"] == 2.5


def test_override_reaches_rate_groups_and_nested_tables():
    d = doc()
    apply_override(d, "slow.rate_hz=5")
    apply_override(d, "mission.orbit.ltan_h=6.0")
    apply_override(d, "a.battery.capacity_wh=10")
    assert d["rate_groups"][1]["rate_hz"] == 5 and d["rate_groups"][0]["rate_hz"] == 10
    assert d["mission"]["orbit"] == {"ltan_h": 6.0} and d["mission"]["seed"] == 4
    assert d["components"][0]["battery"] == {"capacity_wh": 10}


@pytest.mark.parametrize("assignment", ["comms", "comms=1", "comms.=1", ".x=1", "=1",
                                        "comms.tm_hwm", "nosuchtable.key=1", "a.setting.x=1", "a.x..y=1"])
def test_bad_override_is_refused(assignment):
    with pytest.raises(TopologyError):
        load_flight_topology(overrides=[assignment])


# --- roles and wiring ----------------------------------------------------------------------------
class Note:
    pass


class Other:
    pass


class Producer(Component):
    out = OutputPort(Note, "notes")
    must = OutputPort(Note, "a required output", required=True)


class Consumer(Component):
    @input_port(Note)
    def notes(self, note):
        pass

    @input_port(Other, required=False)
    def others(self, other):
        pass


class Pinger(Component, HealthMonitor):
    def serve(self, roster):
        pass


def wired(connections, roles=None, **extra):
    components = [{"name": "p", "kind": kind_of(Producer)}, {"name": "c", "kind": kind_of(Consumer)},
                  {"name": "h", "kind": kind_of(Pinger)}]
    return doc(components=components, rate_groups=[{"name": "g", "rate_hz": 10, "members": []}],
               roles={"health": "h"} if roles is None else roles,
               wiring={"connections": connections}, **extra)


GOOD = ["p.must -> c.notes", "p.out -> c.notes"]


def test_a_wired_topology_parses_and_reads_as_a_wiring_list():
    topology = parse_topology(wired(GOOD))
    assert [str(c) for c in topology.connections] == GOOD
    assert topology.roles == {"health": "h"}
    text = describe(topology.classes(), topology.connections, topology.roles)
    assert text.splitlines() == ["p.must -> c.notes  Note", "p.out  -> c.notes  Note",
                                 "role health: h"]
    assert mermaid(topology.classes(), topology.connections) == "flowchart LR\n  p -- Note --> c"


@pytest.mark.parametrize("connection, words", [
    ("p.out c.notes", ["not", "component.output -> component.input"]),
    ("x.out -> c.notes", ["no component named 'x'"]),
    ("p.nope -> c.notes", ["p has no port 'nope'", "its ports: out, must"]),
    ("c.notes -> c.notes", ["c.notes is an input port"]),
    ("p.out -> p.must", ["p.must is an output port"]),
    ("p.out -> c.others", ["p.out carries Note", "c.others takes Other"]),
    ("p.must -> c.notes", ["listed twice"]),
])
def test_a_bad_connection_is_refused_with_one_line_naming_it(connection, words):
    message = refused(wired([*GOOD, connection]))
    assert "\n" not in message
    for word in words:
        assert word in message


def test_a_required_port_left_open_is_refused_unless_a_tester_connects_it():
    message = refused(wired(["p.out -> c.notes"]))
    assert "p.must (Note) is required but not connected: add a connection from it" in message
    alone = doc(components=[{"name": "c", "kind": kind_of(Consumer)}],
                rate_groups=[{"name": "g", "rate_hz": 10, "members": []}])
    assert "c.notes (Note) is required but not connected: add a connection into it" in refused(alone)
    assert "others" not in refused(alone)  # not required
    assert parse_topology(wired([]), require_ports=False).connections == []


@pytest.mark.parametrize("roles, words", [
    ({"health": "h", "juggling": "h"}, ["juggling: no such role"]),
    ({"health": "ghost"}, ["no component named 'ghost'"]),
    ({"health": "h", "commands": "c"}, ["Consumer cannot hold the commands role"]),
    ({}, ["h can hold the health role", 'health = "h"']),
])
def test_a_bad_role_is_refused(roles, words):
    message = refused(wired(GOOD, roles=roles))
    for word in words:
        assert word in message
