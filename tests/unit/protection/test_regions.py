"""Tests of the protected memory regions (flight.protection.regions).

The requirements and which test verifies each are in the table of the module's docstring.
Expected findings are computed here from the corruption the test itself applied (offsets,
xor masks, popcounts), never read back from the region under test.
"""

from __future__ import annotations

import threading
from multiprocessing import shared_memory

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import native
from flight.protection.regions import (
    Finding,
    LiveGoldenRegion,
    MonitoredRegion,
    Region,
    RegionRegistry,
    TmrRegion,
)

PROPERTY = settings(max_examples=60, deadline=None)
CHUNK_SIZES = st.sampled_from([16, 64, 256, 4096])


def random_bytes(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def popcount(value: int) -> int:
    return bin(value).count("1")


def buffers(region: Region) -> dict[str, np.ndarray]:
    """The bytes behind each flip target, as the test sees them through the public attributes."""
    if isinstance(region, TmrRegion):
        return {str(k): region.copies[k] for k in range(3)}
    if isinstance(region, LiveGoldenRegion):
        return {"live": region.live, "golden": region.golden}
    assert isinstance(region, MonitoredRegion)
    return {"data": region.data}


def make_region(kind: str, data: bytes, chunk_size: int) -> Region:
    if kind == "tmr":
        return TmrRegion("r", data, chunk_size)
    if kind == "live":
        return LiveGoldenRegion("r", np.frombuffer(data, np.uint8).copy(), chunk_size=chunk_size)
    return MonitoredRegion("r", np.frombuffer(data, np.uint8).copy(), chunk_size)


# --- TMR ------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), size=st.integers(1, 3000), chunk_size=CHUNK_SIZES, copy=st.integers(0, 2))
def test_tmr_one_bad_copy_is_repaired(data, size, chunk_size, copy):
    original = random_bytes(size, size)
    region = TmrRegion("state", original, chunk_size)
    masks = data.draw(st.dictionaries(st.integers(0, size - 1), st.integers(1, 255), min_size=1, max_size=40))
    for offset, mask in masks.items():
        region.copies[copy, offset] ^= mask

    assert region.read() == original

    expected: dict[int, tuple[int, int]] = {}  # chunk -> (first corrupted offset, bits)
    for offset in sorted(masks):
        first, bits = expected.get(offset // chunk_size, (offset, 0))
        expected[offset // chunk_size] = (first, bits + popcount(masks[offset]))
    result = region.scrub(0, size)
    assert result.scanned == size
    assert result.findings == [
        Finding("state", first, bits, repaired=True, uncorrectable=False, copy=str(copy))
        for _, (first, bits) in sorted(expected.items())
    ]
    assert all(region.copies[k].tobytes() == original for k in range(3))
    assert region.scrub(0, size).findings == []


@PROPERTY
@given(offset=st.integers(0, 999), bit=st.integers(0, 7), good=st.integers(0, 2))
def test_tmr_double_hit_is_uncorrectable(offset, bit, good):
    original = random_bytes(1000, 1)
    region = TmrRegion("state", original, chunk_size=256)
    hit = [k for k in range(3) if k != good]
    for k in hit:
        region.flip(offset, bit, str(k))
    before = region.copies.copy()

    # Why the reference CRC matters: the majority is now the corrupted value, and the vote alone
    # blames the one good copy.
    wrong = bytearray(original)
    wrong[offset] ^= 1 << bit
    assert region.read() == bytes(wrong)
    vote = native.vote3(region.copies[0], region.copies[1], region.copies[2])
    assert vote.disagreements == tuple(1 if k == good else 0 for k in range(3))
    assert vote.uncorrectable == 0

    expected = [Finding("state", offset, 1, repaired=False, uncorrectable=True, copy="")]
    assert region.scrub(0, 1000).findings == expected
    assert np.array_equal(region.copies, before)  # the good copy is kept for recovery
    assert region.scrub(0, 1000).findings == expected  # still there on the next pass

    region.write(original)  # a recovery: rewrite the intended value
    assert region.scrub(0, 1000).findings == []
    assert region.read() == original


@PROPERTY
@given(data=st.data(), size=st.integers(1, 700))
def test_tmr_writes_then_scrub_clean(data, size):
    model = bytearray(random_bytes(size, size))
    region = TmrRegion("state", bytes(model), chunk_size=64)
    for _ in range(data.draw(st.integers(1, 5))):
        offset = data.draw(st.integers(0, size))
        chunk = data.draw(st.binary(max_size=size - offset))
        region.write(chunk, offset)
        model[offset : offset + len(chunk)] = chunk
    assert region.read() == bytes(model)
    assert all(region.copies[k].tobytes() == bytes(model) for k in range(3))
    assert region.scrub(0, size).findings == []
    region.flip(size - 1, 0, "2")
    assert region.scrub(0, size).findings == [Finding("state", size - 1, 1, True, False, "2")]
    assert region.read() == bytes(model)


def test_tmr_partial_write_keeps_double_hit_detectable():
    region = TmrRegion("state", random_bytes(256, 2), chunk_size=64)
    region.flip(10, 3, "0")
    region.flip(10, 3, "1")
    region.write(b"\x55" * 10, 40)  # same chunk, not covering byte 10
    assert region.scrub(0, 256).findings == [Finding("state", 10, 1, False, True, "")]
    region.write(bytes(range(64)), 0)  # the whole chunk: a new intended value
    assert region.scrub(0, 256).findings == []
    assert region.read()[:64] == bytes(range(64))


def test_tmr_size_constructor_is_zeroed():
    region = TmrRegion("counters", 100)
    assert region.size == 100 and region.read() == bytes(100)
    assert region.copies.shape == (3, 100) and region.copies.dtype == np.uint8
    assert region.scrub(0, 100).findings == []


@pytest.mark.parametrize("kind", ["tmr", "live"])
def test_reference_crc_upset_is_voted_away(kind):
    original = random_bytes(1000, 3)
    region = make_region(kind, original, 128)
    table = region._reference._copies  # the three stored copies of the reference CRCs
    pristine = table.copy()
    table[1, 2] ^= 1 << 7
    target = region.targets()[0]
    region.flip(300, 0, target)
    assert region.scrub(0, 1000).findings == [Finding("r", 300, 1, True, False, target)]
    assert np.array_equal(table, pristine)
    assert all(b.tobytes() == original for b in buffers(region).values())


# --- live / golden --------------------------------------------------------------------------


@PROPERTY
@given(
    size=st.integers(1, 5000),
    chunk_size=st.sampled_from([64, 1024, 65536]),
    where=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 7),
    target=st.sampled_from(["live", "golden", ""]),
)
def test_live_single_bit_upset_is_repaired(size, chunk_size, where, bit, target):
    original = random_bytes(size, size)
    region = LiveGoldenRegion("weights", np.frombuffer(original, np.uint8).copy(), chunk_size=chunk_size)
    assert region.targets() == ("live", "golden")
    offset = int(where * size)
    old, new = region.flip(offset, bit, target)
    assert (old, new) == (original[offset], original[offset] ^ (1 << bit))

    result = region.scrub(0, size)
    assert result.scanned == size
    assert result.findings == [Finding("weights", offset, 1, True, False, target or "live")]
    assert region.live.tobytes() == original and region.golden.tobytes() == original


def test_live_float32_array_is_repaired_in_place():
    weights = np.random.default_rng(4).standard_normal(10_000).astype(np.float32)
    expected = weights.copy()
    region = LiveGoldenRegion("weights", weights, chunk_size=4096)
    assert np.shares_memory(region.live, weights) and region.size == weights.nbytes

    weights[1234] = np.float32(1e30)  # an upset seen through the caller's own array
    [finding] = region.scrub(0, region.size).findings
    assert finding.copy == "live" and finding.repaired and finding.offset // 4 == 1234
    assert finding.bits == popcount(int(expected.view(np.uint32)[1234] ^ np.float32(1e30).view(np.uint32)))
    assert np.array_equal(weights.view(np.uint32), expected.view(np.uint32))


def test_live_over_shared_memory():
    count = 50_000
    block = shared_memory.SharedMemory(create=True, size=count * 4)
    other = shared_memory.SharedMemory(name=block.name)
    try:
        live = np.ndarray((count,), np.float32, buffer=block.buf)
        live[:] = np.arange(count, dtype=np.float32)
        seen = np.ndarray((count,), np.float32, buffer=other.buf)  # e.g. the card worker's attachment
        region = LiveGoldenRegion("weights", live)

        region.flip(4 * 40_000 + 3, 6)  # sign/exponent bit of element 40,000
        assert seen[40_000] != 40_000
        [finding] = region.scrub(0, region.size).findings
        assert (finding.copy, finding.offset, finding.bits) == ("live", 4 * 40_000 + 3, 1)
        assert np.array_equal(seen, np.arange(count, dtype=np.float32))
    finally:
        del live, seen, region
        other.close()
        block.close()
        block.unlink()


@pytest.mark.parametrize(
    ("live_hit", "golden_hit", "offset", "bits"),
    [((70, 1), (100, 2), 70, 2), ((90, 5), (90, 5), 64, 0)],  # different bytes; the same bit (live == golden)
)
def test_live_both_copies_bad_is_uncorrectable(live_hit, golden_hit, offset, bits):
    original = random_bytes(256, 5)
    region = LiveGoldenRegion("weights", np.frombuffer(original, np.uint8).copy(), chunk_size=64)
    region.flip(*live_hit, "live")
    region.flip(*golden_hit, "golden")
    live, golden = region.live.copy(), region.golden.copy()

    assert region.scrub(0, 256).findings == [Finding("weights", offset, bits, False, True, "")]
    assert np.array_equal(region.live, live) and np.array_equal(region.golden, golden)

    region.reload(original)  # the recovery: reread the trusted file
    assert region.scrub(0, 256).findings == []
    assert region.live.tobytes() == original and region.golden.tobytes() == original


def test_live_with_given_golden():
    live = np.frombuffer(random_bytes(300, 6), np.uint8).copy()
    golden = live.copy()
    region = LiveGoldenRegion("weights", live, golden, chunk_size=100)
    assert np.shares_memory(region.golden, golden)
    golden[250] ^= 0x81
    assert region.scrub(0, 300).findings == [Finding("weights", 250, 2, True, False, "golden")]
    assert np.array_equal(golden, live)


# --- monitored ------------------------------------------------------------------------------


@PROPERTY
@given(
    steps=st.lists(st.lists(st.tuples(st.sampled_from([5, 150, 151, 420]), st.integers(0, 1)), max_size=3), max_size=8)
)
def test_monitored_reports_once_per_change(steps):
    # Few distinct spots, so chunks often change back to their reference and then change again.
    chunk_size = 100
    original = random_bytes(500, 7)
    base = np.frombuffer(original, np.uint8).copy()
    view = base.view()
    view.flags.writeable = False  # the region gets a read-only view: any write would raise
    region = MonitoredRegion("code", view, chunk_size)
    reported: dict[int, bytes] = {}  # model: chunk -> content when last reported
    for flips in steps:
        for offset, bit in flips:
            base[offset] ^= 1 << bit
        expected = []
        for chunk in range(5):
            content = base[chunk * chunk_size : (chunk + 1) * chunk_size].tobytes()
            if content == original[chunk * chunk_size : (chunk + 1) * chunk_size]:
                reported.pop(chunk, None)
            elif reported.get(chunk) != content:
                reported[chunk] = content
                expected.append(Finding("code", chunk * chunk_size, 0, False, False, ""))
        snapshot = base.copy()
        assert region.scrub(0, 500).findings == expected
        assert np.array_equal(base, snapshot)


def test_monitored_rebaseline():
    data = np.frombuffer(random_bytes(400, 8), np.uint8).copy()
    region = MonitoredRegion("code", data, chunk_size=100)
    assert region.targets() == ("data",)
    region.flip(150, 2)
    assert region.scrub(0, 400).findings == [Finding("code", 100, 0, False, False, "")]
    region.flip(150, 2)  # back to the reference: nothing to report, and the report is forgotten
    assert region.scrub(0, 400).findings == []
    region.flip(150, 2)  # the same change again is a new change
    assert region.scrub(0, 400).findings == [Finding("code", 100, 0, False, False, "")]
    region.rebaseline()
    assert region.scrub(0, 400).findings == []
    region.flip(150, 2)  # back to the old contents, which are no longer the reference
    assert region.scrub(0, 400).findings == [Finding("code", 100, 0, False, False, "")]


# --- all kinds ------------------------------------------------------------------------------


@PROPERTY
@given(
    data=st.data(),
    kind=st.sampled_from(["tmr", "live", "monitored"]),
    size=st.integers(1, 2000),
    chunk_size=st.sampled_from([16, 100, 256]),
)
def test_partial_scrubs_equal_full_scrub(data, kind, size, chunk_size):
    original = random_bytes(size, size)
    whole, parts = make_region(kind, original, chunk_size), make_region(kind, original, chunk_size)
    targets = whole.targets()
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, 7), st.sampled_from(targets)), max_size=12)
    )
    for flip in flips:
        whole.flip(*flip)
        parts.flip(*flip)
    cuts = sorted(data.draw(st.sets(st.integers(1, size - 1), max_size=8)) if size > 1 else set())
    bounds = [0, *cuts, size]

    expected = whole.scrub(0, size).findings
    found: list[Finding] = []
    for lo, hi in zip(bounds, bounds[1:]):
        found += parts.scrub(lo, hi - lo).findings
    # An uncorrectable chunk (left as it is) is reported again when the next range shares it.
    assert list(dict.fromkeys(found)) == expected
    for target in targets:
        assert np.array_equal(buffers(whole)[target], buffers(parts)[target])


def test_scrub_rounds_out_to_chunks():
    original = random_bytes(250, 9)
    region = TmrRegion("state", original, chunk_size=100)
    region.flip(120, 0, "1")
    result = region.scrub(190, 1)  # byte 190 is in the chunk [100, 200)
    assert result.scanned == 100
    assert result.findings == [Finding("state", 120, 1, True, False, "1")]
    assert region.scrub(210, 5).scanned == 50  # the short last chunk
    assert region.scrub(30, 0).scanned == 0


@PROPERTY
@given(
    kind=st.sampled_from(["tmr", "live", "monitored"]),
    where=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 7),
    pick=st.integers(0, 3),
)
def test_flip_changes_exactly_one_bit(kind, where, bit, pick):
    original = random_bytes(777, 10)
    region = make_region(kind, original, 64)
    offset = int(where * 777)
    target = ("", *region.targets())[pick % (len(region.targets()) + 1)]
    before = {name: buf.copy() for name, buf in buffers(region).items()}

    old, new = region.flip(offset, bit, target)
    hit = target or region.targets()[0]
    assert old == original[offset] and new == original[offset] ^ (1 << bit)
    after = buffers(region)
    assert int(after[hit][offset]) == new
    changed_bits = sum(int(np.unpackbits(before[name] ^ after[name]).sum()) for name in before)
    assert changed_bits == 1


def region_of_each_kind() -> list[Region]:
    return [
        TmrRegion("tmr", 100, 64),
        LiveGoldenRegion("live", np.zeros(100, np.uint8), chunk_size=64),
        MonitoredRegion("mon", np.zeros(100, np.uint8), 64),
    ]


@pytest.mark.parametrize("region", region_of_each_kind(), ids=lambda r: r.kind)
@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.scrub(-1, 10),
        lambda r: r.scrub(0, 101),
        lambda r: r.scrub(50, -1),
        lambda r: r.flip(100, 0),
        lambda r: r.flip(-1, 0),
        lambda r: r.flip(0, 8),
        lambda r: r.flip(0, 0, "nonsense"),
    ],
)
def test_bad_arguments(region, call):
    with pytest.raises(ValueError):
        call(region)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TmrRegion("x", 0),
        lambda: TmrRegion("x", -5),
        lambda: TmrRegion("", 10),
        lambda: TmrRegion("x", 10, chunk_size=0),
        lambda: TmrRegion("x", 10).write(b"abc", 8),
        lambda: LiveGoldenRegion("x", np.zeros((10, 10), np.uint8)[:, ::2]),  # strided
        lambda: LiveGoldenRegion("x", np.zeros(10, np.uint8), np.zeros(11, np.uint8)),
        lambda: LiveGoldenRegion("x", np.zeros(10, np.uint8)).reload(bytes(9)),
        lambda: MonitoredRegion("x", np.zeros(0, np.uint8)),
    ],
)
def test_bad_construction_and_updates(make):
    with pytest.raises(ValueError):
        make()


def test_live_needs_writable_separate_arrays():
    frozen = np.zeros(10, np.uint8)
    frozen.flags.writeable = False
    with pytest.raises(ValueError):
        LiveGoldenRegion("x", frozen)
    live = np.zeros(10, np.uint8)
    with pytest.raises(ValueError):
        LiveGoldenRegion("x", live, live)  # a golden that is the live data protects nothing


@pytest.mark.parametrize("kind", ["tmr", "live", "monitored"])
def test_flip_waits_for_a_scrub_in_progress(kind, monkeypatch):
    region = make_region(kind, random_bytes(1000, 13), 100)
    target = region.targets()[-1]
    flipper = threading.Thread(target=region.flip, args=(10, 0, target))
    blocked: list[bool] = []
    real_crc32c_chunks = native.crc32c_chunks

    def crc32c_chunks_starting_a_flip(data, chunk_size):  # runs inside the scrub
        if not blocked:
            flipper.start()
            flipper.join(0.2)
            blocked.append(flipper.is_alive())
        return real_crc32c_chunks(data, chunk_size)

    monkeypatch.setattr(native, "crc32c_chunks", crc32c_chunks_starting_a_flip)
    assert region.scrub(0, 1000).findings == []  # the flip came after this scrub
    flipper.join()
    assert blocked == [True]
    assert [f.offset // 100 for f in region.scrub(0, 1000).findings] == [0]  # then found


def test_concurrent_flips_and_scrubs():
    """Smoke test: an injector thread hammers copy "1" while the scrubber runs."""
    original = random_bytes(1 << 16, 11)
    region = TmrRegion("state", original, chunk_size=1024)
    findings: list[Finding] = []
    rng = np.random.default_rng(12)
    spots = [(int(o), int(b)) for o, b in zip(rng.integers(0, 1 << 16, 2000), rng.integers(0, 8, 2000))]

    def inject() -> None:
        for offset, bit in spots:
            region.flip(offset, bit, "1")

    injector = threading.Thread(target=inject)
    injector.start()
    while injector.is_alive():
        findings += region.scrub(0, 1 << 16).findings
    injector.join()
    findings += region.scrub(0, 1 << 16).findings
    assert findings and all(f.copy == "1" and f.repaired and not f.uncorrectable for f in findings)
    assert all(region.copies[k].tobytes() == original for k in range(3))


# --- registry -------------------------------------------------------------------------------


def test_registry():
    registry = RegionRegistry()
    tmr, live, mon = region_of_each_kind()
    for region in (tmr, live, mon):
        assert isinstance(region, Region)
        assert registry.add(region) is region
    assert [r.name for r in registry.regions()] == ["tmr", "live", "mon"]
    assert [r.kind for r in registry.regions()] == ["tmr", "live", "monitored"]
    assert registry.total_bytes == 300
    assert registry.get("live") is live
    with pytest.raises(ValueError):
        registry.add(TmrRegion("live", 10))
    snapshot = registry.regions()
    registry.remove("live")
    assert [r.name for r in registry.regions()] == ["tmr", "mon"] and len(snapshot) == 3
    assert registry.total_bytes == 200
    with pytest.raises(KeyError):
        registry.get("live")
    with pytest.raises(KeyError):
        registry.remove("live")
    registry.add(TmrRegion("live", 10))
    assert [r.name for r in registry.regions()] == ["tmr", "mon", "live"] and registry.total_bytes == 210
