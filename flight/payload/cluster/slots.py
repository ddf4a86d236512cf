"""SlotPool: frames in shared memory, so a tile reaches every card without another copy.

The flight owns one POSIX shared-memory block of ``count`` slots of one tile each. Admitting a
frame copies its pixels into a free slot once; card workers map the same block and compute
directly on a view of the slot (a frame sent to three cards in TMR is still one copy). The
flight unlinks the block at stop; a worker only attaches (and unregisters it from its own
resource tracker, so a worker that exits never destroys the flight's block).

| requirement | verified by |
| a slot written by the flight is read bit-exactly by another process | tests/system/test_card_link.py |
| acquire/release never hands out a slot twice; a full pool says so | tests/unit/payload/test_slots_and_protocol.py |
| consecutive slots give a zero-copy batch | tests/unit/payload/test_slots_and_protocol.py |
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
        self._in_use = [False] * count
        self._free = count
        self._next = 0

    def acquire(self) -> int | None:
        """A free slot, or None when all are in use. Slots are handed out in ring order, so
        frames admitted one after another mostly sit in consecutive slots, and a batch of them
        can be computed from one view without stacking."""
        if not self._free:
            return None
        while self._in_use[self._next]:
            self._next = (self._next + 1) % self.count
        slot = self._next
        self._in_use[slot] = True
        self._free -= 1
        self._next = (slot + 1) % self.count
        return slot

    def release(self, slot: int) -> None:
        if not 0 <= slot < self.count or not self._in_use[slot]:
            raise ValueError(f"slot {slot} is not in use")
        self._in_use[slot] = False
        self._free += 1

    @property
    def free(self) -> int:
        return self._free

    def write(self, slot: int, pixels: np.ndarray) -> None:
        self.array[slot] = pixels

    def view(self, slot: int) -> np.ndarray:
        return self.array[slot]

    def batch(self, slots: list[int]) -> np.ndarray:
        """The tiles of ``slots`` as one [N, ...] array: a view when the slots are consecutive
        and ascending, else a stacked copy."""
        first = slots[0]
        if slots == list(range(first, first + len(slots))):
            return self.array[first:first + len(slots)]
        return np.stack([self.array[s] for s in slots])

    def close(self) -> None:
        del self.array
        self._shm.close()
        if self.owner:
            self._shm.unlink()
