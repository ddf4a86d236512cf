"""Tests of DurableRecord (flight/core/durable.py): the last record saved comes back, also after
reopening; a torn or corrupted slot falls back to the other; a record too large for a slot and a
file of the wrong size are refused.

References independent of the code under test: the slot layout written out with ``struct``
(``>QII``: generation, length, CRC-32C, then the JSON) and crcmod's ``crc-32c``. The k-th save
into a fresh file has generation k and goes into slot k % 2.
"""
from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import crcmod.predefined
import pytest
from hypothesis import given, settings, strategies as st

from flight.core.durable import DurableRecord, DurableRecordError, move_aside

SETTINGS = settings(max_examples=40, deadline=None)
SLOT = 4096
HEADER = struct.Struct(">QII")
crc32c = crcmod.predefined.mkCrcFun("crc-32c")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)
records = (st.dictionaries(st.text(max_size=10), json_values, min_size=1, max_size=5)
           .filter(lambda r: len(json.dumps(r, separators=(",", ":"))) <= 2000))  # fits a slot of 4096


def slot_of(path: Path, slot: int) -> tuple[int, int, int, bytes]:
    """(generation, length, crc, JSON octets) of a slot, read with struct."""
    raw = path.read_bytes()[slot * SLOT:(slot + 1) * SLOT]
    generation, length, crc = HEADER.unpack_from(raw)
    return generation, length, crc, raw[HEADER.size:HEADER.size + length]


def xor_at(path: Path, offset: int, mask: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= mask
    path.write_bytes(bytes(raw))


def reopened(path: Path):
    record = DurableRecord(path)
    try:
        return record.load()
    finally:
        record.close()


def saved(path: Path, *values) -> None:
    record = DurableRecord(path)
    for value in values:
        record.save(value)
    record.close()


# --- the last record comes back ----------------------------------------------------------------
def test_a_new_file_holds_no_record(tmp_path):
    record = DurableRecord(tmp_path / "sub" / "state.bin")
    assert record.load() is None
    record.close()
    assert (tmp_path / "sub" / "state.bin").stat().st_size == 2 * SLOT
    assert reopened(tmp_path / "sub" / "state.bin") is None


@SETTINGS
@given(values=st.lists(records, min_size=1, max_size=4))
def test_save_then_load_and_reopen_give_the_last_record(values):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "state.bin"
        record = DurableRecord(path)
        for value in values:
            record.save(value)
            assert record.load() == value
        record.close()
        assert reopened(path) == values[-1]
        assert path.stat().st_size == 2 * SLOT  # the file never grows


def test_the_slots_hold_the_documented_layout(tmp_path):
    path = tmp_path / "state.bin"
    saved(path, {"vr": 1}, {"vr": 2, "sdls": None}, {"vr": 3})
    for slot, generation, value in ((1, 3, {"vr": 3}), (0, 2, {"vr": 2, "sdls": None})):
        found, length, crc, body = slot_of(path, slot)
        assert (found, length) == (generation, len(body))
        assert json.loads(body) == value
        assert crc == crc32c(struct.pack(">QI", generation, length) + body)


def test_saving_after_reopening_overwrites_the_older_slot(tmp_path):
    path = tmp_path / "state.bin"
    saved(path, {"n": "A"}, {"n": "B"})        # B, generation 2, in slot 0; A in slot 1
    saved(path, {"n": "C"})                    # after reopening: generation 3, slot 1, over A
    assert reopened(path) == {"n": "C"}
    assert json.loads(slot_of(path, 0)[3]) == {"n": "B"}
    xor_at(path, SLOT + HEADER.size, 0xFF)     # C is damaged: B, not A, is what comes back
    assert reopened(path) == {"n": "B"}


# --- torn and corrupted slots ------------------------------------------------------------------
@SETTINGS
@given(older=records, newer=records, data=st.data())
def test_a_corrupted_newer_slot_falls_back_to_the_previous_record(older, newer, data):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "state.bin"
        saved(path, {"first": 0}, older, newer)  # newer: generation 3, slot 1; older: slot 0
        written = HEADER.size + slot_of(path, 1)[1]
        offset = data.draw(st.integers(0, written - 1), label="offset in the written part of the slot")
        xor_at(path, SLOT + offset, data.draw(st.integers(1, 255), label="mask"))
        assert reopened(path) == older


@SETTINGS
@given(mask=st.integers(1, 255), offset=st.integers(0, HEADER.size - 1))
def test_a_corrupted_header_of_the_older_slot_never_makes_it_the_newest(mask, offset):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "state.bin"
        saved(path, {"n": "A"}, {"n": "B"})    # A in slot 1 (generation 1), B in slot 0 (generation 2)
        xor_at(path, SLOT + offset, mask)      # e.g. generation 1 -> 3: A must not come back
        assert reopened(path) == {"n": "B"}


def test_a_save_torn_at_any_octet_leaves_the_previous_record(tmp_path):
    path = tmp_path / "state.bin"
    saved(path, {"n": "A"}, {"n": "B"})
    before = path.read_bytes()
    saved(path, {"n": "C", "padding": "x" * 40})  # generation 3 into slot 1, over A (shorter)
    after = path.read_bytes()
    written = HEADER.size + slot_of(path, 1)[1]
    assert after[SLOT + written:] == before[SLOT + written:]  # nothing written past the record
    for torn in range(1, written):  # the crash came after `torn` octets of the new slot
        path.write_bytes(after[:SLOT + torn] + before[SLOT + torn:])
        assert reopened(path) == {"n": "B"}, f"torn after {torn} octets"
    path.write_bytes(after)
    assert reopened(path) == {"n": "C", "padding": "x" * 40}


def test_both_slots_corrupt_give_no_record(tmp_path):
    path = tmp_path / "state.bin"
    saved(path, {"n": "A"}, {"n": "B"})
    xor_at(path, HEADER.size, 0x01)
    assert reopened(path) == {"n": "A"}
    xor_at(path, SLOT + HEADER.size, 0x01)
    assert reopened(path) is None


def test_a_slot_that_is_not_json_is_skipped(tmp_path):
    path = tmp_path / "state.bin"
    saved(path, {"n": "A"})
    body = b"{not json"
    raw = bytearray(path.read_bytes())
    raw[:HEADER.size + len(body)] = HEADER.pack(2, len(body), crc32c(struct.pack(">QI", 2, len(body)) + body)) + body
    path.write_bytes(bytes(raw))
    assert reopened(path) == {"n": "A"}


# --- refusals ----------------------------------------------------------------------------------
def test_a_record_larger_than_a_slot_is_refused_and_nothing_written(tmp_path):
    path = tmp_path / "state.bin"
    record = DurableRecord(path, slot_size=128)
    record.save({"n": "A"})
    before = path.read_bytes()
    fits = {"x": "y" * (128 - HEADER.size - len('{"x":""}'))}  # exactly the room of a slot
    too_big = {"x": "y" * (128 - HEADER.size - len('{"x":""}') + 1)}
    with pytest.raises(DurableRecordError, match="octets"):
        record.save(too_big)
    assert record.load() == {"n": "A"}
    assert path.read_bytes() == before
    record.save({"n": "B"})  # the generation did not move: B goes over the older slot, not A's
    record.save(fits)
    record.close()
    assert DurableRecord(path, slot_size=128).load() == fits
    xor_at(path, 128 * 1 + HEADER.size, 0xFF)  # fits: generation 3, slot 1; B: generation 2, slot 0
    assert DurableRecord(path, slot_size=128).load() == {"n": "B"}


@pytest.mark.parametrize("size", [1, HEADER.size, SLOT, 2 * SLOT - 1, 2 * SLOT + 1, 4 * SLOT])
def test_a_file_of_the_wrong_size_is_refused_untouched(tmp_path, size):
    path = tmp_path / "state.bin"
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path.write_bytes(content)
    with pytest.raises(DurableRecordError) as refused:
        DurableRecord(path)
    assert str(path) in str(refused.value) and str(2 * SLOT) in str(refused.value)
    assert path.read_bytes() == content


# --- damage and setting aside ------------------------------------------------------------------
def test_a_file_with_no_valid_slot_is_damaged_a_fresh_or_torn_once_one_is_not(tmp_path):
    path = tmp_path / "state.bin"
    fresh = DurableRecord(path)
    assert not fresh.damaged and fresh.load() is None
    fresh.save({"n": 1})
    fresh.save({"n": 2})
    fresh.close()
    xor_at(path, HEADER.size, 0xFF)   # slot 0 (generation 2) torn: slot 1 holds the record
    torn = DurableRecord(path)
    assert not torn.damaged and torn.load() == {"n": 1}
    torn.close()
    xor_at(path, SLOT + HEADER.size, 0xFF)
    broken = DurableRecord(path)
    assert broken.damaged and broken.load() is None


def test_move_aside_numbers_the_copies_and_takes_the_companions(tmp_path):
    path = tmp_path / "db"
    for content in (b"one", b"two"):
        path.write_bytes(content)
        (tmp_path / "db-wal").write_bytes(content + b"-wal")
        kept = move_aside(path, ("", "-wal", "-shm"))
    assert kept == tmp_path / "db.corrupt-2" and not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db-wal.corrupt-1", "db-wal.corrupt-2", "db.corrupt-1",
                                                          "db.corrupt-2"]
    assert (tmp_path / "db.corrupt-1").read_bytes() == b"one"
    assert (tmp_path / "db-wal.corrupt-2").read_bytes() == b"two-wal"
