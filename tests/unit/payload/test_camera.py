"""The Camera component, in process.

Verifies the requirements table of flight/payload/camera.py: imaging sessions produce exactly
the commanded frames with consecutive ids and the commanded priority; STOP_IMAGING ends a session;
no capture is made while the payload reports backpressure; SAFE mode stops imaging; SAVE_IMAGE
hands a kept tile to the file store and completes with the store's outcome; a frame not kept or
no store wired is refused.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from flight.core.completion import Pending
from flight.core.component import CommandRefused
from flight.messages import Backpressure, FlightMode
from flight.payload.camera import Camera
from flight.payload.scene import SceneGenerator
from flight.services.file_store import FileStore
from flight.testing import ComponentTester


def _camera(tmp_path: Path, **config) -> tuple[Camera, ComponentTester, list]:
    h = ComponentTester.build(tmp_path, [{"name": "camera", "kind": "flight.payload.camera:Camera",
                                          **config}], mission={"seed": 5})
    camera = h.components["camera"]
    camera.start()
    return camera, h, h.sent["camera.captures"]


def event_names(h: ComponentTester) -> list[str]:
    return [name for _, name, _ in h.events]


def test_camera_images_exactly_the_commanded_frames_with_consecutive_ids(tmp_path):
    camera, recorder, captures = _camera(tmp_path)
    camera.START_IMAGING(3, 0)
    for tick in range(10):
        camera.tick(tick, 0.0)
    camera.START_IMAGING(2, 6)
    for tick in range(10, 20):
        camera.tick(tick, 0.0)
    assert [c.frame_id for c in captures] == [0, 1, 2, 3, 4]
    assert [c.priority for c in captures] == [0, 0, 0, 6, 6]
    reference = SceneGenerator(5)
    assert all(np.array_equal(c.pixels, reference.tile(c.frame_id).pixels) for c in captures)
    assert event_names(recorder).count("ImagingComplete") == 2
    assert camera.telemetry["FramesCaptured"] == 5
    assert camera.telemetry["RawBytesCaptured"] == sum(c.pixels.nbytes for c in captures)


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
    recorder.send("camera.backpressure", Backpressure(True))
    for tick in range(1, 4):
        camera.tick(tick, 0.0)
    assert len(captures) == 1 and camera.telemetry["CapturesDeferred"] == 3
    recorder.send("camera.backpressure", Backpressure(False))
    for tick in range(4, 20):
        camera.tick(tick, 0.0)
    assert [c.frame_id for c in captures] == [0, 1, 2, 3, 4]  # nothing skipped, only later


def test_camera_over_land_captures_exactly_on_the_ticks_over_land(tmp_path):
    from flight.core.clock import parse_epoch
    from flight.environment.land import over_land
    from flight.environment.orbit import mission_orbit

    camera, _, captures = _camera(tmp_path, image_over="land")
    orbit, epoch = mission_orbit({}), parse_epoch("2026-01-01T00:00:00Z")
    times = [epoch + 30.0 * k for k in range(200)]                  # 100 minutes: one orbit
    camera.START_IMAGING(1000, 0)
    for tick, now in enumerate(times):
        camera.tick(tick, now)
    land = [over_land(*orbit.subpoint(now)) for now in times]
    assert 0 < sum(land) < len(land)                                # the orbit crosses both
    assert len(captures) == sum(land) == camera.telemetry["FramesCaptured"]
    assert camera.telemetry["SeaTicksSkipped"] == len(land) - sum(land)


def test_safe_mode_ends_imaging_and_refuses_start_imaging_until_nominal(tmp_path):
    camera, recorder, captures = _camera(tmp_path)
    camera.START_IMAGING(10, 0)
    camera.tick(0, 0.0)
    recorder.send("camera.flight_mode", FlightMode(True, "battery low"))
    assert event_names(recorder)[-1] == "ImagingComplete" and camera.telemetry["FramesRemaining"] == 0
    for tick in range(1, 5):
        camera.tick(tick, 0.0)
    assert len(captures) == 1
    with pytest.raises(CommandRefused, match="SAFE"):
        camera.START_IMAGING(1, 0)
    recorder.send("camera.flight_mode", FlightMode(False, "commanded"))
    camera.START_IMAGING(1, 0)
    camera.tick(5, 0.0)
    assert len(captures) == 2


def _saved(camera: Camera, frame: int, store) -> None:
    camera.outputs["images"]._receivers = (store,)     # the file store's synchronous input, stubbed
    camera.SAVE_IMAGE(frame)


def test_save_image_hands_a_kept_frames_exact_tile_to_the_file_store(tmp_path):
    camera, _, captures = _camera(tmp_path, images_kept=3)
    camera.START_IMAGING(5, 0)
    for tick in range(5):
        camera.tick(tick, 0.0)
    saved = []
    for frame in (2, 3, 4):
        _saved(camera, frame, saved.append)
    assert [s.name for s in saved] == ["frame-2.npy", "frame-3.npy", "frame-4.npy"]
    for message, capture in zip(saved, captures[2:], strict=True):
        assert np.array_equal(np.load(io.BytesIO(message.data), allow_pickle=False), capture.pixels)
    with pytest.raises(CommandRefused, match="frame 1 is not kept .*2..4"):
        _saved(camera, 1, saved.append)
    assert len(saved) == 3


def test_save_image_completes_with_the_stores_outcome_and_is_refused_with_no_store(tmp_path):
    camera, _, _ = _camera(tmp_path)
    camera.START_IMAGING(1, 0)
    camera.tick(0, 0.0)
    store = FileStore(tmp_path / "files", max_bytes=600_000, max_files=1)
    store.open()

    def keep(message):            # the file store's input, as FileTransfer.save runs it on its thread
        pending = Pending()
        try:
            store.save(message.name, message.data)
        except OSError as error:
            pending.finish(error)
        else:
            pending.finish()
        return pending

    outcomes = []
    camera.outputs["images"]._receivers = (keep,)
    camera.SAVE_IMAGE(0).when_done(outcomes.append)
    assert outcomes == [None] and (tmp_path / "files" / "frame-0.npy").stat().st_size > 500_000
    (tmp_path / "files" / "frame-0.npy").rename(tmp_path / "files" / "other.npy")    # the store is full now
    camera.SAVE_IMAGE(0).when_done(outcomes.append)
    assert "at most 1" in str(outcomes[1]) and not (tmp_path / "files" / "frame-0.npy").exists()
    camera.outputs["images"]._receivers = ()
    with pytest.raises(CommandRefused, match="0 connections"):
        camera.SAVE_IMAGE(0)
