"""Benchmark the radiation protection: scrub throughput, detection latency, an upset campaign with
protection on and off, and the throughput cost of live weights, side by side in one run.

Everything runs the real code: regions (``flight/protection/regions.py``), the Scrubber and
SeuInjector components, the TMR ParameterStore (kept by the ParameterDb component), and the real
InferenceCluster component with one worker process per card, built in process by the component
tester (``flight/testing.py``) from the default topology's settings and wiring for those
components (``flight/topologies/default.toml``: three cards, ``weights_chunk = 64``, ...; with its
ParameterDb, whose ``restore`` is the recovery of the ``parameters`` region; no parameter file, so
defaults stand), the products and events recorded, as in ``tests/system/test_cluster_component.py``.
Model: the demo model (``flight/payload/demo_model.py``). GB/s are 1e9 bytes/s; times are wall
clock (``time.perf_counter``).

1. Scrub throughput of one clean full pass, ``region.scrub(0, size)``: a 64 MiB live/golden
   region (float32 data; CRC chunks of 64 B, the default topology's ``weights_chunk``, 4 KiB and
   64 KiB) and a 16 MiB TMR region (4 KiB chunks). Bytes counted = the region's size (a live pass
   reads live and golden, a TMR pass reads three copies). The same two regions (live at 64 B
   chunks) are then walked by the Scrubber component in one ``tick`` with a BytesPerTick covering
   both; its overhead is tick time / (sum of the direct passes), timed alternately. One untimed
   pass warms each up; median of ``--passes`` timed passes.
2. Detection latency at the default rate: the Scrubber's default BytesPerTick at the rate of the
   default topology's rate group that holds it. Worst case = one full pass = ceil(protected bytes
   / BytesPerTick) ticks x the tick period (the walk does at most one pass per tick). (a) the
   default topology's protected bytes: its TMR ``parameters`` region (size from its real
   dictionary) and three cards' weights regions (the demo model's packed float32 weights), with
   what the component's ``DetectionLatency`` channel says, the ticks per pass counted from its
   ``Passes`` channel, and the measured CPU time of one tick (median of ``--passes``);
   (b) a 1 GiB weights file, sizing example: the pass time, and the CPU time per tick measured as
   the median ``tick`` of a Scrubber at the default BytesPerTick walking the 64 MiB live region.
3. Upset campaign. One seeded plan of single-bit upsets: each upset picks a region uniformly
   among the three cards' weights regions and the TMR ``parameters`` region, then a target
   uniformly among the region's copies (live or golden; TMR copy 0, 1 or 2), then a byte offset
   and a bit uniformly. The same plan runs twice on fresh flights, interleaved with frames: each
   step injects its upset(s) through ``SeuInjector.inject``, submits one tile (cycling a pool of
   64 distinct ``SceneGenerator(7)`` tiles) into the cluster's ``tiles`` port and waits for its
   product (or its drop), then, with protection on, runs one Scrubber ``tick``: its default
   BytesPerTick (1 MiB) covers all the regions (4.2 kB), so a tick is one full pass. Before the
   plan, each flight runs the 64 tiles once without upsets (a control: no wrong product allowed);
   the cluster's counters and events (votes, TMR disagreements, frames degraded or dropped by
   reason, card quarantines by reason, cards switched off) are reported from after the control.
   The cluster settings are the default topology's (``disagreement_limit = 3``, ``max_failures =
   3`` in ``failure_window_s = 600``, ...); the cluster component's own ``tick`` (power, thermal,
   auto-TMR) is not run.
   - Protection on: cluster mode TMR + the scrubber. Per upset it is checked, not assumed, that
     the tick after it emitted exactly one ``UpsetRepaired`` event naming its region, copy, byte
     offset and 1 bit, that the Detected and Repaired counters rose by one and Uncorrectable did
     not, and that afterwards every region is bit-exactly clean (live == golden == the model's
     weights; the three TMR copies equal to the value before the campaign).
   - Protection off: cluster mode THROUGHPUT and no scrubber tick, so the upsets accumulate.
     Which card computes a frame depends on timing (the default earliest-finish policy) and each
     card carries its own upsets, so the "off" wrong-product count varies from run to run (the
     plan and the damage it leaves do not).
   A wrong product: its decisions (tile class, fire cells) differ from the scene truth; on a
   fault-free run they equal it exactly. The wrong-product rate is wrong / delivered products;
   drops are counted apart. Some upsets cannot reach a product even unprotected: golden copies
   and padding are not computed from, a few scalar weights are folded by ONNX Runtime at session
   creation, and the parameters are voted on every read (``ParameterStore``), so the "off"
   numbers include such masked upsets, as in flight.
   The rate is one upset per full scrub pass (per frame), millions of times the LEO rate (the
   SeuInjector's default 6e-7 upsets/bit/day over the same bits: the output gives the factor).
   For information, a third run with protection on at ``--burst`` upsets per pass (same plan
   generator, another seed): several upsets may share a chunk, so findings are counted, not
   matched one to one; an uncorrectable finding (live and golden bad in one chunk, or two TMR
   copies at one bit) triggers the region's recovery (weights: reload from the model file and
   reset the card; parameters: ParameterDb.restore, defaults then the parameter file) and is
   counted separately.
4. Throughput cost of live weights: saturated cluster throughput (THROUGHPUT mode, the same three
   cards) with ``weights = "live"`` vs ``"optimized"``: delivered frames / (last product time -
   first submit time) over ``--frames`` frames after 30 warm-up frames, the next tile submitted
   as soon as the cluster reports no backpressure; a fresh flight per run, the two interleaved in
   each repeat. And bare ONNX Runtime in this process (1 intra-op thread, batch of one, the same
   tiles): ``ORT_ENABLE_EXTENDED`` + ``session.disable_prepacking`` + ``add_initializer`` over
   the weights (what a live card does) vs ``ORT_ENABLE_ALL`` (what an optimized card does), and a
   control, ``ORT_ENABLE_EXTENDED`` with the model's own weights and prepacking on, which tells
   the cost of computing in place from the cost of the optimization level: 30 warm-up frames,
   then ``--frames`` frames timed per session and repeat, the three sessions (built once) taking
   turns in blocks of 25 frames; frames/s = frames / the session's summed block times.

    python tools/bench_protection.py [--json] [--upsets 2000] [--burst 10] [--frames 400]
                                     [--repeat 3] [--passes 15] [--seed 11]

The machine is shared and noisy: medians of ``--passes`` timed passes (figures 1, 2) and of
``--repeat`` runs (figure 4), with ratios of the medians. The upset campaign runs once per
setting: its figures are counts, not timings.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort

from campaign.cluster_bench import ClusterBench, scrubber_rate_hz
from flight.app import DEFAULT_TOPOLOGY, load_flight_topology
from flight.messages import Product
from flight.payload.cluster.card_process import CardState
from flight.payload.cluster.weights import live_options, weight_layout, weight_views
from flight.payload.demo_model import write_demo_model
from flight.payload.scene import SceneGenerator, Tile
from flight.protection.parameter_store import ParameterStore
from flight.protection.regions import LiveGoldenRegion, Region, RegionRegistry, TmrRegion
from flight.protection.scrubber import Scrubber
from flight.protection.seu_injector import SECONDS_PER_DAY
from flight.testing import ComponentTester
from flight.wire.dictionary import build_dictionary

CARDS = ("card0", "card1", "card2")
TILE_SEED, TILE_POOL = 7, 64
LIVE_BYTES, TMR_BYTES = 64 << 20, 16 << 20
LIVE_CHUNKS = (64, 4096, 65536)
GIB = 1 << 30
LEO_RATE_PER_BIT_DAY = 6e-7  # the SeuInjector's default rate_per_bit_day
WARMUP_FRAMES = 30
BARE_BLOCK = 25  # frames per turn when bare sessions are timed in turn


def _timed(work: Callable[[], Any]) -> float:
    """Seconds one call of ``work`` takes."""
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def _median_time(work: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``work`` after one untimed call."""
    work()
    return statistics.median(_timed(work) for _ in range(repeat))


def _scrubber(run_dir: Path) -> tuple[Scrubber, RegionRegistry]:
    """A real Scrubber component (default settings) and the regions it walks: to begin with, the
    TMR parameter store of its own parameter keeper, offered on the keeper's port as in flight."""
    tester = ComponentTester.build(run_dir, [
        {"name": "prmDb", "kind": "flight.services.parameters:ParameterDb"},
        {"name": "scrubber", "kind": "flight.protection.scrubber:Scrubber"}],
        connections=["prmDb.regions -> scrubber.regions"])
    tester.start("prmDb")
    scrubber = tester.components["scrubber"]
    return scrubber, scrubber.protected


# --- 1. scrub throughput ------------------------------------------------------------------------
def scrub_throughput(run_dir: Path, passes: int) -> dict[str, Any]:
    """GB/s of a clean full pass over each region, and through the Scrubber's tick."""
    rng = np.random.default_rng(1)
    data = rng.standard_normal(LIVE_BYTES // 4, dtype=np.float32)
    tmr = TmrRegion("bench_tmr", rng.integers(0, 256, TMR_BYTES, dtype=np.uint8).tobytes())
    lives = {cs: LiveGoldenRegion(f"bench_live_{cs}", data, chunk_size=cs) for cs in LIVE_CHUNKS}
    scrubber, regions = _scrubber(run_dir)
    params = regions.get("parameters")
    regions.add(lives[LIVE_CHUNKS[0]])
    regions.add(tmr)
    scrubber.apply_parameter("BytesPerTick", 256 << 20)  # the largest: one full pass per tick
    direct_regions: list[Region] = [lives[LIVE_CHUNKS[0]], tmr, params]
    times: dict[str, list[float]] = {}
    works: list[tuple[str, Callable[[], Any]]] = [
        *((f"live_{cs}", lambda r=r: r.scrub(0, r.size)) for cs, r in lives.items()),
        ("tmr", lambda: tmr.scrub(0, tmr.size)),
        ("direct_sum", lambda: [r.scrub(0, r.size) for r in direct_regions]),
        ("scrubber_tick", lambda: scrubber.tick(0, 0.0)),
    ]
    for _, work in works:  # warm-up: page in every buffer once
        work()
    for _ in range(passes):
        for key, work in works:
            times.setdefault(key, []).append(_timed(work))
    median = {key: statistics.median(values) for key, values in times.items()}
    if scrubber.telemetry["Detected"]:
        raise RuntimeError("a clean region reported findings")
    gbps = {key: size / median[key] / 1e9 for key, size in
            [*((f"live_{cs}", LIVE_BYTES) for cs in LIVE_CHUNKS), ("tmr", TMR_BYTES)]}
    walked = LIVE_BYTES + TMR_BYTES + params.size
    return {"gbps": gbps, "seconds": median,
            "scrubber_tick_gbps": walked / median["scrubber_tick"] / 1e9,
            "direct_sum_gbps": walked / median["direct_sum"] / 1e9,
            "scrubber_overhead_ratio": median["scrubber_tick"] / median["direct_sum"]}


# --- 2. detection latency -----------------------------------------------------------------------
def detection_latency(run_dir: Path, model: Path, passes: int) -> dict[str, Any]:
    """Worst-case detection latency at the default BytesPerTick and rate, (a) and (b)."""
    rate_hz = scrubber_rate_hz()
    period = 1.0 / rate_hz
    per_tick = int(Scrubber.PARAMETERS["BytesPerTick"].default)
    config = {c["name"]: c for c in tomllib.loads(DEFAULT_TOPOLOGY.read_text())["components"]}
    chunk = int(config["cluster"].get("weights_chunk", 4096))
    default_parameters = ParameterStore(build_dictionary(load_flight_topology()).parameters).region
    packed = weight_layout(model.read_bytes())[1]
    # (a) a real Scrubber over regions of the default topology's sizes
    scrubber, regions = _scrubber(run_dir)
    regions.remove("parameters")  # walk the default topology's parameters region instead
    regions.add(default_parameters)
    for card in CARDS:
        regions.add(LiveGoldenRegion(f"{card}_weights", packed.copy(), chunk_size=chunk))
    total = regions.total_bytes
    scrubber.tick(0, 0.0)
    scrubber.tick(1, period)
    channel = float(scrubber.telemetry["DetectionLatency"])
    passes_before = scrubber.telemetry["Passes"]
    tick_s = _median_time(lambda: scrubber.tick(2, 2 * period), passes)
    ticks_per_pass = (passes + 1) / (scrubber.telemetry["Passes"] - passes_before)
    small = {"protected_bytes": total, "parameters_bytes": default_parameters.size,
             "weights_bytes_per_card": int(packed.size), "ticks_per_pass": -(-total // per_tick),
             "worst_case_s": -(-total // per_tick) * period, "channel_DetectionLatency_s": channel,
             "measured_ticks_per_pass": ticks_per_pass,
             "tick_cpu_s": tick_s, "cpu_share": tick_s * rate_hz}
    # (b) 1 GiB: pass time from the walk; CPU per tick measured on a 64 MiB live region
    big, regions = _scrubber(run_dir)
    data = np.random.default_rng(2).standard_normal(LIVE_BYTES // 4, dtype=np.float32)
    regions.add(LiveGoldenRegion("bench_live", data, chunk_size=chunk))
    ticks = -(-GIB // per_tick)
    big_tick_s = _median_time(lambda: big.tick(0, 0.0), passes)
    sizing = {"protected_bytes": GIB, "ticks_per_pass": ticks, "worst_case_s": ticks * period,
              "tick_cpu_s": big_tick_s, "cpu_share": big_tick_s * rate_hz}
    return {"rate_hz": rate_hz, "bytes_per_tick": per_tick, "chunk": chunk,
            "default_topology": small, "one_gib": sizing}


# --- the flight ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Upset:
    """One planned single-bit upset: ``bit`` of byte ``offset`` of copy ``target`` of ``region``."""

    region: str
    target: str
    offset: int
    bit: int


# --- 3. upset campaign --------------------------------------------------------------------------
def make_plan(regions: list[Region], upsets: int, per_step: int, seed: int) -> list[list[Upset]]:
    """Seeded single-bit upsets in steps of ``per_step``: region, copy, byte and bit uniform."""
    rng = np.random.default_rng(seed)
    flat = []
    for _ in range(upsets):
        region = regions[int(rng.integers(len(regions)))]
        targets = region.targets()
        flat.append(Upset(region.name, targets[int(rng.integers(len(targets)))],
                          int(rng.integers(region.size)), int(rng.integers(8))))
    return [flat[i:i + per_step] for i in range(0, len(flat), per_step)]


def _snapshot(region: Region) -> np.ndarray:
    """The intended bytes of a TMR or live region (copy 0, or the golden copy), copied."""
    if isinstance(region, TmrRegion):
        return region.copies[0].copy()
    if isinstance(region, LiveGoldenRegion):
        return region.golden.copy()
    raise TypeError(f"unexpected region kind {region.kind!r}")


def _clean(region: Region, reference: np.ndarray) -> bool:
    """Every copy of ``region`` bit-exactly equal to ``reference``."""
    if isinstance(region, TmrRegion):
        return all(np.array_equal(copy, reference) for copy in region.copies)
    if isinstance(region, LiveGoldenRegion):
        return np.array_equal(region.live, reference) and np.array_equal(region.golden, reference)
    raise TypeError(f"unexpected region kind {region.kind!r}")


def _reasons(events: list[tuple[str, str, list[Any]]]) -> dict[str, int]:
    """CardQuarantined events counted by reason (numbers as N: "outvoted N times")."""
    reasons: dict[str, int] = {}
    for _, name, values in events:
        if name == "CardQuarantined":
            reason = re.sub(r"\d+", "N", values[1])
            reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def _is_wrong(product: Product, scene: SceneGenerator, index: int) -> bool:
    truth = scene.truth(index)
    return product.tile_class != int(truth.tile_class) or not np.array_equal(
        product.fire_cells, truth.fire_cells)


def _engine_counters(flight: ClusterBench) -> dict[str, Any]:
    engine = flight.engine
    return {"votes": engine.votes, "disagreements": engine.disagreements,
            "degraded": engine.degraded, "redispatched": engine.redispatched,
            "dropped": {r.name: n for r, n in engine.dropped.items()}}


def campaign(flight: ClusterBench, tiles: list[Tile], protection: bool,
             plan: list[list[Upset]]) -> dict[str, Any]:
    """Run ``plan`` interleaved with frames on ``flight`` (module docstring, figure 3); stop it.

    Before the plan, every tile of the pool runs once without upsets (a control that must give
    no wrong product); the cluster's counters and events are reported from after the control.
    """
    scene = SceneGenerator(TILE_SEED)
    scrubber = flight.components["scrubber"]
    registry = flight.protected
    result: dict[str, Any] = {
        "steps": len(plan), "upsets": sum(map(len, plan)), "delivered": 0, "dropped": 0,
        "wrong": 0, "wrong_by_quarter": [0, 0, 0, 0], "first_wrong_at_upset": None,
        "first_card_off_at_upset": None, "exact": 0, "not_exact": [], "clean_after_scrub": 0,
        "by_target": {}}
    try:
        if scrubber.param("BytesPerTick") < registry.total_bytes:
            raise RuntimeError("the default BytesPerTick no longer covers every region in a tick")
        references = {r.name: _snapshot(r) for r in registry.regions()}
        control = [flight.frame(tile) for tile in tiles]
        result["control_frames"] = len(control)
        result["control_wrong_or_dropped"] = sum(
            p is None or _is_wrong(p, scene, i) for i, p in enumerate(control))
        flight.sync()
        base, mark = _engine_counters(flight), flight.event_count()
        upsets_so_far = 0
        began = time.perf_counter()
        for step, upsets in enumerate(plan):
            upsets_so_far += len(upsets)
            _campaign_step(flight, tiles, scene, step, upsets, upsets_so_far, len(plan), result)
            if protection:
                _scrub_step(flight, step, upsets, references, result)
        result["seconds"] = time.perf_counter() - began
        flight.sync()
        result["live_bits_wrong_at_end"] = {
            r.name: int(np.unpackbits(r.live ^ references[r.name]).sum())
            for r in registry.regions() if isinstance(r, LiveGoldenRegion)}
        _campaign_counts(flight, base, flight.events_from(mark), result)
        result["protected_bytes"] = registry.total_bytes
    finally:
        flight.stop()
    return result


def _campaign_step(flight: ClusterBench, tiles: list[Tile], scene: SceneGenerator, step: int,
                   upsets: list[Upset], upsets_so_far: int, steps: int, result: dict[str, Any]) -> None:
    """Inject one step's upsets, run one frame and count what came of it."""
    for u in upsets:
        flight.components["seu"].inject(u.region, u.target, u.offset, 1 << u.bit, "single", step,
                                        float(step))
        kind = f"{u.region}/{u.target}"
        result["by_target"][kind] = result["by_target"].get(kind, 0) + 1
    product = flight.frame(tiles[step % len(tiles)])
    if product is None:
        result["dropped"] += 1
    else:
        result["delivered"] += 1
        if _is_wrong(product, scene, step % len(tiles)):
            result["wrong"] += 1
            result["wrong_by_quarter"][4 * step // steps] += 1
            if result["first_wrong_at_upset"] is None:
                result["first_wrong_at_upset"] = upsets_so_far
    if result["first_card_off_at_upset"] is None and any(
            c.state is CardState.OFF for c in flight.engine.cards.values()):
        result["first_card_off_at_upset"] = upsets_so_far


def _campaign_counts(flight: ClusterBench, base: dict[str, Any], events: list[tuple[str, str, list[Any]]],
                     result: dict[str, Any]) -> None:
    """The cluster's and the scrubber's counters after the plan, against ``base``."""
    now = _engine_counters(flight)
    result["cluster"] = {
        **{k: now[k] - base[k] for k in ("votes", "disagreements", "degraded", "redispatched")},
        "dropped": {k: n - base["dropped"][k] for k, n in now["dropped"].items() if n > base["dropped"][k]},
        "quarantined": sum(1 for e in events if e[1] == "CardQuarantined"),
        "switched_off": sum(1 for e in events if e[1] == "CardSwitchedOff"),
        "quarantine_reasons": _reasons(events),
        "card_states": {c.name: c.state.name for c in flight.engine.cards.values()}}
    scrubber = flight.components["scrubber"]
    result["scrubber"] = {k: scrubber.telemetry[k] for k in
                          ("Detected", "Repaired", "Uncorrectable", "Recoveries")}
    uncorrectable = [tuple(e[2]) for e in events if e[1] == "UncorrectableError"]
    result["uncorrectable_distinct"] = len(set(uncorrectable))
    result["uncorrectable_by_region"] = {
        name: sum(1 for r, _ in uncorrectable if r == name) for name, _ in set(uncorrectable)}


def _scrub_step(flight: ClusterBench, step: int, upsets: list[Upset], references: dict[str, np.ndarray],
                result: dict[str, Any]) -> None:
    """One Scrubber tick (a full pass) after a step; check what it found against the upsets."""
    scrubber = flight.components["scrubber"]
    mark = flight.event_count()
    before = {k: scrubber.telemetry[k] for k in ("Detected", "Repaired", "Uncorrectable")}
    scrubber.tick(step, step / scrubber_rate_hz())
    found = [e for e in flight.events_from(mark) if e[0] == "scrubber"]
    counted = {k: scrubber.telemetry[k] - before[k] for k in before}
    clean = all(_clean(r, references[r.name]) for r in flight.protected.regions())
    result["clean_after_scrub"] += clean
    if len(upsets) == 1:
        u = upsets[0]
        exact = (found == [("scrubber", "UpsetRepaired", [u.region, u.target, u.offset, 1])]
                 and counted == {"Detected": 1, "Repaired": 1, "Uncorrectable": 0} and clean)
        result["exact"] += exact
        if not exact:
            result["not_exact"].append({"upset": vars(u), "events": found, "counters": counted})


# --- 4. throughput cost of live weights ---------------------------------------------------------
BARE_KINDS = ("live", "optimized", "extended")


def _bare_session(model: Path, kind: str) -> tuple[ort.InferenceSession, list[Any]]:
    """A session like a card's (1 intra-op, 1 inter-op thread) and what must outlive it.

    ``live``: EXTENDED, prepacking disabled, the weights added as initializers over one packed
    buffer (as a live card's worker does); ``optimized``: ENABLE_ALL (an optimized card);
    ``extended``: EXTENDED with the model's own weights and prepacking on (a control that
    separates the optimization level from the in-place weights).
    """
    keep: list[Any] = []
    if kind == "live":
        layout, packed = weight_layout(model.read_bytes())
        values = {name: ort.OrtValue.ortvalue_from_numpy(view)
                  for name, view in weight_views(packed.data, layout).items()}
        keep += [packed, values]
        options = live_options(values)
    else:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if kind == "optimized"
                                            else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"]), keep


def _bare_rates(sessions: dict[str, ort.InferenceSession], tiles: list[Tile],
                frames: int) -> dict[str, float]:
    """Frames/s of each session, run in turn in blocks of ``BARE_BLOCK`` frames (so that load
    changes on the shared machine hit them alike), after ``WARMUP_FRAMES`` each."""
    batches = [t.pixels[None] for t in tiles]
    names = {kind: session.get_inputs()[0].name for kind, session in sessions.items()}
    for kind, session in sessions.items():
        for batch in batches[:WARMUP_FRAMES]:
            session.run(None, {names[kind]: batch})
    spent = dict.fromkeys(sessions, 0.0)
    for first in range(0, frames, BARE_BLOCK):
        block = range(first, min(first + BARE_BLOCK, frames))
        for kind, session in sessions.items():
            began = time.perf_counter()
            for i in block:
                session.run(None, {names[kind]: batches[i % len(batches)]})
            spent[kind] += time.perf_counter() - began
    return {kind: frames / seconds for kind, seconds in spent.items()}


def weights_cost(run_dir: Path, model: Path, tiles: list[Tile], frames: int,
                 repeat: int) -> dict[str, Any]:
    """Cluster frames/s live vs optimized, and bare ORT EXTENDED+live vs ENABLE_ALL."""
    cluster: dict[str, list[float]] = {"live": [], "optimized": []}
    bare: dict[str, list[float]] = {kind: [] for kind in BARE_KINDS}
    sessions = {kind: _bare_session(model, kind) for kind in BARE_KINDS}
    for r in range(repeat):
        for kind in cluster:
            flight = ClusterBench(run_dir / f"cost_{r}_{kind}", model, mode="THROUGHPUT", weights=kind)
            try:
                flight.saturate(tiles, WARMUP_FRAMES)
                cluster[kind].append(flight.saturate(tiles, frames))
            finally:
                flight.stop()
        for kind, rate in _bare_rates({k: v[0] for k, v in sessions.items()}, tiles, frames).items():
            bare[kind].append(rate)
    c = {k: statistics.median(v) for k, v in cluster.items()}
    b = {k: statistics.median(v) for k, v in bare.items()}
    return {"cluster_fps": c, "bare_fps": b, "cluster_live_vs_optimized": c["live"] / c["optimized"],
            "bare_live_vs_optimized": b["live"] / b["optimized"],
            "bare_live_vs_extended": b["live"] / b["extended"], "frames": frames,
            "cluster_runs": cluster, "bare_runs": bare}


# --- output -------------------------------------------------------------------------------------
def _rate_note(run: dict[str, Any]) -> dict[str, float]:
    """How far above the LEO rate the campaign's upsets per second and per scrub pass are."""
    bits = 8 * run["protected_bytes"]
    leo_per_s = bits * LEO_RATE_PER_BIT_DAY / SECONDS_PER_DAY
    per_s = run["upsets"] / run["seconds"]
    leo_per_pass = leo_per_s / scrubber_rate_hz()  # default: one full pass per 10 Hz tick
    return {"upsets_per_s": per_s, "leo_upsets_per_s": leo_per_s, "acceleration": per_s / leo_per_s,
            "upsets_per_pass": run["upsets"] / run["steps"], "leo_upsets_per_pass": leo_per_pass}


def _print(result: dict[str, Any], args: argparse.Namespace) -> None:
    _print_scrub(result["scrub"], result["latency"], args)
    _print_campaign(result["campaign"], args)
    _print_cost(result["cost"], args)
    print(f"load average at end: {result['loadavg']}")


def _print_scrub(s: dict[str, Any], d: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"1. Scrub throughput, one clean full pass, median of {args.passes} (GB/s = 1e9 B/s "
          "of region size)")
    for cs in LIVE_CHUNKS:
        print(f"   64 MiB live/golden, {cs:>5} B chunks   region.scrub      "
              f"{s['gbps'][f'live_{cs}']:7.2f} GB/s  ({s['seconds'][f'live_{cs}'] * 1e3:7.1f} ms)")
    print(f"   16 MiB TMR,         4096 B chunks   region.scrub      {s['gbps']['tmr']:7.2f} GB/s"
          f"  ({s['seconds']['tmr'] * 1e3:7.1f} ms)")
    print(f"   both (live 64 B) + parameters      direct scrubs     {s['direct_sum_gbps']:7.2f} GB/s")
    print(f"   the same, Scrubber.tick (one pass)                   {s['scrubber_tick_gbps']:7.2f} GB/s"
          f"  overhead ratio tick/direct {s['scrubber_overhead_ratio']:.3f}")
    a, b = d["default_topology"], d["one_gib"]
    print(f"2. Detection latency, worst case = one full pass, default BytesPerTick "
          f"{d['bytes_per_tick']:,} B at {d['rate_hz']:g} Hz (live chunks {d['chunk']} B)")
    print(f"   (a) default topology: {a['protected_bytes']:,} B (parameters {a['parameters_bytes']} B"
          f" + 3 x {a['weights_bytes_per_card']} B weights): {a['ticks_per_pass']} tick/pass -> "
          f"{a['worst_case_s']:.3f} s")
    print(f"       component: DetectionLatency channel {a['channel_DetectionLatency_s']:.6f} s; "
          f"{a['measured_ticks_per_pass']:.2f} ticks per pass (Passes channel); "
          f"tick {a['tick_cpu_s'] * 1e6:.0f} us = {100 * a['cpu_share']:.3f} % CPU at {d['rate_hz']:g} Hz")
    print(f"   (b) 1 GiB weights: {b['ticks_per_pass']} ticks/pass -> {b['worst_case_s']:.1f} s;"
          f" tick (1 MiB of a 64 MiB live region) {b['tick_cpu_s'] * 1e3:.2f} ms = "
          f"{100 * b['cpu_share']:.1f} % CPU")


def _print_campaign(c: dict[str, Any], args: argparse.Namespace) -> None:
    on, off, burst = c["on"], c["off"], c["burst"]
    note = c["rate"]
    print(f"3. Upset campaign: {on['upsets']} single-bit upsets, one per frame and per full scrub pass;"
          f" the same seeded plan in both runs")
    print(f"   rate: {note['upsets_per_s']:.0f} upsets/s over {on['protected_bytes']:,} protected B;"
          f" LEO at {LEO_RATE_PER_BIT_DAY:g}/bit/day: {note['leo_upsets_per_s']:.1e}/s -> "
          f"x{note['acceleration']:.1e}; LEO per 10 Hz pass {note['leo_upsets_per_pass']:.1e}")
    print(f"   {'':34}{'protection ON (TMR+scrub)':>28}{'protection OFF':>18}")
    for label, a_, b_ in _campaign_rows(on, off):
        print(f"   {label:<34}{str(a_):>28}{str(b_):>18}")
    print(f"   quarantine reasons: ON {on['cluster']['quarantine_reasons']}, "
          f"OFF {off['cluster']['quarantine_reasons']}")
    print(f"   upsets by region/copy: {json.dumps(dict(sorted(on['by_target'].items())))}")
    print(f"   for information, protection ON at {args.burst} upsets per pass: {burst['upsets']} upsets,"
          f" {burst['steps']} frames: findings repaired {burst['scrubber']['Repaired']}, "
          f"uncorrectable findings {burst['scrubber']['Uncorrectable']} ({burst['uncorrectable_distinct']} distinct, "
          f"by region {burst['uncorrectable_by_region']}; recoveries {burst['scrubber']['Recoveries']}),"
          f" clean after scrub {burst['clean_after_scrub']}/{burst['steps']}, delivered {burst['delivered']},"
          f" wrong {burst['wrong']}, dropped {burst['dropped']} {burst['cluster']['dropped']},"
          f" quarantines {burst['cluster']['quarantined']}, switched off {burst['cluster']['switched_off']}")


def _campaign_rows(on: dict[str, Any], off: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [("control: fault-free frames, wrong", f"{on['control_frames']}, "
             f"{on['control_wrong_or_dropped']}", f"{off['control_frames']}, "
             f"{off['control_wrong_or_dropped']}"),
            ("frames (one per upset)", on["steps"], off["steps"]),
            ("products delivered", on["delivered"], off["delivered"]),
            ("frames dropped (by reason)", f"{on['dropped']} {on['cluster']['dropped'] or ''}",
             f"{off['dropped']} {off['cluster']['dropped'] or ''}"),
            ("wrong products delivered", on["wrong"], off["wrong"]),
            ("wrong-product rate", f"{on['wrong'] / max(on['delivered'], 1):.2%}",
             f"{off['wrong'] / max(off['delivered'], 1):.2%}"),
            ("wrong products by quarter of the run", "/".join(map(str, on["wrong_by_quarter"])),
             "/".join(map(str, off["wrong_by_quarter"]))),
            ("first wrong product after upset #", on["first_wrong_at_upset"] or "-",
             off["first_wrong_at_upset"] or "-"),
            ("upsets detected+repaired exactly", f"{on['exact']}/{on['upsets']} "
             f"({on['exact'] / on['upsets']:.2%})", "no scrubber"),
            ("regions clean after each scrub", f"{on['clean_after_scrub']}/{on['steps']}", "-"),
            ("live weight bits wrong at end", sum(on["live_bits_wrong_at_end"].values()),
             sum(off["live_bits_wrong_at_end"].values())),
            ("card quarantines / switched off", f"{on['cluster']['quarantined']} / "
             f"{on['cluster']['switched_off']}", f"{off['cluster']['quarantined']} / "
             f"{off['cluster']['switched_off']}"),
            ("first card switched off at upset #", on["first_card_off_at_upset"] or "-",
             off["first_card_off_at_upset"] or "-"),
            ("TMR disagreements / degraded frames", f"{on['cluster']['disagreements']} / "
             f"{on['cluster']['degraded']}", "-")]


def _print_cost(w: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"4. Throughput cost of live weights, {w['frames']} frames, median of {args.repeat}")
    print(f"   cluster, 3 cards, THROUGHPUT, saturated   live {w['cluster_fps']['live']:7.1f} f/s   "
          f"optimized {w['cluster_fps']['optimized']:7.1f} f/s   ratio live/optimized "
          f"{w['cluster_live_vs_optimized']:.3f}")
    print(f"   bare ORT, 1 thread, batch 1               live {w['bare_fps']['live']:7.1f} f/s   "
          f"optimized {w['bare_fps']['optimized']:7.1f} f/s   ratio live/optimized "
          f"{w['bare_live_vs_optimized']:.3f}")
    print(f"   bare ORT control: EXTENDED, model's own weights, prepacking on "
          f"{w['bare_fps']['extended']:7.1f} f/s   ratio live/this {w['bare_live_vs_extended']:.3f}")
    print("   (live: EXTENDED + disable_prepacking + add_initializer; optimized: ENABLE_ALL)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="radiation protection: scrub, latency, upsets, cost")
    parser.add_argument("--upsets", type=int, default=2000, help="single-bit upsets per campaign run")
    parser.add_argument("--burst", type=int, default=10, help="upsets per pass in the information run")
    parser.add_argument("--frames", type=int, default=400, help="frames per throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs (figure 4)")
    parser.add_argument("--passes", type=int, default=15, help="timed passes/ticks (figures 1, 2)")
    parser.add_argument("--seed", type=int, default=11, help="seed of the upset plan")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_protection_") as tmp:
        root = Path(tmp)
        model = write_demo_model(root / "demo_model.onnx")
        scene = SceneGenerator(TILE_SEED)
        tiles = [scene.tile(i) for i in range(TILE_POOL)]
        result: dict[str, Any] = {"scrub": scrub_throughput(root, args.passes),
                                  "latency": detection_latency(root, model, args.passes)}
        flights = {name: (lambda name=name, mode=mode: ClusterBench(root / name, model, mode=mode))
                   for name, mode in (("on", "TMR"), ("off", "THROUGHPUT"), ("burst", "TMR"))}
        first = flights["on"]()
        regions = first.protected.regions()  # the same names, copies and sizes in each flight
        plan = make_plan(regions, args.upsets, 1, args.seed)
        burst = make_plan(regions, args.upsets, args.burst, args.seed + 1)
        on = campaign(first, tiles, True, plan)
        off = campaign(flights["off"](), tiles, False, plan)
        result["campaign"] = {"on": on, "off": off, "rate": _rate_note(on),
                              "burst": campaign(flights["burst"](), tiles, True, burst)}
        result["cost"] = weights_cost(root, model, tiles, args.frames, args.repeat)
        result["loadavg"] = os.getloadavg()
        result["args"] = vars(args)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        _print(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
