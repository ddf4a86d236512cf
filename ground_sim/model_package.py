"""What the ground sends up with a new model for an in-orbit model update: its test vector and CRC-32C.

The flight validates an uploaded model against the test vector beside it before staging it
(flight.payload.cluster.model_validation): ``NAME.npz`` for ``NAME.onnx``, holding ``input`` (a
batch of tiles, [N, 4, size, size] uint16) and ``output_0``, ``output_1``, ... (the model's
outputs on them, in order), which this module computes with ONNX Runtime on the ground.
:func:`demo_variant` makes the models the tests update to (the demo model with another class layer)
and :func:`model_of` says which model computed each product.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from flight.payload.demo_model import build_demo_model
from flight.payload.detection import decode_outputs
from flight.payload.scene import SceneGenerator
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


def demo_variant(scale: float = 1.0, fire_bias: float = 0.0) -> onnx.ModelProto:
    """The demo model with its class layer scaled by ``scale`` and ``fire_bias`` added to the FIRE
    logit: scaled, it decides as the demo model does with other confidences; biased, it answers wrong."""
    model = build_demo_model()
    for tensor in model.graph.initializer:
        if tensor.name in ("class_weight", "class_bias"):
            values = numpy_helper.to_array(tensor) * scale
            if tensor.name == "class_bias":
                values = values + np.array([0.0, 0.0, fire_bias], np.float32)
            tensor.CopyFrom(numpy_helper.from_array(values.astype(np.float32), tensor.name))
    return model


def write_package(folder: Path, name: str, model: onnx.ModelProto) -> tuple[Path, int]:
    """``model`` as ``folder/files/NAME`` with its test vector (three tiles of scene 9) beside it:
    its path and CRC-32C. With a flight's run directory as ``folder``, it is where an upload lands."""
    path = folder / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString(deterministic=True))
    write_test_vector(path, np.stack([SceneGenerator(9).tile(k).pixels for k in range(3)]))
    return path, model_crc(path)


def model_of(products: list, models: dict[str, bytes], seed: int) -> list[str]:
    """Which of ``models`` gave each product of scene ``seed``: the one whose decisions and
    confidence it carries ("old+new" if several, "none" if no model gives it)."""
    sessions = {name: ort.InferenceSession(model) for name, model in models.items()}
    scene, found = SceneGenerator(seed), []
    for product in products:
        tile = scene.tile(product.frame_id).pixels[None]
        which = []
        for name, session in sessions.items():
            decided = decode_outputs(*session.run(None, {session.get_inputs()[0].name: tile}), 0.5)[0]
            if (decided.tile_class == product.tile_class and np.array_equal(decided.fire_cells, product.fire_cells)
                    and abs(decided.confidence - product.confidence) < 1e-5):
                which.append(name)
        found.append("+".join(which) or "none")
    return found
