"""Camera and Inference components, in process, with a real ONNX Runtime session.

Verifies the requirements tables of flight/components/camera.py and inference.py: imaging
sessions produce exactly the commanded frames; every tile gives a product or a counted drop;
products carry the same decisions as the model's own outputs; an unavailable execution provider
falls back to CPU with an event.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from flight.bus import Bus
from flight.components.camera import Camera
from flight.components.inference import Inference
from flight.payload.detection import decode_outputs
from flight.payload.scene import SceneGenerator
from flight.ports import Ports
from flight.topology import build_dictionary, parse_topology
from flight.wire import services as st

TOPOLOGY = {
    "mission": {"seed": 5},
    "components": [{"name": "camera", "kind": "flight.components.camera:Camera"},
                   {"name": "inference", "kind": "flight.components.inference:Inference"}],
    "rate_groups": [{"name": "rg", "rate_hz": 10, "members": ["camera", "inference"]}],
}


class Recorder:
    """Ports whose downlink and events are recorded instead of sent."""

    def __init__(self, run_dir: Path) -> None:
        self.downlinked: list[tuple[int, int, bytes]] = []
        self.events: list[tuple[str, str, list]] = []
        self.lock = threading.Lock()
        self.ports = Ports(Bus(), build_dictionary(parse_topology(TOPOLOGY)), {}, lambda: 0.0,
                           self._downlink, self._event, run_dir, seed=5)

    def _downlink(self, service: int, subtype: int, data: bytes) -> None:
        with self.lock:
            self.downlinked.append((service, subtype, data))

    def _event(self, component: str, name: str, values: list) -> None:
        with self.lock:
            self.events.append((component, name, values))

    def products(self) -> list[st.InferenceProduct]:
        with self.lock:
            return [st.InferenceProduct.unpack(d) for s, _, d in self.downlinked if s == st.PRODUCT]

    def event_names(self) -> list[str]:
        with self.lock:
            return [name for _, name, _ in self.events]


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    return Recorder(tmp_path)


def _tiles_of(recorder: Recorder) -> list:
    tiles: list = []
    recorder.ports.bus.subscribe("tiles", tiles.append)
    return tiles


def test_camera_images_exactly_the_commanded_frames_with_consecutive_ids(recorder):
    camera = Camera("camera", recorder.ports, {})
    tiles = _tiles_of(recorder)
    camera.START_IMAGING(3)
    for tick in range(10):
        camera.tick(tick, 0.0)
    camera.START_IMAGING(2)
    for tick in range(10, 20):
        camera.tick(tick, 0.0)
    assert [t.frame_id for t in tiles] == [0, 1, 2, 3, 4]
    reference = SceneGenerator(5)
    assert all(np.array_equal(t.pixels, reference.tile(t.frame_id).pixels) for t in tiles)
    assert recorder.event_names().count("ImagingComplete") == 2
    assert camera.telemetry["FramesCaptured"] == 5
    assert camera.telemetry["RawBytesCaptured"] == sum(t.pixels.nbytes for t in tiles)


def test_camera_stop_imaging_ends_the_session_early(recorder):
    camera = Camera("camera", recorder.ports, {"frame_divider": 2})
    tiles = _tiles_of(recorder)
    camera.START_IMAGING(100)
    for tick in range(6):  # frames at ticks 0, 2, 4
        camera.tick(tick, 0.0)
    camera.STOP_IMAGING()
    for tick in range(6, 20):
        camera.tick(tick, 0.0)
    assert len(tiles) == 3
    assert camera.telemetry["FramesRemaining"] == 0
    assert recorder.events[-1][1:] == ("ImagingComplete", [3])


def _inference(recorder: Recorder, model: Path, **config) -> Inference:
    component = Inference("inference", recorder.ports, {"model": str(model), **config})
    recorder.ports.components["inference"] = component
    component.start()
    return component


def _wait(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_every_tile_gives_a_product_with_the_models_own_decisions(recorder, demo_model):
    inference = _inference(recorder, demo_model)
    try:
        scene = SceneGenerator(5)
        tiles = [scene.tile(i) for i in range(12)]
        for tile in tiles:
            while not inference.post(inference._infer, tile):  # keep the queue from overflowing
                time.sleep(0.005)
        _wait(lambda: len(recorder.products()) == len(tiles))
    finally:
        inference.stop()
    reference = ort.InferenceSession(str(demo_model), providers=["CPUExecutionProvider"])
    for tile, product in zip(tiles, sorted(recorder.products(), key=lambda p: p.frame_id)):
        outputs = reference.run(["class_logits", "fire_grid", "cloud_fraction"],
                                {"tiles": tile.pixels[None]})
        expected = decode_outputs(*outputs)[0]
        assert product.frame_id == tile.frame_id
        assert product.tile_class == int(expected.tile_class)
        assert np.array_equal(product.fire_cells, expected.fire_cells)
        assert product.cloud_fraction == pytest.approx(expected.cloud_fraction, abs=1e-6)
    assert inference.telemetry["RawBytesProcessed"] == sum(t.pixels.nbytes for t in tiles)
    assert inference.telemetry["ProductBytes"] == sum(
        len(d) for s, _, d in recorder.downlinked if s == st.PRODUCT)


def test_a_full_queue_drops_tiles_and_counts_every_one(recorder, demo_model):
    inference = _inference(recorder, demo_model, queue_depth=2)
    release, blocked = threading.Event(), threading.Event()

    def block() -> None:
        blocked.set()
        release.wait()

    try:
        inference.post(block)  # hold the component's thread so its two-slot queue fills
        assert blocked.wait(10)
        scene = SceneGenerator(5)
        for frame in range(10):
            inference.accept(scene.tile(frame))
        dropped = inference.telemetry["FramesDroppedQueueFull"]
        release.set()
        _wait(lambda: len(recorder.products()) == 10 - dropped)
    finally:
        release.set()
        inference.stop()
    assert dropped == 8  # two tiles fit in the queue
    assert recorder.event_names().count("FrameDropped") == 8


def test_an_unavailable_provider_falls_back_to_cpu_with_an_event(recorder, demo_model):
    inference = _inference(recorder, demo_model,
                           providers=["NoSuchExecutionProvider", "CPUExecutionProvider"])
    inference.stop()
    assert ("inference", "ProviderUnavailable", ["NoSuchExecutionProvider"]) in recorder.events
    assert inference.session.get_providers() == ["CPUExecutionProvider"]
