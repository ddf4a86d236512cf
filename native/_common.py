"""Argument checking and result types shared by the C and the Python backends.

Requirements (verified in ``tests/unit/native/test_native.py``):
- any C-contiguous buffer (bytes, bytearray, memoryview, numpy array of any
  dtype, any alignment, length 0 included) is viewed as bytes without a copy;
- non-contiguous buffers, mismatched lengths, read-only write targets, bad
  CRC seeds, chunk sizes, word sizes and modes are rejected with a
  ``ValueError`` or ``TypeError`` naming the offending argument.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Literal, Optional, Union

import numpy as np

BufferLike = Union[bytes, bytearray, memoryview, np.ndarray]
WritableBuffer = Union[bytearray, memoryview, np.ndarray]
VoteMode = Literal["bitwise", "word"]
WORD_SIZES = (1, 2, 4, 8)


@dataclass(frozen=True)
class VoteResult:
    """Outcome of :func:`native.vote3`.

    ``voted`` is the buffer holding the voted value (a new ``numpy.uint8``
    array, the caller's ``out``, or ``a`` after a repair).
    ``disagreements[k]`` counts the *bytes* of copy k that differ from the
    voted value.  ``first_offset``/``last_offset`` are the byte offsets of
    the first and last byte where the copies are not all equal (``None``
    when they agree everywhere).  ``uncorrectable`` counts the words of
    ``word_size`` bytes on which all three copies pairwise differ, which
    word-level voting cannot decide.
    """

    voted: WritableBuffer
    disagreements: tuple[int, int, int]
    first_offset: Optional[int]
    last_offset: Optional[int]
    uncorrectable: int


@dataclass(frozen=True)
class TierChoice:
    """How each function's implementation was chosen at import (:func:`native.calibration`).

    ``choice`` maps each function to the implementation it was given.
    ``source`` is ``"measured"`` (timed at this import), ``"cache"`` (timed
    earlier on this CPU and build, read from ``cache_file``),
    ``"portable-forced"`` (``ORBITFS_NATIVE_PORTABLE``) or ``"python"`` (no
    extension: the fallback).  ``rates`` gives, per function, the
    calibration speed in GB/s of input of every implementation timed (empty
    unless measured or cached).  ``cache_file`` is the cache file read or
    written, ``None`` if neither.
    """

    choice: dict[str, str]
    source: str
    rates: dict[str, dict[str, float]]
    cache_file: Optional[str]


def byte_view(obj: object, name: str, writable: bool = False) -> memoryview:
    """Return a flat, zero-copy ``memoryview`` of unsigned bytes over ``obj``."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"{name}: numpy arrays of Python objects are not byte buffers")
        if not obj.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous (got a strided numpy array)")
        if writable and not obj.flags.writeable:
            raise TypeError(f"{name} must be writable (got a read-only numpy array)")
        return memoryview(obj.reshape(-1).view(np.uint8))
    try:
        view = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{name} must be a bytes-like object (bytes, bytearray, memoryview, numpy array), not {type(obj).__name__}"
        ) from None
    if not view.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (got a strided memoryview)")
    if writable and view.readonly:
        raise TypeError(f"{name} must be writable (got a read-only {type(obj).__name__})")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def check_seed(crc: int, bits: int) -> int:
    """Return ``crc`` as an int, checking it fits in ``bits`` bits."""
    value = operator.index(crc)
    if not 0 <= value < (1 << bits):
        raise ValueError(f"crc must be in [0, 2**{bits}), got {value}")
    return value


def check_chunk_size(chunk_size: int) -> int:
    """Return ``chunk_size`` as a positive int."""
    value = operator.index(chunk_size)
    if value <= 0:
        raise ValueError(f"chunk_size must be positive, got {value}")
    return value


def chunk_count(nbytes: int, chunk_size: int) -> int:
    """Number of chunks (the last may be short) covering ``nbytes``."""
    return -(-nbytes // chunk_size)


@dataclass(frozen=True)
class VoteArgs:
    """Checked arguments of a vote: flat byte views plus the result object."""

    a: memoryview
    b: memoryview
    c: memoryview
    out: Optional[memoryview]  # None means repair a, b and c in place
    voted: WritableBuffer
    word_mode: bool
    word_size: int


def _address(view: memoryview) -> int:
    return int(np.frombuffer(view, dtype=np.uint8).ctypes.data) if len(view) else 0


def _check_no_partial_overlap(views: dict[str, memoryview]) -> None:
    spans = [(name, _address(v), len(v)) for name, v in views.items() if len(v)]
    for i, (n1, s1, l1) in enumerate(spans):
        for n2, s2, l2 in spans[i + 1 :]:
            if s1 != s2 and s1 < s2 + l2 and s2 < s1 + l1:
                raise ValueError(f"{n1} and {n2} partially overlap in memory")


def check_vote_args(
    a: BufferLike,
    b: BufferLike,
    c: BufferLike,
    out: Optional[WritableBuffer],
    repair: bool,
    mode: VoteMode,
    word_size: int,
) -> VoteArgs:
    """Validate the arguments of ``vote3`` and build the byte views."""
    if mode not in ("bitwise", "word"):
        raise ValueError(f"mode must be 'bitwise' or 'word', got {mode!r}")
    if word_size not in WORD_SIZES:
        raise ValueError(f"word_size must be one of {WORD_SIZES}, got {word_size!r}")
    if repair and out is not None:
        raise ValueError("out must be None when repair=True (the copies are the output)")
    va, vb, vc = (byte_view(x, name, writable=repair) for x, name in ((a, "a"), (b, "b"), (c, "c")))
    if not len(va) == len(vb) == len(vc):
        raise ValueError(f"a, b and c must have the same length in bytes, got {len(va)}, {len(vb)}, {len(vc)}")
    vo: Optional[memoryview]
    if repair:
        vo, voted = None, a
        _check_no_partial_overlap({"a": va, "b": vb, "c": vc})
    elif out is None:
        voted = np.empty(len(va), dtype=np.uint8)
        vo = memoryview(voted)
    else:
        vo, voted = byte_view(out, "out", writable=True), out
        if len(vo) != len(va):
            raise ValueError(f"out must have the same length in bytes as a ({len(va)}), got {len(vo)}")
        for name, view in (("a", va), ("b", vb), ("c", vc)):
            _check_no_partial_overlap({"out": vo, name: view})
    return VoteArgs(va, vb, vc, vo, voted, mode == "word", word_size)  # type: ignore[arg-type]
