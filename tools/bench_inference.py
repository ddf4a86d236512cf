"""Benchmark the multi-card inference cluster against bare ONNX Runtime, side by side in one run.

Every figure runs the demo model (``flight/payload/demo_model.py``) on a pool of 32 distinct scene tiles
(4 x 256 x 256 uint16, ``SceneGenerator(7)``) cycled. "Bare" is an ``InferenceSession`` in this
process with the same model file and the same ``SessionOptions`` as a card worker in the chosen
``--weights`` mode (``flight/payload/cluster/card_worker.py``: ``threads`` intra-op threads, 1 inter-op
thread; "live", the default: ORT_ENABLE_EXTENDED, no prepacking, the weights handed over as
initializers; "optimized": ORT_ENABLE_ALL) calling ``session.run`` on the same tiles in a loop.
The cluster side is the real engine (``flight.payload.cluster.engine.Cluster`` with ``ClusterConfig``
defaults, one worker process per card, ``CardSpec`` defaults: 1 thread, pipeline depth 4, no
batching) driven from this process. Its tiles are resident, as the bare loop's are: the source
takes a free slot (``Cluster.get_buffer``), writes tile ``slot % 32`` into it the first time it
sees that slot, and from then on submits the slot as it is (``submit_buffer``), like a sensor
whose DMA ring already holds the image; so neither side pays for producing tiles. Figures 1 and
2 also run the copying path (``Cluster.submit``: each tile copied into its slot) and report it.
Its rate is delivered frames / (time of the last product - time of the first submit) with a
saturated source: frames are submitted while a slot is free; then the source waits until 16
frames have finished and fills the freed slots again, so the cards never starve and the source is
not woken for every product. Every cluster is warmed up (60 frames) before its measured runs.

Figures 1 and 2 also report the CPU time per frame of everything taking part (this process's
threads: the cluster thread and the source; and the worker processes), against
the bare loop's: on a 2-core host where the cards' inference already fills the cores, that
ratio bounds the throughput ratio.

1. One card vs one bare session (1 thread each), frames/s; requirement ratio >= 0.95.
2. Two cards vs two bare sessions run in two threads (ORT releases the GIL); ratio >= 0.90.
3. Heterogeneous cluster: card0 as is, card1 slowed 4x (``inject_fault("card1", "slow", 4.0)``:
   the worker sleeps 3x its compute time after each inference, like a slower accelerator that
   leaves the host CPU free). Ideal capacity = card0's rate alone + slowed card1's rate alone,
   each measured as a one-card cluster in the same repeat. Every policy's rate on the two-card
   cluster is reported against it; the default (``ClusterConfig.policy``, earliest-finish) must
   reach >= 0.90 of it and beat round-robin by >= 1.4x.
4. Latency on the cluster of figure 3 under open-loop Poisson arrivals (exponential gaps from a
   numpy Generator seeded with 4, the same schedule for every policy) at 80% of the ideal
   capacity: latency = time ``on_result`` is called - time just before ``submit``, p50 and p99
   over the accepted frames. A frame refused (no free slot) is not retried, as a sensor with no
   buffer would lose it, and is counted as refused; a policy whose own capacity is below the
   offered load shows it there.
5. Failover: a two-card cluster under saturated load; half-way through the frames card1's
   process gets SIGKILL. Lost = accepted frames - delivered frames (must be 0); time from the
   kill to the ``card_quarantined`` event and to its ``card_ready`` event (readmission: restart,
   HELLO with the model CRC, probe passed). The same cluster is reused across repeats
   (``max_failures`` raised so that repeated kills do not switch the card off).
6. Three cards (on this 2-core host they share the cores) in THROUGHPUT mode and, on the same
   cluster after ``set_mode``, in TMR mode: delivered frames/s in each. TMR computes every frame
   on three cards and votes the outputs bitwise, so with compute the bottleneck the expected cost
   is ~3x; the cost is reported, and what is checked is that every TMR frame was voted on three
   results.

The machine is shared and noisy: within each repeat a figure's runs follow each other (bare,
cluster; each policy in turn), rates are the medians over ``--repeat`` repeats, and a ratio is
the median of the per-repeat ratios. ``--json`` prints the same rows and every run's values.

    python tools/bench_inference.py [--json] [--frames 1000] [--repeat 5] [--only 1,2,3,4,5,6]
                                    [--weights live|optimized]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from flight.payload.cluster.card_process import CardSpec
from flight.payload.cluster.engine import Cluster, ClusterConfig
from flight.payload.cluster.frames import Frame, Mode
from flight.payload.cluster.policies import POLICIES
from flight.payload.cluster.weights import weight_layout, weight_views
from flight.payload.scene import SceneGenerator
from flight.payload.demo_model import write_demo_model

TILE_POOL = 32
SCENE_SEED = 7
ARRIVAL_SEED = 4
SLOW_FACTOR = 4.0
LOAD = 0.8
WARMUP_FRAMES = 60
REFILL = 16  # frames the saturated source lets finish before it fills the freed slots again
DEFAULT_POLICY = ClusterConfig.policy


@dataclass
class Outcome:
    """One run: frames/s (saturated) or latencies (open loop), CPU per frame, what was accepted."""

    rate: float = 0.0
    cpu_per_frame: float = 0.0  # seconds of CPU, every thread of every process taking part
    accepted: int = 0
    delivered: int = 0
    refused: int = 0
    latencies: list[float] = field(default_factory=list)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by this process (all threads) and by ``pids``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


# --- bare ONNX Runtime ---------------------------------------------------------------------------
class BareSession:
    """An in-process session with a card worker's options for ``weights`` (worker.py ``_session``).

    Both modes: ``threads`` intra-op threads, 1 inter-op thread. "live": ORT_ENABLE_EXTENDED,
    prepacking disabled and the float32 weights handed over as initializers from a packed copy
    (as the worker does from its shared-memory copy); "optimized": ORT_ENABLE_ALL.
    """

    def __init__(self, model: Path, threads: int, weights: str) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.initializers: list[ort.OrtValue] = []
        if weights == "live":
            layout, self.packed = weight_layout(model.read_bytes())
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            options.add_session_config_entry("session.disable_prepacking", "1")
            for name, view in weight_views(self.packed, layout).items():
                self.initializers.append(ort.OrtValue.ortvalue_from_numpy(view))
                options.add_initializer(name, self.initializers[-1])
        else:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, tile: np.ndarray) -> None:
        self.session.run(self.output_names, {self.input_name: tile[None]})


def bare_rate(sessions: list[BareSession], tiles: list[np.ndarray], frames: int) -> Outcome:
    """Frames/s and CPU per frame of ``session.run`` loops, one thread per session."""
    for session in sessions:  # warm-up
        for tile in tiles[:8]:
            session.run(tile)
    share = frames // len(sessions)
    barrier = threading.Barrier(len(sessions) + 1)
    spans: list[tuple[float, float]] = []

    def loop(session: BareSession, offset: int) -> None:
        barrier.wait()
        began = time.perf_counter()
        for i in range(share):
            session.run(tiles[(offset + i) % len(tiles)])
        spans.append((began, time.perf_counter()))

    threads = [threading.Thread(target=loop, args=(session, k * 7)) for k, session in enumerate(sessions)]
    for thread in threads:
        thread.start()
    cpu = cpu_seconds([])
    barrier.wait()
    for thread in threads:
        thread.join()
    done = share * len(sessions)
    return Outcome(
        rate=done / (max(e for _, e in spans) - min(b for b, _ in spans)),
        cpu_per_frame=(cpu_seconds([]) - cpu) / done,
        accepted=done,
        delivered=done,
    )


# --- the cluster ---------------------------------------------------------------------------------
class Bench:
    """A started cluster, the products' times by frame id and its events with their times.

    ``finished`` counts frames delivered or dropped; the callbacks (in the cluster thread) wake
    a waiting benchmark thread only when ``finished`` reaches what it waits for, so that the
    benchmark's own thread switches are not charged to the cluster.
    """

    def __init__(self, model: Path, specs: list[CardSpec], tiles: list[np.ndarray], **config: Any) -> None:
        self.tiles = tiles
        self.copy = False  # True: every frame's tile is copied into its slot (``Cluster.submit``)
        self.resident: set[int] = set()  # slots already holding tile ``slot % len(tiles)``
        self.changed = threading.Condition()
        self.product_at: dict[int, float] = {}
        self.finished = 0
        self.wake_at = math.inf
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.ids = itertools.count()
        self.cluster = Cluster(ClusterConfig(model, **config), specs, self._result, self._event)

    def _result(self, frame: Frame, outputs: list[np.ndarray], cards: list[str]) -> None:
        with self.changed:
            self.product_at[frame.frame_id] = time.perf_counter()
            self.finished += 1
            if self.finished >= self.wake_at:
                self.changed.notify_all()

    def _event(self, kind: str, args: dict[str, Any]) -> None:
        with self.changed:
            self.events.append((time.perf_counter(), kind, args))
            if kind == "frame_dropped":
                self.finished += 1
            self.changed.notify_all()

    def wait(self, condition: Callable[[], bool], timeout: float = 120.0) -> None:
        """Wait for ``condition`` (re-checked at each event); TimeoutError after ``timeout``."""
        with self.changed:
            if not self.changed.wait_for(condition, timeout):
                raise TimeoutError(f"cluster did not get there; last events: {self.events[-5:]}")

    def wait_finished(self, target: int, timeout: float = 120.0) -> bool:
        """Wait until ``target`` frames have finished; False if ``timeout`` passed first."""
        with self.changed:
            self.wake_at = target
            reached = self.changed.wait_for(lambda: self.finished >= target, timeout)
            self.wake_at = math.inf
        return reached

    def count(self, kind: str, card: str | None = None, after: float = 0.0) -> int:
        return len(self.times(kind, card, after))

    def times(self, kind: str, card: str | None = None, after: float = 0.0) -> list[float]:
        with self.changed:
            return [
                t for t, k, a in self.events if k == kind and t >= after and (card is None or a.get("card") == card)
            ]

    def start(self) -> Bench:
        self.cluster.start()
        self.wait(lambda: all(self.count("card_ready", name) for name in self.cluster.cards))
        return self

    def submit(self, frame_id: int) -> bool:
        """Submit one frame; False if every slot is taken.

        By default the tiles are resident, as the bare loop's are: the source takes a free slot
        (``get_buffer``), and the first time it sees that slot it writes tile ``slot % TILE_POOL``
        there, once; afterwards the slot is submitted as it is (``submit_buffer``), like a
        sensor whose DMA ring already holds the image. With ``copy`` set, each frame's tile is
        copied into its slot by ``Cluster.submit``, to show what that copy costs.
        """
        cluster = self.cluster
        if self.copy:
            return cluster.submit(frame_id, self.tiles[frame_id % len(self.tiles)])
        buffer = cluster.get_buffer()
        if buffer is None:
            return False
        if buffer.slot not in self.resident:
            buffer.pixels[...] = self.tiles[buffer.slot % len(self.tiles)]
            self.resident.add(buffer.slot)
        cluster.submit_buffer(buffer, frame_id)
        return True

    def slow(self, card: str, factor: float) -> None:
        self.cluster.call(lambda: self.cluster.inject_fault(card, "slow", factor))

    def settle(self, base: int, accepted: int) -> None:
        """Wait until the ``accepted`` frames submitted after ``finished == base`` have finished."""
        if not self.wait_finished(base + accepted):
            raise TimeoutError(f"{base + accepted - self.finished} frames still pending")

    def saturate(self, frames: int, midway: Callable[[], None] | None = None) -> Outcome:
        """Submit ``frames`` tiles as fast as accepted; call ``midway`` after half; wait for all.

        When ``submit`` refuses (every slot taken), the source waits until ``REFILL`` frames have
        finished and fills the freed slots again: the rest of the slots stay queued or in flight,
        so the cards never starve, and the source is not woken for every product.
        """
        base = self.finished
        ids = []
        workers = [card.pid for card in self.cluster.cards.values()]
        cpu = cpu_seconds(workers) if midway is None else 0.0
        began = time.perf_counter()
        for i in range(frames):
            if midway is not None and i == frames // 2:
                midway()
            frame_id = next(self.ids)
            while True:
                finished = self.finished
                if self.submit(frame_id):
                    break
                self.wait_finished(finished + REFILL, timeout=0.05)
            ids.append(frame_id)
        self.settle(base, frames)
        done = [self.product_at[i] for i in ids if i in self.product_at]
        cpu = cpu_seconds(workers) - cpu if midway is None else 0.0  # a killed worker's CPU is gone
        return Outcome(
            rate=len(done) / (max(done) - began), cpu_per_frame=cpu / frames, accepted=frames, delivered=len(done)
        )

    def open_loop(self, frames: int, rate: float, seed: int) -> Outcome:
        """Poisson arrivals at ``rate``/s (seeded); refused frames are counted, not retried."""
        gaps = np.random.default_rng(seed).exponential(1.0 / rate, frames)
        arrivals = time.perf_counter() + 0.01 + np.cumsum(gaps)
        submitted_at: dict[int, float] = {}
        refused = 0
        base = self.finished
        for at in arrivals:
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            frame_id = next(self.ids)
            sent = time.perf_counter()
            if self.submit(frame_id):
                submitted_at[frame_id] = sent
            else:
                refused += 1
        self.settle(base, len(submitted_at))
        latencies = [self.product_at[i] - t for i, t in submitted_at.items() if i in self.product_at]
        return Outcome(accepted=len(submitted_at), delivered=len(latencies), refused=refused, latencies=latencies)


@contextmanager
def clusters(
    model: Path,
    tiles: list[np.ndarray],
    layouts: dict[str, tuple[list[CardSpec], dict[str, Any]]],
    common: dict[str, Any],
) -> Iterator[dict[str, Bench]]:
    """Start one cluster per layout (specs, ClusterConfig overrides on ``common``); stop them at exit."""
    started: dict[str, Bench] = {}
    try:
        for key, (specs, config) in layouts.items():
            started[key] = Bench(model, specs, tiles, **common, **config).start()
        yield started
    finally:
        for bench in started.values():
            bench.cluster.stop()


def cards(count: int) -> list[CardSpec]:
    return [CardSpec(f"card{i}") for i in range(count)]


# --- the figures ---------------------------------------------------------------------------------
@dataclass
class Row:
    figure: str
    measure: str
    ours: float
    peer: float | None
    unit: str
    ratio: float | None
    requirement: str
    status: str  # PASS, FAIL, or "info"


def check(value: float | None, ok: bool | None) -> str:
    if value is None or ok is None:
        return "info"
    return "PASS" if ok else "FAIL"


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def paired(ours: list[float], peer: list[float]) -> float:
    """The median of the per-repeat ratios (each repeat runs both back to back)."""
    return median([a / b for a, b in zip(ours, peer)])


class Figures:
    """Runs the selected figures; keeps the raw per-repeat values for ``--json``."""

    def __init__(self, model: Path, tiles: list[np.ndarray], frames: int, repeat: int, weights: str) -> None:
        self.model, self.tiles, self.frames, self.repeat = model, tiles, frames, repeat
        self.config: dict[str, Any] = {"weights": weights}  # ClusterConfig settings of every cluster
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}
        self.ideal: float | None = None  # figure 3's ideal capacity, used by figure 4

    def rate_pair(self, figure: str, sessions: int) -> None:
        """Figures 1 and 2: ``sessions`` cards vs ``sessions`` bare sessions in as many threads."""
        bare = [BareSession(self.model, 1, self.config["weights"]) for _ in range(sessions)]
        ours, peer, copying = [], [], []
        with clusters(self.model, self.tiles, {"c": (cards(sessions), {})}, self.config) as started:
            bench = started["c"]
            bench.saturate(WARMUP_FRAMES)
            for r in range(self.repeat):  # which goes first alternates
                if r % 2:
                    ours.append(bench.saturate(self.frames))
                peer.append(bare_rate(bare, self.tiles, self.frames))
                if not r % 2:
                    ours.append(bench.saturate(self.frames))
                bench.copy = True
                copying.append(bench.saturate(self.frames))
                bench.copy = False
        self.raw[f"figure{figure}"] = {
            "cluster_fps": [o.rate for o in ours],
            "bare_fps": [o.rate for o in peer],
            "cluster_copying_fps": [o.rate for o in copying],
            "cluster_cpu_us_per_frame": [o.cpu_per_frame * 1e6 for o in ours],
            "bare_cpu_us_per_frame": [o.cpu_per_frame * 1e6 for o in peer],
        }
        need = 0.95 if sessions == 1 else 0.90
        ratio = paired([o.rate for o in ours], [o.rate for o in peer])
        what = "1 card vs bare session, 1 thread" if sessions == 1 else "2 cards vs 2 bare sessions in 2 threads"
        self.rows.append(
            Row(figure, what, median([o.rate for o in ours]), median([o.rate for o in peer]), "frames/s",
                ratio, f"ratio >= {need:.2f}", check(ratio, ratio >= need))
        )
        cpu = paired([o.cpu_per_frame for o in peer], [o.cpu_per_frame for o in ours])
        self.rows.append(
            Row(figure, "  CPU per frame, all threads and processes (bare/ours)",
                median([o.cpu_per_frame for o in ours]) * 1e6, median([o.cpu_per_frame for o in peer]) * 1e6,
                "us", cpu, "diagnostic", "info")
        )
        self.rows.append(
            Row(figure, "  with each tile copied into its slot (Cluster.submit)",
                median([o.rate for o in copying]), median([o.rate for o in peer]), "frames/s",
                paired([o.rate for o in copying], [o.rate for o in peer]), "report", "info")
        )

    def heterogeneous_layouts(self, policies: list[str]) -> dict[str, tuple[list[CardSpec], dict]]:
        layouts: dict[str, tuple[list[CardSpec], dict]] = {
            "alone:card0": ([CardSpec("card0")], {}),
            "alone:card1": ([CardSpec("card1")], {}),
        }
        layouts.update({p: (cards(2), {"policy": p}) for p in policies})
        return layouts

    def heterogeneous(self, selected: set[str]) -> None:
        """Figures 3 and 4 on the same clusters: card0 alone, card1 alone, and one per policy."""
        policies = list(POLICIES)
        with clusters(self.model, self.tiles, self.heterogeneous_layouts(policies), self.config) as started:
            for key, bench in started.items():
                if key != "alone:card0":
                    bench.slow("card1", SLOW_FACTOR)
                bench.saturate(WARMUP_FRAMES)  # also brings card1's latency estimate to its slowed value
            if "3" in selected:
                self.figure3(started, policies)
            if "4" in selected:
                self.figure4(started, policies)

    def alone_rates(self, started: dict[str, Bench]) -> tuple[float, float]:
        """Frames/s of card0 alone and of slowed card1 alone (a quarter of the frames: 4x slower)."""
        slow_frames = max(WARMUP_FRAMES, int(self.frames / SLOW_FACTOR))
        return (started["alone:card0"].saturate(self.frames).rate, started["alone:card1"].saturate(slow_frames).rate)

    def figure3(self, started: dict[str, Bench], policies: list[str]) -> None:
        """Per repeat: each card alone (card1 slowed), then the two-card cluster under each policy."""
        runs: dict[str, list[float]] = {key: [] for key in started}
        for r in range(self.repeat):
            for key in rotated(["alone", *policies], r):  # the order rotates from repeat to repeat
                if key == "alone":
                    card0, card1 = self.alone_rates(started)
                    runs["alone:card0"].append(card0)
                    runs["alone:card1"].append(card1)
                else:
                    runs[key].append(started[key].saturate(self.frames).rate)
        ideals = [a + b for a, b in zip(runs["alone:card0"], runs["alone:card1"])]
        ideal = median(ideals)
        self.ideal = ideal
        self.raw["figure3"] = {"fps": runs, "ideal_fps": ideals, "default_policy": DEFAULT_POLICY}
        self.rows.append(
            Row("3",
                f"ideal: card0 alone {median(runs['alone:card0']):.0f} + card1 ({SLOW_FACTOR:g}x slower) alone "
                f"{median(runs['alone:card1']):.0f}",
                ideal, None, "frames/s", None, "report", "info")
        )
        best = max(policies, key=lambda p: median(runs[p]))
        for policy in policies:
            ratio = paired(runs[policy], ideals)
            default = policy == DEFAULT_POLICY
            self.rows.append(
                Row("3", f"{policy}{' (default)' if default else ''} vs ideal", median(runs[policy]), ideal,
                    "frames/s", ratio, ">= 0.90" if default else "-",
                    check(ratio, ratio >= 0.90) if default else "info")
            )
        ratio = paired(runs[DEFAULT_POLICY], runs["round-robin"])
        self.rows.append(
            Row("3", f"{DEFAULT_POLICY} (default) vs round-robin", median(runs[DEFAULT_POLICY]),
                median(runs["round-robin"]), "frames/s", ratio, ">= 1.40", check(ratio, ratio >= 1.4))
        )
        self.rows.append(
            Row("3", f"highest rate: {best} (default: {DEFAULT_POLICY})", median(runs[best]), None,
                "frames/s", None, "report", "info")
        )

    def figure4(self, started: dict[str, Bench], policies: list[str]) -> None:
        """Open-loop latency per policy on the heterogeneous cluster at 80% of the ideal capacity."""
        if self.ideal is None:  # figure 3 not run: measure the capacity here, once
            self.ideal = sum(self.alone_rates(started))
        offered = LOAD * self.ideal
        runs: dict[str, list[Outcome]] = {p: [] for p in policies}
        for r in range(self.repeat):
            for policy in rotated(policies, r):
                runs[policy].append(started[policy].open_loop(self.frames, offered, ARRIVAL_SEED + r))
        summary = {}
        self.rows.append(
            Row("4", f"offered: Poisson at {LOAD:.0%} of the ideal capacity", offered, self.ideal, "frames/s",
                LOAD, "report", "info")
        )
        for policy in policies:
            p50 = median([float(np.percentile(o.latencies, 50)) for o in runs[policy]]) * 1e3
            p99 = median([float(np.percentile(o.latencies, 99)) for o in runs[policy]]) * 1e3
            refused = sum(o.refused for o in runs[policy])
            offered_frames = self.frames * self.repeat
            summary[policy] = {"p50_ms": p50, "p99_ms": p99, "refused": refused, "offered": offered_frames}
            label = f"{policy}{' (default)' if policy == DEFAULT_POLICY else ''}"
            self.rows.append(
                Row("4", f"{label} latency p50, refused {refused}/{offered_frames}", p50, None, "ms", None,
                    "report", "info")
            )
            self.rows.append(Row("4", f"{label} latency p99", p99, None, "ms", None, "report", "info"))
        self.raw["figure4"] = {
            "offered_fps": offered,
            "arrivals": "Poisson",
            "seed": ARRIVAL_SEED,
            "per_policy": summary,
        }

    def failover_run(self, bench: Bench, victim: str) -> tuple[Outcome, float]:
        """A saturated run with SIGKILL of ``victim`` half-way; the outcome and the kill's time."""
        killed: list[float] = []

        def kill() -> None:
            killed.append(time.perf_counter())
            os.kill(bench.cluster.cards[victim].pid, signal.SIGKILL)

        return bench.saturate(self.frames, midway=kill), killed[0]

    def figure5(self) -> None:
        """SIGKILL of card1 half-way through a saturated run on two cards."""
        victim = "card1"
        config = {"max_failures": self.repeat + 2}
        quarantine, ready, lost = [], [], []
        with clusters(self.model, self.tiles, {"c": (cards(2), config)}, self.config) as started:
            bench = started["c"]
            bench.saturate(WARMUP_FRAMES)
            for _ in range(self.repeat):
                outcome, killed = self.failover_run(bench, victim)
                bench.wait(lambda at=killed: bench.count("card_ready", victim, at) > 0)
                lost.append(outcome.accepted - outcome.delivered)
                quarantine.append(bench.times("card_quarantined", victim, killed)[0] - killed)
                ready.append(bench.times("card_ready", victim, killed)[0] - killed)
        self.raw["figure5"] = {"lost": lost, "to_quarantine_s": quarantine, "to_ready_s": ready}
        self.rows.append(
            Row("5", "frames lost (accepted - delivered), all repeats", sum(lost), None, "frames", None,
                "== 0", check(sum(lost), sum(lost) == 0))
        )
        self.rows.append(
            Row("5", "kill -> card_quarantined", median(quarantine) * 1e3, None, "ms", None, "report", "info")
        )
        self.rows.append(
            Row("5", "kill -> card_ready (readmitted)", median(ready) * 1e3, None, "ms", None, "report", "info")
        )

    def figure6(self) -> None:
        """Three cards: THROUGHPUT vs TMR on the same cluster, switched with ``set_mode``.

        ``set_mode`` goes through the cluster thread's inbox like ``submit``, so every frame of a
        run is dispatched in the run's mode. A TMR run has a third of the frames (each is three
        inferences). Which mode goes first alternates from repeat to repeat.
        """
        throughput, tmr = [], []
        voted = expected = 0
        with clusters(self.model, self.tiles, {"c": (cards(3), {})}, self.config) as started:
            bench = started["c"]
            cluster = bench.cluster
            bench.saturate(WARMUP_FRAMES)
            for r in range(self.repeat):
                for mode in rotated([Mode.THROUGHPUT, Mode.TMR], r):
                    cluster.call(lambda mode=mode: cluster.set_mode(mode, "benchmark"))
                    if mode is Mode.THROUGHPUT:
                        throughput.append(bench.saturate(self.frames).rate)
                        continue
                    votes, degraded = cluster.votes, cluster.degraded
                    tmr.append(bench.saturate(self.frames // 3).rate)
                    if cluster.degraded == degraded:  # no frame ran on fewer than three cards
                        voted += cluster.votes - votes
                    expected += self.frames // 3
        self.raw["figure6"] = {
            "throughput_fps": throughput,
            "tmr_fps": tmr,
            "voted_on_3": voted,
            "tmr_frames": expected,
        }
        ratio = paired(tmr, throughput)
        self.rows.append(
            Row("6", f"TMR vs THROUGHPUT, 3 cards: cost {1.0 / ratio:.2f}x", median(tmr), median(throughput),
                "frames/s", ratio, "cost ~3x expected", "info")
        )
        self.rows.append(
            Row("6", "TMR frames voted on three results", voted, expected, "frames", voted / expected, "all",
                check(voted, voted == expected))
        )


def rotated(items: list[Any], shift: int) -> list[Any]:
    """``items`` starting at index ``shift`` (modulo), wrapping around."""
    shift %= len(items)
    return items[shift:] + items[:shift]


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    print(f"{'fig':<4}{'measure':<58}{'ours':>10}{'peer':>10}  {'unit':<9}{'ratio':>6}  {'requirement':<24}{'status'}")
    for row in rows:
        peer = f"{row.peer:10.1f}" if row.peer is not None else f"{'-':>10}"
        ratio = f"{row.ratio:6.2f}" if row.ratio is not None else f"{'-':>6}"
        print(
            f"{row.figure:<4}{row.measure:<58}{row.ours:10.1f}{peer}  {row.unit:<9}{ratio}  "
            f"{row.requirement:<24}{row.status}"
        )


def run_figures(args: argparse.Namespace, selected: set[str]) -> Figures:
    """Run the selected figures on the demo model and the tile pool."""
    scene = SceneGenerator(SCENE_SEED)
    tiles = [scene.tile(i).pixels for i in range(TILE_POOL)]
    with tempfile.TemporaryDirectory() as tmp:
        figures = Figures(
            write_demo_model(Path(tmp) / "demo_model.onnx"), tiles, args.frames, args.repeat, args.weights
        )
        runs: dict[str, Callable[[], None]] = {
            "1": lambda: figures.rate_pair("1", 1),
            "2": lambda: figures.rate_pair("2", 2),
            "3": lambda: figures.heterogeneous(selected),
            "4": lambda: figures.heterogeneous(selected),
            "5": figures.figure5,
            "6": figures.figure6,
        }
        for key in sorted(selected):
            if key == "4" and "3" in selected:
                continue  # ran with figure 3, on the same clusters
            runs[key]()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cluster vs bare ONNX Runtime: six figures")
    parser.add_argument("--frames", type=int, default=1000, help="frames per measured run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; medians reported")
    parser.add_argument("--only", default="1,2,3,4,5,6", help="comma-separated figures to run")
    parser.add_argument("--weights", choices=("live", "optimized"), default=ClusterConfig.weights,
                        help="the cards' weights mode (ClusterConfig.weights); bare sessions follow it")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    selected = {f.strip() for f in args.only.split(",") if f.strip()}
    unknown = selected - set("123456")
    if unknown:
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    figures = run_figures(args, selected)
    elapsed = time.perf_counter() - began
    load = {"before": load_before, "after": os.getloadavg()[0]}
    result = {
        "rows": [row.__dict__ for row in figures.rows],
        "raw": figures.raw,
        "frames": args.frames,
        "repeat": args.repeat,
        "weights": args.weights,
        "tile_pool": TILE_POOL,
        "cpus": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "load_average_1min": load,
        "elapsed_s": elapsed,
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(
            figures.rows,
            f"{args.frames} frames per run, median of {args.repeat} repeats, "
            f"weights {args.weights}, "
            f"{os.cpu_count()} CPUs, onnxruntime {ort.__version__}, {elapsed:.0f} s, "
            f"load average {load['before']:.1f} before, {load['after']:.1f} after",
        )
    failed = [row for row in figures.rows if row.status == "FAIL"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
