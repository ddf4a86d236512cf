"""Validation of an uploaded model before it is staged (model update, flight.payload.cluster.model_update).

In order, each failure with its failure code (flight.wire.failure) and a reason:

1. its CRC-32C is the one the command gives (MODEL_CRC_MISMATCH);
2. ONNX Runtime loads it (MODEL_UNLOADABLE);
3. its inputs and outputs have the flying model's names, element types and shapes, the batch axis
   aside (MODEL_SIGNATURE): the pipeline feeds and decodes it unchanged;
4. its test vector gives the expected result (MODEL_TEST_VECTOR).

The test vector is a NumPy ``.npz`` file beside the model with the same stem (``new.onnx`` ->
``new.npz``): ``input``, a batch of tiles as the model's input takes them ([N, 4, size, size]
uint16), and ``output_0``, ``output_1``, ... the model's expected outputs in order. The model
passes when every output is within ``rtol = 1e-3``, ``atol = 1e-4`` of the expected one and every
tile's decisions (tile class, fire cells: ``voter.decisions``) are the expected ones.

| requirement | verified by |
| a CRC mismatch, unloadable bytes, another input or output shape, a missing |   |
|   or wrong test vector are each refused with their code | tests/unit/payload/test_model_validation.py |
| a model that passes the test vector is accepted | tests/unit/payload/test_model_validation.py |
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from flight.payload.cluster.voter import decisions
from native import crc32c

RTOL, ATOL = 1e-3, 1e-4


class ModelInvalid(Exception):
    """The model may not be staged: ``failure`` names the failure code, the message says why."""

    def __init__(self, failure: str, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure


def vector_path(model: Path) -> Path:
    """The test vector of the model file ``model``."""
    return model.with_suffix(".npz")


def _signature(session: ort.InferenceSession) -> list[tuple[str, str, str, list]]:
    return [(kind, a.name, a.type, list(a.shape[1:])) for kind, args in
            (("input", session.get_inputs()), ("output", session.get_outputs())) for a in args]


def validate_model(model: bytes, crc: int, flying: bytes, vector: Path) -> None:
    """Raise :class:`ModelInvalid` unless ``model`` (CRC-32C ``crc``) may replace ``flying``, with
    the test vector in the file ``vector``."""
    if crc32c(model) != crc:
        raise ModelInvalid("MODEL_CRC_MISMATCH", f"CRC-32C {crc32c(model):08x}, the command says {crc:08x}")
    try:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own classes for every kind of bad file
        reason = f"ONNX Runtime cannot load it ({str(error).splitlines()[0][:160]})"
        raise ModelInvalid("MODEL_UNLOADABLE", reason) from None
    wanted = _signature(ort.InferenceSession(flying, providers=["CPUExecutionProvider"]))
    got = _signature(session)
    if got != wanted:
        differ = [f"{g[0]} {g[1]} {g[2]} {g[3]}" for g in got if g not in wanted] or ["fewer"]
        raise ModelInvalid("MODEL_SIGNATURE", f"inputs/outputs differ from the flying model's: {', '.join(differ)}")
    _check_test_vector(session, vector)


def _check_test_vector(session: ort.InferenceSession, vector: Path) -> None:
    if not vector.is_file():
        raise ModelInvalid("MODEL_TEST_VECTOR", f"no test vector {vector.name} beside the model")
    try:
        with np.load(vector) as data:
            tiles = data["input"]
            expected = [data[f"output_{k}"] for k in range(len(session.get_outputs()))]
        outputs = session.run(None, {session.get_inputs()[0].name: tiles})
    except Exception as error:  # a malformed vector file, or a model that fails on its input
        reason = f"the test vector cannot be run: {type(error).__name__}: {error}"
        raise ModelInvalid("MODEL_TEST_VECTOR", reason) from None
    for k, (got, want) in enumerate(zip(outputs, expected)):
        if got.shape != want.shape or not np.allclose(got, want, rtol=RTOL, atol=ATOL):
            raise ModelInvalid("MODEL_TEST_VECTOR", f"output {k} is not the expected one")
    for index in range(len(tiles)):
        if decisions([o[index] for o in outputs]) != decisions([w[index] for w in expected]):
            raise ModelInvalid("MODEL_TEST_VECTOR", f"tile {index}: not the expected decisions")
