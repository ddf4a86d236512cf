"""Python backend, used when the C extension could not be built.

Requirement: identical results to the C backend for every input (verified by
running the whole property suite of ``tests/unit/native/test_native.py`` against both
backends, and each CRC-32C kernel against the C path in
``tests/unit/native/test_fallback.py``).  The CRCs use the fastest code at
hand without a compiler: CRC-16/CCITT-FALSE is the standard library's
:func:`binascii.crc_hqx` (the same CRC: polynomial 0x1021, not reflected,
here started from 0xFFFF), CRC-32 is :func:`zlib.crc32`, CRC-32C is an
installed CRC-32C wheel's C code (the ``crc32c`` package, else
``google-crc32c``; neither is a dependency) or else a byte-wise table in pure
Python; the vote uses numpy.  Speeds are in ``docs/native.md``.
"""

from __future__ import annotations

import binascii
import zlib
from typing import Callable, Optional

import numpy as np

from native._common import (
    BufferLike,
    TierChoice,
    VoteMode,
    VoteResult,
    WritableBuffer,
    byte_view,
    check_chunk_size,
    check_seed,
    check_vote_args,
    chunk_count,
)

Crc32cKernel = Callable[[memoryview, int], int]  # (bytes, user-visible CRC) -> CRC


def _reflected_table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ poly if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_CRC32C_TABLE = _reflected_table(0x82F63B78)


def _crc32c_table(view: memoryview, crc: int) -> int:
    reg = crc ^ 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in view:
        reg = (reg >> 8) ^ table[(reg ^ byte) & 0xFF]
    return reg ^ 0xFFFFFFFF


def crc32c_kernels() -> dict[str, Crc32cKernel]:
    """Every CRC-32C kernel importable here, the preferred first; the pure-Python table is always last."""
    kernels: dict[str, Crc32cKernel] = {}
    try:
        import crc32c as crc32c_wheel
    except ImportError:
        pass
    else:
        kernels["crc32c-wheel"] = crc32c_wheel.crc32c
    try:
        import google_crc32c
    except ImportError:
        pass
    else:
        if google_crc32c.implementation == "c":  # its pure-Python mode is no faster than ours
            kernels["google-crc32c"] = lambda view, crc: google_crc32c.extend(crc, bytes(view))
    kernels["python-table"] = _crc32c_table
    return kernels


_CRC32C_NAME, _CRC32C_KERNEL = next(iter(crc32c_kernels().items()))


def crc16_ccitt_false(data: BufferLike, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` continuing from ``crc``."""
    return binascii.crc_hqx(byte_view(data, "data"), check_seed(crc, 16))


def crc32c(data: BufferLike, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data`` continuing from ``crc``."""
    return _CRC32C_KERNEL(byte_view(data, "data"), check_seed(crc, 32))


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
        "crc16_ccitt_false": "binascii.crc_hqx",
        "crc32c": _CRC32C_NAME,
        "crc32": "zlib",
        "vote3": "numpy",
    }


def calibration() -> TierChoice:
    """How the implementations were chosen: fixed, since there is no extension to calibrate."""
    return TierChoice(implementation(), "python", {}, None)
