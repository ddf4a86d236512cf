"""The model slots and their durable record (flight/payload/cluster/model_slots.py): the first start,
staging, commit, discard, what a restart does with an interrupted update, and SIGKILLs at random
instants of a stream of stages and commits (the record is always before or after a save, and the
slot it names always holds the model whose CRC-32C it records)."""
from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

from flight.payload.cluster.model_slots import ModelSlots, UpdateState, flying_model
from native import crc32c


def _slots(tmp_path: Path) -> tuple[ModelSlots, Path]:
    configured = tmp_path / "configured.onnx"
    if not configured.exists():
        configured.write_bytes(b"model A")
    return ModelSlots(tmp_path / "models", configured), configured


def test_the_first_start_flies_the_configured_model_from_slot_a(tmp_path):
    configured = tmp_path / "configured.onnx"
    configured.write_bytes(b"model A")
    assert flying_model(tmp_path / "models", configured) == configured
    slots, _ = _slots(tmp_path)
    assert slots.active == "A" and slots.active_path.read_bytes() == b"model A"
    assert slots.active_crc == crc32c(b"model A") and slots.state is UpdateState.IDLE
    assert flying_model(tmp_path / "models", configured) == tmp_path / "models" / "A.onnx"


def test_stage_commit_and_the_next_update_goes_to_the_other_slot(tmp_path):
    slots, configured = _slots(tmp_path)
    slots.stage(b"model B", crc32c(b"model B"))
    assert slots.state is UpdateState.STAGED and slots.staged_path.name == "B.onnx"
    assert slots.active == "A"                                # staging changes nothing that flies
    slots.set_state(UpdateState.CANARY)
    slots.set_state(UpdateState.COMMITTING)
    slots.commit()
    assert (slots.active, slots.active_crc, slots.state) == ("B", crc32c(b"model B"), UpdateState.IDLE)
    slots.close()
    again, _ = _slots(tmp_path)                               # and so after a restart
    assert again.active == "B" and again.active_path.read_bytes() == b"model B"
    assert flying_model(tmp_path / "models", configured).name == "B.onnx"
    again.stage(b"model C", crc32c(b"model C"))
    assert again.staged_path.name == "A.onnx"


def test_discard_forgets_the_staged_model(tmp_path):
    slots, _ = _slots(tmp_path)
    slots.stage(b"model B", crc32c(b"model B"))
    slots.discard()
    assert slots.state is UpdateState.IDLE and not slots.staged_path.exists() and slots.active == "A"


def test_a_restart_discards_an_interrupted_canary_or_commit_and_keeps_a_staged_model(tmp_path):
    for step in (UpdateState.CANARY, UpdateState.COMMITTING):
        slots, _ = _slots(tmp_path)
        slots.stage(b"model B", crc32c(b"model B"))
        slots.set_state(step)
        slots.close()
        again, _ = _slots(tmp_path)
        assert again.interrupted == step.name and again.state is UpdateState.IDLE
        assert again.active == "A" and not again.staged_path.exists()
        again.close()
    slots, _ = _slots(tmp_path)
    slots.stage(b"model B", crc32c(b"model B"))
    slots.close()
    again, _ = _slots(tmp_path)
    assert again.interrupted == "" and again.state is UpdateState.STAGED
    again.staged_path.write_bytes(b"model B, upset")        # a staged file that changed is not kept
    again.close()
    third, _ = _slots(tmp_path)
    assert third.interrupted == "STAGED" and third.state is UpdateState.IDLE


def _churn(folder: Path, configured: Path) -> None:
    """Stage, canary, commit, again and again, until killed."""
    slots = ModelSlots(folder, configured)
    for n in range(1_000_000):
        model = f"model {n}".encode() * 100
        slots.stage(model, crc32c(model))
        slots.set_state(UpdateState.CANARY)
        if n % 3:
            slots.commit()
        else:
            slots.discard()


def test_a_sigkill_at_any_instant_leaves_the_record_naming_a_whole_model(tmp_path):
    configured = tmp_path / "configured.onnx"
    configured.write_bytes(b"model A")
    rng = random.Random(14)
    context = multiprocessing.get_context("fork")
    actives = set()
    for _ in range(20):
        child = context.Process(target=_churn, args=(tmp_path / "models", configured))
        child.start()
        time.sleep(rng.uniform(0.02, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        slots = ModelSlots(tmp_path / "models", configured)
        assert crc32c(slots.active_path.read_bytes()) == slots.active_crc
        assert slots.state in (UpdateState.IDLE, UpdateState.STAGED)
        if slots.state is UpdateState.STAGED:
            assert crc32c(slots.staged_path.read_bytes()) == slots.staged_crc
        actives.add(slots.active_crc)
        slots.close()
    assert len(actives) > 1  # the kills fell at different points of the stream
