"""Tests of ParameterDb: save and restore, missing and corrupted files, entries refused one by one.

Files written by hand carry a CRC computed with crcmod's ``crc-32c`` over the canonical JSON of
``parameters`` (``json.dumps(..., sort_keys=True)``), as the module docstring defines it.
"""
from __future__ import annotations

import json

import crcmod.predefined
import pytest
from hypothesis import given, settings, strategies as st

from flight.core.component import Component, Parameter
from flight.core.types import DataType
from flight.testing import ComponentTester, kind_of

crc32c = crcmod.predefined.mkCrcFun("crc-32c")
FORMAT = "orbitfs-parameters/1"


class Tunable(Component):
    PARAMETERS = {
        "Gain": Parameter(DataType.U16, 10, 5, 100),
        "Ratio": Parameter(DataType.F64, 0.5),
        "Offset": Parameter(DataType.I32, 0),
        "Enabled": Parameter(DataType.BOOL, False),
        "Label": Parameter(DataType.STRING, "default"),
        "Level": Parameter(DataType.F32, 0.0, -2.0, 2.0),
    }


DEFAULTS = {f"tgt.{n}": p.default for n, p in Tunable.PARAMETERS.items()} | {
    "health.PingTimeoutCycles": 3}
SAVED = {"tgt.Gain": 42, "tgt.Ratio": 0.30000000000000004, "tgt.Offset": -7,
         "tgt.Enabled": True, "tgt.Label": "né ☃", "tgt.Level": -1.5,
         "health.PingTimeoutCycles": 9}




def make(run_dir):
    return ComponentTester.build(run_dir, [{"name": "prmDb", "kind": "flight.services.parameters:ParameterDb",
                              "file": "params.json"},
                             {"name": "tgt", "kind": kind_of(Tunable)},
                             {"name": "health", "kind": "flight.services.health:Health"}])


def values(h) -> dict:
    out = {}
    for full in DEFAULTS:
        component, _, name = full.partition(".")
        out[full] = h.components[component].param(name)
    return out


def event_names(h) -> list[str]:
    return [e[1] for e in h.events]


def write_file(run_dir, parameters: dict, crc: int | None = None) -> None:
    crc = crc32c(json.dumps(parameters, sort_keys=True).encode()) if crc is None else crc
    doc = {"format": FORMAT, "parameters": parameters, "crc32c": crc}
    (run_dir / "params.json").write_text(json.dumps(doc))


def save(run_dir, settings_: dict) -> bytes:
    h = make(run_dir)
    for full, value in settings_.items():
        component, _, name = full.partition(".")
        h.components[component].apply_parameter(name, value)
    h.components["prmDb"].run_command("SAVE_FILE", [])
    assert h.components["prmDb"].telemetry["FileSaves"] == 1
    assert event_names(h) == ["ParamFileSaved"] and h.events[0][2][0] == len(DEFAULTS)
    return (run_dir / "params.json").read_bytes()


@pytest.fixture(scope="module")
def saved_file(tmp_path_factory) -> bytes:
    return save(tmp_path_factory.mktemp("saved"), SAVED)


def load_fresh(run_dir):
    h = make(run_dir)
    h.components["prmDb"].start()
    return h


# --- save and restore --------------------------------------------------------------------------
def test_saved_values_are_restored_by_a_fresh_load(tmp_path):
    raw = save(tmp_path, SAVED)
    doc = json.loads(raw)
    assert doc["format"] == FORMAT and doc["parameters"] == SAVED
    assert doc["crc32c"] == crc32c(json.dumps(SAVED, sort_keys=True).encode())
    assert not (tmp_path / "params.tmp").exists()
    h = load_fresh(tmp_path)
    assert values(h) == SAVED
    assert event_names(h) == ["ParamFileLoaded"] and h.events[0][2][0] == len(SAVED)
    assert h.components["prmDb"].telemetry["ParametersLoaded"] == len(SAVED)


def test_a_set_alone_is_not_persisted(tmp_path):
    save(tmp_path, SAVED)
    h = load_fresh(tmp_path)
    h.components["tgt"].apply_parameter("Gain", 99)
    assert values(load_fresh(tmp_path))["tgt.Gain"] == 42


def test_missing_file_gives_defaults(tmp_path):
    h = make(tmp_path)
    assert h.components["prmDb"].load() == 0
    assert values(h) == DEFAULTS
    assert h.events == [("prmDb", "ParamFileMissing", [str(tmp_path / "params.json")])]


def test_the_new_file_is_on_the_disk_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    import os

    save(tmp_path, SAVED)  # an old file to replace
    order = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        order.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source, target):
        order.append(("replace", str(source)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    h = make(tmp_path)
    h.components["prmDb"].run_command("SAVE_FILE", [])
    assert order == [("fsync", str(tmp_path / "params.tmp")), ("replace", str(tmp_path / "params.tmp")),
                     ("fsync", str(tmp_path))]


def test_save_failure_is_a_command_error(tmp_path):
    from flight.core.component import CommandError

    h = ComponentTester.build(tmp_path, [{"name": "prmDb", "kind": "flight.services.parameters:ParameterDb",
                            "file": "no/such/dir/params.json"}])
    with pytest.raises(CommandError):
        h.components["prmDb"].run_command("SAVE_FILE", [])
    assert h.components["prmDb"].telemetry["FileSaves"] == 0 and h.events == []


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"\xff\xfe", b'{"format": "other/1"}',
                                     json.dumps({"format": FORMAT, "parameters": []}).encode()])
def test_unreadable_or_foreign_files_give_defaults(tmp_path, content):
    (tmp_path / "params.json").write_bytes(content)
    h = load_fresh(tmp_path)
    assert values(h) == DEFAULTS and event_names(h) == ["ParamFileCorrupt"]


def test_wrong_crc_gives_defaults(tmp_path):
    parameters = {"tgt.Gain": 50}
    write_file(tmp_path, parameters, crc32c(json.dumps(parameters, sort_keys=True).encode()) ^ 1)
    h = load_fresh(tmp_path)
    assert values(h) == DEFAULTS and event_names(h) == ["ParamFileCorrupt"]
    assert "CRC" in h.events[0][2][1]


# --- single bit flips --------------------------------------------------------------------------
def semantic(raw: bytes):
    """The canonical JSON text of ``raw``, or None if it is not JSON."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True)
    except ValueError:
        return None


def check_flip(run_dir, original: bytes, bit: int) -> bool:
    """Load ``original`` with one bit flipped; return True if the flip was insignificant.

    The property: a flipped file is either refused as a whole (ParamFileCorrupt, every parameter
    at its default), or, only when the flipped text means exactly the same JSON as the original
    (for example the case of a hex digit in a \\u escape, or a decimal digit beyond double
    precision), loaded with exactly the saved values. Never a value that differs from both.
    """
    raw = bytearray(original)
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    (run_dir / "params.json").write_bytes(bytes(raw))
    h = load_fresh(run_dir)
    if semantic(bytes(raw)) == semantic(original):
        assert values(h) == SAVED and event_names(h) == ["ParamFileLoaded"]
        return True
    assert event_names(h) == ["ParamFileCorrupt"]
    assert values(h) == DEFAULTS
    return False


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_flipped_bit_never_applies_a_corrupted_value(tmp_path_factory, saved_file, data):
    bit = data.draw(st.integers(0, 8 * len(saved_file) - 1), label="bit")
    check_flip(tmp_path_factory.mktemp("flip"), saved_file, bit)


def test_every_single_bit_flip_of_a_saved_file(tmp_path, saved_file):
    outcomes = [check_flip(tmp_path, saved_file, bit) for bit in range(8 * len(saved_file))]
    # Both branches of the property occur: most flips are refused, a few are insignificant.
    assert outcomes.count(False) > 0.9 * len(outcomes) and outcomes.count(True) > 0


# --- valid file, bad entries -------------------------------------------------------------------
def test_bad_entries_are_refused_one_by_one(tmp_path):
    write_file(tmp_path, {"tgt.Gain": 77, "tgt.Level": 5.0, "tgt.Nope": 1, "ghost.X": 2,
                          "tgt.Label": 5, "tgt.Enabled": True, "tgt.Offset": -3,
                          "tgt.Ratio": "half", "health.PingTimeoutCycles": 0})
    h = load_fresh(tmp_path)
    rejected = sorted(e[2][0] for e in h.events_named("ParamRejected"))
    assert rejected == sorted(["tgt.Level", "tgt.Nope", "ghost.X", "tgt.Label", "tgt.Ratio",
                               "health.PingTimeoutCycles"])
    assert values(h) == DEFAULTS | {"tgt.Gain": 77, "tgt.Enabled": True, "tgt.Offset": -3}
    assert h.events_named("ParamFileLoaded")[0][2][0] == 3
    assert h.components["prmDb"].telemetry["ParametersLoaded"] == 3
    assert not h.events_named("ParamFileCorrupt")


@st.composite
def files(draw, bad_entries=True):
    """Entries that are valid or invalid by construction, and unknown names."""
    entries, expected = {}, {}
    choices = {
        "tgt.Gain": (st.integers(5, 100), st.integers(101, 10**6) | st.integers(-10**6, 4)
                     | st.text(max_size=5)
                     | st.floats(5.5, 99.5).filter(lambda f: not f.is_integer())),
        "tgt.Offset": (st.integers(-2**31, 2**31 - 1), st.integers(2**31, 2**40) | st.none()),
        "tgt.Level": (st.floats(-2.0, 2.0, width=32),  # F32: a stored value is a float32
                      st.floats(2.001, 1e30) | st.booleans()),
        "tgt.Label": (st.text(max_size=20), st.integers() | st.lists(st.integers(), max_size=2)),
        "tgt.Enabled": (st.booleans(), st.integers(2, 100) | st.text(max_size=3)),
    }
    for name, (good, bad) in choices.items():
        kind = draw(st.sampled_from(["absent", "good", "bad"] if bad_entries else
                                    ["absent", "good"]))
        if kind != "absent":
            entries[name] = draw(good if kind == "good" else bad)
            if kind == "good":
                expected[name] = entries[name]
    unknown = draw(st.lists(st.text("abcXYZ._-", min_size=1, max_size=30).filter(
        lambda n: n not in DEFAULTS), max_size=3 if bad_entries else 0, unique=True))
    for name in unknown:
        entries[name] = draw(st.integers() | st.text(max_size=5))
    return entries, expected


def check_entries(run_dir, entries: dict, expected: dict) -> None:
    write_file(run_dir, entries)
    h = load_fresh(run_dir)
    got = values(h)
    for name in DEFAULTS:
        wanted = expected.get(name, DEFAULTS[name])
        assert got[name] == wanted and type(got[name]) is type(wanted)
    rejected = sorted(e[2][0] for e in h.events_named("ParamRejected"))
    assert rejected == sorted(set(entries) - set(expected))
    assert h.events_named("ParamFileLoaded")[0][2][0] == len(expected)
    assert h.components["prmDb"].telemetry["ParametersLoaded"] == len(expected)


@settings(max_examples=50, deadline=None)
@given(files(bad_entries=False))
def test_valid_file_with_good_entries_applies_them_all(tmp_path_factory, file_expected):
    check_entries(tmp_path_factory.mktemp("good"), *file_expected)


@settings(max_examples=100, deadline=None, report_multiple_bugs=False)
@given(files())
def test_valid_file_entries_apply_or_are_refused_individually(tmp_path_factory, file_expected):
    check_entries(tmp_path_factory.mktemp("entries"), *file_expected)


@pytest.mark.parametrize("entry", [{"€" * 100: 1}, {"tgt.Gain": "€" * 100}])
def test_non_ascii_bad_entries_are_refused_like_any_other(tmp_path, entry):
    write_file(tmp_path, entry | {"tgt.Offset": 5})
    h = load_fresh(tmp_path)
    assert len(h.events_named("ParamRejected")) == 1 and values(h)["tgt.Offset"] == 5
