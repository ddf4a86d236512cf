"""``orbitfs-sil``: the main job. A software-in-the-loop run, flight and ground as two processes.

The ground builds the demo model, starts the flight executive as its own process, connects over
ZeroMQ on loopback, checks the dictionary digest, pings, exercises commands and parameters
(including one command the flight must refuse), images N frames with the cluster in TMR while
the SEU injector flips bits in the protected memory (the TMR parameter store, each card's live
weights and their golden copy) at an accelerated rate, receives one product per frame, shuts the
flight down, and prints a summary: frames processed, products downlinked, precision/recall
against the scene's ground truth (recomputed on the ground from the seed), wrong products
delivered (must be 0), upsets injected / detected / repaired / uncorrectable, raw vs downlinked
bytes, commands sent and verified, packets and frames dropped (must be 0), per-card figures, and
rate-group slips. Exit status 0 only if every check passes.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from flight.payload.detection import Detection, DetectionScore, score
from flight.payload.scene import SceneGenerator, TileClass
from flight.wire import services as st
from flight.wire.failure import FailureCode
from ground_sim.api import IntegrationApi
from ground_sim.flight_process import FlightProcess


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def _progress(api: IntegrationApi, frames: int, stall_timeout: float) -> None:
    station, last_count, last_change, last_print = api.station, -1, time.monotonic(), 0.0
    began = time.monotonic()
    while True:
        with station.changed:
            station.changed.wait(0.5)
            count = len(station.products)
        now = time.monotonic()
        if count != last_count:
            last_count, last_change = count, now
        if now - last_print >= 1.0 or count >= frames:
            rate = count / max(now - began, 1e-9)
            print(f"  products {count:5d}/{frames}  ({rate:6.1f} frames/s)", flush=True)
            last_print = now
        if count >= frames:
            return
        if now - last_change > stall_timeout:
            raise AssertionError(f"no product for {stall_timeout} s ({count}/{frames})")


def run(frames: int, seed: int, run_dir: Path, topology: str | None, overrides: list[str],
        mode: str, acceleration: float) -> int:
    from tools.build_model import write_demo_model

    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    write_demo_model(run_dir / "demo_model.onnx")
    flight = FlightProcess(run_dir, topology, [f"mission.seed={seed}", f'cluster.mode="{mode}"',
                                               'cluster.model="demo_model.onnx"', *overrides])
    print(f"orbitfs SIL run: {frames} frames, seed {seed}, run directory {run_dir}")
    began = time.monotonic()
    ready = flight.start()
    print(f"flight process {ready['pid']} ready: TC {ready['tc_endpoint']}  TM {ready['tm_endpoint']}")
    station = flight.connect()
    api = IntegrationApi(station, default_timeout=30.0)
    try:
        digest = api.await_telemetry("executive.DictionaryDigest")
        print(f"dictionary digest {digest:08x} (ground holds {station.dictionary.digest:08x})")
        api.ping()
        api.send_and_assert_command("dispatcher.NO_OP")
        record = api.set_parameters({"cluster.DetectionThreshold": 0.5})
        assert record.completed, str(record)
        print(f"parameters: {api.get_parameters(['cluster.DetectionThreshold'])}")
        refused = api.send_and_assert_failure("camera.START_IMAGING", [0, 0],
                                              FailureCode.ARGUMENT_OUT_OF_RANGE, check=False)
        print(f"refused as it must be: {refused}")
        api.set_parameters({"seu.Acceleration": acceleration})
        print(f"SEU rate model accelerated {acceleration:g}x; cluster mode {mode}")
        print(f"imaging {frames} frames ...")
        api.send_and_assert_command("camera.START_IMAGING", [frames, 0])
        imaging_began = time.monotonic()
        _progress(api, frames, stall_timeout=30.0)
        imaging_time = time.monotonic() - imaging_began
        api.await_event("camera.ImagingComplete")
        hk_mark = api.telemetry_mark("cluster.FramesDelivered")
        api.await_telemetry("cluster.FramesDelivered", lambda v: v >= frames, start=hk_mark)
        api.send_and_assert_command("executive.SHUTDOWN")
        exit_code = flight.wait(30)
    finally:
        station.close()
        flight.kill()
    elapsed = time.monotonic() - began
    checks = summarize(api, frames, seed, exit_code, elapsed, imaging_time)
    print(f"\narchive: {run_dir / 'archive.sqlite'}   flight log: {run_dir / 'flight.log'}")
    failed = [c for c in checks if not c.passed]
    print("RESULT: " + ("PASS" if not failed else "FAIL: " + ", ".join(c.name for c in failed)))
    return 1 if failed else 0


def summarize(api: IntegrationApi, frames: int, seed: int, exit_code: int,
              elapsed: float, imaging_time: float) -> list[Check]:
    station = api.station
    scene = SceneGenerator(seed)
    total = DetectionScore(0, 0, 0, 0, 0)
    classes = {c: 0 for c in TileClass}
    wrong = 0
    for product in station.products:
        detection = Detection(TileClass(product.tile_class), product.confidence,
                              product.fire_cells, product.cloud_fraction)
        frame_score = score(detection, scene.truth(product.frame_id))
        total = total + frame_score
        wrong += frame_score.false_positive_cells + frame_score.false_negative_cells > 0 or (
            frame_score.class_correct == 0)
        classes[TileClass(product.tile_class)] += 1
    latest = station.latest
    dictionary = station.dictionary
    raw = latest("cluster.RawBytesProcessed", 0)
    product_bytes = station.stats.bytes_by_service[st.PRODUCT]
    commands = station.command_log
    completed = sum(1 for c in commands if c.completed)
    failed = sum(1 for c in commands if c.failure)
    drops = {name.partition(".Dropped")[2]: latest(name, 0) for name in dictionary.channel_by_name
             if name.startswith("cluster.Dropped")}
    frame_drops = sum(drops.values())
    packet_drops = latest("comms.TmDroppedStoreFull", 0)
    slips = sum(latest(name, 0) for name in dictionary.channel_by_name if name.endswith(".CycleSlips"))
    missing = frames - len({p.frame_id for p in station.products})
    cards = [c for c in dictionary.components if f"{c}.Inferences" in dictionary.channel_by_name]
    print("\n================ SIL summary ================")
    rows = [
        ("wall time (imaging)", f"{elapsed:.1f} s ({imaging_time:.1f} s)"),
        ("frames captured / delivered", f"{latest('camera.FramesCaptured', 0)} / "
                                        f"{latest('cluster.FramesDelivered', 0)}  (captures deferred "
                                        f"by backpressure: {latest('camera.CapturesDeferred', 0)})"),
        ("products downlinked", f"{len(station.products)}  (clear {classes[TileClass.CLEAR]}, "
                                f"cloudy {classes[TileClass.CLOUDY]}, fire {classes[TileClass.FIRE]})"),
        ("fire cells: precision / recall", f"{total.precision:.4f} / {total.recall:.4f}  "
                                           f"(TP {total.true_positive_cells}, FP "
                                           f"{total.false_positive_cells}, FN "
                                           f"{total.false_negative_cells})"),
        ("tile class accuracy", f"{total.class_accuracy:.4f}"),
        ("wrong products delivered", f"{wrong}"),
        ("upsets injected / bits flipped", f"{latest('seu.Injected', 0)} / {latest('seu.BitsFlipped', 0)}"),
        ("upsets detected / repaired / uncorr.", f"{latest('scrubber.Detected', 0)} / "
                                                 f"{latest('scrubber.Repaired', 0)} / "
                                                 f"{latest('scrubber.Uncorrectable', 0)}"),
        ("raw bytes processed on board", f"{raw:,}"),
        ("product bytes downlinked", f"{product_bytes:,}  (ratio 1:{raw / max(product_bytes, 1):,.0f})"),
        ("all TM downlinked", f"{station.stats.packets:,} packets, {station.stats.bytes:,} bytes"),
        ("commands sent / completed / failed", f"{len(commands)} / {completed} / {failed} "
                                               "(1 failure expected: the refused command)"),
        ("TM packets dropped", f"{packet_drops} in flight store, {station.stats.sequence_gaps} "
                               f"sequence gaps, {station.stats.decode_errors} undecodable"),
        ("frames dropped by reason", ", ".join(f"{k} {v}" for k, v in drops.items())),
        ("frames without a product", f"{missing}"),
        ("cluster mode / votes / disagreements", f"{('THROUGHPUT', 'TMR', 'DMR')[latest('cluster.Mode', 0)]} / "
                                                 f"{latest('cluster.Votes', 0)} / "
                                                 f"{latest('cluster.Disagreements', 0)}"),
        ("rate-group slips", f"{slips}"),
        ("limit excursions", f"{dict(station.stats.limit_violations) or 'none'}"),
        ("flight exit status", f"{exit_code}"),
    ]
    for name, value in rows:
        print(f"  {name:<36} {value}")
    print(f"  {'card':<8}{'inferences':>11}{'p50 ms':>9}{'p99 ms':>9}{'util %':>8}{'resets':>8}"
          f"{'errors':>8}{'temp C':>8}")
    for card in cards:
        print(f"  {card:<8}{latest(card + '.Inferences', 0):>11}{latest(card + '.LatencyP50', 0):>9.2f}"
              f"{latest(card + '.LatencyP99', 0):>9.2f}"
              f"{100 * latest(card + '.BusyTime', 0) / max(imaging_time, 1e-9):>8.1f}"
              f"{latest(card + '.Resets', 0):>8}{latest(card + '.Errors', 0):>8}"
              f"{latest(card + '.Temperature', 0):>8.1f}")
    checks = [
        Check("all products", len(station.products) == frames and missing == 0,
              f"{len(station.products)}/{frames}"),
        Check("zero drops", packet_drops + station.stats.sequence_gaps
              + station.stats.decode_errors + frame_drops == 0, "packets and frames"),
        Check("no wrong product", wrong == 0 and total.precision == 1.0 and total.recall == 1.0
              and total.class_accuracy == 1.0, "precision, recall, class accuracy all 1.0"),
        Check("every upset repaired or recovered", latest("scrubber.Detected", 0)
              == latest("scrubber.Repaired", 0) + latest("scrubber.Uncorrectable", 0)
              and latest("scrubber.Uncorrectable", 0) == latest("scrubber.Recoveries", 0),
              "detected = repaired + uncorrectable, each uncorrectable recovered"),
        Check("commands verified", completed + failed == len(commands) and failed == 1,
              f"{completed} completed, {failed} failed"),
        Check("clean shutdown", exit_code == 0, f"exit {exit_code}"),
    ]
    for check in checks:
        print(f"  [{'PASS' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-sil", description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/sil"))
    parser.add_argument("--topology", help="flight topology TOML (default: the packaged one)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override a flight topology setting")
    parser.add_argument("--mode", default="TMR", choices=["THROUGHPUT", "TMR", "DMR"],
                        help="cluster redundancy mode during imaging")
    parser.add_argument("--seu-acceleration", type=float, default=3e7,
                        help="multiplies the SEU rate model (0: no upsets)")
    args = parser.parse_args(argv)
    return run(args.frames, args.seed, args.run_dir, args.topology, args.overrides, args.mode,
               args.seu_acceleration)


if __name__ == "__main__":
    sys.exit(main())
