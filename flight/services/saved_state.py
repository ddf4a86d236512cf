"""SavedState: what a component changed by command, kept across a restart (a SIGKILL at any instant
included) in a :class:`flight.core.durable.DurableRecord` in the run directory.

The on-board monitoring definitions (ST[12]), the event-action definitions (ST[19]) and the
flight's mode keep their state this way: each change is saved (``fdatasync``) before the command
that made it completes, so an ST[1] completion always means "on disk". The record carries the
dictionary's id digest (:func:`ids_digest`: the ids of its channels and events and the opcodes of
its commands), because saved definitions name channels, events and commands by id; a record for
other ids (the flight software changed) is not used.

At start, :meth:`SavedState.open` returns the state saved, or None when there is none: no file,
nothing saved yet, or the state saved as None (the component's defaults asked for). A file that
cannot be read (the wrong size, no valid copy), a record for other ids, or a state the component
finds invalid (:meth:`SavedState.set_aside`) is moved aside (``<file>.corrupt-N``, kept for
inspection) and a fresh file started; :attr:`SavedState.problem` says why, for the component's
event, and the component starts from its defaults (if even that fails, a directory that cannot
be written, every save fails the command that asked for it).

:class:`KeptDefinitions` is the part the definition services share: their state opened at start
(the saved set replaces the topology's whole, as cFS LC loads its tables; one that fails the
service's own checks is moved aside), saved after each change, and RESTORE_DEFAULTS.

| requirement | verified by |
|---|---|
| the state saved is the state opened; an unreadable file or a record for other ids is moved |   |
|   aside, with the reason | tests/unit/services/test_kept_definitions.py |
| a flight killed with SIGKILL at any instant restarts with the state of the last completion |   |
|   reported, or of the request the kill cut, nothing else | tests/unit/services/test_kept_definitions.py |
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flight.core.catalog import Catalog
from flight.core.component import Component, Event, StartError, command
from flight.core.durable import DurableRecord, DurableRecordError, move_aside
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.wire.failure import PacketError
from native import crc32c

_DETAIL = (Field("detail", DataType.STRING),)
KEPT_EVENTS = {
    "SavedStateLost": Event(Severity.WARNING_HI, "Saved definitions not used: {detail}", _DETAIL),
    "StateNotSaved": Event(Severity.WARNING_HI, "Definitions not saved: {detail}", _DETAIL),
    "DefaultsRestored": Event(Severity.ACTIVITY, "Back to the topology's definitions: {count} defined",
                              (Field("count", DataType.U16),)),
}


def ids_digest(catalog: Catalog) -> int:
    """CRC-32C of the ids of the dictionary's channels and events and the opcodes of its commands."""
    ids = [sorted((c.name, c.id) for c in catalog.channels), sorted((e.name, e.id) for e in catalog.events),
           sorted((c.name, c.opcode) for c in catalog.commands)]
    return crc32c(json.dumps(ids, separators=(",", ":")).encode())


class SavedState:
    """One component's saved state; open it at start, save after each change."""

    def __init__(self, path: str | Path, slot_size: int, digest: int = 0) -> None:
        self.path = Path(path)
        self.slot_size = slot_size
        self.digest = digest
        self.problem: str | None = None
        self._record: DurableRecord | None = None
        self._last: Any = None   # the state on disk, or the defaults in use

    def open(self) -> Any:
        """The state saved, None for none (see the module's docstring)."""
        try:
            self._record = DurableRecord(self.path, self.slot_size)
        except (DurableRecordError, OSError, ValueError) as error:
            return self.set_aside(f"could not be read ({error})")
        if self._record.damaged:
            return self.set_aside("has no valid copy")
        saved = self._record.load()
        if saved is None:
            return None
        if not isinstance(saved, dict) or saved.get("ids") != self.digest or "state" not in saved:
            return self.set_aside("was saved for another dictionary")
        self._last = saved["state"]
        return self._last

    def set_aside(self, why: str) -> None:
        """Move the file aside (``why`` it is not used) and start a fresh one; None (no state)."""
        self.close()
        try:
            kept = move_aside(self.path)
            self._record = DurableRecord(self.path, self.slot_size)
        except (OSError, DurableRecordError) as error:   # each save then fails its command, said
            self.problem = f"{self.path.name} {why} and could not be set aside ({error}): the defaults used"
            return None
        self.problem = f"{self.path.name} {why}: moved aside to {kept.name}, the defaults used"
        return None

    def save(self, state: Any) -> None:
        """Make ``state`` the one :meth:`open` returns at the next start; on disk when this returns
        (None: start from the defaults)."""
        if self._record is None:
            raise DurableRecordError(f"{self.path} is not open")
        self._record.save({"ids": self.digest, "state": state})
        self._last = state

    def baseline(self, state: Any) -> None:
        """``state`` is in use without being saved (the defaults): :meth:`save_if_changed` compares with it."""
        self._last = state

    def save_if_changed(self, state: Any) -> None:
        """:meth:`save` ``state`` unless it is the one saved (or the baseline); JSON values only."""
        if state != self._last:
            self.save(state)

    def close(self) -> None:
        if self._record is not None:
            self._record.close()
            self._record = None


class KeptDefinitions(Component):
    """A service whose definitions, changed by command, are kept in a :class:`SavedState` (``saved``,
    made by the subclass). The subclass says what its state is (:meth:`_snapshot`, JSON values),
    uses a saved one (:meth:`_restore`, which checks it whole and raises before any effect) and
    puts its topology's defaults in place (:meth:`_set_defaults`, from :meth:`_defaults`, which
preflight checks); it declares ``KEPT_EVENTS``."""

    SETTINGS: dict[str, Setting] = {}   # each service declares its ``file`` (:func:`file_setting`)
    saved: SavedState

    def _snapshot(self) -> Any:
        raise NotImplementedError

    def _restore(self, saved: Any) -> None:
        raise NotImplementedError

    def _set_defaults(self) -> int:
        """Put the topology's definitions in place; how many there are."""
        raise NotImplementedError

    def _defaults(self) -> Any:
        """The topology's definitions, checked (StartError naming the one that cannot be used)."""
        raise NotImplementedError

    def _publish(self) -> None:
        """Report the definitions in telemetry."""
        raise NotImplementedError

    def preflight(self) -> str | None:
        try:
            self._defaults()
        except StartError as error:
            return str(error)
        return None

    def start(self) -> None:
        self._start_kept()
        self._publish()

    def _start_kept(self) -> None:
        """At start: the saved state if there is a usable one, else the defaults (SavedStateLost if
        a saved one was not usable)."""
        saved = self.saved.open()
        if saved is not None:
            try:
                self._restore(saved)
            except (PacketError, LookupError, TypeError, ValueError) as error:
                detail = error.message if isinstance(error, PacketError) else f"{type(error).__name__}: {error}"
                saved = self.saved.set_aside(f"holds a definition that cannot be used ({detail})")
        if saved is None:
            self._set_defaults()
            self.saved.baseline(self._snapshot())
        if self.saved.problem:
            self.event("SavedStateLost", detail=self.saved.problem)

    def _keep(self) -> None:
        """Save the state if it changed; StateNotSaved, and raised, if it cannot be (it is saved
        with the next change that can be)."""
        try:
            self.saved.save_if_changed(self._snapshot())
        except (OSError, DurableRecordError) as error:
            self.event("StateNotSaved", detail=f"{type(error).__name__}: {error}")
            raise

    def stop(self) -> None:
        self.saved.close()

    @command(description="Return to the topology's definitions (and function state); the saved set is "
                         "dropped, for the next start too")
    def RESTORE_DEFAULTS(self) -> None:
        self.saved.save(None)
        count = self._set_defaults()
        self.saved.baseline(self._snapshot())
        self.event("DefaultsRestored", count=count)


def file_setting(name: str) -> Setting:
    """The ``file`` setting of a service that keeps its definitions."""
    return Setting(str, name, description="the definitions kept across a restart, in the run directory "
                                          "(deleted while the flight is down: the topology's are used)")
