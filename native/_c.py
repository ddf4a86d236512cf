"""C backend: thin typed wrappers over the cffi extension ``native._native``.

Requirements:
- buffers are passed to C without copying (``ffi.from_buffer``), and the GIL
  is released during each C call (cffi API mode does so by default), but
  for CRC-16 of ``bytes`` of up to SMALL_CRC16 octets, computed by
  ``binascii.crc_hqx`` holding it (docs/native.md, "GIL"): verified in
  ``tests/unit/native/test_native.py``;
- at import each function gets the implementation chosen by
  ``native/_calibrate.py`` (measured or cached; the portable path
  everywhere under ``ORBITFS_NATIVE_PORTABLE=1``), reported by
  :func:`calibration`: verified in ``tests/unit/native/test_tiers.py`` (a
  fresh process reports the choice it uses) and
  ``tests/system/test_native_process.py``.
"""

from __future__ import annotations

from binascii import crc_hqx
from typing import Optional

import numpy as np

from native import _dispatch
from native._calibrate import startup_choice
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
from native._native import ffi, lib

_CHOICE = startup_choice()
implementation = _dispatch.implementation


def calibration() -> TierChoice:
    """How each function's implementation was chosen at import (see ``docs/native.md``)."""
    return _CHOICE


def _cbuf(data: BufferLike, name: str = "data"):  # -> cffi "uint8_t[]"
    if type(data) is bytes or type(data) is bytearray:
        return ffi.from_buffer(data)
    return ffi.from_buffer(byte_view(data, name))


SMALL_CRC16 = 256  # octets: up to this, CRC-16 is computed without releasing the GIL


def crc16_ccitt_false(data: BufferLike, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` continuing from ``crc``.

    ``bytes`` of up to SMALL_CRC16 octets (a packet, a TC frame) go to ``binascii.crc_hqx``, the
    same CRC computed holding the GIL: a cffi call releases it, and with another thread running
    Python the call then waits to get it back, far longer than the CRC takes (docs/native.md)."""
    seed = crc if crc == 0xFFFF else check_seed(crc, 16)
    if type(data) is bytes and len(data) <= SMALL_CRC16:
        return crc_hqx(data, seed)
    buf = _cbuf(data)
    return lib.ofs_crc16(buf, len(buf), seed)


def crc32c(data: BufferLike, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data`` continuing from ``crc``."""
    buf = _cbuf(data)
    return int(lib.ofs_crc32c(buf, len(buf), check_seed(crc, 32)))


def crc32(data: BufferLike, crc: int = 0) -> int:
    """zlib's CRC-32 of ``data`` continuing from ``crc``."""
    buf = _cbuf(data)
    return int(lib.ofs_crc32(buf, len(buf), check_seed(crc, 32)))


def _chunks(func, ctype: str, data: BufferLike, chunk_size: int) -> np.ndarray:
    buf = _cbuf(data)
    size = check_chunk_size(chunk_size)
    out = np.empty(chunk_count(len(buf), size), dtype=np.dtype(ctype.removesuffix("_t")))
    func(buf, len(buf), size, ffi.from_buffer(f"{ctype}[]", out, require_writable=True))
    return out


def crc16_ccitt_false_chunks(data: BufferLike, chunk_size: int) -> np.ndarray:
    """CRC-16/CCITT-FALSE of each ``chunk_size`` piece of ``data`` (uint16)."""
    return _chunks(lib.ofs_crc16_chunks, "uint16_t", data, chunk_size)


def crc32c_chunks(data: BufferLike, chunk_size: int) -> np.ndarray:
    """CRC-32C of each ``chunk_size`` piece of ``data`` (uint32)."""
    return _chunks(lib.ofs_crc32c_chunks, "uint32_t", data, chunk_size)


def crc32_chunks(data: BufferLike, chunk_size: int) -> np.ndarray:
    """zlib CRC-32 of each ``chunk_size`` piece of ``data`` (uint32)."""
    return _chunks(lib.ofs_crc32_chunks, "uint32_t", data, chunk_size)


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
    writable = args.out is None
    pa, pb, pc = (ffi.from_buffer(v, require_writable=writable) for v in (args.a, args.b, args.c))
    po = ffi.NULL if args.out is None else ffi.from_buffer(args.out, require_writable=True)
    st = ffi.new("ofs_vote_stats *")
    lib.ofs_vote3(pa, pb, pc, po, len(args.a), int(args.word_mode), args.word_size, st)
    return VoteResult(
        voted=args.voted,
        disagreements=(int(st.disagreements[0]), int(st.disagreements[1]), int(st.disagreements[2])),
        first_offset=None if st.first_offset < 0 else int(st.first_offset),
        last_offset=None if st.last_offset < 0 else int(st.last_offset),
        uncorrectable=int(st.uncorrectable),
    )
