"""WeightStore: the model's weights in shared memory, one live copy per card, one golden copy.

Each card computes from its own live copy in place: the worker maps the block and hands ONNX
Runtime an OrtValue over each tensor (``SessionOptions.add_initializer``) with
``session.disable_prepacking=1`` and graph optimization at most EXTENDED, so that the session
reads these very bytes and an upset in them reaches the result (what the scrubber protects). The
float32 initializers are the weights (the model's int64 shape constants stay in the model). Each
live copy is a :class:`LiveGoldenRegion` named ``<card>_weights`` with its own golden copy in the
flight computer's memory (one golden per card, so an upset in one golden can meet an upset in
only one live copy), with reference chunk CRCs kept in TMR. Recovery from an uncorrectable error
reloads the weights from the model file, after checking its CRC-32C.

| requirement | verified by |
| a session computes from the live copy: upsets there |   |
|   reach it; repairs too | tests/unit/protection/test_protection_components.py |
| recovery reloads the golden and live copies from the |   |
|   model file | tests/unit/protection/test_protection_components.py |
"""
from __future__ import annotations

from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np

from flight.protection.regions import LiveGoldenRegion
from native import crc32c

ALIGNMENT = 64


def weight_layout(model_bytes: bytes) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The float32 initializers, each at a 64-byte aligned offset, and their packed bytes."""
    # imported here, not at the top: a card worker imports this module for weight_views only,
    # and importing onnx would add ~0.5 s to every card's restart (its readmission time)
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    layout, offset, arrays = [], 0, []
    for initializer in model.graph.initializer:
        array = numpy_helper.to_array(initializer)
        if array.dtype != np.float32:
            continue
        layout.append({"name": initializer.name, "offset": offset, "shape": list(array.shape)})
        arrays.append((offset, np.ascontiguousarray(array)))
        offset += -(-array.nbytes // ALIGNMENT) * ALIGNMENT
    packed = np.zeros(max(offset, ALIGNMENT), np.uint8)
    for start, array in arrays:
        packed[start:start + array.nbytes] = array.view(np.uint8).ravel()
    return layout, packed


def weight_views(buffer: Any, layout: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """numpy views of each weight tensor in ``buffer`` (no copy)."""
    return {w["name"]: np.ndarray(w["shape"], np.float32, buffer=buffer, offset=w["offset"])
            for w in layout}


def live_options(weights: dict[str, Any], threads: int = 1) -> Any:
    """ONNX Runtime session options that compute in place from ``weights`` (name -> OrtValue over
    the live copy): graph optimization at most EXTENDED and prepacking off, so the session reads
    these very bytes and an upset in them reaches the result."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.add_session_config_entry("session.disable_prepacking", "1")
    for name, value in weights.items():
        options.add_initializer(name, value)
    return options


class WeightStore:
    def __init__(self, model_path: Path, model_crc: int, cards: list[str], chunk_size: int = 4096) -> None:
        self.model_path = model_path
        self.model_crc = model_crc
        self.layout, packed = weight_layout(model_path.read_bytes())
        self.size = packed.size
        self._blocks: dict[str, shared_memory.SharedMemory] = {}
        self.regions: dict[str, LiveGoldenRegion] = {}
        for card in cards:
            block = shared_memory.SharedMemory(create=True, size=packed.size)
            live = np.ndarray(packed.size, np.uint8, buffer=block.buf)
            live[:] = packed
            self._blocks[card] = block
            self.regions[card] = LiveGoldenRegion(f"{card}_weights", live, chunk_size=chunk_size)

    def worker_config(self, card: str) -> dict[str, Any]:
        return {"shm_name": self._blocks[card].name, "size": self.size, "layout": self.layout}

    def reload(self, card: str) -> None:
        """Recovery: weights from the model file, if its CRC-32C is still the expected one."""
        model_bytes = self.model_path.read_bytes()
        if crc32c(model_bytes) != self.model_crc:
            raise RuntimeError(f"{self.model_path} no longer has CRC-32C {self.model_crc:08x}")
        self.regions[card].reload(weight_layout(model_bytes)[1])

    def close(self) -> None:
        for block in self._blocks.values():
            block.unlink()
            try:
                block.close()
            except BufferError:  # a region view still exists: the mapping goes with the process
                pass
