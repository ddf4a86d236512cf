"""The InferenceCluster component, in process (flight.testing's component tester), with real card
workers.

Verifies the requirements table of flight/payload/cluster/component.py: tiles become products (or
counted drops) that carry the model's decisions; card commands (and card faults from the SEU
injector's port) reach the cards; each card's status becomes its telemetry; SET_MODE and auto-TMR
over the SAA switch the redundancy mode.
"""
from __future__ import annotations

import time

import pytest

from flight.core.component import CommandError
from flight.messages import Capture, CardFault
from flight.payload.cluster.card_process import CardState
from flight.payload.cluster.frames import Mode
from flight.payload.scene import SceneGenerator
from flight.core.clock import parse_epoch
from flight.environment.orbit import mission_orbit
from flight.testing import ComponentTester

CARDS = ["card0", "card1", "card2"]


@pytest.fixture
def flight(demo_model, tmp_path):
    h = ComponentTester.build(
        tmp_path, [{"name": "cluster", "kind": "flight.payload.cluster.component:InferenceCluster",
                    "cards": [{"name": c} for c in CARDS], "model": str(demo_model),
                    "heartbeat_timeout_s": 1.0}],
        rate_groups=[{"name": "rg", "rate_hz": 10, "members": ["cluster"]}],
        mission={"seed": 3})
    h.start("cluster")
    yield h
    h.stop()


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _ready(h) -> bool:
    return len(h.events_named("CardReady")) >= 3


def test_tiles_become_products_with_the_scene_truth(flight):
    cluster, products = flight.components["cluster"], flight.sent["cluster.products"]
    _wait(lambda: _ready(flight))
    scene = SceneGenerator(3)
    for frame in range(12):
        tile = scene.tile(frame)
        while cluster.engine.backpressure:
            time.sleep(0.005)
        flight.send("cluster.tiles", Capture(tile.frame_id, tile.pixels))
    _wait(lambda: len(products) == 12)
    for product in list(products):
        truth = scene.truth(product.frame_id)
        assert product.tile_class == int(truth.tile_class)
        assert (product.fire_cells == truth.fire_cells).all()
        assert product.card in (0, 1, 2)
    cluster.tick(1, 0.1)
    assert cluster.telemetry["FramesDelivered"] == 12
    assert cluster.telemetry["RawBytesProcessed"] == 12 * scene.tile(0).pixels.nbytes


def test_card_commands_reach_the_cards_and_status_becomes_per_card_telemetry(flight):
    cluster = flight.components["cluster"]
    _wait(lambda: _ready(flight))
    cluster.INJECT_CARD_FAULT("card1", 3, 1.0)  # crash
    _wait(lambda: flight.events_named("CardQuarantined"))
    assert flight.events_named("CardQuarantined")[0][2][0] == "card1"
    _wait(lambda: cluster.engine.cards["card1"].state is CardState.READY)
    cluster.tick(1, 0.1)
    telemetry = cluster.telemetry
    assert telemetry["card1_Resets"] == 1 and telemetry["card1_State"] == int(CardState.READY)
    assert telemetry["card1_Pid"] == cluster.engine.cards["card1"].pid
    assert telemetry["card0_Resets"] == 0 and telemetry["card0_Pid"] == cluster.engine.cards["card0"].pid
    cluster.POWER_OFF_CARD("card2")
    _wait(lambda: cluster.engine.cards["card2"].state is CardState.OFF)
    cluster.RESET_CARD("card2")
    _wait(lambda: cluster.engine.cards["card2"].state is CardState.READY)
    with pytest.raises(CommandError, match="no card 'card9'"):
        cluster.RESET_CARD("card9")


def test_a_card_fault_from_the_injector_port_reaches_its_card(flight):
    cluster = flight.components["cluster"]
    _wait(lambda: _ready(flight))
    flight.send("cluster.card_faults", CardFault("card0", "crash"))
    _wait(lambda: flight.events_named("CardQuarantined"))
    assert flight.events_named("CardQuarantined")[0][2][0] == "card0"
    with pytest.raises(CommandError, match="no card 'card7'"):
        flight.send("cluster.card_faults", CardFault("card7", "hang"))
    _wait(lambda: cluster.engine.cards["card0"].state is CardState.READY)


def saa_crossing(orbit) -> tuple[float, float, float]:
    """Mission times before, during and after the default orbit's first pass over the SAA."""
    t = parse_epoch("2026-01-01T00:00:00Z")
    while orbit.in_saa(t):
        t += 60.0
    while not orbit.in_saa(t):
        t += 60.0
    inside = t
    while orbit.in_saa(t):
        t += 60.0
    return inside - 60.0, inside, t   # the minute before it was outside; t is the first outside again


def test_set_mode_and_auto_tmr_over_the_saa(flight):
    cluster = flight.components["cluster"]
    cluster.SET_MODE(int(Mode.DMR))
    _wait(lambda: cluster.engine.mode is Mode.DMR)
    cluster.SET_MODE(int(Mode.THROUGHPUT))
    cluster.apply_parameter("AutoTmrInSaa", True)
    before, inside, after = saa_crossing(mission_orbit({}))
    cluster.tick(0, before)   # outside the SAA
    cluster.tick(1, inside)   # over it
    _wait(lambda: cluster.engine.mode is Mode.TMR)
    cluster.tick(2, after)    # outside again
    _wait(lambda: cluster.engine.mode is Mode.THROUGHPUT)
    reasons = [v[1] for _, _, v in flight.events_named("ModeChanged")]
    assert "entering the SAA" in reasons and "leaving the SAA" in reasons
    assert cluster.telemetry["InSaa"] is False


def _outcome(pending, timeout: float = 10.0):
    seen = []
    pending.when_done(seen.append)
    _wait(lambda: seen, timeout)
    return seen[0]


def test_card_commands_complete_when_their_work_ran_and_state_refusals_fail_alone(flight):
    from flight.core.component import CommandRefused

    cluster = flight.components["cluster"]
    _wait(lambda: _ready(flight))
    assert _outcome(cluster.POWER_OFF_CARD("card2")) is None
    assert cluster.engine.cards["card2"].state is CardState.OFF  # done when it completed
    assert isinstance(_outcome(cluster.POWER_OFF_CARD("card2")), CommandRefused)
    assert isinstance(_outcome(cluster.INJECT_CARD_FAULT("card2", 2, 1.0)), CommandRefused)
    with pytest.raises(CommandError, match="no card fault 'explode'"):
        flight.send("cluster.card_faults", CardFault("card0", "explode"))
    tile = SceneGenerator(3).tile(0)
    flight.send("cluster.tiles", Capture(tile.frame_id, tile.pixels))
    _wait(lambda: len(flight.sent["cluster.products"]) == 1)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_cluster_thread_that_died_is_restarted_by_health_and_frames_flow_again(demo_model, tmp_path):
    h = ComponentTester.build(
        tmp_path, [{"name": "health", "kind": "flight.services.health:Health"},
                   {"name": "cluster", "kind": "flight.payload.cluster.component:InferenceCluster",
                    "cards": [{"name": "card0"}], "model": str(demo_model)}])
    h.start("cluster")
    try:
        cluster, health = h.components["cluster"], h.components["health"]
        _wait(lambda: _ready_count(h) >= 1)
        cluster.engine.call(lambda: (_ for _ in ()).throw(SystemExit("the thread dies")))
        _wait(lambda: not cluster.engine._thread.is_alive())
        for tick in range(5):
            health.tick(tick, float(tick))
        assert [args for _, name, args in h.events if name == "ComponentRestarted"] == [["cluster"]]
        tile = SceneGenerator(3).tile(1)
        h.send("cluster.tiles", Capture(tile.frame_id, tile.pixels))
        _wait(lambda: len(h.sent["cluster.products"]) == 1)
    finally:
        h.stop()


def _ready_count(h) -> int:
    return len(h.events_named("CardReady"))
