"""Protection components: the TMR parameter store, the Scrubber, the SeuInjector, and live weights.

Verifies the requirements tables of flight/protection/parameter_store.py,
flight/protection/scrubber.py, flight/protection/seu_injector.py and
flight/payload/cluster/weights.py. Regions reach the scrubber and the injector as in flight:
offered on their ports (``offer``), the parameter store by the parameter keeper (prmDb).
"""
from __future__ import annotations

import json
import math

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.core.component import Component, Parameter
from flight.core.types import DataType
from flight.messages import CardFault, RegionChange
from flight.payload.cluster.weights import WeightStore, weight_layout, weight_views
from flight.payload.scene import SceneGenerator
from flight.protection.regions import LiveGoldenRegion, TmrRegion
from flight.testing import ComponentTester, kind_of
from native import crc32c


class Tunable(Component):
    PARAMETERS = {
        "Gain": Parameter(DataType.U16, 7, 0, 1000),
        "Level": Parameter(DataType.F32, 0.25, -2.0, 2.0),
        "Ratio": Parameter(DataType.F64, 0.1),
        "Label": Parameter(DataType.STRING, "x"),
        "Enabled": Parameter(DataType.BOOL, False),
        "Offset": Parameter(DataType.I64, -5),
    }


SCRUBBER = {"name": "scrubber", "kind": "flight.protection.scrubber:Scrubber",
            "region_counters": ["parameters", "state"]}
SEU = {"name": "seu", "kind": "flight.protection.seu_injector:SeuInjector", "seed": 4}
PRMDB = {"name": "prmDb", "kind": "flight.services.parameters:ParameterDb"}
TEST_EQUIPMENT = {"fault_injection": True}  # the SEU injector works only where this is on


def _harness(tmp_path):
    """A tunable component, its parameters kept in TMR by prmDb, scrubbed and upset."""
    h = ComponentTester.build(tmp_path, [{"name": "tgt", "kind": kind_of(Tunable)}, SCRUBBER, SEU, PRMDB],
                              connections=["prmDb.regions -> scrubber.regions", "prmDb.regions -> seu.regions"],
                              mission=TEST_EQUIPMENT)
    h.start("prmDb")
    return h


def offer(h, region, port="regions"):
    """Offer ``region`` as its owner would: to the scrubber (if any) and the injector."""
    for target in ("scrubber", "seu"):
        if target in h.components and (port == "regions" or target == "seu"):
            h.send(f"{target}.{port}", RegionChange(region))
    return region


def protected(h):
    return h.components["seu"].protected


# --- the parameter store ------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(gain=st.integers(0, 1000), level=st.floats(-2, 2, width=32), ratio=st.floats(allow_nan=False),
       label=st.text(max_size=60), enabled=st.booleans(), offset=st.integers(-2**63, 2**63 - 1))
def test_parameters_read_back_what_was_set_for_every_type(tmp_path_factory, gain, level, ratio, label,
                                                          enabled, offset):
    tgt = _harness(tmp_path_factory.mktemp("p")).components["tgt"]
    values = {"Gain": gain, "Level": level, "Ratio": ratio, "Label": label, "Enabled": enabled,
              "Offset": offset}
    for name, value in values.items():
        tgt.apply_parameter(name, value)
    assert {name: tgt.param(name) for name in values} == values


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_an_upset_in_one_copy_of_the_parameters_changes_no_value_read(tmp_path_factory, data):
    h = _harness(tmp_path_factory.mktemp("p"))
    tgt = h.components["tgt"]
    before = {name: tgt.param(name) for name in Tunable.PARAMETERS}
    region = protected(h).get("parameters")
    copy = data.draw(st.sampled_from(region.targets()))
    for offset in data.draw(st.lists(st.integers(0, region.size - 1), min_size=1, max_size=10)):
        region.flip(offset, data.draw(st.integers(0, 7)), copy)
    after = {name: tgt.param(name) for name in Tunable.PARAMETERS}
    assert after == before or all(math.isnan(a) and math.isnan(b) for a, b in
                                  zip(after.values(), before.values()) if a != b)


# --- the scrubber -------------------------------------------------------------------------------
def _with_regions(tmp_path, bytes_per_tick: int):
    h = _harness(tmp_path)
    rng = np.random.default_rng(3)
    state = TmrRegion("state", bytes(rng.integers(0, 256, 5000, dtype=np.uint8)))
    weights = np.array(rng.normal(size=30000), np.float32)
    live = LiveGoldenRegion("weights", weights, chunk_size=1024)
    offer(h, state)
    offer(h, live)
    scrubber = h.components["scrubber"]
    scrubber.apply_parameter("BytesPerTick", bytes_per_tick)
    return h, scrubber, state, live, weights


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["state", "weights"]), st.integers(0, 10**9),
                          st.integers(0, 7)), min_size=1, max_size=20, unique_by=lambda u: u[:2]),
       st.integers(500, 50000))
def test_a_full_pass_repairs_every_single_bit_upset_bit_exactly(tmp_path_factory, upsets, per_tick):
    h, scrubber, state, live, weights = _with_regions(tmp_path_factory.mktemp("s"), per_tick)
    clean_state, clean_weights = state.read(), weights.copy()
    seen = set()  # one upset per chunk: two in one chunk of live and golden are uncorrectable
    for name, position, bit in upsets:
        region = protected(h).get(name)
        offset = position % region.size
        target = region.targets()[position % len(region.targets())]
        if (name, offset // region.chunk_size) in seen:
            continue
        seen.add((name, offset // region.chunk_size))
        h.components["seu"].inject(name, target, offset, 1 << bit, "single", 0, 0.0)
    total = h.components["scrubber"].protected.total_bytes
    for tick in range(-(-total // per_tick) + 1):  # one full pass, from wherever the walk is
        scrubber.tick(tick, float(tick))
    assert state.read() == clean_state
    assert np.array_equal(state.copies[0], state.copies[1]) and np.array_equal(state.copies[1], state.copies[2])
    assert np.array_equal(weights, clean_weights) and np.array_equal(live.golden, live.live)
    assert scrubber.telemetry["Uncorrectable"] == 0
    assert scrubber.telemetry["Repaired"] == scrubber.telemetry["Detected"] >= 1
    assert len(h.events_named("UpsetRepaired")) == scrubber.telemetry["Repaired"]


def test_the_walk_resumes_across_ticks_and_covers_every_byte(tmp_path):
    h, scrubber, state, live, weights = _with_regions(tmp_path, 777)
    calls = []
    for region in h.components["scrubber"].protected.regions():
        original = region.scrub
        region.scrub = lambda o, n, r=region, f=original: (calls.append((r.name, o, n)), f(o, n))[1]
    total = h.components["scrubber"].protected.total_bytes
    tick = 0
    while scrubber.telemetry["Passes"] == 0:
        scrubber.tick(tick, 0.1 * tick)
        tick += 1
    first_pass = {}
    for name, offset, length in calls:
        first_pass.setdefault(name, [])
        if not (first_pass[name] and offset == 0):  # a second pass starts at 0 again
            first_pass[name].append((offset, length))
    for region in h.components["scrubber"].protected.regions():  # in order, contiguous, whole chunks, once each
        spans = first_pass[region.name]
        assert spans[0][0] == 0 and all(a + n == b for (a, n), (b, _) in zip(spans, spans[1:]))
        assert spans[-1][0] + spans[-1][1] == region.size
        assert all(n % region.chunk_size == 0 for _, n in spans[:-1])
    assert [name for name, _, _ in calls][:len(first_pass)] != [] and tick <= -(-total // 777) + 1
    assert scrubber.telemetry["DetectionLatency"] == pytest.approx(-(-total // 777) * 0.1, rel=1e-6)


def test_an_uncorrectable_error_is_reported_and_triggers_the_recovery(tmp_path):
    h, scrubber, state, live, weights = _with_regions(tmp_path, 1 << 20)
    recovered = []

    def recover():
        """reload from a trusted source"""
        recovered.append(True)

    state.recover = recover
    state.flip(10, 3, "0")
    state.flip(10, 3, "1")  # two copies, same bit: the majority is wrong
    scrubber.tick(0, 0.0)
    assert scrubber.telemetry["Uncorrectable"] == 1 and recovered == [True]
    assert ("scrubber", "UncorrectableError", ["state", 10]) in h.events
    assert ("scrubber", "RecoveryStarted", ["state", "reload from a trusted source"]) in h.events


# --- the injector -------------------------------------------------------------------------------
def _injections(tmp_path, seed: int, ticks: int = 40) -> list[dict]:
    tmp_path.mkdir()
    h = ComponentTester.build(tmp_path, [{**SEU, "seed": seed}], mission=TEST_EQUIPMENT)
    offer(h, TmrRegion("state", 4096))
    seu = h.components["seu"]
    seu.apply_parameter("Acceleration", 2e7)
    for tick in range(ticks):
        h.time = float(tick)
        seu.tick(tick, float(tick))
    return [json.loads(line) for line in (tmp_path / "injections.jsonl").read_text().splitlines()]


def test_the_same_seed_gives_the_same_upsets_at_the_same_ticks(tmp_path):
    first = _injections(tmp_path / "a", 7)
    assert first == _injections(tmp_path / "b", 7)
    assert first != _injections(tmp_path / "c", 8)
    assert len(first) > 5


def test_planned_and_commanded_injections_flip_exactly_the_named_bits_and_are_logged(tmp_path):
    h = ComponentTester.build(tmp_path, [{**SEU, "plan": [{"tick": 2, "region": "state", "target": "1",
                                             "offset": 100, "bit": 5}]}], mission=TEST_EQUIPMENT)
    region = offer(h, TmrRegion("state", 256))
    seu = h.components["seu"]
    seu.apply_parameter("Acceleration", 0.0)
    for tick in range(4):
        seu.tick(tick, float(tick))
    seu.INJECT("state", "2", 7, 0)
    expected = np.zeros((3, 256), np.uint8)
    expected[1, 100] = 1 << 5
    expected[2, 7] = 1
    assert np.array_equal(region.copies, expected)
    log = [json.loads(line) for line in (tmp_path / "injections.jsonl").read_text().splitlines()]
    assert [(r["tick"], r["target"], r["offset"], r["mask"], r["old"], r["new"]) for r in log] == [
        (2, "1", 100, 32, 0, 32), (0, "2", 7, 1, 0, 1)]


def test_the_rate_model_mean_matches_rate_bits_time_and_factors(tmp_path):
    h = ComponentTester.build(tmp_path, [{**SEU, "rate_per_bit_day": 1e-6, "kind_weights": [1, 0, 0]}],
                              mission={**TEST_EQUIPMENT, "orbit": {"saa_box": [85, 90, 0, 10]}})  # never flown over
    offer(h, TmrRegion("state", 1000))  # 8000 bits
    seu = h.components["seu"]
    acceleration = 1e5
    seu.apply_parameter("Acceleration", acceleration)
    ticks, dt = 2000, 1.0
    for tick in range(ticks + 1):
        seu.tick(tick, tick * dt)
    expected = 8000 * 1e-6 / 86400 * dt * ticks * acceleration  # ~18.5
    injected = seu.telemetry["Injected"]
    assert abs(injected - expected) < 4 * math.sqrt(expected)


# --- live weights -------------------------------------------------------------------------------
def test_a_session_computes_from_the_live_copy_and_a_repair_restores_it(demo_model):
    store = WeightStore(demo_model, crc32c(demo_model.read_bytes()), ["card0"], chunk_size=64)
    try:
        region = store.regions["card0"]
        config = store.worker_config("card0")
        from multiprocessing import shared_memory

        block = shared_memory.SharedMemory(name=config["shm_name"])
        values = {n: ort.OrtValue.ortvalue_from_numpy(v)
                  for n, v in weight_views(block.buf, config["layout"]).items()}
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.add_session_config_entry("session.disable_prepacking", "1")
        for name, value in values.items():
            options.add_initializer(name, value)
        session = ort.InferenceSession(str(demo_model), options, providers=["CPUExecutionProvider"])
        tile = SceneGenerator(2).tile(5).pixels[None]
        clean = session.run(None, {"tiles": tile})
        changed = 0  # flip the sign of each weight in turn: some must change what the session says
        for weight in config["layout"]:
            for index in range(int(np.prod(weight["shape"]))):
                offset = weight["offset"] + 4 * index + 3
                region.flip(offset, 7, "live")
                upset = session.run(None, {"tiles": tile})
                region.flip(offset, 7, "live")
                changed += any(not np.array_equal(a, b) for a, b in zip(clean, upset))
        assert changed > 0
        region.flip(offset, 7, "live")
        region.flip(config["layout"][1]["offset"] + 1, 3, "live")
        findings = region.scrub(0, region.size).findings
        assert len(findings) == 2 and all(f.repaired and f.copy == "live" for f in findings)
        repaired = session.run(None, {"tiles": tile})
        assert all(np.array_equal(a, b) for a, b in zip(clean, repaired))
        del values, session
        block.close()
    finally:
        store.close()


def test_recovery_reloads_golden_and_live_from_the_model_file(demo_model):
    store = WeightStore(demo_model, crc32c(demo_model.read_bytes()), ["card0"], chunk_size=64)
    try:
        region = store.regions["card0"]
        region.flip(70, 1, "live")
        region.flip(70, 1, "golden")
        assert region.scrub(0, region.size).findings[0].uncorrectable
        store.reload("card0")
        packed = weight_layout(demo_model.read_bytes())[1]
        assert np.array_equal(region.live, packed) and np.array_equal(region.golden, packed)
        assert region.scrub(0, region.size).findings == []
    finally:
        store.close()


def test_unprotected_buffers_can_be_hit_and_a_hit_packet_fails_its_crc(tmp_path):
    import logging
    import sqlite3

    from flight.protection.buffers import ByteBuffer
    from flight.services.tm_downlink import StoreRegion, TmDownlink
    from flight.services.tm_framer import TmFramer
    from flight.services.tm_store import NewRecord, StoreClass, TmStore
    from flight.wire.failure import PacketError
    from flight.wire.link import LinkParameters
    from flight.wire.pus import TelemetryPacket

    h = ComponentTester.build(tmp_path, [SEU], mission=TEST_EQUIPMENT)
    originals = [TelemetryPacket(1, n, 3, 25, bytes(10), 0.0).encode() for n in range(3)]
    downlink = TmDownlink("comms", TmFramer(LinkParameters(tm_sdls="off")), pending_max=10, ack_timeout=1.0,
                          now=lambda: 0.0, log=logging.getLogger("test"))
    downlink.store = TmStore(tmp_path / "tm_store.sqlite", 1 << 20)
    downlink.store.append([NewRecord(p, 1, n, n, StoreClass.HOUSEKEEPING, 0, 0.0) for n, p in enumerate(originals)],
                          {})
    offer(h, StoreRegion(downlink), "buffers")
    slots = np.zeros((2, 16), np.uint16)
    offer(h, ByteBuffer("frame_slots", slots), "buffers")
    seu = h.components["seu"]
    seu.INJECT("tm_store", "", len(originals[0]) + 5, 2)  # the second packet, byte 5
    seu.INJECT("frame_slots", "", 33, 0)                   # slot 1, first pixel, high byte
    with sqlite3.connect(tmp_path / "tm_store.sqlite") as db:
        packets = [raw for (raw,) in db.execute("SELECT packet FROM records ORDER BY id")]
    assert packets[0] == originals[0] and packets[2] == originals[2]
    with pytest.raises(PacketError):
        TelemetryPacket.decode(packets[1])
    assert [r.packet for r in downlink.store.take(10)] == [originals[0], originals[2]]   # its record's CRC too
    assert slots[1, 0] == 1 << 8 and int(slots.sum()) == 1 << 8  # little-endian uint16


def test_a_planned_card_fault_reaches_the_cluster_and_is_logged(tmp_path):
    h = ComponentTester.build(tmp_path, [{**SEU, "plan": [{"tick": 3, "card": "card1", "fault": "hang"}]}],
                              mission=TEST_EQUIPMENT)
    for tick in range(5):
        h.components["seu"].tick(tick, float(tick))
    assert h.sent["seu.card_faults"] == [CardFault("card1", "hang", 4.0)]
    log = [json.loads(line) for line in (tmp_path / "injections.jsonl").read_text().splitlines()]
    assert log == [{"tick": 3, "time": 3.0, "card": "card1", "fault": "hang", "factor": 4.0}]


def test_an_uncorrectable_parameter_store_is_restored_from_defaults_and_the_file(tmp_path):
    h = _harness(tmp_path)
    prm, tgt, scrubber = h.components["prmDb"], h.components["tgt"], h.components["scrubber"]
    tgt.apply_parameter("Gain", 321)
    prm.SAVE_FILE()
    tgt.apply_parameter("Gain", 999)     # set but not saved: the file says 321
    tgt.apply_parameter("Level", 1.5)    # not saved either: back to its default 0.25
    region = protected(h).get("parameters")
    region.flip(0, 4, "0")
    region.flip(0, 4, "2")               # two copies, same bit: the vote is wrong
    scrubber.tick(0, 0.0)
    assert scrubber.telemetry["Uncorrectable"] == 1 and scrubber.telemetry["Recoveries"] == 1
    assert tgt.param("Gain") == 321 and tgt.param("Level") == 0.25
    assert region.scrub(0, region.size).findings == []


def test_detection_latency_is_at_least_one_tick_when_a_pass_fits_in_one(tmp_path):
    h, scrubber, state, live, weights = _with_regions(tmp_path, 256 << 20)
    scrubber.tick(0, 0.0)
    scrubber.tick(1, 0.25)
    assert scrubber.telemetry["DetectionLatency"] == pytest.approx(0.25)


def test_without_fault_injection_the_injector_injects_nothing_and_refuses_its_commands(tmp_path):
    from flight.core.component import CommandDisabled

    h = ComponentTester.build(tmp_path, [{**SEU, "plan": [{"tick": 1, "region": "state", "offset": 3}]}])
    region = offer(h, TmrRegion("state", 1000))
    seu = h.components["seu"]
    seu.apply_parameter("Acceleration", 1e9)
    for tick in range(5):
        seu.tick(tick, float(tick))
    assert seu.telemetry["Injected"] == 0 and not region.copies.any()
    for call in (lambda: seu.INJECT("state", "0", 1, 1), lambda: seu.INJECT_RANDOM(3),
                 lambda: seu.INJECT_CARD_FAULT("card0", "hang", 1.0)):
        with pytest.raises(CommandDisabled, match="test equipment"):
            call()
    assert not (tmp_path / "injections.jsonl").exists()
    assert all(c.test_equipment for name, c in h.dictionary.command_by_name.items() if name.startswith("seu."))


def test_no_tick_injects_more_than_its_budget_the_rate_models_excess_is_clipped_and_counted(tmp_path):
    h = ComponentTester.build(tmp_path, [{**SEU, "max_upsets_per_tick": 5}], mission=TEST_EQUIPMENT)
    offer(h, TmrRegion("state", 1000))
    seu = h.components["seu"]
    seu.apply_parameter("Acceleration", 1e12)  # ~55,000 draws a tick here: the budget holds
    for tick in range(4):
        seu.tick(tick, float(tick))
    assert seu.telemetry["Injected"] == 3 * 5  # the first tick only sets the clock
    assert seu.telemetry["UpsetsClipped"] > 3 * 50_000


def test_inject_random_is_spread_over_ticks_and_completes_when_its_last_upset_is_in(tmp_path):
    h = ComponentTester.build(tmp_path, [{**SEU, "max_upsets_per_tick": 5}], mission=TEST_EQUIPMENT)
    offer(h, TmrRegion("state", 1000))
    seu, outcome = h.components["seu"], []
    seu.apply_parameter("Acceleration", 0.0)
    seu.INJECT_RANDOM(12).when_done(outcome.append)
    injected = []
    for tick in range(4):
        seu.tick(tick, float(tick))
        injected.append((seu.telemetry["Injected"], seu.telemetry["UpsetsQueued"], bool(outcome)))
    assert injected == [(5, 7, False), (10, 2, False), (12, 0, True), (12, 0, True)]
    assert outcome == [None]
    lines = (tmp_path / "injections.jsonl").read_text().splitlines()
    assert len(lines) == 12
