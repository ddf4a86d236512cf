"""FileStore: the bounded on-board file store (a directory of the run directory) and the rule for
which on-board files the ground may ask for.

The store holds at most ``max_files`` files and ``max_bytes`` octets in all. A file is admitted
(:meth:`FileStore.admit`) by name and size before any of it is written: a plain name (no folder,
no ``..``, not hidden, at most 255 octets), and room for it (a file of the same name counts as
replaced). Files being received are written under ``.partial/`` (flight.services.cfdp_entity)
and :meth:`FileStore.deliver` moves one to its final name only once it is whole and checked,
checking the bounds again, with one rename, so a partial file is never seen under its final
name. Leftovers of ``.partial/`` (a transfer a restart cut) are removed at start.

:func:`run_path` resolves a path the ground names (a downlink, a repository listing) inside the
run directory, and refuses an absolute path, a ``..`` part, or one that leads outside it (a
symbolic link included).

| requirement | verified by |
|---|---|
| a file that would pass max_files or max_bytes is refused, and a bad name; a replaced file |   |
|   counts once | tests/unit/services/test_file_store.py |
| delivery is one rename after a last bounds check; the partial folder is emptied at start |   |
|   | tests/unit/services/test_file_store.py |
| paths outside the run directory, absolute or with ``..`` are refused (hypothesis) |   |
|   | tests/unit/services/test_file_store.py |
| a component's file (:meth:`FileStore.save`) is kept whole within the bounds, or refused with |   |
|   the reason and nothing of it kept | tests/unit/services/test_file_store.py |
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from flight.wire.file_management import Entry

PARTIAL = ".partial"
REPORT_MAX = 200        # objects in one repository report at most (the rest are left out)


class PathRefused(ValueError):
    """A path the ground may not name."""


def run_path(run_dir: Path, path: str) -> Path:
    """``path`` (relative, POSIX) inside ``run_dir``; PathRefused if it is absolute, has a ``..``
    or leads outside (through a link too)."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path or "\0" in path:
        raise PathRefused(f"{path!r}: a path relative to the run directory, without '..'")
    root = run_dir.resolve()
    resolved = (root / pure).resolve()
    if resolved != root and root not in resolved.parents:
        raise PathRefused(f"{path!r} leads outside the run directory")
    return resolved


def name_refusal(name: str) -> str | None:
    """Why ``name`` is not a file name the store takes, or None."""
    if not name or "/" in name or "\\" in name or "\0" in name or name in (".", "..") or name.startswith("."):
        return f"{name!r} is not a plain file name (no folder, not hidden)"
    if len(name.encode("utf-8")) > 255:
        return f"{name[:40]!r}...: longer than 255 octets"
    return None


class FileStore:
    def __init__(self, root: Path, max_bytes: int, max_files: int) -> None:
        self.root, self.max_bytes, self.max_files = root, max_bytes, max_files
        self.partial = root / PARTIAL

    def open(self) -> None:
        """Create the store's folder; remove what a cut transfer left in ``.partial/``."""
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir()

    def entries(self) -> list[Entry]:
        """The files of the store, by name (``.partial/`` is not listed)."""
        return listing(self.root)

    @property
    def used(self) -> int:
        return sum(e.size for e in self.entries())

    def admit(self, name: str, size: int) -> str | None:
        """Why a file ``name`` of ``size`` octets cannot come in, or None."""
        refusal = name_refusal(name)
        if refusal:
            return refusal
        entries = {e.name: e.size for e in self.entries()}
        replaced = entries.pop(name, None)
        if replaced is None and len(entries) + 1 > self.max_files:
            return f"the store holds {len(entries)} files, at most {self.max_files}"
        if sum(entries.values()) + size > self.max_bytes:
            return (f"{name}: {size} octets do not fit: {sum(entries.values())} of {self.max_bytes} in use"
                    + (" besides the file it replaces" if replaced is not None else ""))
        return None

    def deliver(self, name: str, staged: Path) -> str | None:
        """Move a whole, checked file to its name (one rename); the reason if it cannot."""
        refusal = self.admit(name, staged.stat().st_size)
        if refusal:
            return refusal
        try:
            os.replace(staged, self.root / name)
        except OSError as error:
            return f"{name}: {error.strerror}"
        return None

    def save(self, name: str, data: bytes) -> None:
        """Keep ``data`` as file ``name`` (a component's file, e.g. an image asked for): written
        and synced under ``.partial/``, then delivered as a received file is; OSError (with the
        reason) if it is refused or cannot be written, and nothing of it stays."""
        refusal = self.admit(name, len(data))
        if refusal:
            raise OSError(refusal)
        staged = self.partial / name
        try:
            with open(staged, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            refusal = self.deliver(name, staged)
        finally:
            staged.unlink(missing_ok=True)
        if refusal:
            raise OSError(refusal)

    def delete(self, name: str) -> None:
        """FileNotFoundError if the store has no such file; PathRefused for a bad name."""
        refusal = name_refusal(name)
        if refusal:
            raise PathRefused(refusal)
        path = self.root / name
        if not path.is_file():
            raise FileNotFoundError(f"the store has no file {name!r}")
        path.unlink()


def listing(folder: Path) -> list[Entry]:
    """The objects of ``folder`` by name, hidden ones left out, at most REPORT_MAX."""
    entries = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        try:
            is_dir = path.is_dir()
            entries.append(Entry(path.name, 0 if is_dir else path.stat().st_size, is_dir))
        except OSError:  # removed while listed
            continue
        if len(entries) == REPORT_MAX:
            break
    return entries
