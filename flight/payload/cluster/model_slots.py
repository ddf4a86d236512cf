"""ModelSlots: the two model slots, A and B, and the durable record of which one flies.

The slots are files in the run directory, ``models/A.onnx`` and ``models/B.onnx``; the record,
``models/slots.rec``, is a :class:`~flight.core.durable.DurableRecord` (two generations in one
file: a save torn by a crash leaves the previous record). It says which slot flies and its
CRC-32C, the state of a model update (IDLE, STAGED, CANARY, COMMITTING) and the staged model's
CRC-32C. At the first start (no record) the configured model is copied into slot A, which flies;
from then on the record, not the ``model`` setting, says what flies. A model is staged into the
slot that does not fly: written to a temporary file, synced, renamed, the directory synced, and
only then recorded. The slot that flies changes in one record save, the commit; nothing else
ever writes to it. So whenever the flight is killed, the record names one complete, verified
file, and every card starts on it.

At a start, an update the record shows in CANARY or COMMITTING was interrupted: it is discarded
(the staged file deleted, state IDLE) and :attr:`ModelSlots.interrupted` names the step. A
STAGED model is kept if its file still has its CRC-32C, else discarded likewise.

| requirement | verified by |
| the first start puts the configured model in slot A, and A flies | tests/unit/payload/test_model_slots.py |
| a model is staged in the other slot; a commit makes it fly; a discard |   |
|   forgets it | tests/unit/payload/test_model_slots.py |
| a kill at any point of a save leaves the record before or after it | tests/unit/payload/test_model_slots.py |
| a restart discards an update interrupted in CANARY or COMMITTING, and |   |
|   says so | tests/unit/payload/test_model_slots.py |
"""
from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from flight.core.durable import DurableRecord, write_whole
from native import crc32c

SLOTS = ("A", "B")
RECORD = "slots.rec"


class UpdateState(enum.IntEnum):
    IDLE = 0
    STAGED = 1
    CANARY = 2
    COMMITTING = 3


def flying_model(folder: Path, configured: Path) -> Path:
    """The model file that flies: the slot the record in ``folder`` names, or (no record yet) the
    configured model."""
    if not (folder / RECORD).is_file():
        return configured
    record = DurableRecord(folder / RECORD)
    try:
        state = record.load()
    finally:
        record.close()
    return configured if state is None else folder / f"{state['active']}.onnx"


class ModelSlots:
    def __init__(self, folder: Path, configured: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._record = DurableRecord(folder / RECORD)
        state = self._record.load()
        if state is None:  # the first start: the configured model flies, from slot A
            model = configured.read_bytes()
            write_whole(folder / "A.onnx", model)
            state = {"active": "A", "crc": crc32c(model), "state": "IDLE", "staged_crc": 0}
            self._record.save(state)
        self._state: dict[str, Any] = dict(state)
        self.interrupted = ""  # the step of an update a restart found interrupted (and discarded)
        self._resume()

    def _resume(self) -> None:
        step = self._state["state"]
        if step in ("CANARY", "COMMITTING") or (step == "STAGED" and not self._staged_intact()):
            self.interrupted = step
            self.discard()

    def _staged_intact(self) -> bool:
        path = self.staged_path
        return path.is_file() and crc32c(path.read_bytes()) == self._state["staged_crc"]

    # --- what the record says -------------------------------------------------------------------
    @property
    def active(self) -> str:
        """The slot that flies, "A" or "B"."""
        return self._state["active"]

    @property
    def active_path(self) -> Path:
        return self.folder / f"{self.active}.onnx"

    @property
    def active_crc(self) -> int:
        return self._state["crc"]

    @property
    def staged_path(self) -> Path:
        """The other slot: where a new model is staged."""
        return self.folder / f"{SLOTS[1 - SLOTS.index(self.active)]}.onnx"

    @property
    def staged_crc(self) -> int:
        return self._state["staged_crc"]

    @property
    def state(self) -> UpdateState:
        return UpdateState[self._state["state"]]

    # --- changes, each durable before it returns ------------------------------------------------
    def _save(self, **changes: Any) -> None:
        state = {**self._state, **changes}
        self._record.save(state)
        self._state = state

    def stage(self, model: bytes, crc: int) -> None:
        """Put ``model`` (CRC-32C ``crc``, validated) into the slot that does not fly."""
        write_whole(self.staged_path, model)
        self._save(state="STAGED", staged_crc=crc)

    def set_state(self, state: UpdateState) -> None:
        self._save(state=state.name)

    def commit(self) -> None:
        """The staged slot flies from now on: one record save."""
        self._save(active=SLOTS[1 - SLOTS.index(self.active)], crc=self.staged_crc, state="IDLE", staged_crc=0)

    def discard(self) -> None:
        """Forget the staged model (the record first: a kill in between leaves an unnamed file)."""
        path = self.staged_path
        self._save(state="IDLE", staged_crc=0)
        path.unlink(missing_ok=True)

    def close(self) -> None:
        self._record.close()
