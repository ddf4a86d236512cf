"""Python backend, used when the C extension could not be built.

Requirement: identical results to the C backend for every input (verified by
running the whole property suite of ``tests/unit/native/test_native.py`` against both
backends).  CRC-32 uses :func:`zlib.crc32`, the vote uses numpy, CRC-32C and
CRC-16 use byte-wise table lookups in pure Python, so they are slow; the
difference is visible in ``tools/bench_native.py``.
"""

from __future__ import annotations

import zlib
from typing import Callable, Optional

import numpy as np

from native._common import (
    BufferLike,
    VoteMode,
    VoteResult,
    WritableBuffer,
    byte_view,
    check_chunk_size,
    check_seed,
    check_vote_args,
    chunk_count,
)


def _reflected_table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ poly if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ 0x1021 if reg & 0x8000 else reg << 1) & 0xFFFF
        table.append(reg)
    return tuple(table)


_CRC32C_TABLE = _reflected_table(0x82F63B78)
_CRC16_TABLE = _crc16_table()


def crc16_ccitt_false(data: BufferLike, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` continuing from ``crc``."""
    reg = check_seed(crc, 16)
    table = _CRC16_TABLE
    for byte in byte_view(data, "data"):
        reg = ((reg << 8) & 0xFFFF) ^ table[(reg >> 8) ^ byte]
    return reg


def crc32c(data: BufferLike, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data`` continuing from ``crc``."""
    reg = check_seed(crc, 32) ^ 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in byte_view(data, "data"):
        reg = (reg >> 8) ^ table[(reg ^ byte) & 0xFF]
    return reg ^ 0xFFFFFFFF


def crc32(data: BufferLike, crc: int = 0) -> int:
    """zlib's CRC-32 of ``data`` continuing from ``crc``."""
    return zlib.crc32(byte_view(data, "data"), check_seed(crc, 32))


def _chunks(func: Callable[[memoryview], int], dtype: type, data: BufferLike, chunk_size: int) -> np.ndarray:
    view = byte_view(data, "data")
    size = check_chunk_size(chunk_size)
    count = chunk_count(len(view), size)
    return np.array([func(view[i * size : (i + 1) * size]) for i in range(count)], dtype=dtype)


def crc16_ccitt_false_chunks(data: BufferLike, chunk_size: int) -> np.ndarray:
    """CRC-16/CCITT-FALSE of each ``chunk_size`` piece of ``data`` (uint16)."""
    return _chunks(crc16_ccitt_false, np.uint16, data, chunk_size)


def crc32c_chunks(data: BufferLike, chunk_size: int) -> np.ndarray:
    """CRC-32C of each ``chunk_size`` piece of ``data`` (uint32)."""
    return _chunks(crc32c, np.uint32, data, chunk_size)


def crc32_chunks(data: BufferLike, chunk_size: int) -> np.ndarray:
    """zlib CRC-32 of each ``chunk_size`` piece of ``data`` (uint32)."""
    return _chunks(crc32, np.uint32, data, chunk_size)


def _words(x: np.ndarray, word_size: int) -> np.ndarray:
    pad = (-len(x)) % word_size
    padded = np.concatenate([x, np.zeros(pad, dtype=np.uint8)]) if pad else x
    return padded.reshape(-1, word_size)


def vote3(
    a: BufferLike,
    b: BufferLike,
    c: BufferLike,
    out: Optional[WritableBuffer] = None,
    repair: bool = False,
    *,
    mode: VoteMode = "bitwise",
    word_size: int = 1,
) -> VoteResult:
    """Majority vote of three equal-length buffers (see ``native.vote3``)."""
    args = check_vote_args(a, b, c, out, repair, mode, word_size)
    x, y, z = (np.frombuffer(v, dtype=np.uint8) for v in (args.a, args.b, args.c))
    voted = (x & y) | (z & (x | y))
    wx, wy, wz = (_words(v, args.word_size) for v in (x, y, z))
    ab, ac, bc = ((p != q).any(axis=1) for p, q in ((wx, wy), (wx, wz), (wy, wz)))
    if args.word_mode:
        a_lost = (ab & ac)[:, None]
        b_wins = a_lost & ~bc[:, None]
        words = np.where(~a_lost, wx, np.where(b_wins, wy, _words(voted, args.word_size)))
        voted = words.reshape(-1)[: len(x)]
    differ = np.flatnonzero((x != y) | (x != z))
    disagreements = (
        int(np.count_nonzero(x != voted)),
        int(np.count_nonzero(y != voted)),
        int(np.count_nonzero(z != voted)),
    )
    targets = (x, y, z) if args.out is None else (np.frombuffer(args.out, dtype=np.uint8),)
    for target in targets:
        target[...] = voted
    return VoteResult(
        voted=args.voted,
        disagreements=disagreements,
        first_offset=int(differ[0]) if len(differ) else None,
        last_offset=int(differ[-1]) if len(differ) else None,
        uncorrectable=int(np.count_nonzero(ab & ac & bc)),
    )


def implementation() -> dict[str, str]:
    """Name of the implementation each public function uses."""
    return {
        "crc16_ccitt_false": "python-table",
        "crc32c": "python-table",
        "crc32": "zlib",
        "vote3": "numpy",
    }
