"""Choose each function's implementation by timing them on this CPU.

CPU feature flags say which implementations can run, not which is
fastest: that differs between CPUs (for CRC-32C, the crc32 instruction's
throughput against carry-less multiply folding varies by vendor and
generation; measurements in ``docs/native.md``).  So at import, for each
function, every implementation the CPU supports is timed on a
``CALIBRATION_BYTES`` buffer (best of ``SAMPLES`` runs) and the fastest is
selected, except that the path the feature flags alone would pick is kept
when it is within ``MARGIN`` of the fastest (so that timing noise on a
busy machine does not swap near-equal paths).  The result is cached
(``native/_tier_cache.py``) so later imports only read it.
``ORBITFS_NATIVE_PORTABLE=1`` skips all of this and selects the portable
path everywhere.

Requirements (verified in ``tests/unit/native/test_tiers.py``):
- the choice names, per function, one of :func:`native._dispatch.supported`
  (the fastest measured, or the flag-based one within ``MARGIN`` of it), and
  is what the functions then use;
- a second start on the same CPU and build reads the cache instead of
  measuring; a cache entry for another key, a corrupt file or an entry
  naming implementations this CPU lacks is ignored (measured again); an
  unwritable cache directory only means the choice is kept in memory;
- ``ORBITFS_NATIVE_PORTABLE=1`` selects the portable path everywhere.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from native import _native, _tier_cache
from native._common import TierChoice
from native._dispatch import FUNCTIONS, implementation, max_tier, select, supported, use_tier
from native._native import ffi, lib

PORTABLE_ENV = "ORBITFS_NATIVE_PORTABLE"
CALIBRATION_BYTES = 64 << 10
CALLS_PER_SAMPLE = 4
SAMPLES = 5
MARGIN = 0.10


def _calls() -> dict[str, Callable[[], object]]:
    """One call of each function over the calibration buffers (copies with sparse flips for the vote)."""
    rng = np.random.default_rng(0x0F5)
    data = rng.integers(0, 256, CALIBRATION_BYTES, dtype=np.uint8)
    copies = [data.copy() for _ in range(3)]
    for copy in copies:
        copy[rng.integers(0, CALIBRATION_BYTES, 8)] ^= 0x10
    out = np.empty_like(data)
    buf, n = ffi.from_buffer(data), CALIBRATION_BYTES
    pa, pb, pc, po = (ffi.from_buffer(x, require_writable=True) for x in (*copies, out))
    stats = ffi.new("ofs_vote_stats *")
    return {
        "crc16_ccitt_false": lambda: lib.ofs_crc16(buf, n, 0xFFFF),
        "crc32c": lambda: lib.ofs_crc32c(buf, n, 0),
        "crc32": lambda: lib.ofs_crc32(buf, n, 0),
        "vote3": lambda: lib.ofs_vote3(pa, pb, pc, po, n, 0, 1, stats),
    }


def _rate(call: Callable[[], object]) -> float:
    """GB/s of input bytes: best of SAMPLES runs of CALLS_PER_SAMPLE calls, after one warm-up call."""
    call()
    best = float("inf")
    for _ in range(SAMPLES):
        start = time.perf_counter_ns()
        for _ in range(CALLS_PER_SAMPLE):
            call()
        best = min(best, time.perf_counter_ns() - start)
    return CALIBRATION_BYTES * CALLS_PER_SAMPLE / max(best, 1)


def measure() -> dict[str, dict[str, float]]:
    """Calibration speed (GB/s) of every supported implementation of every function.

    Leaves the selection as it found it.
    """
    calls = _calls()
    rates: dict[str, dict[str, float]] = {}
    previous = implementation()
    try:
        for function in FUNCTIONS:
            rates[function] = {}
            for impl in supported(function):
                select({function: impl.name})
                rates[function][impl.name] = round(_rate(calls[function]), 3)
    finally:
        select(previous)
    return rates


def fastest(rates: dict[str, dict[str, float]], default: dict[str, str]) -> dict[str, str]:
    """Per function, the implementation with the highest rate, or ``default``'s if within MARGIN of it."""
    choice = {}
    for function, by_impl in rates.items():
        best, kept = max(by_impl, key=by_impl.__getitem__), default.get(function)
        close = kept in by_impl and by_impl[kept] * (1 + MARGIN) >= by_impl[best]
        choice[function] = kept if close else best
    return choice


def _apply_cached(entry: dict) -> bool:
    """Select the cached choice if it names a supported implementation of every function."""
    choice = entry["choice"]
    if set(choice) != set(FUNCTIONS):
        return False
    try:
        select(choice)
    except ValueError:
        return False
    return True


def startup_choice() -> TierChoice:
    """Select each function's implementation for this process and say how it was chosen."""
    if os.environ.get(PORTABLE_ENV, "") not in ("", "0"):
        lib.ofs_set_tier(0)
        return TierChoice(implementation(), "portable-forced", {}, None)
    path = _tier_cache.cache_file()
    key = _tier_cache.cache_key(_tier_cache.cpu_identity(), _tier_cache.build_id(Path(_native.__file__)))
    entry = _tier_cache.load(path, key)
    if entry is not None and _apply_cached(entry):
        return TierChoice(dict(entry["choice"]), "cache", entry["rates"], str(path))
    with use_tier(max_tier()):
        by_flags = implementation()
    rates = measure()
    choice = fastest(rates, by_flags)
    select(choice)
    written = _tier_cache.store(path, key, {"choice": choice, "rates": rates})
    return TierChoice(choice, "measured", rates, str(path) if written else None)
