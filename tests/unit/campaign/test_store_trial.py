"""TM store upset trials (campaign/store_trial.py): hand-built upsets of the database file
classified as the store really behaves, no single-bit upset of a packet delivered wrong
(hypothesis), the image the same at every build, a trial replayed alone the same, nothing left on
disk, and a small campaign through the command."""
from __future__ import annotations

import json
import os
import struct
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from campaign.cli import main
from campaign.spec import CampaignError, load_campaign
from campaign.store_trial import (ReadOut, StoreBench, StoreUpset, TmStore, classify, describe, execute,
                                  run_store_trial)

SEED = 7


@pytest.fixture(scope="module")
def bench():
    return StoreBench(SEED)


def packet_offset(bench, index: int = 0) -> int:
    """Where the image holds the bytes of golden packet ``index`` (in the order read out)."""
    packet = list(bench.golden)[index]
    assert bench.image.count(packet) == 1
    return bench.image.index(packet)


def first_offset(bench, part: str, area: str) -> int:
    return next(offset for offset in range(100, len(bench.image))
                if (bench.locate(offset)["part"], bench.locate(offset)["area"]) == (part, area))


def test_a_flip_in_a_records_packet_bytes_is_refused_by_its_crc_and_counted(bench):
    offset = packet_offset(bench, 5) + 9
    result = execute(bench, StoreUpset(offset, 0x10, "single"))
    assert result["outcome"] == "due" and result["refused"] == 1 and result["missing"] == 1
    assert result["wrong_packets"] == 0 and not result["moved_aside"]
    assert describe(bench, StoreUpset(offset, 0x10, "single"))["part"] == "records"


def test_flips_in_free_pages_and_unallocated_space_are_masked(bench):
    for part, area in (("free", "free page"), ("records", "unallocated")):
        result = execute(bench, StoreUpset(first_offset(bench, part, area), 0xFF, "byte"))
        assert result["outcome"] == "masked" and result["missing"] == result["refused"] == 0


def test_a_damaged_header_or_records_page_is_moved_aside_and_said_and_an_index_page_fully_salvaged(bench):
    magic = execute(bench, StoreUpset(3, 0x01, "single"))              # "SQLite format 3": not a database
    assert magic["outcome"] == "due" and magic["moved_aside"] and magic["missing"] == len(bench.golden)
    assert describe(bench, StoreUpset(3, 0x01, "single"))["part"] == "header"
    page = first_offset(bench, "records", "page header")               # the leaf's type byte
    damaged = execute(bench, StoreUpset(page, 0x08, "single"))         # (it raised at open before the fix)
    assert damaged["outcome"] == "due" and damaged["moved_aside"] and damaged["wrong_packets"] == 0
    index = first_offset(bench, "index", "page header")                # an index holds no data of its own
    rebuilt = execute(bench, StoreUpset(index, 0x08, "single"))
    assert rebuilt["outcome"] == "corrected" and rebuilt["moved_aside"] and rebuilt["missing"] == 0


def test_a_record_lost_with_nothing_said_is_sdc_and_a_store_that_raises_is_a_crash(bench, monkeypatch):
    delivered = [bench.golden[packet] for packet in list(bench.golden)[1:]]
    silent = classify(bench, ReadOut(delivered, 0, False))
    assert silent["outcome"] == "sdc" and silent["lost_silently"] == 1 and silent["wrong_packets"] == 0
    assert classify(bench, ReadOut(delivered, 1, False))["outcome"] == "due"
    monkeypatch.setattr(TmStore, "take", lambda *args, **kwargs: 1 / 0)
    crash = execute(bench, StoreUpset(first_offset(bench, "free", "free page"), 0x01, "single"))
    assert crash == {"outcome": "crash", "error": "ZeroDivisionError: division by zero"}


def varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's varint at ``at``: (value, the offset after it)."""
    value = 0
    for i in range(9):
        byte = data[at + i]
        value = (value << 8 | byte) if i == 8 else (value << 7 | byte & 0x7F)
        if i == 8 or not byte & 0x80:
            return value, at + i + 1
    raise AssertionError("unreachable")


def serial_type_offset(bench, packet: bytes, column: int) -> int:
    """Where the image holds the serial type of column ``column`` of the record holding ``packet``:
    its records leaf cell found through the page's cell pointers, then the record header parsed."""
    image = bench.image
    for page, (tree, kind) in bench.pages.items():
        if (tree, kind) != ("records", "leaf"):
            continue
        start = (page - 1) * bench.page_size
        (cells,) = struct.unpack_from(">H", image, start + 3)
        for pointer in struct.unpack_from(f">{cells}H", image, start + 8):
            _, at = varint(image, start + pointer)          # the payload's length
            _, record = varint(image, at)                   # the row id
            header, at = varint(image, record)
            if packet in image[record + header:record + header + 200]:
                for _ in range(column):
                    _, at = varint(image, at)
                return at
    raise AssertionError("no record holds the packet")


def test_a_record_whose_virtual_channel_became_an_empty_blob_is_refused_not_a_crash(bench):
    packet = list(bench.golden)[0]
    offset = serial_type_offset(bench, packet, 5)            # id, apid, n, time, class, then vcid
    assert bench.image[offset] in (8, 9)                     # the constant 0 or 1: realtime or products
    result = execute(bench, StoreUpset(offset, 0x04, "single"))   # -> 12 or 13: an empty blob or text
    assert result["outcome"] == "due" and result["refused"] == 1 and not result["moved_aside"]  # the framer
    assert describe(bench, StoreUpset(offset, 0x04, "single"))["area"] == "cells"   # raised KeyError before


@settings(max_examples=40)
@given(data=st.data())
def test_no_single_bit_upset_of_a_packet_is_delivered_as_a_wrong_packet(bench, data):
    index = data.draw(st.integers(0, len(bench.golden) - 1))
    packet = list(bench.golden)[index]
    offset = packet_offset(bench, index) + data.draw(st.integers(0, len(packet) - 1))
    result = execute(bench, StoreUpset(offset, 1 << data.draw(st.integers(0, 7)), "single"))
    assert result["outcome"] == "due" and result["wrong_packets"] == 0 and result["refused"] == 1


def test_the_image_is_the_same_at_every_build_and_a_trial_replays_alone_leaving_nothing(bench, tmp_path,
                                                                                        monkeypatch):
    assert StoreBench(SEED).image == bench.image and StoreBench(SEED + 1).image != bench.image
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))     # where every trial makes its folder
    config = {"inputs_seed": SEED, "seed": 4, "kinds": ["single", "multi", "byte"]}
    first = [run_store_trial(config, i) for i in range(20)]
    assert [run_store_trial(config, i) for i in (19, 2)] == [first[19], first[2]]
    assert len({(r["offset"], r["mask"]) for r in first}) == 20 and os.listdir(tmp_path) == []


def test_a_store_campaign_takes_a_name_alone_per_configuration(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[target]\nkind = "store"\n[[configurations]]\nname = "a"\nprotection = "off"\n')
    with pytest.raises(CampaignError, match=r"configurations\[0\].protection: a store campaign has no use"):
        load_campaign(path)
    path.write_text('[target]\nkind = "store"\nframes = 3\n[[configurations]]\nname = "a"\n')
    with pytest.raises(CampaignError, match="target.frames"):
        load_campaign(path)


def test_a_small_store_campaign_runs_through_the_command(tmp_path, capsys):
    path = tmp_path / "store.toml"
    path.write_text('[campaign]\nname = "store-small"\ntrials = 30\n[target]\nkind = "store"\n'
                    '[faults]\nkinds = ["single", "multi", "byte"]\n[[configurations]]\nname = "store"\n'
                    '[criteria]\nmax_sdc = { store = 0.0 }\n')
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())["configurations"]["store"]
    assert s["trials"] == 30 and s["counts"]["runner_error"] == s["counts"]["crash"] == s["counts"]["sdc"] == 0
    assert s["counts"]["masked"] + s["counts"]["due"] + s["counts"]["corrected"] == 30
    assert s["settings"]["protection"] == "on"
    assert "the store's own checks" in capsys.readouterr().out
