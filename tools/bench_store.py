"""Benchmark the durable TM store: records/s written durably, against the same records written
to a plain file without fsync, side by side in one run; the cost of durability is the ratio.

Three writers of the same records (``--octets`` each, like a housekeeping or product packet), at
several group-commit sizes (records per commit):
- ours: flight.services.tm_store.TmStore.append (SQLite WAL, synchronous FULL, CRC-32C per
  record, counters in the same transaction);
- segment: the alternative considered: an append-only file of length + CRC-32C + record, one
  fdatasync per commit;
- plain: the same octets appended to a file, no fsync (the peer: what writing costs without
  durability).

    python tools/bench_store.py [--json] [--records 20000] [--octets 100] [--repeat 3]

Medians of ``--repeat`` runs; the file system is the run directory's (``--dir``). The machine is
shared and noisy, and fsync latency depends on the disk: an SBC's SD card is much slower.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from flight.services.tm_store import NewRecord, StoreClass, TmStore
from native import crc32c

BATCHES = (1, 16, 256)


def records(count: int, octets: int) -> list[NewRecord]:
    return [NewRecord(os.urandom(octets), 0x42, n, 1000 + n, StoreClass.PRODUCT, 1, float(n)) for n in range(count)]


def write_ours(folder: Path, batch: list[NewRecord], per_commit: int) -> float:
    store = TmStore(folder / "store.sqlite", capacity=1 << 40)
    began = time.perf_counter()
    for start in range(0, len(batch), per_commit):
        chunk = batch[start:start + per_commit]
        store.append(chunk, {"seq:66": chunk[-1].n + 1})
    elapsed = time.perf_counter() - began
    store.close()
    return elapsed


def write_segment(folder: Path, batch: list[NewRecord], per_commit: int) -> float:
    fd = os.open(folder / "segment.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    began = time.perf_counter()
    for start in range(0, len(batch), per_commit):
        os.write(fd, b"".join(struct.pack(">II", len(r.packet), crc32c(r.packet)) + r.packet
                              for r in batch[start:start + per_commit]))
        os.fdatasync(fd)
    elapsed = time.perf_counter() - began
    os.close(fd)
    return elapsed


def write_plain(folder: Path, batch: list[NewRecord], per_commit: int) -> float:
    with open(folder / "plain.bin", "ab") as out:
        began = time.perf_counter()
        for start in range(0, len(batch), per_commit):
            out.write(b"".join(r.packet for r in batch[start:start + per_commit]))
        out.flush()
        return time.perf_counter() - began


WRITERS: dict[str, Callable[[Path, list[NewRecord], int], float]] = {
    "ours": write_ours, "segment": write_segment, "plain": write_plain}


def measure(args: argparse.Namespace) -> dict:
    batch = records(args.records, args.octets)
    rates: dict[str, dict[int, float]] = {name: {} for name in WRITERS}
    for per_commit in BATCHES:
        count = args.records if per_commit > 1 else min(args.records, 2000)  # one sync per record is slow
        for name, writer in WRITERS.items():
            runs = []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                    runs.append(count / writer(Path(folder), batch[:count], per_commit))
            rates[name][per_commit] = statistics.median(runs)
    return {"records_per_s": rates, "octets": args.octets,
            "ratio_ours_vs_plain": {b: rates["ours"][b] / rates["plain"][b] for b in BATCHES},
            "ratio_ours_vs_segment": {b: rates["ours"][b] / rates["segment"][b] for b in BATCHES},
            "records": args.records, "repeat": args.repeat}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="durable TM store vs a plain file without fsync")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--octets", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: the system's temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{args.octets}-octet records, median of {args.repeat}; records/s by records per commit:")
    print(f"  {'writer':<44}" + "".join(f"{b:>12}" for b in BATCHES))
    labels = {"ours": "ours: TmStore (SQLite WAL, FULL, CRC, counters)",
              "segment": "segment file + CRC, fdatasync per commit", "plain": "plain file, no fsync (peer)"}
    for name, label in labels.items():
        print(f"  {label:<44}" + "".join(f"{result['records_per_s'][name][b]:>12,.0f}" for b in BATCHES))
    print(f"  {'ratio ours / plain':<44}" + "".join(f"{result['ratio_ours_vs_plain'][b]:>12.3f}" for b in BATCHES))
    print(f"  {'ratio ours / segment':<44}" + "".join(f"{result['ratio_ours_vs_segment'][b]:>12.2f}"
                                                      for b in BATCHES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
