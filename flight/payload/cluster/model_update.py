"""ModelUpdate: the inference cluster's in-orbit model update: commands, slots, events, housekeeping.

A part of :class:`~flight.payload.cluster.component.InferenceCluster` (a base class of it): the
component's commands and durable state for replacing the model that flies, around the cluster
thread's :class:`~flight.payload.cluster.model_swap.ModelSwap` (canary, commit, rollback).

1. ``STAGE_MODEL(file, crc)``: the uploaded ``file`` of the file store (``file_store``, where the
   file transfer delivers) and its test vector beside it are validated
   (flight.payload.cluster.model_validation: CRC-32C, loads, same inputs and outputs, test vector)
   and the model is written into the slot that does not fly (flight.payload.cluster.model_slots).
   A refusal says why in ``ModelRejected`` and with its failure code, and changes nothing.
2. ``START_CANARY(frames, card)``: the staged model runs on one card in shadow for ``frames``
   frames (0: the ``canary_frames`` setting); then, with at most ``canary_disagreements``
   disagreements, it is committed automatically on every card, one at a time (``ModelCommitted``),
   the record then says its slot flies, and each card's live weights (with their golden copies) are
   offered again to the scrubber and the SEU injector as the card switches. A disagreement too many,
   or a failure of the canary card, rolls back automatically (``ModelRolledBack`` with the reason).
3. ``ROLLBACK_MODEL``: a staged model is discarded, a canary rolled back (refused while committing).
   Entering SAFE mode rolls a canary back too (SAFE parks every card), and a canary cannot start
   in SAFE (no card is in service).

At start the slot the record names flies on every card; an update a restart interrupted in its
canary or commit is discarded (``ModelUpdateInterrupted`` with the step); a staged one stays staged.
A failure fails that update alone, never a thread: a refused command with its failure code and
event, an automatic rollback with its event; rejections and rollbacks count in ``UpdateFailures``.

| requirement | verified by |
| validation failures refuse STAGE_MODEL with a code and ModelRejected, |   |
|   nothing changed | tests/system/test_model_update_cluster.py |
| STAGED -> CANARY -> committed (IDLE, the other slot flies); ROLLBACK_MODEL discards a staged |   |
|   model and rolls a canary back; with nothing staged both are refused, and |   |
|   ROLLBACK_MODEL while committing | tests/system/test_model_update_cluster.py |
| a crashed canary card rolls the update back; so does SAFE mode, and no canary starts in SAFE |   |
|   | tests/system/test_model_update_cluster.py |
| after a commit every card's weights region (live and golden) holds the new |   |
|   weights and is offered to the scrubber | tests/system/test_model_update_cluster.py |
| an update during imaging: no frame lost, no wrong product; the new model flies on every card, |   |
|   after a restart too | tests/system/test_model_update.py |
| a bad shape is refused at STAGE_MODEL; wrong answers are rolled back on the canary with an |   |
|   event; the old model goes on flying | tests/system/test_model_update.py |
| a SIGKILL after staging, mid-canary or mid-commit: on restart every card |   |
|   runs one model (the old) | tests/system/test_model_update.py |
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from flight.core.component import Channel, CommandError, CommandRefused, Event, StartError, command
from flight.core.completion import Pending
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity, enumeration_of
from flight.messages import RegionChange
from flight.payload.cluster.model_slots import ModelSlots, UpdateState, flying_model
from flight.payload.cluster.model_swap import CanaryPlan, Phase
from flight.payload.cluster.model_validation import ModelInvalid, validate_model, vector_path
from flight.payload.cluster.weights import WeightStore
from native import crc32c

MODELS = "models"  # the slots' folder in the run directory
UPDATE_SETTINGS = {
    "file_store": Setting(str, "files", description="where uploaded files land, relative to the run directory"),
    "canary_frames": Setting(int, 20, 1, 1_000_000,
                             description="frames a canary compares before the commit (unless START_CANARY says)"),
    "canary_disagreements": Setting(int, 0, 0, 1_000_000,
                                    description="disagreements a canary may have; one more rolls it back"),
}
UPDATE_CHANNELS = {
    "ModelSlot": Channel(DataType.U8, description="the slot that flies", enumeration=((0, "A"), (1, "B"))),
    "ModelCrc": Channel(DataType.U32, description="CRC-32C of the model new frames run on"),
    "UpdateState": Channel(DataType.U8, description="the model update's state",
                           enumeration=enumeration_of(UpdateState)),
    "CanaryCompared": Channel(DataType.U32, "frames", description="the last canary's frames compared"),
    "CanaryDisagreed": Channel(DataType.U32, "frames", description="the last canary's disagreements"),
    "UpdateFailures": Channel(DataType.U32, "updates", Limits(yellow_high=0),
                              description="models rejected, rolled back or interrupted"),
}
UPDATE_EVENTS = {
    "ModelStaged": Event(Severity.ACTIVITY, "Model {file} (CRC-32C {crc:08x}) staged in slot {slot}",
                         (Field("file", DataType.STRING), Field("crc", DataType.U32), Field("slot", DataType.STRING))),
    "ModelRejected": Event(Severity.WARNING_HI, "Model {file} rejected: {reason}",
                           (Field("file", DataType.STRING), Field("reason", DataType.STRING))),
    "CanaryStarted": Event(Severity.ACTIVITY, "Canary of model {crc:08x} on {card} for {frames} frames",
                           (Field("crc", DataType.U32), Field("card", DataType.STRING),
                            Field("frames", DataType.U32))),
    "ModelRolledBack": Event(Severity.WARNING_HI, "Model update rolled back: {reason}",
                             (Field("reason", DataType.STRING),)),
    "ModelCommitted": Event(Severity.ACTIVITY, "Model {crc:08x} flies from slot {slot} on every card",
                            (Field("crc", DataType.U32), Field("slot", DataType.STRING))),
    "ModelUpdateInterrupted": Event(Severity.WARNING_HI, "A model update was interrupted in {step}: discarded; "
                                                         "slot {slot} flies", (Field("step", DataType.STRING),
                                                                               Field("slot", DataType.STRING))),
}


class ModelUpdate:
    """The model update's part of the cluster component (see the module's docstring)."""

    SETTINGS = UPDATE_SETTINGS

    # provided by the component
    engine: Any
    context: Any
    config: dict[str, Any]
    regions: Any
    event: Callable[..., bool]
    tlm: Callable[[str, Any], None]
    increment: Callable[..., None]

    def flying_model(self) -> Path:
        """The model the slot record names (the configured one before the first start)."""
        return flying_model(self.context.run_dir / MODELS, self.context.run_file(self.config["model"]))

    def open_slots(self) -> Path:
        """At start: the slots (the configured model put in slot A the first time); the model that flies."""
        self._update_lock = threading.Lock()
        self._offered: dict[str, Any] = {}  # each card's weights region, as offered to the scrubber
        self.slots = ModelSlots(self.context.run_dir / MODELS, self.context.run_file(self.config["model"]))
        if self.slots.interrupted:
            self.event("ModelUpdateInterrupted", step=self.slots.interrupted, slot=self.slots.active)
            self.increment("UpdateFailures")
        path = self.slots.active_path
        if crc32c(path.read_bytes()) != self.slots.active_crc:
            raise StartError(f"{path} no longer has CRC-32C {self.slots.active_crc:08x}")
        return path

    # --- commands -----------------------------------------------------------------------------
    @command(Field("file", DataType.STRING, description="the model's name in the file store"),
             Field("crc", DataType.U32, description="its CRC-32C"),
             description="Validate an uploaded model (and its test vector NAME.npz) and stage it in the slot "
                         "that does not fly")
    def STAGE_MODEL(self, file: str, crc: int) -> None:
        with self._update_lock:
            if self.slots.state not in (UpdateState.IDLE, UpdateState.STAGED):
                raise CommandRefused(f"a model update is under way ({self.slots.state.name})")
            try:
                model = self._read_upload(file)
                validate_model(model, crc, self.slots.active_path.read_bytes(), vector_path(self._store() / file))
            except ModelInvalid as error:
                self.event("ModelRejected", file=file, reason=str(error))
                self.increment("UpdateFailures")
                raise CommandError(str(error), failure=error.failure) from None
            self.slots.stage(model, crc)
        self.event("ModelStaged", file=file, crc=crc, slot=self.slots.staged_path.stem)

    def _store(self) -> Path:
        return self.context.run_file(self.config["file_store"])

    def _read_upload(self, name: str) -> bytes:
        if not name or "/" in name or name.startswith("."):
            raise ModelInvalid("PATH_REFUSED", f"{name!r} is not a plain file name")
        path = self._store() / name
        if not path.is_file():
            raise ModelInvalid("FILE_NOT_FOUND", f"no file {name} in the file store")
        return path.read_bytes()

    @command(Field("frames", DataType.U32, description="frames to compare (0: the canary_frames setting)"),
             Field("card", DataType.STRING, description="the canary card (empty: the last one in service)"),
             description="Run the staged model on one card in shadow, then commit it on every card (or roll "
                         "it back when it disagrees or fails)")
    def START_CANARY(self, frames: int, card: str) -> Pending:
        if self.slots.state is not UpdateState.STAGED:
            raise CommandRefused(f"no staged model ({self.slots.state.name})")
        plan = CanaryPlan(self.slots.staged_path, self.slots.staged_crc, frames or self.config["canary_frames"],
                          self.config["canary_disagreements"], card)

        def start() -> None:
            with self._update_lock:
                self.engine.swap.start_canary(plan)
                self.slots.set_state(UpdateState.CANARY)
            self.event("CanaryStarted", crc=plan.crc, card=self.engine.swap.card, frames=plan.frames)

        return self.engine.call(start)

    @command(description="Discard the staged model, or roll the canary back (refused while committing)")
    def ROLLBACK_MODEL(self) -> Pending | None:
        state = self.slots.state
        if state is UpdateState.CANARY:
            return self.engine.call(lambda: self.engine.swap.rollback("by command"))
        if state is not UpdateState.STAGED:
            raise CommandRefused(f"nothing to roll back ({state.name})")
        with self._update_lock:
            self.slots.discard()
        self.event("ModelRolledBack", reason="staged model discarded by command")
        return None

    # --- each cycle ---------------------------------------------------------------------------
    def follow_update(self) -> None:
        """Make the swap's progress durable, report it, and offer the weights the cards run."""
        swap = self.engine.swap
        outcome, swap.outcome = swap.outcome, None
        with self._update_lock:
            if swap.phase is Phase.COMMITTING and self.slots.state is UpdateState.CANARY:
                self.slots.set_state(UpdateState.COMMITTING)
            if outcome is not None and outcome[0] == "committed":
                self.slots.commit()
                self.event("ModelCommitted", crc=self.slots.active_crc, slot=self.slots.active)
            elif outcome is not None:
                self.slots.discard()
                self.event("ModelRolledBack", reason=outcome[1])
                self.increment("UpdateFailures")
        self.offer_weights()
        self.tlm("ModelSlot", "AB".index(self.slots.active))
        self.tlm("ModelCrc", self.engine.supervisor.image.crc)
        self.tlm("UpdateState", int(self.slots.state))
        self.tlm("CanaryCompared", swap.compared)
        self.tlm("CanaryDisagreed", swap.disagreed)

    def offer_weights(self) -> None:
        """Offer each card's live weights (the region of the model it runs) to the scrubber and the
        SEU injector, withdraw those it no longer runs, and free the weights no card runs."""
        retired = list(self.engine.swap.retired)  # (retired before the cards' models were read below)
        for card, image in list(self.engine.supervisor.images.items()):
            if image.weights is None:
                continue
            region = image.weights.regions[card]
            if self._offered.get(card) is not region:
                if card in self._offered:
                    self.regions.send(RegionChange(self._offered[card], added=False))
                region.recover = self._weights_recovery(image.weights, card)
                self.regions.send(RegionChange(region))
                self._offered[card] = region
        for store in retired:
            self.engine.swap.retired.remove(store)
            store.close()

    def withdraw_weights(self) -> None:
        """At stop: withdraw every card's weights; free those no card runs."""
        for region in self._offered.values():
            self.regions.send(RegionChange(region, added=False))
        self._offered.clear()
        while self.engine.swap.retired:
            self.engine.swap.retired.pop().close()

    def _weights_recovery(self, store: WeightStore, card: str) -> Callable[[], None]:
        def recover() -> None:
            """reload the weights from the model file and reset the card"""
            store.reload(card)
            self.engine.call(lambda: self.engine.reset_card(card, "weights reloaded"))

        return recover
