"""DurableRecord: a small JSON record that survives a crash at any instant, saved in well under a millisecond.

Some state must be on disk before the flight acts on it: the link's anti-replay counters, for
example, or a command sent before a reboot could run again after it. Rewriting a file and
renaming it costs a file and a directory sync each time; this record instead keeps two fixed
slots in one preallocated file and overwrites the older slot, then syncs that one file
(``fdatasync``). A slot is ``generation (8 octets) | length (4) | CRC-32C (4) | JSON``, the
CRC-32C taken over the generation, the length and the JSON (an upset in the generation cannot
make an old slot look newer); loading takes the valid slot of the highest generation, so a save
torn by a crash leaves the previous record. The file never grows, so a full disk cannot fail a save.
A file with something written in it but no valid slot (both torn or corrupted) is ``damaged``;
:func:`move_aside` keeps such a file (and any other unreadable one) for inspection.

| requirement | verified by |
|---|---|
| load returns the last saved record; a torn or corrupted slot falls back to the other |   |
|   | tests/unit/core/test_durable.py |
| a record larger than a slot is refused before anything is written | tests/unit/core/test_durable.py |
| a file with no valid slot but something written is damaged; move_aside numbers the copies |   |
|   | tests/unit/core/test_durable.py |
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from native import crc32c

HEADER = struct.Struct(">QII")
COVERED = struct.Struct(">QI")  # the generation and length, which the CRC covers with the JSON


def _crc(generation: int, body: bytes) -> int:
    return crc32c(COVERED.pack(generation, len(body)) + body)


class DurableRecordError(ValueError):
    """The record cannot be kept (too large) or the file is not a record file."""


class DurableRecord:
    def __init__(self, path: str | Path, slot_size: int = 4096) -> None:
        self.path = Path(path)
        self.slot_size = slot_size
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        size = os.fstat(self._fd).st_size
        if size not in (0, 2 * slot_size):
            os.close(self._fd)
            raise DurableRecordError(f"{self.path}: {size} octets, a record file has {2 * slot_size}")
        if size == 0:
            os.pwrite(self._fd, bytes(2 * slot_size), 0)
            os.fsync(self._fd)
        self.damaged = False   # something written, no valid slot
        self._generation, self._record = self._read()

    def _read(self) -> tuple[int, Any]:
        best: tuple[int, Any] = (0, None)
        for slot in (0, 1):
            raw = os.pread(self._fd, self.slot_size, slot * self.slot_size)
            self.damaged = self.damaged or raw.count(0) != len(raw)
            generation, length, crc = HEADER.unpack_from(raw)
            body = raw[HEADER.size:HEADER.size + length]
            if generation == 0 or length > self.slot_size - HEADER.size or _crc(generation, body) != crc:
                continue
            if generation > best[0]:
                try:
                    best = (generation, json.loads(body))
                except ValueError:
                    continue
        self.damaged = self.damaged and best[0] == 0
        return best

    def load(self) -> Any:
        """The last record saved, or None if none was."""
        return self._record

    def save(self, record: Any) -> None:
        """Make ``record`` the one :meth:`load` returns, on disk before this returns."""
        body = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        if len(body) > self.slot_size - HEADER.size:
            raise DurableRecordError(f"{self.path}: a record of {len(body)} octets, a slot holds "
                                     f"{self.slot_size - HEADER.size}")
        generation = self._generation + 1
        slot = generation % 2
        os.pwrite(self._fd, HEADER.pack(generation, len(body), _crc(generation, body)) + body, slot * self.slot_size)
        os.fdatasync(self._fd)
        self._generation, self._record = generation, record

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def move_aside(path: Path, suffixes: tuple[str, ...] = ("",)) -> Path:
    """Rename ``path`` (and each of its companions ``path`` + suffix that exists) to
    ``<name>.corrupt-N``, N one more than the copies set aside before; the new name of ``path``."""
    number = 1 + sum(1 for _ in path.parent.glob(f"{path.name}.corrupt-*"))
    for suffix in suffixes:
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(part.with_name(f"{part.name}.corrupt-{number}"))
    return path.with_name(f"{path.name}.corrupt-{number}")


def write_whole(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` whole or not at all: a temporary file (created with ``mode``), synced, renamed
    over it, the directory synced (a crash leaves the old file or the new one, never a part)."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
