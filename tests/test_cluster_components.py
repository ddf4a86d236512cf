"""InferenceCluster and AcceleratorCard components, in process, with real card workers.

Verifies the requirements tables of flight/components/cluster.py and card.py: tiles become
products (or counted drops) that carry the model's decisions; card commands reach the cluster;
the cluster's card status becomes each card's telemetry; SET_MODE and auto-TMR over the SAA
switch the redundancy mode.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from flight.bus import Bus
from flight.components.camera import Capture
from flight.payload.cards.card import CardState
from flight.payload.cluster import Mode
from flight.payload.scene import SceneGenerator
from flight.ports import Ports
from flight.topology import build_dictionary, parse_topology
from flight.wire import services as st

CARDS = ["card0", "card1", "card2"]


def topology(model: Path) -> dict:
    return {
        "mission": {"seed": 3},
        "components": [*({"name": c, "kind": "flight.components.card:AcceleratorCard"} for c in CARDS),
                       {"name": "cluster", "kind": "flight.components.cluster:InferenceCluster",
                        "cards": CARDS, "model": str(model), "heartbeat_timeout_s": 1.0,
                        "orbit": {"saa_windows": [[0.25, 0.5]], "period_s": 100.0}}],
        "rate_groups": [{"name": "rg", "rate_hz": 10, "members": [*CARDS, "cluster"]}],
    }


@pytest.fixture
def flight(demo_model, tmp_path):
    spec = parse_topology(topology(demo_model))
    downlinked, events = [], []
    components: dict = {}
    ports = Ports(Bus(), build_dictionary(spec), components, lambda: 0.0,
                  lambda s, t, d: downlinked.append((s, t, d)),
                  lambda c, n, v: events.append((c, n, v)), tmp_path, seed=3)
    for s in spec.all_components():
        components[s.name] = s.cls(s.name, ports, dict(s.config))
    for s in spec.all_components():
        components[s.name].start()
    cluster = components["cluster"]
    yield cluster, components, downlinked, events
    cluster.stop()


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _products(downlinked):
    return [st.InferenceProduct.unpack(d) for s, _, d in list(downlinked) if s == st.PRODUCT]


def test_tiles_become_products_with_the_scene_truth(flight):
    cluster, components, downlinked, events = flight
    _wait(lambda: sum(1 for _, n, _ in events if n == "CardReady") == 3)
    scene = SceneGenerator(3)
    for frame in range(12):
        tile = scene.tile(frame)
        while cluster.engine.backpressure:
            time.sleep(0.005)
        cluster.accept(Capture(tile))
    _wait(lambda: len(_products(downlinked)) == 12)
    for product in _products(downlinked):
        truth = scene.truth(product.frame_id)
        assert product.tile_class == int(truth.tile_class)
        assert (product.fire_cells == truth.fire_cells).all()
        assert product.card in (0, 1, 2)
    cluster.tick(1, 0.1)
    assert cluster.telemetry["FramesDelivered"] == 12
    assert cluster.telemetry["RawBytesProcessed"] == 12 * scene.tile(0).pixels.nbytes


def test_card_commands_reach_the_cluster_and_status_becomes_card_telemetry(flight):
    cluster, components, downlinked, events = flight
    _wait(lambda: sum(1 for _, n, _ in events if n == "CardReady") == 3)
    components["card1"].INJECT_FAULT(3, 1.0)  # crash
    _wait(lambda: ("cluster", "CardQuarantined") in [(c, n) for c, n, _ in events])
    _wait(lambda: cluster.engine.cards["card1"].state is CardState.READY)
    cluster.tick(1, 0.1)
    card1 = components["card1"].telemetry
    assert card1["Resets"] == 1 and card1["State"] == int(CardState.READY)
    assert card1["Pid"] == cluster.engine.cards["card1"].pid
    components["card2"].POWER_OFF()
    _wait(lambda: cluster.engine.cards["card2"].state is CardState.OFF)
    components["card2"].RESET()
    _wait(lambda: cluster.engine.cards["card2"].state is CardState.READY)


def test_set_mode_and_auto_tmr_over_the_saa(flight):
    cluster, components, downlinked, events = flight
    cluster.SET_MODE(int(Mode.DMR))
    _wait(lambda: cluster.engine.mode is Mode.DMR)
    cluster.SET_MODE(int(Mode.THROUGHPUT))
    cluster.apply_parameter("AutoTmrInSaa", True)
    cluster.tick(0, 10.0)   # phase 0.1: outside the SAA window [0.25, 0.5)
    cluster.tick(1, 30.0)   # phase 0.3: inside
    _wait(lambda: cluster.engine.mode is Mode.TMR)
    cluster.tick(2, 60.0)   # phase 0.6: outside again
    _wait(lambda: cluster.engine.mode is Mode.THROUGHPUT)
    reasons = [v[1] for c, n, v in events if n == "ModeChanged"]
    assert "entering the SAA" in reasons and "leaving the SAA" in reasons
    assert cluster.telemetry["InSaa"] is False
