"""The on-disk cache of the measured per-function implementation choice.

So that only the first import on a CPU and build times the
implementations, the choice is kept in a small JSON file,
``native-tiers.json`` in ``$ORBITFS_CACHE_DIR``, else
``$XDG_CACHE_HOME/orbitfs``, else ``~/.cache/orbitfs``.  Each entry is keyed
by a digest of what the choice depends on: the CPU (model name and feature
flags as the OS reports them, machine type) and the extension's build (a
digest of its shared library).  Another CPU or a rebuilt extension
therefore never reuses a stale choice, and one home directory shared by
several machines keeps one entry per machine (the :data:`MAX_ENTRIES` most
recent).  Writes go to a temporary file renamed over the cache, so a
reader never sees half a file.

Requirements (verified in ``tests/unit/native/test_tiers.py``):
- the location follows ``ORBITFS_CACHE_DIR`` and ``XDG_CACHE_HOME``;
- :func:`load` returns the entry stored under the same key, and ``None``
  for a missing, unreadable or corrupt file, a different key, or an entry
  of the wrong shape (the callers then measure again);
- :func:`store` keeps the most recent :data:`MAX_ENTRIES` entries, leaves
  no temporary file behind, and returns ``False`` instead of raising when
  the directory cannot be created or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Optional

CACHE_DIR_ENV = "ORBITFS_CACHE_DIR"
FILE_NAME = "native-tiers.json"
FORMAT = 1
MAX_ENTRIES = 8


def cache_file() -> Path:
    """Where the choice is cached (the directory may not exist yet)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit) / FILE_NAME
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orbitfs" / FILE_NAME


def cpu_identity() -> str:
    """Model and feature flags of the CPU, as /proc/cpuinfo reports them (machine type elsewhere)."""
    wanted = ("model name", "flags", "cpu implementer", "cpu part", "features")
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in wanted and name not in fields:
            fields[name] = " ".join(value.split())
    fields["machine"] = platform.machine()
    return json.dumps(fields, sort_keys=True)


def build_id(library: Path) -> str:
    """Digest of the extension's shared library (changes with every rebuild that changes code)."""
    return hashlib.sha256(library.read_bytes()).hexdigest()[:16]


def cache_key(cpu: str, build: str) -> str:
    """The entry key for a CPU identity and a build id."""
    return hashlib.sha256(f"{FORMAT}\n{cpu}\n{build}".encode()).hexdigest()[:24]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]


def load(path: Path, key: str) -> Optional[dict[str, Any]]:
    """The entry cached under ``key`` (a dict with ``choice`` and ``rates``), or ``None``."""
    entry = _read(path).get(key)
    if not isinstance(entry, dict):
        return None
    choice, rates = entry.get("choice"), entry.get("rates")
    if not isinstance(choice, dict) or not all(isinstance(v, str) for v in choice.values()):
        return None
    if not isinstance(rates, dict) or not all(isinstance(v, dict) for v in rates.values()):
        return None
    return entry


def store(path: Path, key: str, entry: dict[str, Any]) -> bool:
    """Add ``entry`` under ``key`` (dropping the oldest beyond MAX_ENTRIES); ``False`` if not writable."""
    entries = {k: v for k, v in _read(path).items() if k != key}
    entries[key] = entry
    kept = dict(list(entries.items())[-MAX_ENTRIES:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".native-tiers.", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"format": FORMAT, "entries": kept}, out, indent=1)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
    return True
