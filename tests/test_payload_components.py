"""The Camera component, in process.

Verifies the requirements table of flight/components/camera.py: imaging sessions produce exactly
the commanded frames with consecutive ids and the commanded priority; STOP_IMAGING ends a session;
no capture is made while the payload reports backpressure.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from flight.bus import Bus
from flight.components.camera import Camera
from flight.payload.scene import SceneGenerator
from flight.ports import Ports
from flight.topology import build_dictionary, parse_topology

TOPOLOGY = {
    "mission": {"seed": 5},
    "components": [{"name": "camera", "kind": "flight.components.camera:Camera"},
                   ],
    "rate_groups": [{"name": "rg", "rate_hz": 10, "members": ["camera"]}],
}


class Recorder:
    """Ports whose downlink and events are recorded instead of sent."""

    def __init__(self, run_dir: Path) -> None:
        self.downlinked: list[tuple[int, int, bytes]] = []
        self.events: list[tuple[str, str, list]] = []
        self.ports = Ports(Bus(), build_dictionary(parse_topology(TOPOLOGY)), {}, lambda: 0.0,
                           self._downlink, self._event, run_dir, seed=5)

    def _downlink(self, service: int, subtype: int, data: bytes) -> None:
        self.downlinked.append((service, subtype, data))

    def _event(self, component: str, name: str, values: list) -> None:
        self.events.append((component, name, values))

    def event_names(self) -> list[str]:
        return [name for _, name, _ in self.events]


def _camera(tmp_path: Path, **config) -> tuple[Camera, Recorder, list]:
    recorder = Recorder(tmp_path)
    camera = Camera("camera", recorder.ports, config)
    camera.start()
    captures: list = []
    recorder.ports.bus.subscribe("tiles", captures.append)
    return camera, recorder, captures


def test_camera_images_exactly_the_commanded_frames_with_consecutive_ids(tmp_path):
    camera, recorder, captures = _camera(tmp_path)
    camera.START_IMAGING(3, 0)
    for tick in range(10):
        camera.tick(tick, 0.0)
    camera.START_IMAGING(2, 6)
    for tick in range(10, 20):
        camera.tick(tick, 0.0)
    tiles = [c.tile for c in captures]
    assert [t.frame_id for t in tiles] == [0, 1, 2, 3, 4]
    assert [c.priority for c in captures] == [0, 0, 0, 6, 6]
    reference = SceneGenerator(5)
    assert all(np.array_equal(t.pixels, reference.tile(t.frame_id).pixels) for t in tiles)
    assert recorder.event_names().count("ImagingComplete") == 2
    assert camera.telemetry["FramesCaptured"] == 5
    assert camera.telemetry["RawBytesCaptured"] == sum(t.pixels.nbytes for t in tiles)


def test_camera_stop_imaging_ends_the_session_early(tmp_path):
    camera, recorder, tiles = _camera(tmp_path, frame_divider=2)
    camera.START_IMAGING(100, 0)
    for tick in range(6):  # frames at ticks 0, 2, 4
        camera.tick(tick, 0.0)
    camera.STOP_IMAGING()
    for tick in range(6, 20):
        camera.tick(tick, 0.0)
    assert len(tiles) == 3
    assert camera.telemetry["FramesRemaining"] == 0
    assert recorder.events[-1][1:] == ("ImagingComplete", [3])


def test_camera_defers_captures_while_the_payload_reports_backpressure(tmp_path):
    camera, recorder, captures = _camera(tmp_path)
    camera.START_IMAGING(5, 0)
    camera.tick(0, 0.0)
    recorder.ports.bus.publish("payload.backpressure", True)
    for tick in range(1, 4):
        camera.tick(tick, 0.0)
    assert len(captures) == 1 and camera.telemetry["CapturesDeferred"] == 3
    recorder.ports.bus.publish("payload.backpressure", False)
    for tick in range(4, 20):
        camera.tick(tick, 0.0)
    assert [c.tile.frame_id for c in captures] == [0, 1, 2, 3, 4]  # nothing skipped, only later
