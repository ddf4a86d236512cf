"""Tests of the ``native`` hot path (both backends, every implementation of every function).

Requirements of ``native`` (docs/native.md) and how each is verified here:
- CRC check values of "123456789": ``test_check_values``.
- Each CRC equals its reference (crcmod ``crc-ccitt-false``/``crc-32c``,
  ``zlib.crc32``) for random contents, lengths 0..10,000, misaligned views
  and several buffer types: ``test_crc_matches_reference``.
- Resumable in random pieces: ``test_crc_resumes_in_pieces``.
- Batch form equals per-chunk calls: ``test_chunks_match_single_calls``.
- Vote equals a numpy majority expression with its statistics:
  ``test_vote_bitwise_matches_numpy``; word-level voting equals a
  per-word reference: ``test_vote_word_mode_matches_reference``; ``out`` and
  ``repair`` write where promised: ``test_vote_out_and_repair``.
- Each hardware implementation equals the portable path: the ``impl``
  fixture runs all of the above on the Python fallback and on rounds of C
  implementations that together cover every implementation this CPU has
  (round r gives each function its r-th supported one), and
  ``test_implementations_agree_with_portable`` compares each implementation of
  each function with the portable one directly.
- Input checking: ``test_rejects_*``.  No copies: ``test_vote_writes_through_views``.
- GIL released during C calls: ``test_c_calls_release_the_gil``; kept for the CRC-16 of a
  packet (bytes up to SMALL_CRC16 octets, ``binascii.crc_hqx``):
  ``test_a_packets_crc16_keeps_the_gil_and_a_frames_releases_it``, its value on either side of
  the rule: ``test_crc16_either_side_of_the_small_input_rule_equals_the_reference``.
- Packaging fallbacks and the ORBITFS_NATIVE_PORTABLE switch, each in a fresh process:
  tests/system/test_native_process.py.  The measured choice of implementation and its
  cache: tests/unit/native/test_tiers.py; the fallback's kernels against the C path:
  tests/unit/native/test_fallback.py.
"""

from __future__ import annotations

import sys
import threading
import time
import zlib
from types import ModuleType
from typing import Callable, Iterator

import crcmod.predefined
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import native
from native import _fallback

CHECK = b"123456789"
REF_CRC16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")
REF_CRC32C = crcmod.predefined.mkCrcFun("crc-32c")
CRC_NAMES = ("crc16_ccitt_false", "crc32c", "crc32")
REFERENCES: dict[str, Callable[..., int]] = {
    "crc16_ccitt_false": REF_CRC16,
    "crc32c": REF_CRC32C,
    "crc32": zlib.crc32,
}
CHUNK_DTYPES = {"crc16_ccitt_false": np.uint16, "crc32c": np.uint32, "crc32": np.uint32}

try:
    from native import _c, _dispatch
except ImportError:  # extension not built: only the fallback is testable
    _c = _dispatch = None  # type: ignore[assignment]


def _rounds() -> list[dict[str, str]]:
    """Implementation sets that together cover every supported implementation of every function."""
    names = {f: [i.name for i in _dispatch.supported(f)] for f in _dispatch.FUNCTIONS}
    count = max(len(v) for v in names.values())
    return [{f: v[min(r, len(v) - 1)] for f, v in names.items()} for r in range(count)]


ROUNDS = _rounds() if _c else []
IMPLS = ["python"] + [f"c-round{r}" for r in range(len(ROUNDS))]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """A backend module; C implementations are selected for the duration of the test."""
    if request.param == "python":
        yield _fallback
        return
    with _dispatch.use_impls(ROUNDS[int(request.param.removeprefix("c-round"))]):
        yield _c


@st.composite
def buffers(draw: st.DrawFn, max_size: int = 10_000) -> tuple[bytes, object]:
    """(contents, buffer object) with a random type and misalignment."""
    data = draw(st.binary(max_size=max_size))
    pad = draw(st.integers(0, 15))
    kind = draw(st.sampled_from(["bytes", "bytearray", "memoryview", "numpy", "numpy-u16"]))
    backing = bytearray(pad) + data
    if kind == "bytes":
        return data, bytes(data)
    if kind == "bytearray":
        return data, bytearray(data)
    if kind == "memoryview":
        return data, memoryview(backing)[pad:]
    arr = np.frombuffer(backing, dtype=np.uint8)[pad:]
    if kind == "numpy-u16" and len(data) % 2 == 0:
        return data, arr.view(np.uint16)
    return data, arr


def test_check_values(impl: ModuleType) -> None:
    assert impl.crc16_ccitt_false(CHECK) == 0x29B1
    assert impl.crc32c(CHECK) == 0xE3069283
    assert impl.crc32(CHECK) == 0xCBF43926


def test_empty_input_returns_seed(impl: ModuleType) -> None:
    assert impl.crc16_ccitt_false(b"") == 0xFFFF
    assert impl.crc32c(b"", 0x1234) == 0x1234
    assert impl.crc32(bytearray(), 7) == 7
    assert impl.crc32c_chunks(b"", 16).shape == (0,)
    result = impl.vote3(b"", b"", b"")
    assert len(result.voted) == 0 and result.first_offset is None


@PROPERTY
@given(buf=buffers(), seed=st.integers(0, 0xFFFF_FFFF), name=st.sampled_from(CRC_NAMES))
def test_crc_matches_reference(impl: ModuleType, buf: tuple[bytes, object], seed: int, name: str) -> None:
    data, obj = buf
    if name == "crc16_ccitt_false":
        seed &= 0xFFFF
    assert getattr(impl, name)(obj, seed) == REFERENCES[name](data, seed)
    assert getattr(impl, name)(obj) == REFERENCES[name](data)


@PROPERTY
@given(
    data=st.binary(max_size=10_000), cuts=st.lists(st.integers(0, 10_000), max_size=6), name=st.sampled_from(CRC_NAMES)
)
def test_crc_resumes_in_pieces(impl: ModuleType, data: bytes, cuts: list[int], name: str) -> None:
    func = getattr(impl, name)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    crc = func(b"")
    for lo, hi in zip(bounds, bounds[1:]):
        crc = func(memoryview(data)[lo:hi], crc)
    assert crc == func(data) == REFERENCES[name](data)


@PROPERTY
@given(buf=buffers(max_size=5_000), chunk=st.integers(1, 700), name=st.sampled_from(CRC_NAMES))
def test_chunks_match_single_calls(impl: ModuleType, buf: tuple[bytes, object], chunk: int, name: str) -> None:
    data, obj = buf
    got = getattr(impl, f"{name}_chunks")(obj, chunk)
    want = [REFERENCES[name](data[i : i + chunk]) for i in range(0, len(data), chunk)]
    assert got.dtype == CHUNK_DTYPES[name]
    assert got.tolist() == want


@st.composite
def triples(draw: st.DrawFn, max_size: int = 10_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three copies of one random buffer with sparse or dense corruption."""
    n = draw(st.integers(0, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = rng.integers(0, 256, n, dtype=np.uint8)
    copies = []
    for _ in range(3):
        density = draw(st.sampled_from([0.0, 0.001, 0.05, 0.5, 1.0]))
        noise = rng.integers(0, 256, n, dtype=np.uint8) * (rng.random(n) < density)
        copies.append(base ^ noise.astype(np.uint8))
    return copies[0], copies[1], copies[2]


def _misaligned(x: np.ndarray, pad: int) -> np.ndarray:
    backing = np.zeros(len(x) + pad, dtype=np.uint8)
    backing[pad:] = x
    return backing[pad:]


def _expected_stats(a: np.ndarray, b: np.ndarray, c: np.ndarray, voted: np.ndarray, word_size: int) -> tuple:
    differ = np.flatnonzero((a != b) | (b != c))
    n_words = -(-len(a) // word_size)
    uncorrectable = 0
    for w in range(n_words):
        s = slice(w * word_size, (w + 1) * word_size)
        wa, wb, wc = bytes(a[s]), bytes(b[s]), bytes(c[s])
        uncorrectable += wa != wb and wa != wc and wb != wc
    return (
        tuple(int(np.count_nonzero(x != voted)) for x in (a, b, c)),
        int(differ[0]) if len(differ) else None,
        int(differ[-1]) if len(differ) else None,
        uncorrectable,
    )


def _check_result(result: native.VoteResult, a, b, c, voted: np.ndarray, word_size: int) -> None:
    dis, first, last, unc = _expected_stats(a, b, c, voted, word_size)
    assert np.array_equal(np.frombuffer(result.voted, dtype=np.uint8), voted)
    assert result.disagreements == dis
    assert (result.first_offset, result.last_offset) == (first, last)
    assert result.uncorrectable == unc


@PROPERTY
@given(copies=triples(), pad=st.integers(0, 15), word_size=st.sampled_from([1, 2, 4, 8]))
def test_vote_bitwise_matches_numpy(impl: ModuleType, copies, pad: int, word_size: int) -> None:
    a, b, c = (_misaligned(x, pad) for x in copies)
    result = impl.vote3(a, b, c, word_size=word_size)
    _check_result(result, a, b, c, (a & b) | (b & c) | (a & c), word_size)


def _word_vote_reference(a: np.ndarray, b: np.ndarray, c: np.ndarray, word_size: int) -> np.ndarray:
    out = bytearray()
    for i in range(0, len(a), word_size):
        wa, wb, wc = (bytes(x[i : i + word_size]) for x in (a, b, c))
        if wa in (wb, wc):
            out += wa
        elif wb == wc:
            out += wb
        else:
            out += bytes((p & q) | (q & r) | (p & r) for p, q, r in zip(wa, wb, wc))
    return np.frombuffer(bytes(out), dtype=np.uint8)


@PROPERTY
@given(copies=triples(max_size=3_000), pad=st.integers(0, 15), word_size=st.sampled_from([1, 2, 4, 8]))
def test_vote_word_mode_matches_reference(impl: ModuleType, copies, pad: int, word_size: int) -> None:
    a, b, c = (_misaligned(x, pad) for x in copies)
    result = impl.vote3(a, b, c, mode="word", word_size=word_size)
    _check_result(result, a, b, c, _word_vote_reference(a, b, c, word_size), word_size)


@PROPERTY
@given(copies=triples(max_size=3_000), mode=st.sampled_from(["bitwise", "word"]))
def test_vote_out_and_repair(impl: ModuleType, copies, mode: str) -> None:
    a, b, c = (x.copy() for x in copies)
    expected = impl.vote3(a, b, c, mode=mode, word_size=4)
    out = bytearray(len(a))
    into_out = impl.vote3(bytes(a), memoryview(b), c, out=out, mode=mode, word_size=4)
    assert into_out.voted is out and bytes(out) == bytes(expected.voted)
    assert into_out.disagreements == expected.disagreements
    repaired = impl.vote3(a, b, c, repair=True, mode=mode, word_size=4)
    assert repaired.voted is a
    assert repaired.disagreements == expected.disagreements
    for x in (a, b, c):
        assert bytes(x) == bytes(expected.voted)
    in_place = impl.vote3(copies[0].copy(), copies[1], copies[2], mode=mode, word_size=4)
    assert (
        impl.vote3(in_place.voted, copies[1], copies[2], out=in_place.voted, mode=mode, word_size=4).voted
        is in_place.voted
    )


def test_vote_writes_through_views(impl: ModuleType) -> None:
    backing = np.zeros(3 * 1000 + 1, dtype=np.uint8)
    a, b, c = backing[1:1001], backing[1001:2001].view(), backing[2001:3001]
    a[:] = 0xAA
    b[:] = 0xAA
    c[:] = 0x55
    result = impl.vote3(a, b, c, repair=True)
    assert np.all(backing[1:3001] == 0xAA)
    assert result.disagreements == (0, 0, 1000)
    assert result.voted is a


def _outputs(function: str, obj: object, copies, word_size: int) -> list:
    """Everything ``function`` returns for these inputs (single and batched calls, both vote modes)."""
    if function == "vote3":
        votes = [_c.vote3(*copies, mode=m, word_size=word_size) for m in ("bitwise", "word")]
        return [(bytes(v.voted), v.disagreements, v.first_offset, v.last_offset, v.uncorrectable) for v in votes]
    func, chunks = getattr(_c, function), getattr(_c, f"{function}_chunks")
    return [func(obj), func(obj, word_size * 0x1357), chunks(obj, 97).tolist()]


@pytest.mark.skipif(_c is None, reason="C extension not built")
@settings(max_examples=40, deadline=None)
@given(buf=buffers(), copies=triples(max_size=3_000), word_size=st.sampled_from([1, 2, 4, 8]))
def test_implementations_agree_with_portable(buf: tuple[bytes, object], copies, word_size: int) -> None:
    _, obj = buf
    for function in _dispatch.FUNCTIONS:
        candidates = _dispatch.supported(function)
        with _dispatch.use_impls({function: candidates[0].name}):
            expected = _outputs(function, obj, copies, word_size)
        for candidate in candidates[1:]:
            with _dispatch.use_impls({function: candidate.name}):
                assert _outputs(function, obj, copies, word_size) == expected, candidate


@pytest.mark.parametrize("size", [3 * 4096 * 3 + 1_000 + 5, 100_003])
@pytest.mark.parametrize("pad", [0, 3])
def test_crc_long_buffers_match_reference(impl: ModuleType, size: int, pad: int) -> None:
    """Long inputs reach the interleaved-stream and wide-fold main loops."""
    data = np.random.default_rng(size + pad).integers(0, 256, size + pad, dtype=np.uint8)[pad:]
    raw = data.tobytes()
    for name in CRC_NAMES:
        assert getattr(impl, name)(data) == REFERENCES[name](raw), name
        assert getattr(impl, name)(data[:-7], getattr(impl, name)(b"")) == REFERENCES[name](raw[:-7]), name


@pytest.mark.parametrize("mode", ["bitwise", "word"])
def test_vote_large_buffer_matches_numpy(impl: ModuleType, mode: str) -> None:
    """A buffer above the streaming-store threshold (8 MiB), misaligned length."""
    rng = np.random.default_rng(9)
    n = (9 << 20) + 13
    a = rng.integers(0, 256, n, dtype=np.uint8)
    b, c = a.copy(), a.copy()
    b[rng.integers(0, n, 500)] ^= 0x10
    c[rng.integers(0, n, 500)] ^= 0x01
    c[-1] ^= 0xFF
    out = np.empty(n + 64, dtype=np.uint8)[5 : n + 5]
    result = impl.vote3(a, b, c, out=out, mode=mode, word_size=8)
    expected = (a & b) | (b & c) | (a & c)
    assert np.array_equal(out, expected)
    assert result.disagreements == tuple(int(np.count_nonzero(x != expected)) for x in (a, b, c))
    differ = np.flatnonzero((a != b) | (b != c))
    assert (result.first_offset, result.last_offset) == (differ[0], differ[-1])
    assert np.array_equal(impl.vote3(a, b, c, out=np.empty_like(a)).voted, expected)


@pytest.mark.parametrize("name", CRC_NAMES)
def test_rejects_bad_crc_arguments(impl: ModuleType, name: str) -> None:
    func, chunks = getattr(impl, name), getattr(impl, f"{name}_chunks")
    with pytest.raises(TypeError, match="bytes-like"):
        func("123456789")
    with pytest.raises(ValueError, match="C-contiguous"):
        func(np.zeros(10, dtype=np.uint8)[::2])
    with pytest.raises(ValueError, match="C-contiguous"):
        func(memoryview(bytearray(10))[::2])
    with pytest.raises(ValueError, match="crc must be"):
        func(b"x", -1)
    with pytest.raises(ValueError, match="crc must be"):
        func(b"x", 1 << 32)
    with pytest.raises(ValueError, match="chunk_size"):
        chunks(b"abc", 0)


def test_rejects_bad_vote_arguments(impl: ModuleType) -> None:
    x = bytearray(8)
    with pytest.raises(ValueError, match="same length"):
        impl.vote3(x, bytearray(8), bytearray(7))
    with pytest.raises(ValueError, match="C-contiguous"):
        impl.vote3(np.zeros(16, np.uint8)[::2], x, x)
    with pytest.raises(TypeError, match="writable"):
        impl.vote3(x, x, x, out=bytes(8))
    with pytest.raises(TypeError, match="writable"):
        impl.vote3(b"12345678", x, x, repair=True)
    read_only = np.zeros(8, np.uint8)
    read_only.setflags(write=False)
    with pytest.raises(TypeError, match="writable"):
        impl.vote3(x, x, read_only, repair=True)
    with pytest.raises(ValueError, match="same length"):
        impl.vote3(x, x, x, out=bytearray(9))
    with pytest.raises(ValueError, match="repair"):
        impl.vote3(x, x, x, out=bytearray(8), repair=True)
    with pytest.raises(ValueError, match="word_size"):
        impl.vote3(x, x, x, word_size=3)
    with pytest.raises(ValueError, match="mode"):
        impl.vote3(x, x, x, mode="bytes")  # type: ignore[arg-type]
    backing = bytearray(16)
    with pytest.raises(ValueError, match="overlap"):
        impl.vote3(memoryview(backing)[:8], x, x, out=memoryview(backing)[4:12])


@pytest.mark.skipif(_c is None, reason="C extension not built")
def test_c_calls_release_the_gil() -> None:
    """While one thread is inside a long C call, another keeps running Python."""
    data = np.ones(32 << 20, dtype=np.uint8)
    window: list[float] = []
    ticks: list[float] = []

    def worker() -> None:
        window.append(time.perf_counter())
        _c.crc32c(data)
        window.append(time.perf_counter())

    with _dispatch.use_tier(0):
        thread = threading.Thread(target=worker)
        thread.start()
        while thread.is_alive():
            ticks.append(time.perf_counter())
        thread.join()
    inside = [t for t in ticks if window[0] < t < window[1]]
    assert window[1] - window[0] > 0.005  # the call was long enough to tell
    assert len(inside) > 100


@pytest.mark.skipif(_c is None, reason="C extension not built")
def test_a_packets_crc16_keeps_the_gil_and_a_frames_releases_it() -> None:
    """Up to SMALL_CRC16 octets of bytes, CRC-16 is computed holding the GIL: a thread running
    Python meanwhile gets no turn (a cffi call would hand it the GIL at every call); a larger
    input goes to C and hands it over. The switch interval is long, so only a release lets the
    other thread run."""
    turns, stop = [0], threading.Event()

    def busy() -> None:
        while not stop.is_set():
            turns[0] += 1

    def turns_during(data: bytes, calls: int) -> int:
        """How many turns the busy thread had during up to ``calls`` CRCs (stops at the first)."""
        before = turns[0]
        for _ in range(calls):
            _c.crc16_ccitt_false(data)
            if turns[0] != before:
                break
        return turns[0] - before

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    thread = threading.Thread(target=busy)
    try:
        thread.start()
        time.sleep(0.01)       # the busy thread runs; this one gets the GIL back within one interval
        packet_turns = turns_during(bytes(range(108)), 2000)
        frame_turns = turns_during(bytes(_c.SMALL_CRC16 + 1), 2000)  # a release lets it in at some call
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert packet_turns == 0 and frame_turns > 0


@pytest.mark.parametrize("size", [0, 1, 107, 255, 256, 257, 1024, 2048])
def test_crc16_either_side_of_the_small_input_rule_equals_the_reference(size: int) -> None:
    data = bytes((i * 37 + 11) & 0xFF for i in range(size))
    for seed in (0xFFFF, 0, 0x1D0F):
        expected = REF_CRC16(data, seed)
        assert native.crc16_ccitt_false(data, seed) == expected                 # bytes: the small-input rule
        assert native.crc16_ccitt_false(bytearray(data), seed) == expected      # any other buffer: C
