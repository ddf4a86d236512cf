"""The multi-card cluster engine with real card worker processes (flight.payload.cluster.engine).

Verifies the requirements tables of flight/payload/cluster/engine.py and of its parts (supervisor.py,
scheduler.py, voter.py, power_manager.py): accounting of every frame (also
when a card is SIGKILLed mid-run), quarantine / reset / probe / readmission of hung, crashed and
lying cards, switching a card off after repeated failures, TMR and DMR voting, priorities,
frame deadlines, and parking under power and thermal limits.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from flight.payload.cluster.card_process import CardSpec, CardState, Request
from flight.environment.power import Battery, PowerSystem
from flight.payload.cluster.engine import Cluster, ClusterConfig
from flight.payload.cluster.frames import DropReason, Frame, Mode
from flight.payload.scene import SceneGenerator

SCENE = SceneGenerator(11)
TILES = [SCENE.tile(i) for i in range(40)]


class Harness:
    def __init__(self, model: Path, cards: list[CardSpec], power: PowerSystem | None = None,
                 **config) -> None:
        self.products: list[tuple[int, list[np.ndarray], list[str]]] = []
        self.events: list[tuple[str, dict]] = []
        self.lock = threading.Condition()
        self.cluster = Cluster(ClusterConfig(model, **config), cards, self._result, self._event, power)

    def _result(self, frame, outputs, cards):
        with self.lock:
            self.products.append((frame.frame_id, outputs, cards))
            self.lock.notify_all()

    def _event(self, kind, args):
        with self.lock:
            self.events.append((kind, args))
            self.lock.notify_all()

    def wait(self, condition, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not condition():
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"timed out; events: {self.events[-8:]}"
                self.lock.wait(min(remaining, 0.05))

    def count(self, kind: str, **match) -> int:
        with self.lock:
            return sum(1 for k, a in self.events if k == kind and all(a.get(x) == v for x, v in match.items()))

    def start(self) -> "Harness":
        self.cluster.start()
        self.wait(lambda: self.count("card_ready") >= len(self.cluster.cards))
        return self

    def submit_all(self, tiles, priority: int = 0) -> None:
        for tile in tiles:
            while not self.cluster.submit(tile.frame_id, tile.pixels, priority):
                time.sleep(0.002)  # a refusal is counted as QUEUE_FULL; retry like a sensor would

    def settle(self, timeout: float = 60.0) -> None:
        self.wait(lambda: self.cluster.pending == 0, timeout)

    def assert_accounted(self) -> None:
        c = self.cluster
        assert c.submitted == c.delivered + sum(c.dropped.values()) + c.pending


@pytest.fixture
def harness(demo_model):
    made: list[Harness] = []

    def make(cards: int | list[CardSpec] = 3, **config) -> Harness:
        specs = [CardSpec(f"card{i}") for i in range(cards)] if isinstance(cards, int) else cards
        h = Harness(demo_model, specs, **config)
        made.append(h)
        return h.start()

    yield make
    for h in made:
        h.cluster.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Each test tile's outputs from a plain in-process ONNX Runtime session: the model's output
    arrays, float32, without the batch axis, flattened."""
    from flight.payload.demo_model import write_demo_model

    path = write_demo_model(tmp_path_factory.mktemp("m") / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"tiles": np.stack([t.pixels for t in TILES])})
    return {t.frame_id: [np.ascontiguousarray(o[i], np.float32).ravel() for o in outputs]
            for i, t in enumerate(TILES)}


def _record(outputs: list[np.ndarray]) -> bytes:
    return b"".join(o.tobytes() for o in outputs)


def _decisions_match(h: Harness, reference: dict[int, list[np.ndarray]]) -> None:
    decisions = h.cluster.voter.decisions
    for frame_id, outputs, _ in h.products:
        expected = reference[frame_id]
        assert [(o.dtype, o.shape) for o in outputs] == [(e.dtype, e.shape) for e in expected], frame_id
        assert decisions(_record(outputs)) == decisions(_record(expected)), frame_id
        assert np.allclose(np.concatenate(outputs), np.concatenate(expected), atol=1e-4)


def test_throughput_mode_delivers_every_frame_correctly_across_cards(harness, reference):
    h = harness(3)
    h.submit_all(TILES)
    h.settle()
    assert sorted(f for f, _, _ in h.products) == [t.frame_id for t in TILES]
    assert all(len(cards) == 1 for _, _, cards in h.products)
    assert sum(c.inferences for c in h.cluster.cards.values()) == len(TILES)
    _decisions_match(h, reference)
    h.assert_accounted()


def test_sigkill_of_a_card_mid_run_loses_no_frame_and_the_card_comes_back(harness, reference):
    h = harness(3)
    victim = h.cluster.cards["card1"]
    h.submit_all(TILES[:10])
    os.kill(victim.pid, signal.SIGKILL)
    h.submit_all(TILES[10:])
    h.settle()
    h.wait(lambda: h.count("card_ready", card="card1", resets=1) == 1)
    assert h.count("card_quarantined", card="card1") == 1
    # noticed by its link's end-of-file, not by a lost heartbeat
    assert h.count("card_quarantined", card="card1", reason="process exited with -9") == 1
    assert sorted(f for f, _, _ in h.products) == [t.frame_id for t in TILES]
    assert sum(h.cluster.dropped.values()) - h.cluster.dropped[DropReason.QUEUE_FULL] == 0
    _decisions_match(h, reference)
    h.assert_accounted()


def test_a_sensor_writes_tiles_in_place_into_the_slots_and_gets_their_products(harness, reference):
    h = harness(2, slots=4)
    c = h.cluster
    buffers = [c.get_buffer() for _ in range(4)]
    assert c.get_buffer() is None and c.backpressure  # every slot lent: the sensor waits
    for buffer, tile in zip(buffers, TILES):
        assert np.shares_memory(buffer.pixels, c.slots.array)  # the cards read these very bytes
        buffer.pixels[...] = tile.pixels
    c.release_buffer(buffers[3])  # not needed after all: back to the pool, nothing submitted
    for buffer, tile in zip(buffers[:3], TILES):
        c.submit_buffer(buffer, tile.frame_id)
    h.settle()
    assert sorted(f for f, _, _ in h.products) == [t.frame_id for t in TILES[:3]]
    _decisions_match(h, reference)
    assert c.submitted == 3 and c.delivered == 3 and sum(c.dropped.values()) == 0
    assert c.slots.free == 4 and not c.backpressure
    h.assert_accounted()


def test_a_hung_card_is_quarantined_reset_probed_and_readmitted(harness):
    h = harness(2, heartbeat_timeout_s=0.6)
    h.cluster.call(lambda: h.cluster.inject_fault("card0", "hang"))
    h.wait(lambda: h.count("card_quarantined", card="card0") == 1)
    reason = next(a["reason"] for k, a in h.events if k == "card_quarantined")
    assert reason in ("heartbeat lost", "inference late")
    h.wait(lambda: h.count("card_ready", card="card0", resets=1) == 1)
    h.submit_all(TILES[:10])
    h.settle()
    assert len(h.products) == 10


def test_tmr_votes_a_lying_card_away_then_quarantines_it(harness, reference):
    h = harness(3, mode=Mode.TMR, disagreement_limit=3)
    h.cluster.call(lambda: h.cluster.inject_fault("card2", "wrong"))
    h.submit_all(TILES[:12])
    h.settle()
    assert len(h.products) == 12
    _decisions_match(h, reference)
    for frame_id, outputs, _ in h.products:  # voted bit-exactly to the honest cards' output
        expected = reference[frame_id]
        assert _record(outputs) == _record(expected) or np.allclose(
            np.concatenate(outputs), np.concatenate(expected), atol=1e-6)
    assert h.cluster.disagreements >= 3
    assert h.count("card_disagreed", card="card2") >= 3
    assert h.count("card_quarantined", card="card2") >= 1
    assert h.count("card_disagreed", card="card0") == h.count("card_disagreed", card="card1") == 0


def test_dmr_asks_a_third_card_when_the_two_disagree(harness, reference):
    h = harness([CardSpec("card0"), CardSpec("card1"), CardSpec("card2")], mode=Mode.DMR,
                disagreement_limit=100)
    h.cluster.call(lambda: h.cluster.inject_fault("card0", "wrong"))
    h.submit_all(TILES[:9])
    h.settle()
    assert len(h.products) == 9
    _decisions_match(h, reference)
    three = [cards for _, _, cards in h.products if len(cards) == 3]
    assert three and all("card0" in cards for cards in three)  # a third was asked only with card0


def test_repeated_failures_switch_a_card_off_and_the_others_carry_on(harness):
    h = harness(2, max_failures=2)
    for expected_resets in (1, 2):
        h.cluster.call(lambda: h.cluster.inject_fault("card0", "crash"))
        if expected_resets == 1:
            h.wait(lambda: h.count("card_ready", card="card0", resets=1) == 1)
    h.wait(lambda: h.count("card_off", card="card0") == 1)
    assert h.cluster.cards["card0"].state is CardState.OFF
    h.submit_all(TILES[:8])
    h.settle()
    assert len(h.products) == 8 and {c[0] for _, _, c in h.products} == {"card1"}


def test_all_cards_off_drops_frames_as_no_card(harness):
    h = harness(1)
    h.cluster.call(lambda: h.cluster.power_off("card0"))
    h.wait(lambda: h.cluster.cards["card0"].state is CardState.OFF)
    h.submit_all(TILES[:3])
    h.settle()
    assert h.cluster.dropped[DropReason.NO_CARD] == 3 and not h.products
    h.assert_accounted()


def test_an_alert_frame_overtakes_queued_bulk_frames(harness):
    h = harness([CardSpec("card0", capacity=1)], slots=32)
    h.cluster.call(lambda: h.cluster.inject_fault("card0", "slow", 10.0))
    h.submit_all(TILES[:12])
    h.submit_all(TILES[12:13], priority=5)
    h.settle()
    order = [f for f, _, _ in h.products]
    assert order.index(12) <= 2  # at most the frames already in flight go before it


def test_frames_too_old_are_dropped_as_deadline_and_counted(harness):
    h = harness([CardSpec("card0", capacity=1)], slots=32, frame_deadline_s=0.05)
    h.cluster.call(lambda: h.cluster.inject_fault("card0", "slow", 20.0))
    h.submit_all(TILES[:15])
    h.settle()
    dropped = h.cluster.dropped[DropReason.DEADLINE]
    assert dropped > 0 and len(h.products) + dropped == 15
    h.assert_accounted()


class AlwaysSunlit:
    def sunlit(self, t: float) -> bool:
        return True


def test_cards_are_parked_within_the_power_budget_and_when_hot(harness):
    power = PowerSystem(AlwaysSunlit(), Battery(), solar_w=40.0 + 30.0, platform_load_w=40.0)  # 30 W for cards
    h = harness([CardSpec(f"card{i}", active_w=25.0, idle_w=5.0) for i in range(3)], power=power)
    h.cluster.call(lambda: h.cluster.step_power(0.0, 1.0, 1.0))
    h.wait(lambda: h.count("card_parked") == 2)
    assert sum(c.state is CardState.READY for c in h.cluster.cards.values()) == 1
    h.submit_all(TILES[:6])
    h.settle()
    assert len(h.products) == 6 and len({c[0] for _, _, c in h.products}) == 1

    ready = next(c for c in h.cluster.cards.values() if c.state is CardState.READY)
    power.solar_w = 1000.0
    ready.thermal.temperature_c = ready.thermal.limit_c + 1
    h.cluster.call(lambda: h.cluster.step_power(1.0, 0.001, 1.0))
    h.wait(lambda: h.count("card_parked", card=ready.name, reason="hot") == 1)
    h.wait(lambda: h.count("card_unparked") == 2)


def test_an_unavailable_provider_falls_back_to_cpu_with_an_event(harness):
    h = harness([CardSpec("card0", providers=(("NoSuchExecutionProvider", {"device_id": 1}),
                                              "CPUExecutionProvider"))])
    assert h.count("provider_unavailable", card="card0", provider="NoSuchExecutionProvider") == 1
    assert h.cluster.cards["card0"].providers == ["CPUExecutionProvider"]
    h.submit_all(TILES[:3])
    h.settle()
    assert len(h.products) == 3


def test_dynamic_batching_sends_several_frames_per_request_and_all_come_back_right(harness, reference):
    h = harness([CardSpec("card0", capacity=1, max_batch=4)], slots=32, max_queue_delay_s=0.05)
    sent = []
    original = h.cluster.scheduler.send
    h.cluster.scheduler.send = lambda card, frames, now: (sent.append(len(frames)), original(card, frames, now))
    h.cluster.call(lambda: h.cluster.inject_fault("card0", "slow", 5.0))  # let a queue build up
    h.submit_all(TILES[:16])
    h.settle()
    assert sorted(f for f, _, _ in h.products) == list(range(16))
    assert max(sent) > 1 and sum(sent) == 16
    _decisions_match(h, reference)


def test_a_card_whose_model_does_not_match_is_refused_and_switched_off(harness, tmp_path, demo_model):
    model = tmp_path / "model.onnx"
    model.write_bytes(demo_model.read_bytes())
    h = Harness(model, [CardSpec("card0"), CardSpec("card1")], max_failures=2)
    h.start()
    try:
        model.write_bytes(model.read_bytes()[:-1] + bytes([model.read_bytes()[-1] ^ 1]))  # flight's
        h.cluster.call(lambda: h.cluster.inject_fault("card0", "crash"))             # copy on disk rots
        h.wait(lambda: h.count("card_off", card="card0") == 1)
        assert h.count("model_crc_mismatch", card="card0") >= 1
        h.submit_all(TILES[:4])
        h.settle()
        assert {c[0] for _, _, c in h.products} == {"card1"}
    finally:
        h.cluster.stop()


def test_optimized_weights_are_refreshed_and_a_refresh_from_a_changed_file_is_refused(
        harness, tmp_path, demo_model, reference):
    model = tmp_path / "model.onnx"
    model.write_bytes(demo_model.read_bytes())
    h = Harness(model, [CardSpec("card0"), CardSpec("card1")], weights="optimized", refresh_s=0.2)
    h.start()
    try:
        assert h.cluster.weights is None  # no shared-memory weights in optimized mode
        h.submit_all(TILES[:10])
        h.settle()
        h.wait(lambda: h.cluster.refreshes >= 4)
        h.submit_all(TILES[10:20])
        h.settle()
        _decisions_match(h, reference)
        def refused() -> int:
            return sum(1 for k, a in h.events if k == "card_quarantined" and "refresh refused" in a["reason"])

        assert len(h.products) == 20 and refused() == 0
        model.write_bytes(model.read_bytes() + b"\0")  # the file no longer matches: refuse to load it
        h.wait(lambda: refused() >= 1)
    finally:
        h.cluster.stop()


def test_only_disagreements_in_a_row_quarantine_a_card(harness):
    h = harness(3, mode=Mode.TMR, disagreement_limit=3)

    def run(frames, fault):
        h.cluster.call(lambda: h.cluster.inject_fault("card2", fault))
        h.submit_all(frames)
        h.settle()

    run(TILES[0:2], "wrong")   # outvoted twice
    run(TILES[2:4], "clear")   # agrees: the run is broken
    run(TILES[4:6], "wrong")   # outvoted twice more: four in all, never three in a row
    assert h.count("card_disagreed", card="card2") == 4
    assert h.count("card_quarantined", card="card2") == 0
    run(TILES[6:7], "wrong")   # the third in a row
    h.wait(lambda: h.count("card_quarantined", card="card2") == 1)


def test_results_are_held_only_while_the_head_frame_cannot_be_sent(demo_model):
    """The rule of Scheduler.hold_ms, on a cluster that is not started (no processes)."""
    cluster = Cluster(ClusterConfig(demo_model), [CardSpec("a"), CardSpec("b"), CardSpec("c", capacity=1)],
                      lambda *_: None, lambda *_: None)
    a, b, c = cluster.cards.values()
    a.latency, b.latency = 0.001, 0.003

    def load(card, requests):
        card.requests = {i: Request(i, card.name, [object()], 0.0, 1.0) for i in range(requests)}

    for card in (a, b, c):
        card.state = CardState.READY
    load(a, 4), load(b, 4), load(c, 1)
    assert cluster.scheduler.hold_ms() == 0  # nothing queued: results are products, take them at once
    head = Frame(0, 0, 0, 1, 0.0, None)
    cluster.scheduler.queue = [(head.key, head)]
    assert cluster.scheduler.hold_ms() == 0  # c is full with nothing behind its one request: it would idle
    c.state = CardState.PARKED  # cards out of service do not count
    assert cluster.scheduler.hold_ms() == 2  # 0.8 x a's 1 ms x the 3 requests behind the one it runs
    load(b, 3)
    assert cluster.scheduler.hold_ms() == 0  # b has room: the head frame can go at once
    cluster.mode = Mode.TMR
    c.state = CardState.READY
    assert cluster.scheduler.hold_ms() == 0  # TMR with c full and nothing behind: c would idle
    load(c, 0)
    load(a, 4)
    assert cluster.scheduler.hold_ms() == 2  # TMR: only b and c have room, the frame needs three cards
    load(b, 4)
    a.latency = b.latency = 1.0
    cluster.mode = Mode.THROUGHPUT
    c.state = CardState.QUARANTINED
    assert cluster.scheduler.hold_ms() == 8  # 0.8 x 10 ms: never past a health check (HEALTH_PERIOD_S)
    a.state = b.state = CardState.QUARANTINED
    assert cluster.scheduler.hold_ms() == 0  # no card in service: nothing to wait for


class _RecordingLink:
    """Stands in for a card's link in dispatch tests: keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, message: bytes) -> None:
        self.sent.append(message)


def test_tmr_cards_run_ahead_of_a_full_card_instead_of_going_in_step(demo_model):
    """Scheduler.dispatch on a cluster that is not started (no processes): cards a and b have
    room, card c is full. Each frame goes to a and b at once and waits in the queue for c."""
    cluster = Cluster(ClusterConfig(demo_model, mode=Mode.TMR), [CardSpec(n, capacity=4) for n in "abc"],
                      lambda *_: None, lambda *_: None)
    a, b, c = cluster.cards.values()
    for card in (a, b, c):
        card.state, card.link = CardState.READY, _RecordingLink()
    c.requests = {-i: Request(-i, "c", [object()], 0.0, 1.0) for i in range(1, 5)}
    frames = [Frame(i, 100 + i, 0, i, 0.0, None) for i in range(6)]
    for frame in frames:
        cluster._admit(frame)

    def taken(card):
        return [f.frame_id for r in card.requests.values() for f in r.frames if isinstance(f, Frame)]

    cluster.scheduler.dispatch(0.0)
    assert taken(a) == taken(b) == [100, 101, 102, 103]  # up to their depth, ahead of c
    assert taken(c) == [] and len(cluster.scheduler.queue) == 6  # every frame still owes c its copy
    assert frames[0].dispatched == {"a", "b"}
    c.requests.clear()  # c catches up: it owes the oldest frames first
    cluster.scheduler.dispatch(0.0)
    assert taken(c) == [100, 101, 102, 103]
    assert sorted(f.frame_id for _, f in cluster.scheduler.queue) == [104, 105]  # still owed by a and b
    assert all(len(f.dispatched) == 3 for f in frames[:4])


# --- containment: no work item, bad command or resource shortage stops the cluster thread -----------
def _outcome(pending, timeout: float = 10.0):
    done = threading.Event()
    seen = []
    pending.when_done(lambda error: (seen.append(error), done.set()))
    assert done.wait(timeout), "the work never completed"
    return seen[0]


def test_commands_refused_by_the_state_they_find_fail_alone_and_the_cluster_goes_on(harness, reference):
    from flight.core.component import CommandRefused

    h = harness(2)
    c = h.cluster
    assert _outcome(c.call(lambda: c.power_off("card1"))) is None
    assert isinstance(_outcome(c.call(lambda: c.power_off("card1"))), CommandRefused)
    assert isinstance(_outcome(c.call(lambda: c.inject_fault("card1", "hang"))), CommandRefused)
    assert isinstance(_outcome(c.call(lambda: c.inject_fault("card9", "hang"))), KeyError)
    assert c.work_failures == 3 and h.count("work_failed") == 3
    h.submit_all(TILES[:6])
    h.settle()
    assert sorted(f for f, _, _ in h.products) == [t.frame_id for t in TILES[:6]]
    for frame, outputs, _ in h.products:
        assert all(np.array_equal(o.ravel(), r) for o, r in zip(outputs, reference[frame]))
    h.assert_accounted()


def test_a_card_that_cannot_be_restarted_for_lack_of_descriptors_is_retried_then_readmitted(
        harness, monkeypatch):
    import errno
    import subprocess

    from flight.payload.cluster import card_process

    h = harness(1)
    real, refusals = subprocess.Popen, []

    def popen(*args, **kwargs):
        if len(refusals) < 3:  # the host is out of descriptors for the next three tries
            refusals.append(time.monotonic())
            raise OSError(errno.EMFILE, "Too many open files")
        return real(*args, **kwargs)

    monkeypatch.setattr(card_process.subprocess, "Popen", popen)
    assert _outcome(h.cluster.call(lambda: h.cluster.reset_card("card0"))) is None
    h.wait(lambda: h.count("card_ready") >= 2, timeout=30)
    failed = [a for k, a in h.events if k == "card_spawn_failed"]
    assert [a["retry_s"] for a in failed] == [0.5, 1.0, 2.0]  # back-off doubles
    assert all("Too many open files" in a["reason"] for a in failed)
    assert refusals[2] - refusals[1] >= 0.9 and refusals[1] - refusals[0] >= 0.4
    assert h.cluster.work_failures == 0  # contained where it happened, not by the last resort
    h.submit_all(TILES[:3])
    h.settle()
    assert len(h.products) == 3


def _board(boards: Path, card: str):
    from flight.payload.cluster.board import Board

    return Board(boards / f"{card}.json", 1.0)


def test_a_latched_up_card_is_power_cycled_before_it_burns_and_tmr_loses_nothing(harness, reference, tmp_path):
    h = harness(3, mode=Mode.TMR, boards_dir=str(tmp_path))
    h.cluster.call(lambda: h.cluster.inject_fault("card1", "latchup", 2.0))
    h.wait(lambda: h.count("card_quarantined", card="card1") == 1)
    assert h.count("card_overcurrent", card="card1") == 1
    reason = next(a["reason"] for k, a in h.events if k == "card_quarantined")
    assert reason.startswith("over-current") and h.count("card_quarantined") == 1
    h.wait(lambda: h.count("card_ready", card="card1", resets=1) == 1)
    h.submit_all(TILES[:6])
    h.settle()
    assert len(h.products) == 6 and all(len(cards) == 3 for _, _, cards in h.products)
    _decisions_match(h, reference)
    assert not _board(tmp_path, "card1").burned and h.cluster.cards["card1"].excess_w == 0.0


def test_a_latch_up_the_flight_does_not_cut_burns_the_board_for_good(harness, tmp_path):
    cards = [CardSpec("card0"), CardSpec("card1", overcurrent_w=10_000.0)]   # no latch-up protection on card1
    h = harness(cards, boards_dir=str(tmp_path), latchup_burn_s=0.3, max_failures=2)
    h.cluster.call(lambda: h.cluster.inject_fault("card1", "latchup", 2.0))
    h.wait(lambda: h.count("card_off", card="card1") == 1)
    reasons = [a["reason"] for k, a in h.events if k == "card_quarantined"]
    assert reasons and all(r.endswith("71") for r in reasons) and not h.count("card_overcurrent")
    assert _board(tmp_path, "card1").burned
    h.submit_all(TILES[:4])
    h.settle()
    assert len(h.products) == 4 and {c[0] for _, _, c in h.products} == {"card0"}
    h.cluster.call(lambda: h.cluster.inject_fault("card1", "clear"))    # test equipment: a fresh board
    h.cluster.call(lambda: h.cluster.reset_card("card1"))
    h.wait(lambda: h.cluster.cards["card1"].state is CardState.READY)
    assert not _board(tmp_path, "card1").burned


def test_a_functional_interrupt_is_caught_by_the_deadline_not_the_heartbeat_and_tmr_loses_nothing(
        harness, reference):
    h = harness(3, mode=Mode.TMR, min_deadline_s=0.5)
    h.cluster.call(lambda: h.cluster.inject_fault("card0", "sefi"))
    h.submit_all(TILES[:6])
    h.settle()
    assert len(h.products) == 6
    _decisions_match(h, reference)
    assert [a["reason"] for k, a in h.events if k == "card_quarantined"] == ["inference late"]
    h.wait(lambda: h.count("card_ready", card="card0", resets=1) == 1)


def test_total_dose_slows_a_card_it_is_reported_degraded_and_the_dose_outlives_a_reset(harness, tmp_path):
    h = harness(3, mode=Mode.TMR, boards_dir=str(tmp_path), degraded_factor=2.0)
    h.submit_all(TILES[:12])
    h.settle()
    assert not h.count("card_degraded")
    h.cluster.call(lambda: h.cluster.inject_fault("card0", "tid", 50.0))
    h.submit_all(TILES[12:24])
    h.settle()
    assert len(h.products) == 24
    assert [a["card"] for k, a in h.events if k == "card_degraded"] == ["card0"]
    dose = _board(tmp_path, "card0").dose
    assert dose >= 12
    h.cluster.call(lambda: h.cluster.reset_card("card0"))
    h.wait(lambda: h.count("card_ready", card="card0", resets=1) == 1)
    h.submit_all(TILES[24:26])
    h.settle()
    assert _board(tmp_path, "card0").dose > dose     # the reset did not undo the damage
