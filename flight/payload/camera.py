"""Camera: the synthetic multispectral imager. One tile per ``frame_divider`` ticks while imaging.

Tiles come from :class:`flight.payload.scene.SceneGenerator`, fully determined by the seed and
the frame id, so a run is reproducible and the ground can recompute the truth of any frame. Each
goes out of the ``captures`` port as a :class:`Capture` (the tile and its priority: alert frames
overtake bulk frames downstream). Frame ids increase across imaging sessions. While the payload
reports backpressure (the ``backpressure`` port) the camera defers its captures instead of
producing frames that would be dropped: nothing is lost, imaging just takes longer, and
``CapturesDeferred`` counts it. With ``image_over = "land"`` a capture is taken only while the
sub-satellite point is over land (flight.environment.land, on the propagated orbit); the ticks
over the sea are skipped and counted (``SeaTicksSkipped``). While the flight is in SAFE mode (the
``flight_mode`` port) the camera does not image: entering SAFE ends the session, and
START_IMAGING is refused (INVALID_STATE) until NOMINAL.

The camera keeps its last ``images_kept`` tiles, as an imager's frame buffer would, so the ground
can ask for the image behind a product: SAVE_IMAGE(frame) hands that tile to the on-board file
store (``images`` port) as ``frame-N.npy`` (NumPy's .npy format: uint16, bands x rows x
columns), from where the ground downlinks it like any file. A frame no longer kept is refused
(INVALID_STATE); the command completes once the store has the file, or fails with the store's
reason (a full store).

| requirement | verified by |
| START_IMAGING(n) gives n tiles, consecutive ids, then ImagingComplete | tests/unit/payload/test_camera.py |
| STOP_IMAGING ends the session early | tests/unit/payload/test_camera.py |
| no capture while the payload reports backpressure | tests/unit/payload/test_camera.py |
| image_over "land": captures exactly on the ticks over land | tests/unit/payload/test_camera.py |
| SAFE mode ends imaging and refuses START_IMAGING until NOMINAL | tests/unit/payload/test_camera.py |
| SAVE_IMAGE stores a kept frame's tile exactly; a frame not kept, or refused by the store, fails |   |
|   | tests/unit/payload/test_camera.py |
"""
from __future__ import annotations

import collections
import io
from typing import Any

import numpy as np

from flight.core.component import Channel, CommandRefused, Component, Event, command
from flight.core.context import Context
from flight.core.ports import OutputPort, input_port
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.environment.land import over_land
from flight.environment.orbit import mission_orbit
from flight.messages import Backpressure, Capture, FileSave, FlightMode
from flight.payload.scene import SceneGenerator


class Camera(Component):
    CHANNELS = {
        "FramesCaptured": Channel(DataType.U32, "frames"),
        "FramesRemaining": Channel(DataType.U32, "frames"),
        "RawBytesCaptured": Channel(DataType.U64, "bytes"),
        "CapturesDeferred": Channel(DataType.U32, "ticks", description="held by backpressure"),
        "SeaTicksSkipped": Channel(DataType.U32, "ticks", description="no capture: over the sea (image_over land)"),
    }
    EVENTS = {
        "ImagingStarted": Event(Severity.ACTIVITY, "Imaging {count} frames from frame {first}",
                                (Field("count", DataType.U32), Field("first", DataType.U32))),
        "ImagingComplete": Event(Severity.ACTIVITY, "Imaging complete: {frames} frames",
                                 (Field("frames", DataType.U32),)),
    }

    captures = OutputPort(Capture, "one per tile taken", required=True)
    images = OutputPort(FileSave, "a kept tile, on request (SAVE_IMAGE), into the file store", required=False)
    SETTINGS = {
        "seed": Setting(int, None, 0, 2**63 - 1, description="scene seed (default: the mission's)"),
        "size": Setting(int, 256, 8, 4096, description="pixels per tile side; 4 bands of uint16"),
        "grid": Setting(int, 8, 1, 256, description="detection grid cells per tile side"),
        "frame_divider": Setting(int, 1, 1, 1_000_000, description="one frame every N base ticks"),
        "image_over": Setting(str, "anywhere", choices=("anywhere", "land"),
                              description="land: capture only while the satellite is over land"),
        "images_kept": Setting(int, 8, 0, 1024, description="last tiles kept for SAVE_IMAGE (each "
                                                             "4 x size x size x 2 octets)"),
    }

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> str | None:
        if config["size"] % config["grid"]:
            return f"grid = {config['grid']}: must divide size = {config['size']}"
        return None

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        seed = self.config["seed"]
        self.scene = SceneGenerator(context.seed if seed is None else seed,
                                    size=self.config["size"], grid=self.config["grid"])
        self.frame_divider = self.config["frame_divider"]
        self._next_frame = 0
        self._remaining = 0
        self._session_frames = 0
        self._priority = 0
        self._held = False
        self._safe = False
        self.orbit = mission_orbit(context.mission) if self.config["image_over"] == "land" else None
        self._kept: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()

    @input_port(Backpressure, "the payload asks the camera to wait", required=False)
    def backpressure(self, message: Backpressure) -> None:
        self._held = message.held

    @input_port(FlightMode, "the flight's mode: no imaging in SAFE", required=False)
    def flight_mode(self, mode: FlightMode) -> None:
        self._safe = mode.safe
        if mode.safe and self._remaining:
            self._finish()

    @command(Field("count", DataType.U32, 1, 1_000_000),
             Field("priority", DataType.U8, 0, 7, "0 bulk ... 7 most urgent"),
             description="Capture count frames at a priority (refused in SAFE mode)")
    def START_IMAGING(self, count: int, priority: int) -> None:
        if self._safe:
            raise CommandRefused("the flight is in SAFE mode: no imaging until NOMINAL")
        self._remaining = count
        self._priority = priority
        self._session_frames = 0
        self.tlm("FramesRemaining", count)
        self.event("ImagingStarted", count=count, first=self._next_frame & 0xFFFFFFFF)

    @command(description="Stop the current imaging session")
    def STOP_IMAGING(self) -> None:
        if self._remaining:
            self._finish()

    @command(Field("frame", DataType.U32), description="Store a kept frame's image in the file store as "
                                                        "frame-N.npy, for downlink")
    def SAVE_IMAGE(self, frame: int) -> Any:
        pixels = self._kept.get(frame)
        if pixels is None:
            kept = f"{next(iter(self._kept))}..{next(reversed(self._kept))}" if self._kept else "none"
            raise CommandRefused(f"frame {frame} is not kept (the last {self.config['images_kept']} are: {kept})")
        encoded = io.BytesIO()
        np.save(encoded, pixels, allow_pickle=False)
        try:   # the store's Pending: the command completes once the file is kept, or fails with why not
            return self.images.call(FileSave(f"frame-{frame}.npy", encoded.getvalue()))
        except LookupError as error:      # no file store wired
            raise CommandRefused(str(error)) from error

    def _finish(self) -> None:
        self._remaining = 0
        self.tlm("FramesRemaining", 0)
        self.event("ImagingComplete", frames=self._session_frames)

    def tick(self, tick: int, now: float) -> None:
        if not self._remaining or tick % self.frame_divider:
            return
        if self._held:
            self.tlm("CapturesDeferred", self.telemetry["CapturesDeferred"] + 1)
            return
        if self.orbit is not None and not over_land(*self.orbit.subpoint(now)):
            self.increment("SeaTicksSkipped")
            return
        tile = self.scene.tile(self._next_frame)
        self._keep(tile.frame_id, tile.pixels)
        self._next_frame += 1
        self._remaining -= 1
        self._session_frames += 1
        self.increment("FramesCaptured")
        self.tlm("FramesRemaining", self._remaining)
        self.tlm("RawBytesCaptured", self.telemetry["RawBytesCaptured"] + tile.pixels.nbytes)
        self.captures.send(Capture(tile.frame_id, tile.pixels, self._priority))
        if not self._remaining:
            self._finish()

    def _keep(self, frame: int, pixels: np.ndarray) -> None:
        if self.config["images_kept"]:
            self._kept[frame] = pixels
            while len(self._kept) > self.config["images_kept"]:
                self._kept.popitem(last=False)
