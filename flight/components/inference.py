"""Inference: runs the on-board model on each tile in its own thread and downlinks the product.

One ONNX Runtime session (``model`` path, relative to the run directory unless absolute;
``threads`` intra-op threads; ``providers`` in order of preference, any not available on this
host replaced by CPU with a ProviderUnavailable event, never silently). Tiles arrive on the bus
topic ``"tiles"`` and wait in a bounded queue (``queue_depth``); a tile that finds the queue full
is dropped and counted (FramesDroppedQueueFull, FrameDropped event), never lost silently. Each
product is one TM[200,1] (:class:`flight.wire.services.InferenceProduct`): the tile itself never
goes down, so ``RawBytesProcessed`` vs ``ProductBytes`` is the downlink saving.

| requirement | verified by |
| every tile gives a product or a counted drop | tests/test_payload_components.py |
| products decode to the same decisions as the model's outputs | tests/test_payload_components.py |
| an unavailable provider falls back to CPU with an event | tests/test_payload_components.py |
"""
from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from native import crc32c

from flight.component import ActiveComponent, Channel, Event, Parameter
from flight.payload.detection import decode_outputs
from flight.payload.scene import Tile
from flight.types import DataType, Field
from flight.wire import services as st
from flight.wire.dictionary import Severity

OPTIMIZATION_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def choose_providers(wanted: list[str]) -> tuple[list[str], list[str]]:
    """(providers to use, providers refused because this host lacks them); CPU always last."""
    available = set(ort.get_available_providers())
    use = [p for p in wanted if p in available]
    missing = [p for p in wanted if p not in available]
    if "CPUExecutionProvider" not in use:
        use.append("CPUExecutionProvider")
    return use, missing


class Inference(ActiveComponent):
    QUEUE_DEPTH = 8
    CHANNELS = {
        "FramesInferred": Channel(DataType.U32, "frames"),
        "FramesDroppedQueueFull": Channel(DataType.U32, "frames"),
        "InferenceErrors": Channel(DataType.U32, "frames"),
        "ProductsSent": Channel(DataType.U32, "products"),
        "RawBytesProcessed": Channel(DataType.U64, "bytes"),
        "ProductBytes": Channel(DataType.U64, "bytes", description="application data of products"),
        "LatencyP50": Channel(DataType.F32, "ms"),
        "LatencyP99": Channel(DataType.F32, "ms"),
        "QueueDepth": Channel(DataType.U16, "frames"),
    }
    EVENTS = {
        "ModelLoaded": Event(Severity.ACTIVITY, "Model {path} loaded (CRC-32C {crc:08x}) on {provider}",
                             (Field("path", DataType.STRING), Field("crc", DataType.U32),
                              Field("provider", DataType.STRING))),
        "ProviderUnavailable": Event(Severity.WARNING_LO,
                                     "Execution provider {provider} not on this host: CPU used",
                                     (Field("provider", DataType.STRING),)),
        "FrameDropped": Event(Severity.WARNING_LO, "Frame {frame} dropped: {reason}",
                              (Field("frame", DataType.U32), Field("reason", DataType.STRING)),
                              throttle=20),
        "InferenceFailed": Event(Severity.WARNING_HI, "Frame {frame} inference failed: {detail}",
                                 (Field("frame", DataType.U32), Field("detail", DataType.STRING)),
                                 throttle=20),
    }
    PARAMETERS = {
        "DetectionThreshold": Parameter(DataType.F32, 0.5, 0.05, 0.95,
                                        "fire score above which a cell is reported"),
    }

    def __init__(self, name: str, ports: Any, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, ports, config)
        model = Path(str(self.config.get("model", "demo_model.onnx")))
        self.model_path = model if model.is_absolute() else Path(ports.run_dir) / model
        self._latencies: collections.deque[float] = collections.deque(maxlen=512)

    def start(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(self.config.get("threads", 1))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = OPTIMIZATION_LEVELS[
            str(self.config.get("graph_optimization", "all"))]
        providers, missing = choose_providers(list(self.config.get("providers",
                                                                   ["CPUExecutionProvider"])))
        for provider in missing:
            self.event("ProviderUnavailable", provider=provider)
        model_bytes = self.model_path.read_bytes()
        self.session = ort.InferenceSession(model_bytes, options, providers=providers)
        self.event("ModelLoaded", path=str(self.model_path)[-120:], crc=crc32c(model_bytes),
                   provider=self.session.get_providers()[0])
        self.ports.bus.subscribe("tiles", self.accept)
        super().start()

    def accept(self, tile: Tile) -> None:
        """Bus handler (camera's thread): queue the tile or count it dropped."""
        if not self.post(self._infer, tile):
            self.tlm("FramesDroppedQueueFull", self.telemetry["FramesDroppedQueueFull"] + 1)
            self.event("FrameDropped", frame=tile.frame_id & 0xFFFFFFFF, reason="queue full")

    def _infer(self, tile: Tile) -> None:
        began = time.perf_counter()
        try:
            logits, fire, cloud = self.session.run(
                ["class_logits", "fire_grid", "cloud_fraction"], {"tiles": tile.pixels[None]})
            detection = decode_outputs(logits, fire, cloud, self.param("DetectionThreshold"))[0]
        except Exception as error:  # a failed frame is reported, and the next one goes on
            self.tlm("InferenceErrors", self.telemetry["InferenceErrors"] + 1)
            self.event("InferenceFailed", frame=tile.frame_id & 0xFFFFFFFF, detail=repr(error)[:200])
            return
        latency = time.perf_counter() - began
        self._latencies.append(latency)
        product = st.InferenceProduct(tile.frame_id, int(detection.tile_class),
                                      float(detection.confidence),
                                      float(detection.cloud_fraction), detection.fire_cells,
                                      int(latency * 1e6)).pack()
        self.ports.downlink(st.PRODUCT, st.INFERENCE_PRODUCT, product)
        self.tlm("FramesInferred", self.telemetry["FramesInferred"] + 1)
        self.tlm("ProductsSent", self.telemetry["ProductsSent"] + 1)
        self.tlm("RawBytesProcessed", self.telemetry["RawBytesProcessed"] + tile.pixels.nbytes)
        self.tlm("ProductBytes", self.telemetry["ProductBytes"] + len(product))

    def tick(self, tick: int, now: float) -> None:
        self.tlm("QueueDepth", self.queue_depth)
        if self._latencies:
            p50, p99 = np.percentile(list(self._latencies), [50, 99]) * 1e3
            self.tlm("LatencyP50", float(p50))
            self.tlm("LatencyP99", float(p99))
