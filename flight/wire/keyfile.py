"""The key file: the SDLS keys of the link, their states, and which key each SA uses.

Keys never live in the repository. Each end of the link holds its own copy of the key file
(the SIL generates a fresh one per run: ``python -m flight.wire.keyfile PATH``); the flight
changes its copy only when an authenticated command tells it to (flight.services.tc_link), and
the ground changes its own the same way as it sends those commands.

Format (JSON, written atomically, mode 0600)::

    {"version": 1,
     "kek":  "<64 hex digits>",                 # key-encryption key: unwraps keys loaded by command
     "keys": {"<key id>": {"key": "<64 hex digits>", "state": "active" | "preactive" | "deactivated"}},
     "sas":  {"<SPI>": <key id>}}                # the key each security association uses

Key ids are 1..65535 and keys are AES-256 (32 octets). Key management (the simpler equivalent
of SDLS-EP's OTAR that the issue allows): a new key goes up wrapped with the KEK (AES key wrap,
RFC 3394: 40 octets), arrives *preactive*, is activated, an SA is rekeyed to it, and the old key
deactivated. Only an *active* key protects or verifies a frame; a key an SA uses cannot be
deactivated, nor given to a second SA (two SAs on one key would reuse GCM nonces: each counts
its IVs from its own start). The KEK itself is not changed over the link. A fresh ring holds one
key per SA of the default link: SA 1 (TC) and SA 2 (TM).

| requirement | verified by |
|---|---|
| save then load gives the same ring; a malformed file is refused with one line | tests/unit/wire/test_keyfile.py |
| a key wrapped by one end unwraps at the other; a tampered wrap is refused | tests/unit/wire/test_keyfile.py |
| state transitions: load (preactive) -> active -> deactivated; refusals named | tests/unit/wire/test_keyfile.py |
| no key serves two SAs | tests/unit/wire/test_keyfile.py |
"""
from __future__ import annotations

import argparse
import enum
import json
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from flight.core.durable import write_whole

KEY_SIZE = 32
WRAPPED_SIZE = 40
VERSION = 1
MAX_KEY_ID = 0xFFFF
DEFAULT_SPIS = (1, 2)  # the TC SA and the TM SA of the default link (flight.wire.link)


class KeyState(enum.Enum):
    PREACTIVE = "preactive"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class KeyRingError(ValueError):
    """A key operation or a key file that cannot be, with the reason on one line."""


@dataclass
class Key:
    key: bytes = field(repr=False)
    state: KeyState = KeyState.ACTIVE


@dataclass
class KeyRing:
    """The keys of one end of the link, their states, and the key of each SA (by SPI)."""

    kek: bytes = field(repr=False)
    keys: dict[int, Key] = field(default_factory=dict)
    sas: dict[int, int] = field(default_factory=dict)

    @classmethod
    def create(cls, spis: tuple[int, ...] = DEFAULT_SPIS) -> "KeyRing":
        """A fresh ring: a random KEK and one random active key per SA (key id = SPI's rank + 1)."""
        ring = cls(secrets.token_bytes(KEY_SIZE))
        for key_id, spi in enumerate(spis, start=1):
            ring.keys[key_id] = Key(secrets.token_bytes(KEY_SIZE))
            ring.sas[spi] = key_id
        return ring

    # --- what the link uses -----------------------------------------------------------------------
    def active_keys(self) -> dict[int, bytes]:
        """The active keys by id: the only ones a frame may be protected or verified with."""
        return {kid: k.key for kid, k in self.keys.items() if k.state is KeyState.ACTIVE}

    def key_id_of(self, spi: int) -> int:
        if spi not in self.sas:
            raise KeyRingError(f"the key file names no key for SA {spi}")
        return self.sas[spi]

    # --- key management ---------------------------------------------------------------------------
    def wrap(self, key: bytes) -> bytes:
        """``key`` wrapped with the KEK (RFC 3394), as KEY_LOAD carries it."""
        return aes_key_wrap(self.kek, key)

    def new_key(self, key_id: int) -> bytes:
        """Generate a key, add it as preactive under ``key_id``; return it wrapped for the flight."""
        key = secrets.token_bytes(KEY_SIZE)
        self.load_wrapped(key_id, self.wrap(key))
        return self.wrap(key)

    def load_wrapped(self, key_id: int, wrapped: bytes) -> None:
        """Add a key that came wrapped with the KEK, as preactive."""
        _check_id(key_id)
        if key_id in self.keys:
            raise KeyRingError(f"key {key_id} exists ({self.keys[key_id].state.value}); key ids are not reused")
        if len(wrapped) != WRAPPED_SIZE:
            raise KeyRingError(f"a wrapped key is {WRAPPED_SIZE} octets, not {len(wrapped)}")
        try:
            key = aes_key_unwrap(self.kek, wrapped)
        except InvalidUnwrap:
            raise KeyRingError(f"key {key_id} does not unwrap with the KEK (tampered, or another KEK)") from None
        self.keys[key_id] = Key(key, KeyState.PREACTIVE)

    def activate(self, key_id: int) -> None:
        self._move(key_id, KeyState.PREACTIVE, KeyState.ACTIVE)

    def deactivate(self, key_id: int) -> None:
        users = [spi for spi, kid in self.sas.items() if kid == key_id]
        if users:
            raise KeyRingError(f"key {key_id} is in use by SA {users[0]}: rekey the SA first")
        self._move(key_id, KeyState.ACTIVE, KeyState.DEACTIVATED)

    def rekey(self, spi: int, key_id: int) -> None:
        """SA ``spi`` uses ``key_id`` from now on (the key must be active)."""
        self.key_id_of(spi)
        key = self._key(key_id)
        if key.state is not KeyState.ACTIVE:
            raise KeyRingError(f"key {key_id} is {key.state.value}, an SA takes only an active key")
        others = [other for other, kid in self.sas.items() if kid == key_id and other != spi]
        if others:
            raise KeyRingError(f"key {key_id} is in use by SA {others[0]}; each SA has a key of its own")
        self.sas[spi] = key_id

    def _key(self, key_id: int) -> Key:
        _check_id(key_id)
        if key_id not in self.keys:
            raise KeyRingError(f"no key {key_id}")
        return self.keys[key_id]

    def _move(self, key_id: int, before: KeyState, after: KeyState) -> None:
        key = self._key(key_id)
        if key.state is not before:
            raise KeyRingError(f"key {key_id} is {key.state.value}; only a {before.value} key can become "
                               f"{after.value}")
        key.state = after

    # --- the file ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "kek": self.kek.hex(),
                "keys": {str(kid): {"key": k.key.hex(), "state": k.state.value}
                         for kid, k in sorted(self.keys.items())},
                "sas": {str(spi): kid for spi, kid in sorted(self.sas.items())}}

    @classmethod
    def from_json(cls, doc: Any) -> "KeyRing":
        try:
            if doc.get("version") != VERSION:
                raise KeyRingError(f"version {doc.get('version')!r}, expected {VERSION}")
            ring = cls(_hex_key(doc["kek"], "kek"))
            for kid, entry in doc["keys"].items():
                ring.keys[_check_id(int(kid))] = Key(_hex_key(entry["key"], f"key {kid}"), KeyState(entry["state"]))
            for spi, kid in doc["sas"].items():
                if kid not in ring.keys:
                    raise KeyRingError(f"SA {spi} uses key {kid}, which the file does not hold")
                ring.sas[int(spi)] = kid
        except KeyRingError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise KeyRingError(f"not a key file ({type(error).__name__}: {error})") from None
        return ring

    def save(self, path: str | Path) -> None:
        """Write the ring to ``path`` atomically (a crash leaves the old file or the new), mode 0600."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, json.dumps(self.to_json(), indent=1).encode(), mode=0o600)

    @classmethod
    def load(cls, path: str | Path) -> "KeyRing":
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise KeyRingError(f"cannot read the key file {path}: {error.strerror}") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as error:
            raise KeyRingError(f"{path}: not JSON ({error})") from None
        try:
            return cls.from_json(doc)
        except KeyRingError as error:
            raise KeyRingError(f"{path}: {error}") from None


def _check_id(key_id: int) -> int:
    if not 1 <= key_id <= MAX_KEY_ID:
        raise KeyRingError(f"key id {key_id} outside 1..{MAX_KEY_ID}")
    return key_id


def _hex_key(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * KEY_SIZE:
        raise KeyRingError(f"{what}: expected {2 * KEY_SIZE} hex digits")
    return bytes.fromhex(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flight.wire.keyfile",
                                     description="Create a fresh key file (KEK and one key per SA).")
    parser.add_argument("path", type=Path, help="the flight's key file")
    parser.add_argument("--ground", type=Path, help="also write the ground's copy here")
    parser.add_argument("--spi", type=int, action="append",
                        help="an SA's SPI (repeat; default 1 and 2: the TC and TM SAs)")
    args = parser.parse_args(argv)
    for path in (args.path, args.ground):
        if path is not None and path.exists():
            print(f"error: {path} exists; a key file is never overwritten", file=sys.stderr)
            return 2
    ring = KeyRing.create(tuple(args.spi or DEFAULT_SPIS))
    for path in (args.path, args.ground):
        if path is not None:
            ring.save(path)
            print(f"wrote {path}")
    if args.ground is None:
        print("give the ground a copy of it (each end keeps its own)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
