"""The in-orbit model update (issue 14) against real flight processes over real sockets, commanded by
the ground (ground_sim.api.update_model) while the camera images.

Models: the demo model flies; ``good`` is the demo model with its class layer scaled by 0.5 (the same
decisions on every frame, other confidences: each product shows which model computed it), ``wrong``
has a FIRE bias of +1000 (its own test vector passes; the canary disagrees), ``coarse`` has a 4 x 4
fire grid (a bad output shape). In (a) the model and its test vector (ground_sim.model_package) go
up by CFDP (api.upload_file); in (b) and (c) they are put in the flight's file store
(``RUN_DIR/files``) directly, as an upload would.

- (a) A good model during imaging: every frame comes down as a product (frame numbers contiguous,
  none missing), each computed by one model, the old one before the commit point and the new one
  after it (checked against both models computed on the ground); every card reports the new model's
  CRC-32C, and still does after a SIGKILL and a restart.
- (b) The bad shape is refused at STAGE_MODEL (MODEL_SIGNATURE, ModelRejected); the wrong answers
  are rolled back on the canary (ModelRolledBack); every product is the old model's.
- (c) A SIGKILL after STAGE_MODEL, in the canary (after some frames were compared) and in the commit
  (the record says COMMITTING: the canary card already computes the frames with the new model): each
  placed by polling the flight's own state, not by wall-clock luck. After the restart every card
  reports one CRC-32C, the old model's (the record flips only when the commit is complete), the
  staged model stays staged after the first kill, and the interrupted update is reported
  (ModelUpdateInterrupted) and discarded after the other two.
"""
from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any, Callable


from flight.core.clock import BEACON_FILE, BeaconReader
from flight.core.durable import DurableRecord
from flight.payload.demo_model import build_demo_model
from flight.wire import services as st
from flight.wire.failure import FailureCode
from ground_sim.api import IntegrationApi
from ground_sim.flight_process import FlightProcess
from ground_sim.model_package import demo_variant, model_crc, model_of, write_package

CARDS = ("card0", "card1", "card2")
SEED = 1  # the default topology's scene seed


class Flight:
    """A flight process on one run directory, started again after a stop or a SIGKILL."""

    def __init__(self, run_dir: Path, demo_model: Path) -> None:
        self.run_dir = run_dir
        self.overrides = [f'cluster.model="{demo_model}"', "cluster.canary_frames=20", "clock.speedup=4.0"]
        self.process: FlightProcess | None = None
        self.api: IntegrationApi | None = None
        self.since = -math.inf    # on-board time of the last tick before the last stop (the clock goes on from it)

    def start(self) -> IntegrationApi:
        self.process = FlightProcess(self.run_dir, None, self.overrides)
        self.process.start()
        self.api = IntegrationApi(self.process.connect(f"archive-{time.monotonic_ns()}.sqlite"),
                                  default_timeout=30.0, process=self.process)
        return self.api

    def sigkill(self) -> None:
        self.process.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.close()

    def close(self) -> None:
        if self.api is not None:
            self.api.station.close()
            self.api = None
        if self.process is not None:
            self.process.kill()
            reader = BeaconReader(self.run_dir / BEACON_FILE)
            self.since = reader.read() or self.since
            reader.close()

    def record_state(self) -> str:
        record = DurableRecord(self.run_dir / "models" / "slots.rec")
        try:
            return record.load()["state"]
        finally:
            record.close()

    def until_record(self, state: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.record_state() != state:
            assert time.monotonic() < deadline, f"the record never said {state}"
            time.sleep(0.002)


def card_crcs(flight: Flight) -> set[int]:
    """The model CRC-32C each card reports (its next housekeeping after every card is up)."""
    for card in CARDS:
        fresh(flight, f"cluster.{card}_State", lambda state: state == 3)
    return {fresh(flight, f"cluster.{card}_ModelCrc") for card in CARDS}


def fresh(flight: Flight, channel: str, predicate: Callable[[Any], bool] | None = None) -> Any:
    """The next value of ``channel`` to come down that ``predicate`` accepts, sampled on board since the
    flight's last start: housekeeping the TM store sends again from before a stop does not count."""
    api = flight.api
    return api.await_telemetry(channel, predicate, start=api.telemetry_mark(channel), since=flight.since)


def image(api: IntegrationApi, frames: int) -> None:
    api.send_and_assert_command("camera.START_IMAGING", [frames, 0])


def all_products(api: IntegrationApi, frames: int) -> list:
    products = api.await_products(frames, timeout=120)
    return sorted({p.frame_id: p for p in products}.values(), key=lambda p: p.frame_id)


def test_a_good_model_during_imaging_loses_no_frame_and_flies_after_a_restart(tmp_path, demo_model):
    flight, frames = Flight(tmp_path / "flight", demo_model), 180
    new, crc = write_package(tmp_path / "ground", "good.onnx", demo_variant(scale=0.5))    # on the ground, then up
    try:
        api = flight.start()
        api.upload_file(new, "good.onnx", timeout=60)                                 # by CFDP, over the link
        api.upload_file(new.with_suffix(".npz"), "good.npz", timeout=60)
        old_crc = model_crc(demo_model)
        assert card_crcs(flight) == {old_crc}
        image(api, frames)
        api.await_telemetry("cluster.FramesDelivered", lambda n: n >= 20)
        ended = api.update_model("good.onnx", crc, timeout=60)
        assert ended.name == "cluster.ModelCommitted", ended.text
        api.await_event("camera.ImagingComplete", timeout=120)
        products = all_products(api, frames)
        assert [p.frame_id for p in products] == list(range(frames))                 # none lost
        assert card_crcs(flight) == {crc}
        assert fresh(flight, "cluster.ModelSlot") == 1
        compared = fresh(flight, "cluster.CanaryCompared")
        flight.sigkill()
        api = flight.start()
        assert card_crcs(flight) == {crc}                                   # the slot survives a SIGKILL
    finally:
        flight.close()
    which = model_of(products, {"old": demo_model.read_bytes(), "new": new.read_bytes()}, SEED)   # flight stopped
    boundary = which.index("new")
    assert which == ["old"] * boundary + ["new"] * (frames - boundary), which         # none wrong
    print(f"\ngood update: {frames} frames, commit point at frame {boundary}, canary compared {compared}, "
          f"0 lost, 0 wrong")


def test_a_bad_shape_is_refused_and_wrong_answers_are_rolled_back_on_the_canary(tmp_path, demo_model):
    flight, frames = Flight(tmp_path / "flight", demo_model), 120
    _, coarse_crc = write_package(flight.run_dir, "coarse.onnx", build_demo_model(grid=4))
    _, wrong_crc = write_package(flight.run_dir, "wrong.onnx", demo_variant(fire_bias=1e3))
    try:
        api = flight.start()
        api.send_and_assert_failure("cluster.STAGE_MODEL", ["coarse.onnx", coarse_crc], FailureCode.MODEL_SIGNATURE,
                                    stage=st.Stage.COMPLETION)
        api.await_event("cluster.ModelRejected")
        assert card_crcs(flight) == {model_crc(demo_model)}                            # every card in service
        image(api, frames)
        ended = api.update_model("wrong.onnx", wrong_crc, timeout=60)
        assert ended.name == "cluster.ModelRolledBack" and "disagreed" in ended.text, ended.text
        api.await_event("camera.ImagingComplete", timeout=120)
        products = all_products(api, frames)
        assert [p.frame_id for p in products] == list(range(frames))
        assert card_crcs(flight) == {model_crc(demo_model)}
        assert fresh(flight, "cluster.UpdateFailures") == 2
    finally:
        flight.close()
    assert set(model_of(products, {"old": demo_model.read_bytes()}, SEED)) == {"old"}        # 0 wrong products


def test_a_sigkill_at_each_step_leaves_one_model_on_every_card(tmp_path, demo_model):
    flight = Flight(tmp_path / "flight", demo_model)
    _, crc = write_package(flight.run_dir, "good.onnx", demo_variant(scale=0.5))
    old_crc = model_crc(demo_model)
    try:
        api = flight.start()                                       # killed after STAGE_MODEL
        api.send_and_assert_command("cluster.STAGE_MODEL", ["good.onnx", crc])
        flight.sigkill()
        api = flight.start()
        assert card_crcs(flight) == {old_crc} and fresh(flight, "cluster.UpdateState") == 1   # still staged
        image(api, 100_000)                                        # killed in the canary
        api.send_and_assert_command("cluster.START_CANARY", [1_000_000, ""])
        api.await_telemetry("cluster.CanaryCompared", lambda n: n >= 5)
        assert flight.record_state() == "CANARY"
        flight.sigkill()
        api = flight.start()
        api.await_event("cluster.ModelUpdateInterrupted", lambda args: args["step"] == "CANARY")
        assert card_crcs(flight) == {old_crc} and fresh(flight, "cluster.UpdateState") == 0
        image(api, 100_000)                                        # killed in the commit
        api.send_and_assert_command("cluster.STAGE_MODEL", ["good.onnx", crc])
        api.send_and_assert_command("cluster.START_CANARY", [5, ""])
        flight.until_record("COMMITTING")
        flight.sigkill()
        api = flight.start()
        api.await_event("cluster.ModelUpdateInterrupted", lambda args: args["step"] == "COMMITTING")
        assert card_crcs(flight) == {old_crc} and fresh(flight, "cluster.UpdateState") == 0
    finally:
        flight.close()
