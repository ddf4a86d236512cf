"""Benchmark of the ``native`` hot path against its peers, in one run.

Usage: ``python tools/bench_native.py [--json] [--size-mib 64] [--chunk-kib 256] [--repeat N]``

Each figure is the median of ``--repeat`` timed runs (the machine is shared
and noisy).  Two rates are given for every measurement: the data rate, in
GB/s of input bytes (one buffer's size per call), and the memory traffic
rate, in GB/s of bytes read plus bytes written, so that a vote and a copy
compare fairly: ``vote3(out=)`` reads three buffers and writes one (4x the
buffer size moved), ``vote3(repair=True)`` on agreeing copies reads three
and writes nothing (3x), a copy (memcpy) reads one and writes one (2x), a
CRC reads one (1x).  The numpy majority expression is given its nominal 4x
(its temporaries move more).  Peers: the numpy majority expression
``(a & b) | (a & c) | (b & c)``, a numpy copy (memcpy bandwidth), crcmod's
``crc-32c`` and ``crc-ccitt-false``, and ``zlib.crc32``.  Ours is measured on
the implementations chosen at import (per function, by timing, see
``native.calibration()``), printed first with their calibration speeds, and
for comparison on the portable C path; then every implementation this CPU
supports is timed on the full buffer ("flags" marks the one the CPU feature
flags alone would pick, "chosen" the one in use).  The requirements of
issues 5 and 15 are checked on the printed figures; the exit status is 0
even when one fails (this is a measurement, not a test).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Optional

import crcmod.predefined
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import native  # noqa: E402

TRAFFIC = {"vote3(out=)": 4.0, "vote3(repair, clean)": 3.0, "memcpy (numpy copy)": 2.0, "numpy majority": 4.0}


def traffic_factor(name: str) -> float:
    """Bytes read plus written per input byte (CRCs and unknown names read their input once)."""
    return TRAFFIC.get(name.removeprefix("fallback "), 1.0)


@dataclass
class Row:
    """One line of the table: our speed, the peer's, and the requirement."""

    function: str
    size: str
    ours_gbps: float
    portable_gbps: Optional[float]
    peer: str
    peer_gbps: float
    ratio: float
    requirement: str
    passed: Optional[bool]
    ours_traffic_gbps: float = field(init=False)
    peer_traffic_gbps: float = field(init=False)

    def __post_init__(self) -> None:
        self.ours_traffic_gbps = self.ours_gbps * traffic_factor(self.function)
        self.peer_traffic_gbps = self.peer_gbps * traffic_factor(self.peer)


@dataclass
class ImplRow:
    """One implementation of one function timed on the full buffer."""

    function: str
    implementation: str
    tier: int
    gbps: float
    traffic_gbps: float
    chosen: bool
    flags: bool


def median_seconds(func: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``func`` over ``repeat`` runs (after one warm-up)."""
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gbps(nbytes: int, seconds: float) -> float:
    """Gigabytes (1e9 bytes) per second."""
    return nbytes / seconds / 1e9


def portable() -> ContextManager[None]:
    """Context in which ``native`` uses its portable C path (if built)."""
    if native.BACKEND != "c":
        return nullcontext()
    from native import _dispatch

    return _dispatch.use_tier(0)


def make_copies(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three copies of random data with a few hundred sparse bit flips each."""
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, size, dtype=np.uint8)
    copies = []
    for _ in range(3):
        copy = base.copy()
        spots = rng.integers(0, size, 300)
        copy[spots] ^= (1 << rng.integers(0, 8, 300)).astype(np.uint8)
        copies.append(copy)
    return copies[0], copies[1], copies[2]


def ours_both(func: Callable[[], object], nbytes: int, repeat: int) -> tuple[float, float]:
    """Our speed on the best path and on the portable path."""
    best = gbps(nbytes, median_seconds(func, repeat))
    with portable():
        port = gbps(nbytes, median_seconds(func, repeat))
    return best, port


def run(size_mib: int, chunk_kib: int, repeat: int) -> tuple[list[Row], list[ImplRow]]:
    """Measure everything and return the table rows and the per-implementation rows."""
    size = size_mib << 20
    a, b, c = make_copies(size)
    rows = vote_rows(a, b, c, f"{size_mib} MiB", repeat)
    crcs = [
        ("crc32c", native.crc32c, native.crc32c_chunks, "crcmod crc-32c", crcmod.predefined.mkCrcFun("crc-32c"), 15.0),
        ("crc32", native.crc32, native.crc32_chunks, "zlib.crc32", zlib.crc32, 2.0),
        ("crc16_ccitt_false", native.crc16_ccitt_false, native.crc16_ccitt_false_chunks,
         "crcmod crc-ccitt-false", crcmod.predefined.mkCrcFun("crc-ccitt-false"), 4.0),
    ]
    for crc in crcs:
        rows += crc_rows(*crc, data=a, size_mib=size_mib, chunk_kib=chunk_kib, repeat=repeat)
    rows.extend(fallback_rows(a, b, c, min(size, 1 << 20)))
    return rows, impl_rows(a, b, c, repeat)


def impl_rows(a: np.ndarray, b: np.ndarray, c: np.ndarray, repeat: int) -> list[ImplRow]:
    """Every implementation this CPU supports, of every function, on the full buffer."""
    if native.BACKEND != "c":
        return []
    from native import _dispatch

    out = np.empty_like(a)
    calls: dict[str, tuple[Callable[[], object], float]] = {
        "crc16_ccitt_false": (lambda: native.crc16_ccitt_false(a), 1.0),
        "crc32c": (lambda: native.crc32c(a), 1.0),
        "crc32": (lambda: native.crc32(a), 1.0),
        "vote3": (lambda: native.vote3(a, b, c, out=out), traffic_factor("vote3(out=)")),
    }
    chosen = native.implementation()
    with _dispatch.use_tier(_dispatch.max_tier()):
        by_flags = native.implementation()
    rows = []
    for function, (call, factor) in calls.items():
        for impl in _dispatch.supported(function):
            with _dispatch.use_impls({function: impl.name}):
                speed = gbps(a.nbytes, median_seconds(call, repeat))
            rows.append(ImplRow(function, impl.name, impl.tier, speed, speed * factor,
                                chosen[function] == impl.name, by_flags[function] == impl.name))
    return rows


def vote_rows(a: np.ndarray, b: np.ndarray, c: np.ndarray, big: str, repeat: int) -> list[Row]:
    """vote3 against the numpy majority expression and against memcpy."""
    size = a.nbytes
    out = np.empty_like(a)
    numpy_vote = gbps(size, median_seconds(lambda: (a & b) | (a & c) | (b & c), repeat))
    memcpy = gbps(size, median_seconds(lambda: np.copyto(out, a), repeat))
    best, port = ours_both(lambda: native.vote3(a, b, c, out=out), size, repeat)
    rows = [Row("vote3(out=)", big, best, port, "numpy majority", numpy_vote, best / numpy_vote,
                ">= 2.5x", best >= 2.5 * numpy_vote),
            Row("vote3(out=)", big, best, port, "memcpy (numpy copy)", memcpy, best / memcpy,
                ">= 0.5x", best >= 0.5 * memcpy)]
    best, port = ours_both(lambda: native.vote3(a, a, a, repair=True), size, repeat)
    rows.append(Row("vote3(repair, clean)", big, best, port, "memcpy (numpy copy)", memcpy,
                    best / memcpy, "info", None))
    return rows


def crc_rows(name: str, ours: Callable[[np.ndarray], int], ours_chunks: Callable[..., object],
             peer_name: str, peer: Callable[[np.ndarray], int], needed: float, *, data: np.ndarray,
             size_mib: int, chunk_kib: int, repeat: int) -> list[Row]:
    """One CRC against its peer: the whole buffer, in-cache blocks, and the batched form."""
    size, chunk, big = data.nbytes, chunk_kib << 10, f"{size_mib} MiB"
    block = np.ascontiguousarray(data[:chunk])
    calls = max(1, size // chunk)
    peer_speed = gbps(size, median_seconds(lambda: peer(data), repeat))
    best, port = ours_both(lambda: ours(data), size, repeat)
    goal = {"crc16_ccitt_false": " (goal 15x)", "crc32c": ", >= 8 GB/s"}.get(name, "")
    passed = best >= needed * peer_speed and (name != "crc32c" or best >= 8.0)
    rows = [Row(name, big, best, port, peer_name, peer_speed, best / peer_speed, f">= {needed:g}x{goal}", passed)]

    def in_cache(func: Callable[[np.ndarray], object] = ours) -> None:
        for _ in range(calls):
            func(block)

    peer_cache = gbps(calls * chunk, median_seconds(lambda: in_cache(peer), repeat))
    best, port = ours_both(in_cache, calls * chunk, repeat)
    requirement, passed = (">= 20 GB/s", best >= 20.0) if name == "crc32c" else ("info", None)
    rows.append(Row(name, f"{chunk_kib} KiB x{calls} (in cache)", best, port, peer_name, peer_cache,
                    best / peer_cache, requirement, passed))
    best, port = ours_both(lambda: ours_chunks(data, chunk), size, repeat)
    rows.append(Row(f"{name}_chunks", f"{big} / {chunk_kib} KiB", best, port, peer_name, peer_speed,
                    best / peer_speed, "info", None))
    return rows


def fallback_rows(a: np.ndarray, b: np.ndarray, c: np.ndarray, size: int) -> list[Row]:
    """Speed of the fallback used without the extension, each CRC-32C kernel importable here included."""
    from native import _fallback

    x, y, z = a[:size], b[:size], c[:size]
    label = f"{size >> 20} MiB"
    numpy_vote = gbps(size, median_seconds(lambda: (x & y) | (x & z) | (y & z), 3))
    speed = gbps(size, median_seconds(lambda: _fallback.vote3(x, y, z, out=np.empty_like(x)), 3))
    rows = [Row("fallback vote3(out=)", label, speed, None, "numpy majority", numpy_vote, speed / numpy_vote,
                "info", None)]
    used = _fallback.implementation()
    cases: list[tuple[str, Callable[[], object], str, Callable[[np.ndarray], int]]] = [
        (f"crc16_ccitt_false:{used['crc16_ccitt_false']}", lambda: _fallback.crc16_ccitt_false(x),
         "crcmod crc-ccitt-false", crcmod.predefined.mkCrcFun("crc-ccitt-false")),
        (f"crc32:{used['crc32']}", lambda: _fallback.crc32(x), "zlib.crc32", zlib.crc32),
    ]
    for kernel_name, kernel in _fallback.crc32c_kernels().items():
        cases.append((f"crc32c:{kernel_name}", lambda kernel=kernel: kernel(memoryview(x), 0),
                      "crcmod crc-32c", crcmod.predefined.mkCrcFun("crc-32c")))
    for name, ours, peer_name, peer in cases:
        peer_speed = gbps(size, median_seconds(lambda peer=peer: peer(x), 3))
        speed = gbps(size, median_seconds(ours, 1))
        rows.append(Row(f"fallback {name}", label, speed, None, peer_name, peer_speed, speed / peer_speed,
                        "info", None))
    return rows


def print_calibration() -> None:
    """The implementation each function uses, how it was chosen, and the calibration speeds."""
    choice = native.calibration()
    print(f"backend={native.BACKEND} choice by {choice.source} (cache {choice.cache_file})")
    for function, name in native.implementation().items():
        rates = choice.rates.get(function, {})
        timed = ", ".join(f"{impl} {rate:.1f}" for impl, rate in rates.items())
        print(f"  {function:<18} -> {name:<26}" + (f" calibration GB/s: {timed}" if timed else ""))


def print_table(rows: list[Row]) -> None:
    """Human-readable table: data rate and memory traffic rate of ours and of the peer."""
    width = max(len(r.function) for r in rows) + 2
    header = (
        f"{'function':<{width}}{'size':<26}{'ours GB/s':>10}{'traffic':>9}{'portable':>10}  "
        f"{'peer':<24}{'peer GB/s':>10}{'traffic':>9}{'ratio':>9}  requirement"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        port = f"{r.portable_gbps:10.2f}" if r.portable_gbps is not None else f"{'-':>10}"
        verdict = "" if r.passed is None else ("PASS" if r.passed else "FAIL")
        print(
            f"{r.function:<{width}}{r.size:<26}{r.ours_gbps:10.2f}{r.ours_traffic_gbps:9.2f}{port}  "
            f"{r.peer:<24}{r.peer_gbps:10.2f}{r.peer_traffic_gbps:9.2f}{r.ratio:8.1f}x  {r.requirement} {verdict}"
        )
    print("traffic = bytes read + written per second: vote3(out=) 4x the data rate, repair of agreeing copies 3x,")
    print("memcpy 2x, CRCs 1x, numpy majority 4x nominal (its temporaries move more)")


def print_impls(rows: list[ImplRow], size_mib: int) -> None:
    """Every supported implementation on the full buffer, marking the chosen one and the flag-based one."""
    if not rows:
        return
    print(f"\nevery implementation this CPU supports, {size_mib} MiB (data GB/s, traffic GB/s)")
    for r in rows:
        marks = ", ".join(m for m, on in (("chosen", r.chosen), ("flags", r.flags)) if on)
        print(f"  {r.function:<18} {r.implementation:<26} tier {r.tier}  {r.gbps:8.2f} {r.traffic_gbps:8.2f}  {marks}")


def main(argv: Optional[list[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--chunk-kib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rows, impls = run(args.size_mib, args.chunk_kib, args.repeat)
    if args.json:
        print(
            json.dumps(
                {
                    "backend": native.BACKEND,
                    "implementation": native.implementation(),
                    "calibration": asdict(native.calibration()),
                    "rows": [asdict(r) for r in rows],
                    "implementations": [asdict(r) for r in impls],
                },
                indent=2,
            )
        )
    else:
        print_calibration()
        print_table(rows)
        print_impls(impls, args.size_mib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
