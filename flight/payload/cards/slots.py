"""SlotPool: frames in shared memory, so a tile reaches every card without another copy.

The flight owns one POSIX shared-memory block of ``count`` slots of one tile each. Admitting a
frame copies its pixels into a free slot once; card workers map the same block and compute
directly on a view of the slot (a frame sent to three cards in TMR is still one copy). The
flight unlinks the block at stop; a worker only attaches (and unregisters it from its own
resource tracker, so a worker that exits never destroys the flight's block).

| requirement | verified by |
| a slot written by the flight is read bit-exactly by another process | tests/test_cards.py |
| acquire/release never hands out a slot twice; a full pool says so | tests/test_cards.py |
"""
from __future__ import annotations

from multiprocessing import resource_tracker, shared_memory

import numpy as np


class SlotPool:
    def __init__(self, count: int, shape: tuple[int, ...], dtype: str = "uint16",
                 name: str | None = None) -> None:
        self.count = count
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.slot_bytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.owner = name is None
        if self.owner:
            self._shm = shared_memory.SharedMemory(create=True, size=count * self.slot_bytes)
        else:
            self._shm = shared_memory.SharedMemory(name=name)
            # Python < 3.13 registers attached blocks too; the flight alone may unlink this one
            resource_tracker.unregister(self._shm._name, "shared_memory")  # type: ignore[attr-defined]
        self.name = self._shm.name
        self.array = np.ndarray((count, *self.shape), self.dtype, buffer=self._shm.buf)
        self._free = list(range(count - 1, -1, -1))

    def acquire(self) -> int | None:
        """A free slot, or None when all are in use."""
        return self._free.pop() if self._free else None

    def release(self, slot: int) -> None:
        if slot in self._free or not 0 <= slot < self.count:
            raise ValueError(f"slot {slot} is not in use")
        self._free.append(slot)

    @property
    def free(self) -> int:
        return len(self._free)

    def write(self, slot: int, pixels: np.ndarray) -> None:
        self.array[slot] = pixels

    def view(self, slot: int) -> np.ndarray:
        return self.array[slot]

    def close(self) -> None:
        del self.array
        self._shm.close()
        if self.owner:
            self._shm.unlink()
