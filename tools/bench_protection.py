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
3. Upset campaign, through the campaign runner: ``campaign.executor.run_campaign`` over
   ``campaign.region_trial.run_region_trial``, ``--upsets`` trials per configuration (protection
   on: TMR and a Scrubber tick after every frame; off: THROUGHPUT, never scrubbed; the presets of
   ``campaign.spec``) from master seed ``--seed``, on ``--workers`` worker processes, the result
   lines (JSON Lines) in the temporary folder. Each trial is independent and starts from a clean,
   whole flight (each worker keeps one; after every trial each region is restored bit-exactly by
   the scrubber and, where it must, the region's recovery, and every card is READY again): one
   single-bit upset, its byte drawn uniformly over every copy of every protected region (each
   card's live and golden weights, the three copies of the TMR ``parameters`` region; so a region
   is hit in proportion to its bits), injected through ``SeuInjector.inject`` before one of 4
   frames (the tiles ``SceneGenerator(7).tile(0..3)``), each submitted alone and awaited, its
   product compared with the fault-free one. Upsets do not accumulate, and the rate of upsets is
   not the point: what comes of one upset is. In THROUGHPUT the trials run the cluster's
   round-robin policy (frame f on card f mod 3), so that they are reproducible; the default
   earliest-finish policy chooses by timing. Reported per configuration, from the result lines:
   the outcome counts (masked, corrected, DUE, SDC, hang; ``campaign.region_trial`` defines them;
   runner errors apart), the SDC rate with its 95 % Wilson interval (``campaign.stats``), the
   repairs matched exactly (with protection on: the scrubber reported exactly one repair naming
   the upset's region, copy, byte and bit count, and nothing uncorrectable), wrong products (and
   critical ones: tile class or fire cells differ), frames dropped and lost, upsets still in
   memory at the end of their trial, frames computed off the planned card (0 unless a card left
   service), and the outcome counts by region. Some upsets cannot reach a product even
   unprotected: golden copies and padding are not computed from, a few scalar weights are folded
   by ONNX Runtime at session creation, and the parameters are voted on every read
   (``ParameterStore``). The accumulating run of earlier versions, and its ``--burst`` run of
   several upsets per pass, are gone: a campaign of independent trials replaces them.
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

    python tools/bench_protection.py [--json] [--upsets 2000] [--workers 2] [--frames 400]
                                     [--repeat 3] [--passes 15] [--seed 11]

The machine is shared and noisy: medians of ``--passes`` timed passes (figures 1, 2) and of
``--repeat`` runs (figure 4), with ratios of the medians. The upset campaign's figures are
counts, not timings.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort

from campaign.cluster_bench import ClusterBench, scrubber_rate_hz
from campaign.executor import completed_trials, run_campaign
from campaign.region_trial import fault_space_bits, run_region_trial
from campaign.spec import PRESETS
from campaign.stats import rate_summary
from campaign.summary import outcome_breakdown, outcome_counts
from campaign.weights_trial import COPIES
from flight.app import DEFAULT_TOPOLOGY, load_flight_topology
from flight.payload.cluster.weights import live_options, weight_layout, weight_views
from flight.payload.demo_model import write_demo_model
from flight.payload.scene import SceneGenerator, Tile
from flight.protection.parameter_store import ParameterStore
from flight.protection.regions import LiveGoldenRegion, Region, RegionRegistry, TmrRegion
from flight.protection.scrubber import Scrubber
from flight.testing import ComponentTester
from flight.wire.dictionary import build_dictionary

CARDS = ("card0", "card1", "card2")
TILE_SEED, TILE_POOL = 7, 64
LIVE_BYTES, TMR_BYTES = 64 << 20, 16 << 20
LIVE_CHUNKS = (64, 4096, 65536)
GIB = 1 << 30
UPSET_FRAMES, UPSET_KINDS = 4, ("single",)  # figure 3: frames per trial, kinds of upset
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


# --- 3. upset campaign --------------------------------------------------------------------------
def upset_campaign(root: Path, model: Path, trials: int, seed: int, workers: int) -> dict[str, Any]:
    """Region-upset trials with protection on and off through the campaign runner (module
    docstring, figure 3); each configuration's figures from its results."""
    result: dict[str, Any] = {"trials": trials, "frames": UPSET_FRAMES, "kinds": list(UPSET_KINDS),
                              "fault_space_bits": fault_space_bits(weight_layout(model.read_bytes())[1].size, COPIES)}
    for name in ("on", "off"):
        mode, scrub_every = PRESETS[name]
        config = {"kind": "regions", "model": str(model), "frames": UPSET_FRAMES, "inputs_seed": TILE_SEED,
                  "seed": seed, "mode": mode, "scrub_every": scrub_every, "kinds": list(UPSET_KINDS),
                  "copies": list(COPIES)}
        path = root / f"upsets-{name}.jsonl"
        began = time.perf_counter()
        run_campaign(run_region_trial, config, trials, path, workers=workers)
        result[name] = _upset_figures(list(completed_trials(path).values()), time.perf_counter() - began)
    return result


def _upset_figures(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Outcome counts, the SDC rate with its Wilson interval, the scrubber's exact repairs, the
    products and frames, by region; from one configuration's result lines."""
    counts = outcome_counts(rows)
    scrubbed = [r for r in rows if r.get("repaired_exactly") is not None]
    return {"trials": len(rows), "counts": counts, "sdc": rate_summary(counts)["sdc"],
            "repaired_exactly": sum(bool(r["repaired_exactly"]) for r in scrubbed), "scrubbed": len(scrubbed),
            **{key: sum(r.get(key, 0) for r in rows) for key in
               ("wrong_products", "critical", "dropped", "lost", "latent", "off_schedule")},
            "by_region": {region: v["counts"] for region, v in
                          outcome_breakdown(rows, lambda r: r.get("region")).items()},
            "seconds": seconds}


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
    on, off = c["on"], c["off"]
    print(f"3. Upset campaign: {c['trials']} independent trials per configuration (campaign runner, region "
          f"trials), each from a clean flight: one upset ({'/'.join(c['kinds'])}), uniform over "
          f"{c['fault_space_bits']:,} bits of every protected copy, before one of {c['frames']} frames")
    print(f"   {'':38}{'protection ON (TMR+scrub)':>28}  {'protection OFF':>26}")
    for label, a_, b_ in _campaign_rows(on, off):
        print(f"   {label:<38}{str(a_):>28}  {str(b_):>26}")
    for name, run in (("ON", on), ("OFF", off)):
        print(f"   by region, {name}: " + "; ".join(
            f"{region} " + " ".join(f"{k} {n}" for k, n in counts.items() if n)
            for region, counts in run["by_region"].items()))


def _sdc_cell(run: dict[str, Any]) -> str:
    sdc = run["sdc"]
    return f"{sdc['rate']:.2%} [{sdc['low']:.2%}, {sdc['high']:.2%}]"


def _campaign_rows(on: dict[str, Any], off: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    def counts(run: dict[str, Any]) -> str:
        return " / ".join(str(run["counts"][k]) for k in ("masked", "corrected", "due", "sdc", "hang"))

    return [("masked / corrected / due / sdc / hang", counts(on), counts(off)),
            ("runner errors", on["counts"]["runner_error"], off["counts"]["runner_error"]),
            ("SDC rate [95 % Wilson]", _sdc_cell(on), _sdc_cell(off)),
            ("repairs matched exactly", f"{on['repaired_exactly']}/{on['scrubbed']}", "no scrubber"),
            ("wrong products (critical)", f"{on['wrong_products']} ({on['critical']})",
             f"{off['wrong_products']} ({off['critical']})"),
            ("frames dropped / lost", f"{on['dropped']} / {on['lost']}", f"{off['dropped']} / {off['lost']}"),
            ("upset still in memory at the end", on["latent"], off["latent"]),
            ("frames off the planned cards", on["off_schedule"], off["off_schedule"]),
            ("trials/s (all workers)", f"{on['trials'] / on['seconds']:.1f}", f"{off['trials'] / off['seconds']:.1f}")]


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
    parser.add_argument("--upsets", type=int, default=2000, help="upset trials per configuration (figure 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the upset campaign (figure 3)")
    parser.add_argument("--frames", type=int, default=400, help="frames per throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs (figure 4)")
    parser.add_argument("--passes", type=int, default=15, help="timed passes/ticks (figures 1, 2)")
    parser.add_argument("--seed", type=int, default=11, help="master seed of the upset campaign")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_protection_") as tmp:
        root = Path(tmp)
        model = write_demo_model(root / "demo_model.onnx")
        scene = SceneGenerator(TILE_SEED)
        tiles = [scene.tile(i) for i in range(TILE_POOL)]
        result: dict[str, Any] = {"scrub": scrub_throughput(root, args.passes),
                                  "latency": detection_latency(root, model, args.passes)}
        result["campaign"] = upset_campaign(root, model, args.upsets, args.seed, args.workers)
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
