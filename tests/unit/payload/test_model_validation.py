"""Validation of an uploaded model before staging (flight/payload/cluster/model_validation.py): each
refusal with its failure code (CRC mismatch, unloadable bytes, another input shape, another output
shape, no test vector, a wrong answer to it), and a model with other weights but the same decisions
accepted. Test models are the demo model, built for another size or grid, or with its class layer
changed (onnx's numpy_helper)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from flight.payload.cluster.model_validation import ModelInvalid, validate_model, vector_path
from flight.payload.demo_model import build_demo_model
from flight.payload.scene import SceneGenerator
from ground_sim.model_package import model_crc, write_test_vector

FLYING = build_demo_model().SerializeToString(deterministic=True)


def class_layer(scale: float = 1.0, shift: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> onnx.ModelProto:
    """The demo model with its class layer scaled (the same decisions, other confidences) or its
    biases shifted (other decisions)."""
    model = build_demo_model()
    for tensor in model.graph.initializer:
        if tensor.name in ("class_weight", "class_bias"):
            values = numpy_helper.to_array(tensor) * scale
            if tensor.name == "class_bias":
                values = values + np.array(shift, np.float32)
            tensor.CopyFrom(numpy_helper.from_array(values.astype(np.float32), tensor.name))
    return model


def upload(folder: Path, name: str, model: onnx.ModelProto, vector_from: onnx.ModelProto | None = None,
           size: int = 256) -> Path:
    """Write ``model`` as ``name`` with a test vector of 4 tiles computed by ``vector_from`` (default: itself)."""
    path = folder / name
    reference = folder / f"reference-{name}"
    reference.write_bytes((vector_from or model).SerializeToString(deterministic=True))
    tiles = np.stack([SceneGenerator(7, size=size).tile(k).pixels for k in range(4)])
    vector = write_test_vector(reference, tiles)
    path.write_bytes(model.SerializeToString(deterministic=True))
    vector.rename(vector_path(path))
    return path


def _check(path: Path, crc: int | None = None) -> None:
    validate_model(path.read_bytes(), model_crc(path) if crc is None else crc, FLYING, vector_path(path))


def test_a_model_with_the_same_decisions_passes(tmp_path):
    _check(upload(tmp_path, "new.onnx", class_layer(scale=0.5)))


@pytest.mark.parametrize("case, failure", [
    ("crc", "MODEL_CRC_MISMATCH"), ("bytes", "MODEL_UNLOADABLE"), ("input", "MODEL_SIGNATURE"),
    ("output", "MODEL_SIGNATURE"), ("no vector", "MODEL_TEST_VECTOR"), ("wrong", "MODEL_TEST_VECTOR")])
def test_each_defect_is_refused_with_its_code(tmp_path, case, failure):
    good = upload(tmp_path, "new.onnx", class_layer(scale=0.5))
    path, crc = good, None
    if case == "crc":
        crc = model_crc(good) ^ 1
    elif case == "bytes":
        path.write_bytes(b"not a model" * 10)
    elif case == "input":
        path = upload(tmp_path, "small.onnx", build_demo_model(size=128), size=128)
    elif case == "output":
        path = upload(tmp_path, "coarse.onnx", build_demo_model(grid=4))
    elif case == "no vector":
        vector_path(good).unlink()
    else:  # the tile class always FIRE: the expected answers are the flying model's
        path = upload(tmp_path, "wrong.onnx", class_layer(shift=(0.0, 0.0, 1e3)), vector_from=build_demo_model())
    with pytest.raises(ModelInvalid) as refused:
        _check(path, crc)
    assert refused.value.failure == failure, refused.value
