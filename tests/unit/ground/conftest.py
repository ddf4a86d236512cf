"""Fixtures of the ground's unit tests.

``full_disk(archive)``: fills the "disk" under a real archive, in this process: with SIGXFSZ
ignored, the soft RLIMIT_FSIZE is lowered to 1 MB, so a write past 1 MB in any file fails with
EFBIG as on a full disk; rows of 4 KB are recorded, 50 at a time, each 50 left to the writer
before the next (so some are committed first), until the writer reports its failure; then the
limit and the signal are restored (the hard limit is never touched, so the soft one can go back).
Nothing else in this process writes a file that large meanwhile.
"""
from __future__ import annotations

import resource
import signal
import time
from typing import Callable, Iterator

import pytest

from ground_sim.archive import PacketArchive

LIMIT = 1 << 20


@pytest.fixture
def full_disk() -> Iterator[Callable[[PacketArchive], int]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def fill(archive: PacketArchive) -> int:
        """Record rows until the archive fails; return how many were recorded."""
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, hard))
        try:
            recorded, deadline = 0, time.monotonic() + 30
            while archive.error is None and time.monotonic() < deadline:
                for _ in range(50):
                    archive.record("down", 0.0, bytes(4096), {"apid": 1}, {"n": recorded})
                    recorded += 1
                while archive.error is None and archive.committed < recorded and time.monotonic() < deadline:
                    time.sleep(0.01)
            assert archive.error is not None, "the archive never failed"
            return recorded
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    yield fill
    signal.signal(signal.SIGXFSZ, handler)
