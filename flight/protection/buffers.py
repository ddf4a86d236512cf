"""Unprotected buffers the SEU injector can hit: frame slots (inputs). (The TM store's packets are
offered by flight.services.tm_downlink.StoreRegion.)

They are not scrubbed (their contents change all the time); they are registered in
``ports.buffers`` so that fault-injection campaigns can upset them and measure what follows (a
corrupted input tile computed by every card alike; a corrupted packet that the ground's CRC
check refuses). Each offers the injector's side of the region protocol: ``name``, ``size``,
``targets()`` and ``flip(offset, bit, target)``.
"""
from __future__ import annotations

import threading

import numpy as np


class ByteBuffer:
    """A fixed array of bytes, e.g. the shared-memory frame slots."""

    kind = "buffer"
    recover = None

    def __init__(self, name: str, data: np.ndarray, lock: threading.Lock | None = None) -> None:
        self.name = name
        self.data = data.reshape(-1).view(np.uint8)
        self.size = self.data.size
        self._lock = lock or threading.Lock()

    def targets(self) -> tuple[str, ...]:
        return ("data",)

    def flip(self, offset: int, bit: int, target: str = "") -> tuple[int, int]:
        with self._lock:
            old = int(self.data[offset])
            self.data[offset] = old ^ (1 << bit)
            return old, old ^ (1 << bit)
