"""Tests of the key file (flight/wire/keyfile.py): save then load gives the same ring, mode 0600;
a malformed file is refused with one line naming it; a key wrapped by one end unwraps at the other
and a tampered wrap is refused; key states move preactive -> active -> deactivated only as allowed
(property-tested against our own model of the states); the command-line tool never overwrites.

References independent of the code under test: key files written out by hand as JSON, and the
AES key wrap vector of RFC 3394 §4.6 (256-bit key data, 256-bit KEK).
"""
from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from flight.wire.keyfile import Key, KeyRing, KeyRingError, KeyState, main

SETTINGS = settings(max_examples=40, deadline=None)
KEK = bytes.fromhex("11" * 32)
KEY = bytes.fromhex("22" * 32)
VALID = {"version": 1, "kek": KEK.hex(), "keys": {"1": {"key": KEY.hex(), "state": "active"}}, "sas": {"1": 1}}

# RFC 3394 §4.6: wrap 256 bits of key data with a 256-bit KEK
RFC_KEK = bytes(range(32))
RFC_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
RFC_WRAPPED = bytes.fromhex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def two_ends(tmp_path: Path, spis: tuple[int, ...] = (1,)) -> tuple[KeyRing, KeyRing]:
    """The ground's and the flight's rings, each loaded from its own copy of one key file."""
    KeyRing.create(spis).save(tmp_path / "keys.json")
    (tmp_path / "flight.json").write_bytes((tmp_path / "keys.json").read_bytes())
    return KeyRing.load(tmp_path / "keys.json"), KeyRing.load(tmp_path / "flight.json")


# --- the file ----------------------------------------------------------------------------------
def test_a_hand_written_file_loads_as_written(tmp_path):
    path = tmp_path / "keys.json"
    doc = {**VALID, "keys": {**VALID["keys"], "7": {"key": "33" * 32, "state": "preactive"},
                             "9": {"key": "44" * 32, "state": "deactivated"}}, "sas": {"1": 1, "5": 1}}
    path.write_text(json.dumps(doc))
    ring = KeyRing.load(path)
    assert ring.kek == KEK
    assert {kid: (k.key, k.state) for kid, k in ring.keys.items()} == {
        1: (KEY, KeyState.ACTIVE), 7: (bytes([0x33]) * 32, KeyState.PREACTIVE),
        9: (bytes([0x44]) * 32, KeyState.DEACTIVATED)}
    assert ring.sas == {1: 1, 5: 1}
    assert ring.key_id_of(5) == 1
    assert ring.active_keys() == {1: KEY}


rings = st.dictionaries(st.integers(1, 0xFFFF), st.tuples(st.binary(min_size=32, max_size=32),
                                                         st.sampled_from(KeyState)), min_size=1, max_size=5)


@SETTINGS
@given(kek=st.binary(min_size=32, max_size=32), keys=rings, data=st.data())
def test_save_then_load_gives_the_same_ring_in_a_file_of_mode_0600(kek, keys, data):
    spis = data.draw(st.lists(st.integers(1, 0xFFFE), max_size=4, unique=True))
    ring = KeyRing(kek)
    for kid, (key, state) in keys.items():
        ring.keys[kid] = Key(key, state)
    for spi in spis:
        ring.sas[spi] = data.draw(st.sampled_from(sorted(keys)))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "run" / "keys.json"
        ring.save(path)
        loaded = KeyRing.load(path)
        assert loaded.to_json() == ring.to_json()
        assert loaded == ring
        assert mode(path) == 0o600
        assert os.listdir(path.parent) == ["keys.json"]  # no temporary file left behind


def test_saving_over_a_readable_file_leaves_it_0600(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("old")
    path.chmod(0o644)
    ring = KeyRing.create((1, 2))
    ring.save(path)
    assert mode(path) == 0o600
    assert KeyRing.load(path) == ring


def without(doc: dict, key: str) -> dict:
    return {k: v for k, v in doc.items() if k != key}


MALFORMED = {
    "empty": "",
    "not-json": "{\"version\": 1,",
    "a-list": "[1, 2]",
    "version-2": json.dumps({**VALID, "version": 2}),
    "no-version": json.dumps(without(VALID, "version")),
    "kek-62-digits": json.dumps({**VALID, "kek": "11" * 31}),
    "kek-not-hex": json.dumps({**VALID, "kek": "zz" * 32}),
    "kek-a-number": json.dumps({**VALID, "kek": 7}),
    "key-66-digits": json.dumps({**VALID, "keys": {"1": {"key": "22" * 33, "state": "active"}}}),
    "sa-names-missing-key": json.dumps({**VALID, "sas": {"1": 2}}),
    "no-kek": json.dumps(without(VALID, "kek")),
    "no-keys": json.dumps(without(VALID, "keys")),
    "no-sas": json.dumps(without(VALID, "sas")),
    "key-without-state": json.dumps({**VALID, "keys": {"1": {"key": KEY.hex()}}}),
    "unknown-state": json.dumps({**VALID, "keys": {"1": {"key": KEY.hex(), "state": "retired"}}}),
    "key-id-0": json.dumps({**VALID, "keys": {"0": {"key": KEY.hex(), "state": "active"}}, "sas": {}}),
    "key-id-not-a-number": json.dumps({**VALID, "keys": {"one": {"key": KEY.hex(), "state": "active"}}}),
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_is_refused_with_one_line_naming_it(tmp_path, text):
    path = tmp_path / "keys.json"
    path.write_text(text)
    with pytest.raises(KeyRingError) as refused:
        KeyRing.load(path)
    message = str(refused.value)
    assert str(path) in message and "\n" not in message


def test_a_missing_file_is_refused_with_one_line_naming_it(tmp_path):
    with pytest.raises(KeyRingError) as refused:
        KeyRing.load(tmp_path / "nowhere.json")
    assert str(tmp_path / "nowhere.json") in str(refused.value) and "\n" not in str(refused.value)


# --- wrapping ----------------------------------------------------------------------------------
def test_wrap_matches_rfc_3394_and_unwraps_to_the_key():
    ring = KeyRing(RFC_KEK)
    assert ring.wrap(RFC_KEY) == RFC_WRAPPED
    ring.load_wrapped(3, RFC_WRAPPED)
    assert ring.keys[3].key == RFC_KEY and ring.keys[3].state is KeyState.PREACTIVE


def test_a_key_wrapped_by_the_ground_unwraps_on_the_flight(tmp_path):
    ground, flight = two_ends(tmp_path)
    wrapped = ground.new_key(7)
    assert len(wrapped) == 40
    flight.load_wrapped(7, wrapped)
    assert flight.keys[7].key == ground.keys[7].key
    assert ground.keys[7].key not in wrapped
    assert flight.keys[7].state is ground.keys[7].state is KeyState.PREACTIVE


@SETTINGS
@given(bit=st.integers(0, 40 * 8 - 1))
def test_a_tampered_wrapped_key_is_refused_and_not_added(bit):
    with tempfile.TemporaryDirectory() as directory:
        ground, flight = two_ends(Path(directory))
    wrapped = bytearray(ground.new_key(7))
    wrapped[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(KeyRingError, match="key 7"):
        flight.load_wrapped(7, bytes(wrapped))
    assert 7 not in flight.keys


def test_a_key_wrapped_with_another_kek_or_of_the_wrong_size_is_refused(tmp_path):
    ground, flight = two_ends(tmp_path)
    stranger = KeyRing.create()
    with pytest.raises(KeyRingError):
        flight.load_wrapped(7, stranger.new_key(7))
    for size in (0, 32, 39, 41, 48):
        with pytest.raises(KeyRingError, match=str(size)):
            flight.load_wrapped(8, ground.wrap(KEY)[:size] if size <= 40 else ground.wrap(KEY) + bytes(size - 40))
    assert set(flight.keys) == {1}


# --- key states --------------------------------------------------------------------------------
def test_a_new_key_goes_preactive_then_active_then_takes_over_the_sa(tmp_path):
    ground, flight = two_ends(tmp_path)
    old = flight.key_id_of(1)
    flight.load_wrapped(2, ground.new_key(2))
    assert flight.keys[2].state is KeyState.PREACTIVE and 2 not in flight.active_keys()
    with pytest.raises(KeyRingError, match="key 2 is preactive"):
        flight.rekey(1, 2)                               # an SA takes only an active key
    with pytest.raises(KeyRingError, match="key 2"):
        flight.deactivate(2)                             # only an active key is deactivated
    flight.activate(2)
    assert flight.keys[2].state is KeyState.ACTIVE and flight.active_keys()[2] == ground.keys[2].key
    with pytest.raises(KeyRingError, match="key 2"):
        flight.activate(2)                               # only a preactive key is activated
    with pytest.raises(KeyRingError, match=f"key {old} is in use by SA 1"):
        flight.deactivate(old)
    assert flight.keys[old].state is KeyState.ACTIVE
    flight.rekey(1, 2)
    assert flight.key_id_of(1) == 2
    flight.deactivate(old)
    assert flight.keys[old].state is KeyState.DEACTIVATED
    assert flight.active_keys() == {2: ground.keys[2].key}
    with pytest.raises(KeyRingError, match=f"key {old} is deactivated"):
        flight.rekey(1, old)
    with pytest.raises(KeyRingError, match=f"key {old}"):
        flight.activate(old)                             # deactivated is for good
    with pytest.raises(KeyRingError, match=f"key {old} exists"):
        flight.load_wrapped(old, ground.wrap(KEY))       # key ids are not reused
    assert flight.keys[old].state is KeyState.DEACTIVATED


def test_refusals_name_what_is_missing(tmp_path):
    ring = KeyRing.create((1,))
    with pytest.raises(KeyRingError, match="SA 9"):
        ring.rekey(9, 1)
    with pytest.raises(KeyRingError, match="SA 9"):
        ring.key_id_of(9)
    with pytest.raises(KeyRingError, match="no key 5"):
        ring.rekey(1, 5)
    for bad in (0, 0x10000):
        with pytest.raises(KeyRingError, match=str(bad)):
            ring.load_wrapped(bad, ring.wrap(KEY))
        with pytest.raises(KeyRingError, match=str(bad)):
            ring.activate(bad)
    assert ring.sas == {1: 1}


def test_a_key_serves_one_sa():
    ring = KeyRing.create((1, 2))
    with pytest.raises(KeyRingError, match="key 2 is in use by SA 2"):
        ring.rekey(1, 2)
    ring.rekey(1, 1)                                     # its own key again: allowed
    assert ring.sas == {1: 1, 2: 2}


actions = st.lists(st.tuples(st.sampled_from(["load", "activate", "deactivate", "rekey"]),
                             st.integers(1, 6), st.sampled_from([1, 2])), max_size=40)


def step(ring: KeyRing, action: str, kid: int, spi: int) -> None:
    if action == "load":
        ring.load_wrapped(kid, ring.wrap(bytes([kid]) * 32))
    elif action == "activate":
        ring.activate(kid)
    elif action == "deactivate":
        ring.deactivate(kid)
    else:
        ring.rekey(spi, kid)


@SETTINGS
@given(steps=actions)
def test_key_states_follow_the_rules_and_active_keys_holds_only_active_ones(steps):
    ring = KeyRing.create((1, 2))                       # keys 1 and 2 active, SA 1 -> 1, SA 2 -> 2
    keys = {kid: k.key for kid, k in ring.keys.items()}
    state = {1: "active", 2: "active"}                  # our own model
    sas = {1: 1, 2: 2}
    for action, kid, spi in steps:
        allowed = {"load": kid not in state,
                   "activate": state.get(kid) == "preactive",
                   "deactivate": state.get(kid) == "active" and kid not in sas.values(),
                   "rekey": state.get(kid) == "active" and all(sas[o] != kid for o in sas if o != spi)}[action]
        if allowed:
            step(ring, action, kid, spi)
            if action == "rekey":
                sas[spi] = kid
            else:
                state[kid] = {"load": "preactive", "activate": "active", "deactivate": "deactivated"}[action]
                keys.setdefault(kid, bytes([kid]) * 32)
        else:
            with pytest.raises(KeyRingError):
                step(ring, action, kid, spi)
        assert {kid: k.state.value for kid, k in ring.keys.items()} == state
        assert ring.sas == sas
        assert ring.active_keys() == {kid: keys[kid] for kid, s in state.items() if s == "active"}
        assert all(state[kid] == "active" for kid in sas.values())  # an SA always has an active key
        assert len(set(sas.values())) == len(sas)                   # of its own


# --- python -m flight.wire.keyfile -------------------------------------------------------------
def test_the_tool_creates_a_key_file_and_never_overwrites_one(tmp_path, capsys):
    path = tmp_path / "keys" / "flight.json"
    assert main([str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    ring = KeyRing.load(path)
    assert mode(path) == 0o600
    assert ring.sas == {1: 1, 2: 2} and set(ring.active_keys()) == {1, 2}  # the TC SA and the TM SA
    written = path.read_bytes()
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "exists" in err
    assert path.read_bytes() == written


def test_the_tool_makes_one_key_per_sa(tmp_path):
    path = tmp_path / "flight.json"
    assert main([str(path), "--spi", "3", "--spi", "8"]) == 0
    ring = KeyRing.load(path)
    assert ring.sas == {3: 1, 8: 2}
    assert set(ring.active_keys()) == {1, 2} and ring.keys[1].key != ring.keys[2].key
    assert KeyRing.create((3, 8)).kek != ring.kek  # fresh randomness each time
