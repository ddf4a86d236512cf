"""orbitfs native hot path: TMR vote and checksums near memory speed.

Public API: :func:`crc16_ccitt_false`, :func:`crc32c`, :func:`crc32`, their
``*_chunks`` batch forms, :func:`vote3` with :class:`VoteResult`,
:func:`implementation`, :func:`calibration` with :class:`TierChoice`, and
:data:`BACKEND`.  The contract of each function
is in ``docs/native.md``; in short:

- ``crc16_ccitt_false(data, crc=0xFFFF)``: poly 0x1021, init 0xFFFF, not
  reflected, no final xor; ``crc32c(data, crc=0)``: Castagnoli, as crcmod's
  ``crc-32c``; ``crc32(data, crc=0)``: equal to ``zlib.crc32(data, crc)``.
  All are resumable: ``f(b, f(a)) == f(a + b)``.
- ``*_chunks(data, chunk_size)``: numpy array with the CRC of each
  ``chunk_size`` piece of ``data`` (the last may be short), in one call.
- ``vote3(a, b, c, out=None, repair=False, *, mode="bitwise", word_size=1)``:
  bitwise (or word-level) majority of three equal-length buffers.

Buffers may be bytes, bytearray, memoryview or numpy arrays of any dtype,
C-contiguous, of any alignment and length; they are never copied.

``BACKEND`` is ``"c"`` when the cffi extension is importable, else
``"python"``: the fallback (standard library, numpy, a CRC-32C wheel if
installed) gives identical results (more slowly) and a one-time warning at
import.  With the extension, each function runs the implementation chosen
by timing them on this CPU at import (cached per CPU and build):
:func:`implementation` names it and :func:`calibration` says how it was
chosen.  Every requirement here is verified by
``tests/unit/native/test_native.py`` against crcmod, zlib and numpy
reference expressions, for both backends and every hardware
implementation; the choice by timing by ``tests/unit/native/test_tiers.py``.
"""

from __future__ import annotations

import warnings

from native._common import BufferLike, TierChoice, VoteMode, VoteResult, WritableBuffer

try:
    from native import _c as _backend

    BACKEND = "c"
except ImportError as exc:  # extension not built (no compiler at install)
    from native import _fallback as _backend  # type: ignore[no-redef]

    BACKEND = "python"
    warnings.warn(
        f"native: C extension unavailable ({exc}); using the slow Python fallback",
        RuntimeWarning,
        stacklevel=2,
    )

crc16_ccitt_false = _backend.crc16_ccitt_false
crc32c = _backend.crc32c
crc32 = _backend.crc32
crc16_ccitt_false_chunks = _backend.crc16_ccitt_false_chunks
crc32c_chunks = _backend.crc32c_chunks
crc32_chunks = _backend.crc32_chunks
vote3 = _backend.vote3
implementation = _backend.implementation
calibration = _backend.calibration

__all__ = [
    "BACKEND",
    "BufferLike",
    "TierChoice",
    "VoteMode",
    "VoteResult",
    "WritableBuffer",
    "calibration",
    "crc16_ccitt_false",
    "crc16_ccitt_false_chunks",
    "crc32",
    "crc32_chunks",
    "crc32c",
    "crc32c_chunks",
    "implementation",
    "vote3",
]
