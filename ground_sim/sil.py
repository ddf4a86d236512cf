"""``orbitfs-sil``: the main job. A software-in-the-loop run, flight and ground as two processes.

The ground builds the demo model, starts the flight executive as its own process, connects over
ZeroMQ on loopback, checks the dictionary digest, pings, exercises commands and parameters
(including one command the flight must refuse), images N frames with the cluster in TMR while
the SEU injector flips bits in the protected memory (the TMR parameter store, each card's live
weights and their golden copy) at an accelerated rate, receives one product per frame, shuts the
flight down, and prints a summary: frames processed, products downlinked, precision/recall
against the scene's ground truth (recomputed on the ground from the seed), wrong products
delivered (must be 0), upsets injected / detected / repaired / uncorrectable, raw vs downlinked
bytes, commands sent and verified, packets and frames dropped (must be 0), per-card figures,
rate-group slips, and the archive's health (rows archived, rows lost, its error). Exit status 0
only if every check passes, 1 if one fails ("RESULT: FAIL: <checks>").

Without ``--run-dir`` each run takes a fresh directory (``runs/sil``, else ``runs/sil-2``, ...).
Before anything starts, the run directory must be missing or empty; a non-empty one is refused
(one line on stderr, exit status 2, nothing in it touched) unless ``--force``, which reuses it: the
files the run writes are replaced (``flight.log``, ``injections.jsonl``, the link's key files and
state, and the default archive are removed first, the others rewritten) and nothing else is
deleted.

The link is authenticated (SDLS, flight.wire.link) unless ``--set mission.link.sdls="off"``: each
run makes a fresh key file, one copy for the flight and one for the ground
(ground_sim.flight_process), and the summary says which (loudly when it is not). The archive
(``--archive``, default ``RUN_DIR/archive.sqlite``) is opened then too: a path that cannot hold it
is refused with one line and exit status 2, and no flight is started. The check "archive
complete" fails the run if the archive failed, lost a row, or holds fewer rows than packets went
up and came down.

| requirement | verified by |
| a short run passes every check and prints its summary | tests/system/test_sil.py |
| a non-empty run directory is refused (exit 2, one line, untouched); |   |
|   ``--force`` reuses it and keeps the user's files | tests/system/test_sil_data.py |
| an unusable ``--archive``: exit 2, one line, no flight started | tests/system/test_sil_data.py |
| an archive that fails mid-run fails the run (exit 1) with its reason, |   |
|   and the rows it committed stay readable | tests/system/test_sil_data.py |
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flight.cli_common import add_common_options, configure_logging
from flight.payload.detection import Detection, DetectionScore, score
from flight.payload.scene import SceneGenerator, TileClass
from flight.wire import services as st
from flight.wire.failure import FailureCode
from ground_sim.api import IntegrationApi
from ground_sim.archive import ArchiveError, PacketArchive
from ground_sim.flight_process import FlightProcess, FlightStartError
from ground_sim.link_model import LinkConditions
from ground_sim.station import GroundStation


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


RUN_FILES = ("flight.log", "injections.jsonl",  # the flight appends to these; the others it rewrites
             # each run has fresh link keys (and so starts the link's counters afresh)
             "keys/flight.json", "keys/ground.json", "keys/ground.state", "link_state.bin",
             "tm_sa_state.bin", "tm_store.sqlite", "tm_store.sqlite-wal", "tm_store.sqlite-shm",
             "time_schedule.sqlite", "time_schedule.sqlite-wal", "time_schedule.sqlite-shm",  # ST[11]
             "mission_time.bin")   # simulated time goes on from it: a fresh run starts at the epoch


class UsageError(Exception):
    """The run cannot start as asked (one line)."""


def fresh_run_dir(parent: Path, stem: str) -> Path:
    """``parent/stem`` if it is missing or empty, else the first ``parent/stem-N`` (N = 2, 3, ...)
    that is: a run without ``--run-dir`` never lands on an earlier one's files."""
    candidate, n = parent / stem, 1
    while candidate.exists() and not (candidate.is_dir() and not any(candidate.iterdir())):
        n += 1
        candidate = parent / f"{stem}-{n}"
    return candidate


def prepare(run_dir: Path, force: bool, archive_path: Path | None) -> PacketArchive:
    """Check the run directory and open the archive, before anything starts.

    A directory that exists and is not empty is refused unless ``force``; with it, the files this
    run writes are removed or rewritten and nothing else is touched. The archive defaults to
    ``run_dir/archive.sqlite`` (replaced); one given elsewhere is appended to. Raises UsageError or
    ArchiveError (one line each).
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"run directory {run_dir} is not a directory: choose another")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not force:
        raise UsageError(f"run directory {run_dir} is not empty: pass --force to reuse it (the run's own "
                         "files are replaced, nothing else is deleted) or choose another")
    stale = [run_dir / name for name in RUN_FILES]
    if archive_path is None:
        archive_path = run_dir / "archive.sqlite"
        stale += [run_dir / f"archive.sqlite{suffix}" for suffix in ("", "-wal", "-shm")]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        for path in stale:
            path.unlink(missing_ok=True)
    except OSError as error:
        raise UsageError(f"run directory {run_dir}: {error.strerror}: {error.filename}") from None
    return PacketArchive(archive_path)


def fly(api: IntegrationApi, frames: int, mode: str, acceleration: float) -> float:
    """The SIL scenario, up to the flight's shutdown command; returns the imaging time (s)."""
    station = api.station
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
    return imaging_time


def run(frames: int, seed: int, run_dir: Path, topology: str | None, overrides: list[str],
        mode: str, acceleration: float, archive: PacketArchive) -> int:
    """One SIL run in ``run_dir`` (as :func:`prepare` left it), archiving to ``archive``."""
    from flight.payload.demo_model import write_demo_model

    write_demo_model(run_dir / "demo_model.onnx")
    flight = FlightProcess(run_dir, topology, [f"mission.seed={seed}", "mission.fault_injection=true",
                                               f'cluster.mode="{mode}"',
                                               'cluster.model="demo_model.onnx"', *overrides])
    print(f"orbitfs SIL run: {frames} frames, seed {seed}, run directory {run_dir}")
    began = time.monotonic()
    try:
        ready = flight.start()
    except FlightStartError as error:
        print(f"orbitfs-sil: the flight did not start: {error.reason}", file=sys.stderr)
        return 2 if error.returncode == 2 else 1
    print(f"flight process {ready['pid']} ready: TC {ready['tc_endpoint']}  TM {ready['tm_endpoint']}")
    api = IntegrationApi(flight.connect(archive), default_timeout=30.0)
    try:
        imaging_time = fly(api, frames, mode, acceleration)
        exit_code = flight.wait(30)
    finally:
        api.station.close()
        flight.kill()
    elapsed = time.monotonic() - began
    checks = summarize(api, frames, seed, exit_code, elapsed, imaging_time)
    print(f"\narchive: {archive.path}   flight log: {run_dir / 'flight.log'}")
    failed = [c for c in checks if not c.passed]
    print("RESULT: " + ("PASS" if not failed else "FAIL: " + ", ".join(c.name for c in failed)))
    return 1 if failed else 0


@dataclass
class Tally:
    """What the ground counted of a run, from its products, telemetry and command log."""

    frames: int
    score: DetectionScore
    classes: dict[TileClass, int]
    wrong: int
    drops: dict[str, int]
    missing: int
    completed: int
    failed: int


def tally(station: GroundStation, frames: int, seed: int) -> Tally:
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
    drops = {name.partition(".Dropped")[2]: station.latest(name, 0)
             for name in station.dictionary.channel_by_name if name.startswith("cluster.Dropped")}
    commands = station.command_log
    return Tally(frames, total, classes, wrong, drops,
                 frames - len({p.frame_id for p in station.products}),
                 sum(1 for c in commands if c.completed), sum(1 for c in commands if c.failure))


def summary_rows(station: GroundStation, t: Tally, exit_code: int, elapsed: float,
                 imaging_time: float) -> list[tuple[str, str]]:
    latest = station.latest
    raw = latest("cluster.RawBytesProcessed", 0)
    product_bytes = station.stats.bytes_by_service[st.PRODUCT]
    slips = sum(latest(name, 0) for name in station.dictionary.channel_by_name
                if name.endswith(".CycleSlips"))
    s = t.score
    return [
        ("wall time (imaging)", f"{elapsed:.1f} s ({imaging_time:.1f} s)"),
        ("frames captured / delivered", f"{latest('camera.FramesCaptured', 0)} / "
                                        f"{latest('cluster.FramesDelivered', 0)}  (captures deferred "
                                        f"by backpressure: {latest('camera.CapturesDeferred', 0)})"),
        ("products downlinked", f"{len(station.products)}  (clear {t.classes[TileClass.CLEAR]}, "
                                f"cloudy {t.classes[TileClass.CLOUDY]}, fire {t.classes[TileClass.FIRE]})"),
        ("fire cells: precision / recall", f"{s.precision:.4f} / {s.recall:.4f}  (TP "
                                           f"{s.true_positive_cells}, FP {s.false_positive_cells}, "
                                           f"FN {s.false_negative_cells})"),
        ("tile class accuracy", f"{s.class_accuracy:.4f}"),
        ("wrong products delivered", f"{t.wrong}"),
        ("upsets injected / bits flipped", f"{latest('seu.Injected', 0)} / {latest('seu.BitsFlipped', 0)}"),
        ("upsets detected / repaired / uncorr.", f"{latest('scrubber.Detected', 0)} / "
                                                 f"{latest('scrubber.Repaired', 0)} / "
                                                 f"{latest('scrubber.Uncorrectable', 0)}"),
        ("raw bytes processed on board", f"{raw:,}"),
        ("product bytes downlinked", f"{product_bytes:,}  (ratio 1:{raw / max(product_bytes, 1):,.0f})"),
        ("all TM downlinked", f"{station.stats.packets:,} packets, {station.stats.bytes:,} bytes"),
        *link_rows(station),
        ("commands sent / completed / failed", f"{len(station.command_log)} / {t.completed} / "
                                               f"{t.failed} (1 failure expected: the refused command)"),
        ("TM store: stored / acknowledged", f"{latest('comms.TmPacketsStored', 0):,} / "
                                            f"{latest('comms.TmAcknowledged', 0):,}  (sent again "
                                            f"{latest('comms.TmPacketsResent', 0):,}, received twice "
                                            f"{station.stats.duplicates:,}, kept once)"),
        ("TM packets dropped", f"{latest('comms.TmDroppedStoreFull', 0)} refused and "
                               f"{latest('comms.TmEvicted', 0)} evicted by the flight's store, "
                               f"{station.stats.sequence_gaps} missing, "
                               f"{station.stats.decode_errors} undecodable"),
        ("frames dropped by reason", ", ".join(f"{k} {v}" for k, v in t.drops.items())),
        ("frames without a product", f"{t.missing}"),
        ("cluster mode / votes / disagreements", f"{('THROUGHPUT', 'TMR', 'DMR')[latest('cluster.Mode', 0)]} / "
                                                 f"{latest('cluster.Votes', 0)} / "
                                                 f"{latest('cluster.Disagreements', 0)}"),
        ("rate-group slips", f"{slips}"),
        ("limit excursions", f"{dict(station.stats.limit_violations) or 'none'}"),
        ("archive rows archived / lost", f"{station.archive.committed:,} / {station.archive.lost:,}  "
                                         f"({station.archive.error or 'no error'})"),
        ("flight exit status", f"{exit_code}"),
    ]


def print_cards(station: GroundStation, imaging_time: float) -> None:
    cards = [name[len("cluster."):-len("_Inferences")] for name in station.dictionary.channel_by_name
             if name.startswith("cluster.") and name.endswith("_Inferences")]
    print(f"  {'card':<8}{'inferences':>11}{'p50 ms':>9}{'p99 ms':>9}{'util %':>8}{'resets':>8}"
          f"{'errors':>8}{'temp C':>8}")
    for card in cards:
        values = {channel: station.latest(f"cluster.{card}_{channel}", 0)
                  for channel in ("Inferences", "LatencyP50", "LatencyP99", "BusyTime", "Resets",
                                  "Errors", "Temperature")}
        print(f"  {card:<8}{values['Inferences']:>11}{values['LatencyP50']:>9.2f}"
              f"{values['LatencyP99']:>9.2f}{100 * values['BusyTime'] / max(imaging_time, 1e-9):>8.1f}"
              f"{values['Resets']:>8}{values['Errors']:>8}{values['Temperature']:>8.1f}")


def checks_of(station: GroundStation, t: Tally, exit_code: int) -> list[Check]:
    latest, stats = station.latest, station.stats
    return [
        Check("all products", len(station.products) == t.frames and t.missing == 0,
              f"{len(station.products)}/{t.frames}"),
        Check("zero drops", latest("comms.TmDroppedStoreFull", 0) + latest("comms.TmEvicted", 0)
              + stats.sequence_gaps + stats.decode_errors
              + sum(t.drops.values()) + station.downlink.stats.gaps + sum(station.downlink.stats.bad_frames.values())
              == 0, "packets, TM frames and imaged frames"),
        Check("no wrong product", t.wrong == 0 and t.score.precision == 1.0 and t.score.recall == 1.0
              and t.score.class_accuracy == 1.0, "precision, recall, class accuracy all 1.0"),
        Check("every upset repaired or recovered", latest("scrubber.Detected", 0)
              == latest("scrubber.Repaired", 0) + latest("scrubber.Uncorrectable", 0)
              and latest("scrubber.Uncorrectable", 0) == latest("scrubber.Recoveries", 0),
              "detected = repaired + uncorrectable, each uncorrectable recovered"),
        Check("commands verified", t.completed + t.failed == len(station.command_log) and t.failed == 1,
              f"{t.completed} completed, {t.failed} failed"),
        Check("clean shutdown", exit_code == 0, f"exit {exit_code}"),
        archive_check(station),
    ]


def archive_check(station: GroundStation) -> Check:
    """Every packet and frame sent and received is in the archive, and it never failed nor lost a row."""
    archive = station.archive
    expected = (len(station.command_log) + station.stats.link_commands + station.stats.packets
                + station.uplink.stats.frames + station.downlink.stats.frames + len(station.passes))
    return Check("archive complete", archive.error is None and archive.lost == 0 and archive.committed == expected,
                 archive.alarm or f"{archive.committed:,} of {expected:,} packets and frames archived")


def link_rows(station: GroundStation) -> list[tuple[str, str]]:
    """The link's part of the summary: its security first, loudly when there is none."""
    link, latest = station.dictionary.link_parameters, station.latest
    up, down = station.uplink.stats, station.downlink.stats
    if link.authenticated:
        security = (f"TC: SDLS AES-256-GCM {link.sdls_service.replace('_', ' ')}, SPI {link.spi}, key "
                    f"{latest('link.SaKeyId', '?')} of a fresh key file")
    else:
        security = "TC NOT AUTHENTICATED (mission.link.sdls = off): any process that reaches the TC port commands it"
    if link.tm_authenticated:
        verified = "verified" if station.downlink.verified else "NOT VERIFIED: this ground has no key file"
        security += f"; TM: SDLS {link.tm_sdls.replace('_', ' ')}, SPI {link.tm_spi}, {verified}"
    else:
        security += "; TM not authenticated (mission.link.tm_sdls = off)"
    refused = sum(latest(f"link.Refused{r}", 0) for r in ("Frame", "Sa", "Replay", "Window", "Mac", "State"))
    channels = ", ".join(f"{name} {c.frames} (gaps {c.gaps})" for name, c in down.channels.items())
    return [
        ("link security", security),
        ("TC frames sent / retransmitted", f"{up.frames} / {up.retransmissions}  (COP-1 alerts {up.alerts}; "
                                           f"flight refused {refused}, FARM discarded "
                                           f"{latest('link.FarmDiscarded', 0)})"),
        ("TM frames received by channel", f"{channels}; bad {sum(down.bad_frames.values())}, "
                                          f"master-channel gaps {down.master_gaps}"),
    ]


def summarize(api: IntegrationApi, frames: int, seed: int, exit_code: int,
              elapsed: float, imaging_time: float) -> list[Check]:
    """Print the summary of a run and return its checks."""
    station = api.station
    counted = tally(station, frames, seed)
    print("\n================ SIL summary ================")
    for name, value in summary_rows(station, counted, exit_code, elapsed, imaging_time):
        print(f"  {name:<36} {value}")
    print_cards(station, imaging_time)
    checks = checks_of(station, counted, exit_code)
    for check in checks:
        print(f"  [{'PASS' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-sil", description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-dir", type=Path,
                        help="where the run writes its files; must be missing or empty (default: a fresh "
                             "one, runs/sil, else runs/sil-2, runs/sil-3, ...)")
    parser.add_argument("--force", action="store_true",
                        help="reuse a non-empty run directory: the run's files are replaced, nothing else is "
                             "deleted (a parameters.json there is loaded by the flight)")
    parser.add_argument("--archive", type=Path,
                        help="SQLite archive of every packet (default: RUN_DIR/archive.sqlite, replaced; "
                             "another path is appended to)")
    parser.add_argument("--topology", help="flight topology TOML (default: the packaged one)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override a flight topology setting")
    parser.add_argument("--mode", default="TMR", choices=["THROUGHPUT", "TMR", "DMR"],
                        help="cluster redundancy mode during imaging")
    parser.add_argument("--seu-acceleration", type=float,
                        help="multiplies the SEU rate model (0: no upsets; default 3e7, with --day 1e4)")
    add_day_arguments(parser)
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    args.run_dir = args.run_dir or fresh_run_dir(Path("runs"), "sil-day" if args.day else "sil")
    try:
        options = day_options(args) if args.day else None
        archive = prepare(args.run_dir, args.force, args.archive)
    except (UsageError, ArchiveError) as error:
        print(f"orbitfs-sil: {error}", file=sys.stderr)
        return 2
    if args.day:
        from ground_sim.day import run_day
        return run_day(options, args.run_dir, args.topology, args.overrides, archive)
    return run(args.frames, args.seed, args.run_dir, args.topology, args.overrides, args.mode,
               3e7 if args.seu_acceleration is None else args.seu_acceleration, archive)


def day_options(args: argparse.Namespace) -> Any:
    """The day's options from the command line (UsageError naming a bad one)."""
    from ground_sim.day import DayOptions
    try:
        return DayOptions(args.hours, args.speedup, args.seed, args.frame_every,
                          1e4 if args.seu_acceleration is None else args.seu_acceleration,
                          LinkConditions(args.up_rate), LinkConditions(args.down_rate, args.loss, args.burst, args.ber))
    except ValueError as error:   # named by the model's field: say the option instead
        message = str(error)
        for field, option in (("rate_bps", "--up-rate/--down-rate"), ("loss_rate", "--loss"),
                              ("mean_burst", "--burst"), ("ber", "--ber")):
            message = message.replace(field, option, 1) if message.startswith(field) else message
        raise UsageError(message) from None


def add_day_arguments(parser: argparse.ArgumentParser) -> None:
    day = parser.add_argument_group("one accelerated day (--day): passes, a link model, the store across them")
    day.add_argument("--day", action="store_true", help="fly one orbital day instead of N frames")
    day.add_argument("--hours", type=positive, default=24.0, help="simulated hours (default 24)")
    day.add_argument("--speedup", type=positive, default=300.0, help="simulated seconds per second (default 300)")
    day.add_argument("--frame-every", type=int, default=20, choices=range(1, 86401), metavar="S",
                     help="simulated seconds between frames over land (default 20)")
    day.add_argument("--down-rate", type=positive, default=2e6, help="downlink bit/s (default 2e6)")
    day.add_argument("--up-rate", type=positive, default=64e3, help="uplink bit/s (default 64e3)")
    day.add_argument("--loss", type=float, default=0.05, help="downlink frame loss rate, bursty (default 0.05)")
    day.add_argument("--burst", type=float, default=4.0, help="mean downlink loss burst, frames (default 4)")
    day.add_argument("--ber", type=float, default=1e-6, help="downlink bit error rate (default 1e-6)")


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be a number above 0")
    return value


if __name__ == "__main__":
    sys.exit(main())
