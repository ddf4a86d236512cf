"""Tests of flight.wire.dictionary with the default topology's generated dictionary.

Independent references: the component order is read from default.toml with tomllib; declared
item order from the component classes; the digest is checked against crcmod's ``crc-32c``.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib

import crcmod.predefined
import pytest

from flight.app import DEFAULT_TOPOLOGY, load_flight_topology
from flight.wire.dictionary import Dictionary, build_dictionary

crc32c = crcmod.predefined.mkCrcFun("crc-32c")


@pytest.fixture(scope="module")
def topology():
    return load_flight_topology()


@pytest.fixture(scope="module")
def dictionary(topology):
    return build_dictionary(topology)


def entry_lists(d: Dictionary):
    return {"commands": d.commands, "channels": d.channels, "events": d.events,
            "parameters": d.parameters, "housekeeping": d.housekeeping}


def test_json_round_trip_is_lossless(dictionary, tmp_path):
    doc = dictionary.to_json()
    assert Dictionary.from_json(doc).to_json() == doc
    # through real JSON text and through a file, as the ground gets it
    assert Dictionary.from_json(json.loads(dictionary.dumps())).to_json() == doc
    loaded = Dictionary.load(dictionary.write(tmp_path / "dictionary.json"))
    assert loaded.to_json() == doc
    assert loaded.digest == dictionary.digest
    # every definition except parameters comes back equal as an object too
    for key in ("commands", "channels", "events", "housekeeping"):
        assert entry_lists(loaded)[key] == entry_lists(dictionary)[key]
    assert (loaded.mission, loaded.apid, loaded.components) == (
        dictionary.mission, dictionary.apid, dictionary.components)


def test_enumerations_reach_the_ground(dictionary):
    loaded = Dictionary.from_json(json.loads(dictionary.dumps()))
    mode = loaded.channel_by_name["cluster.Mode"]
    assert mode.enumeration == ((0, "THROUGHPUT"), (1, "TMR"), (2, "DMR"))
    assert mode.label(1) == "TMR" and mode.label(7) == "7"
    set_mode = loaded.command_by_name["cluster.SET_MODE"]
    assert set_mode.args[0].enumeration == mode.enumeration
    card_states = [c for c in loaded.channels if c.name.endswith("_State") and c.name.startswith("cluster.")]
    assert card_states and all(c.enumeration and c.label(0) == "OFF" for c in card_states)


def test_parameter_definitions_survive_the_round_trip(dictionary):
    loaded = Dictionary.from_json(json.loads(dictionary.dumps()))
    assert loaded.parameters == dictionary.parameters


def test_lookups_by_name_and_by_id_agree(dictionary):
    pairs = [
        (dictionary.commands, dictionary.command_by_name, dictionary.command_by_opcode, "opcode"),
        (dictionary.channels, dictionary.channel_by_name, dictionary.channel_by_id, "id"),
        (dictionary.events, dictionary.event_by_name, dictionary.event_by_id, "id"),
        (dictionary.parameters, dictionary.parameter_by_name, dictionary.parameter_by_id, "id"),
    ]
    total = 0
    for entries, by_name, by_id, id_attr in pairs:
        assert len(by_name) == len(entries) and len(by_id) == len(entries)  # no collisions
        for entry in entries:
            assert by_name[entry.name] is entry
            assert by_id[getattr(entry, id_attr)] is entry
            total += 1
    for h in dictionary.housekeeping:
        assert dictionary.housekeeping_by_id[h.structure_id] is h
    assert total > 50  # the default topology has many entries: this is not vacuous


def test_ids_follow_the_component_index_scheme(dictionary, topology):
    toml = tomllib.loads(DEFAULT_TOPOLOGY.read_text())
    names = [c["name"] for c in toml["components"]] + [g["name"] for g in toml["rate_groups"]]
    assert dictionary.components == {name: k for k, name in enumerate(names, start=1)}
    for k, spec in enumerate(topology.all_components(), start=1):
        cls = spec.cls
        channels = cls.channels_for(spec.config)
        declared = [
            (dictionary.command_by_name, list(cls.command_specs()), "opcode"),
            (dictionary.channel_by_name, list(channels), "id"),
            (dictionary.event_by_name, list(cls.EVENTS), "id"),
            (dictionary.parameter_by_name, list(cls.PARAMETERS), "id"),
        ]
        for by_name, items, attr in declared:
            for i, item in enumerate(items, start=1):
                assert getattr(by_name[f"{spec.name}.{item}"], attr) == k * 256 + i
        if channels:  # the flight's mode (declared every_report) first, then the component's own
            h = dictionary.housekeeping_by_id[k]
            assert h.component == spec.name
            own = [k * 256 + i for i, c in enumerate(channels.values(), start=1) if not c.every_report]
            assert list(h.channels) == [dictionary.channel_by_name["modes.Mode"].id, *own]
        else:
            assert k not in dictionary.housekeeping_by_id
    # a few by hand: opcode = index of the component in default.toml * 256 + item number
    index = {name: k for k, name in enumerate(names, start=1)}
    assert dictionary.command_by_name["dispatcher.NO_OP"].opcode == index["dispatcher"] * 256 + 1
    assert dictionary.command_by_name["dispatcher.NO_OP_STRING"].opcode == (
        index["dispatcher"] * 256 + 2)
    assert dictionary.command_by_name["executive.SHUTDOWN"].opcode == index["executive"] * 256 + 1
    assert dictionary.parameter_by_name["health.PingTimeoutCycles"].id == index["health"] * 256 + 1


def test_digest_is_crc32c_of_the_canonical_json(dictionary, topology):
    canonical = json.dumps(dictionary.to_json(), sort_keys=True).encode()
    assert dictionary.digest == crc32c(canonical)
    assert build_dictionary(topology).digest == dictionary.digest


def _changed(entry):
    """A copy of ``entry`` with one field changed."""
    for name, new in (("description", "changed"), ("units", "changed"), ("format", "changed {x}"),
                      ("default", 12345), ("channels", (1,))):
        if hasattr(entry, name) and getattr(entry, name) != new:
            return dataclasses.replace(entry, **{name: new})
    raise AssertionError(f"nothing to change in {entry}")


def test_digest_changes_when_any_single_entry_changes(dictionary):
    original = dictionary.digest
    changed = 0
    for key, entries in entry_lists(dictionary).items():
        for index, entry in enumerate(entries):
            copy = Dictionary.from_json(dictionary.to_json())
            getattr(copy, key)[index] = _changed(entry)
            copy.reindex()
            assert copy.digest != original, (key, entry)
            renamed = Dictionary.from_json(dictionary.to_json())
            if hasattr(entry, "name"):
                getattr(renamed, key)[index] = dataclasses.replace(
                    getattr(renamed, key)[index], name=entry.name + "X")
                assert renamed.digest != original, (key, entry.name)
            changed += 1
    assert changed == sum(len(e) for e in entry_lists(dictionary).values())
    for mutate in (lambda d: setattr(d, "apid", d.apid + 1),
                   lambda d: setattr(d, "mission", d.mission + "X"),
                   lambda d: d.components.update(comms=99)):
        copy = Dictionary.from_json(dictionary.to_json())
        mutate(copy)
        assert copy.digest != original
