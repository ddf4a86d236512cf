"""The model update on the InferenceCluster component, in process (flight.testing's component tester)
with real card workers: the state machine (STAGE_MODEL, START_CANARY, ROLLBACK_MODEL, the automatic
commit), the canary's shadow comparison and its rollbacks (wrong answers, a crashed canary card, by
command), the refusals, and what each card runs, computes and offers to the scrubber afterwards.

Models: the demo model (flying), the demo model with its class layer scaled by 0.5 (``good``: the
same decisions on every frame, other confidences, so each product shows which model computed it)
and with a FIRE bias of +1000 (``wrong``: its own test vector passes, the canary disagrees).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from flight.core.component import CommandError, CommandRefused
from flight.messages import Capture, FlightMode
from flight.payload.cluster.card_process import CardState
from flight.payload.cluster.model_slots import UpdateState
from flight.payload.cluster.model_swap import Phase
from flight.payload.cluster.weights import weight_layout
from flight.payload.demo_model import build_demo_model
from flight.payload.scene import SceneGenerator
from flight.testing import ComponentTester
from ground_sim.model_package import demo_variant, model_crc, model_of, write_package

CARDS = ["card0", "card1", "card2"]
SEED = 5


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _outcome(pending, timeout: float = 10.0):
    seen = []
    pending.when_done(seen.append)
    _wait(lambda: seen, timeout)
    return seen[0]


class Payload:
    """The cluster under test, fed tiles the way the camera feeds it (never past backpressure)."""

    def __init__(self, run_dir: Path, demo_model: Path) -> None:
        self.h = ComponentTester.build(
            run_dir, [{"name": "cluster", "kind": "flight.payload.cluster.component:InferenceCluster",
                       "cards": [{"name": c} for c in CARDS], "model": str(demo_model), "canary_frames": 8}],
            rate_groups=[{"name": "rg", "rate_hz": 10, "members": ["cluster"]}], mission={"seed": SEED})
        self.run_dir = run_dir
        self.cluster = self.h.components["cluster"]
        self.scene = SceneGenerator(SEED)
        self.next_frame = 0
        self.ticks = 0
        self.h.start("cluster")
        _wait(lambda: len(self.h.events_named("CardReady")) >= 3)

    def feed(self, frames: int = 0, until=None, limit: int = 2000) -> None:
        """Send ``frames`` tiles (or until ``until()``), ticking the component every 4 frames."""
        sent = 0
        while (sent < frames) if until is None else not until():
            assert sent < limit, "not within the frame limit"
            _wait(lambda: not self.cluster.engine.backpressure)
            tile = self.scene.tile(self.next_frame)
            self.h.send("cluster.tiles", Capture(tile.frame_id, tile.pixels))
            self.next_frame, sent = self.next_frame + 1, sent + 1
            if sent % 4 == 0:
                self.tick()

    def tick(self) -> None:
        self.ticks += 1
        self.cluster.tick(self.ticks, 0.1 * self.ticks)

    def drain(self) -> list:
        """Wait for every frame sent to come out; the products, in frame order."""
        _wait(lambda: len(self.h.sent["cluster.products"]) >= self.next_frame)
        self.tick()
        return sorted(self.h.sent["cluster.products"], key=lambda p: p.frame_id)

    def tlm(self, channel: str):
        self.cluster.tick(self.ticks, 0.1 * self.ticks)
        return self.cluster.telemetry[channel]


@pytest.fixture
def payload(tmp_path, demo_model):
    p = Payload(tmp_path / "run", demo_model)
    yield p
    p.h.stop()


def test_a_clean_canary_commits_on_every_card_with_no_frame_lost_or_wrong(payload, demo_model):
    cluster, run_dir = payload.cluster, payload.run_dir
    new, crc = write_package(run_dir, "good.onnx", demo_variant(scale=0.5))
    payload.feed(10)
    assert cluster.STAGE_MODEL("good.onnx", crc) is None
    assert payload.tlm("UpdateState") == UpdateState.STAGED and (run_dir / "models" / "B.onnx").is_file()
    assert _outcome(cluster.START_CANARY(0, "")) is None
    assert cluster.engine.swap.card == "card2"
    payload.feed(until=lambda: cluster.engine.swap.phase is Phase.COMMITTING)
    payload.tick()                                    # the record says COMMITTING
    assert payload.tlm("UpdateState") == UpdateState.COMMITTING
    with pytest.raises(CommandRefused):
        cluster.ROLLBACK_MODEL()                      # too late: the new model is computing frames
    payload.feed(until=lambda: payload.h.events_named("ModelCommitted"))
    payload.feed(30)
    products = payload.drain()
    assert [p.frame_id for p in products] == list(range(payload.next_frame))      # none lost
    which = model_of(products, {"old": demo_model.read_bytes(), "new": new.read_bytes()}, SEED)
    boundary = which.index("new")
    assert which == ["old"] * boundary + ["new"] * (len(which) - boundary), which   # none wrong, one switch
    assert payload.tlm("CanaryCompared") == 8 and payload.tlm("CanaryDisagreed") == 0
    assert (payload.tlm("UpdateState"), payload.tlm("ModelSlot"), payload.tlm("ModelCrc")) == (0, 1, crc)
    assert {payload.tlm(f"{c}_ModelCrc") for c in CARDS} == {crc}
    assert all(cluster.engine.cards[c].state is CardState.READY for c in CARDS)
    packed = weight_layout(new.read_bytes())[1]
    offered = {}
    for change in payload.h.sent["cluster.regions"]:
        offered[change.area.name] = change.area if change.added else None
    assert set(offered) == {f"{c}_weights" for c in CARDS}
    for region in offered.values():  # re-baselined: the live and golden copies hold the new weights
        assert np.array_equal(region.golden, packed) and np.array_equal(region.live, packed)
    print(f"\nclean update: {len(products)} frames, commit point at frame {boundary}, 0 lost, 0 wrong")


def test_a_model_with_wrong_answers_is_rolled_back_on_the_canary(payload, demo_model):
    cluster, run_dir = payload.cluster, payload.run_dir
    _, crc = write_package(run_dir, "wrong.onnx", demo_variant(fire_bias=1e3))
    assert cluster.STAGE_MODEL("wrong.onnx", crc) is None   # its own test vector: it says what it computes
    assert _outcome(cluster.START_CANARY(0, "card1")) is None
    payload.feed(until=lambda: payload.h.events_named("ModelRolledBack"))
    payload.feed(10)
    products = payload.drain()
    assert [p.frame_id for p in products] == list(range(payload.next_frame))
    assert set(model_of(products, {"old": demo_model.read_bytes()}, SEED)) == {"old"}
    [(_, _, [reason])] = payload.h.events_named("ModelRolledBack")
    assert "disagreed" in reason
    old_crc = model_crc(demo_model)
    _wait(lambda: cluster.engine.cards["card1"].state is CardState.READY)
    assert {payload.tlm(f"{c}_ModelCrc") for c in CARDS} == {old_crc}
    assert (payload.tlm("UpdateState"), payload.tlm("ModelSlot"), payload.tlm("UpdateFailures")) == (0, 0, 1)
    assert not (run_dir / "models" / "B.onnx").exists()


def test_a_canary_card_that_fails_is_rolled_back_and_so_is_one_by_command(payload):
    cluster, run_dir = payload.cluster, payload.run_dir
    _, crc = write_package(run_dir, "good.onnx", demo_variant(scale=0.5))
    cluster.STAGE_MODEL("good.onnx", crc)
    _outcome(cluster.START_CANARY(1000, ""))
    _wait(lambda: cluster.engine.cards["card2"].state is CardState.CANARY)
    _outcome(cluster.engine.call(lambda: cluster.engine.inject_fault("card2", "crash")))
    payload.feed(until=lambda: payload.h.events_named("ModelRolledBack"))
    [(_, _, [reason])] = payload.h.events_named("ModelRolledBack")
    assert "canary card failed" in reason
    cluster.STAGE_MODEL("good.onnx", crc)
    _outcome(cluster.START_CANARY(1000, ""))
    payload.feed(5)
    assert _outcome(cluster.ROLLBACK_MODEL()) is None
    payload.tick()
    assert [e[2] for e in payload.h.events_named("ModelRolledBack")][-1] == ["by command"]
    assert payload.tlm("UpdateState") == UpdateState.IDLE and payload.tlm("UpdateFailures") == 2
    products = payload.drain()
    assert [p.frame_id for p in products] == list(range(payload.next_frame))


def test_refusals_change_nothing(payload):
    cluster, run_dir = payload.cluster, payload.run_dir
    with pytest.raises(CommandRefused):
        cluster.START_CANARY(0, "")                  # nothing staged
    with pytest.raises(CommandRefused):
        cluster.ROLLBACK_MODEL()                     # nothing to roll back
    _, crc = write_package(run_dir, "coarse.onnx", build_demo_model(grid=4))
    with pytest.raises(CommandError) as refused:
        cluster.STAGE_MODEL("coarse.onnx", crc)
    assert refused.value.failure == "MODEL_SIGNATURE"
    with pytest.raises(CommandError) as refused:
        cluster.STAGE_MODEL("missing.onnx", 0)
    assert refused.value.failure == "FILE_NOT_FOUND"
    with pytest.raises(CommandError) as refused:
        cluster.STAGE_MODEL("../models/A.onnx", 0)
    assert refused.value.failure == "PATH_REFUSED"
    assert [e[2][0] for e in payload.h.events_named("ModelRejected")] == ["coarse.onnx", "missing.onnx",
                                                                           "../models/A.onnx"]
    assert payload.tlm("UpdateState") == UpdateState.IDLE and not (run_dir / "models" / "B.onnx").exists()
    _, crc = write_package(run_dir, "good.onnx", demo_variant(scale=0.5))
    cluster.STAGE_MODEL("good.onnx", crc)
    assert cluster.ROLLBACK_MODEL() is None          # a staged model is discarded
    assert payload.tlm("UpdateState") == UpdateState.IDLE and not (run_dir / "models" / "B.onnx").exists()
    cluster.STAGE_MODEL("good.onnx", crc)
    assert isinstance(_outcome(cluster.START_CANARY(0, "card9")), CommandRefused)
    assert payload.tlm("UpdateState") == UpdateState.STAGED


def test_safe_mode_rolls_a_canary_back_and_no_canary_starts_in_safe(payload):
    cluster, run_dir = payload.cluster, payload.run_dir
    _, crc = write_package(run_dir, "good.onnx", demo_variant(scale=0.5))
    cluster.STAGE_MODEL("good.onnx", crc)
    _outcome(cluster.START_CANARY(1000, ""))
    payload.feed(5)
    assert _outcome(payload.h.send("cluster.flight_mode", FlightMode(True, "by test"))) is None
    payload.tick()
    [(_, _, [reason])] = payload.h.events_named("ModelRolledBack")
    assert reason == "the flight entered SAFE mode" and payload.tlm("UpdateState") == UpdateState.IDLE
    cluster.STAGE_MODEL("good.onnx", crc)
    assert isinstance(_outcome(cluster.START_CANARY(0, "")), CommandRefused)    # every card held parked
    assert payload.tlm("UpdateState") == UpdateState.STAGED
    assert {payload.tlm(f"{c}_ModelCrc") for c in CARDS} == {model_crc(payload.cluster.slots.active_path)}
