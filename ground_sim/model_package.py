"""What the ground sends up with a new model for an in-orbit model update: its test vector and CRC-32C.

The flight validates an uploaded model against the test vector beside it before staging it
(flight.payload.cluster.model_validation): ``NAME.npz`` for ``NAME.onnx``, holding ``input`` (a
batch of tiles, [N, 4, size, size] uint16) and ``output_0``, ``output_1``, ... (the model's
outputs on them, in order), which this module computes with ONNX Runtime on the ground.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from native import crc32c


def write_test_vector(model: Path, tiles: np.ndarray) -> Path:
    """Write ``model``'s test vector beside it: ``tiles`` and the model's outputs on them."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: tiles})
    path = model.with_suffix(".npz")
    with open(path, "wb") as file:
        np.savez(file, input=tiles, **{f"output_{k}": output for k, output in enumerate(outputs)})
    return path


def model_crc(model: Path) -> int:
    """The CRC-32C that STAGE_MODEL must be given for ``model``."""
    return crc32c(model.read_bytes())
