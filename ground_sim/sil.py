"""``orbitfs-sil``: the main job. A software-in-the-loop run, flight and ground as two processes.

The ground builds the demo model, starts the flight executive as its own process, connects over
ZeroMQ on loopback, checks the dictionary digest, pings, exercises commands and parameters
(including one command the flight must refuse), images N frames with the cluster in TMR while
the SEU injector flips bits in the protected memory (the TMR parameter store, each card's live
weights and their golden copy) at an accelerated rate, receives one product per frame, shuts the
flight down, and prints a summary (ground_sim.sil_rows): frames processed, products downlinked,
precision/recall against the scene's ground truth (recomputed on the ground from the seed), wrong
products delivered (must be 0), upsets injected / detected / repaired / uncorrectable and why
injected and detected differ, raw vs downlinked bytes, commands sent and verified, packets and
frames dropped (must be 0), per-card figures with a legend, rate-group slips per group with a
verdict, and the archive's health (rows archived, rows lost, its error); every row says what it
means. The progress lines give an ETA from the rate so far. The flight's dictionary digest must be
the ground's (check "dictionary matches"). Exit status 0 only if every check passes, 1 if one fails
("RESULT: FAIL: <checks>").

``--json FILE`` and ``--junit FILE`` (ground_sim.sil_output) write the summary as JSON and the
checks as JUnit XML, whether the run passes or fails; a path that cannot be written is refused
before anything starts (one line, exit status 2). After the summary, the run's report
(ground_sim.report, ``RUN_DIR/report/report.md``) is made if it can be; a report that cannot be
made is one line and never changes the exit status.

Without ``--run-dir`` each run takes a fresh directory (``runs/sil``, else ``runs/sil-2``, ...).
Before anything starts, the run directory must be missing or empty; a non-empty one is refused
(one line on stderr, exit status 2, nothing in it touched) unless ``--force``, which reuses it: the
files the run writes are replaced (``flight.log`` and its rotated copies, the cards' logs,
``injections.jsonl``, the link's key files and state, and the default archive are removed first,
the others rewritten) and nothing else is deleted.

The link is authenticated (SDLS, flight.wire.link) unless ``--set mission.link.sdls="off"``: each
run makes a fresh key file, one copy for the flight and one for the ground
(ground_sim.flight_process), and the summary says which (loudly when it is not). The archive
(``--archive``, default ``RUN_DIR/archive.sqlite``) is opened then too: a path that cannot hold it
is refused with one line and exit status 2, and no flight is started. The check "archive
complete" fails the run if the archive failed, lost a row, or holds fewer rows than packets went
up and came down.

| requirement | verified by |
| a short run passes every check and prints its summary (no repr, an ETA, upsets, slips and |   |
|   cards explained); its JSON and JUnit hold the printed checks; its report exists | tests/system/test_sil.py |
| an unwritable ``--json`` / ``--junit``: exit 2, one line, no flight started; both are |   |
|   written when the run fails | tests/system/test_sil_data.py |
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
from flight.wire.failure import FailureCode
from ground_sim.api import IntegrationApi
from ground_sim.archive import ArchiveError, PacketArchive
from ground_sim.flight_process import FlightProcess, FlightStartError
from ground_sim.link_model import LinkConditions
from ground_sim.sil_output import check_writable, run_config, write_outputs, write_run_report
from ground_sim.sil_rows import build_summary, tally
from ground_sim.sil_summary import Summary


@dataclass
class Outputs:
    """Where a run writes its summary for programs (``--json``, ``--junit``; None: not asked), and
    whether it draws its report (``--no-report``: not)."""

    json: Path | None = None
    junit: Path | None = None
    report: bool = True


def progress_line(count: int, frames: int, elapsed: float) -> str:
    """``products n/N (rate) ETA``: the time left at the rate so far, "ETA --" until there is a rate."""
    rate = count / elapsed if elapsed > 0 else 0.0
    eta = f"ETA {(frames - count) / rate:5.0f} s" if rate > 0 else "ETA --"
    return f"  products {count:5d}/{frames}  ({rate:6.1f} frames/s, {eta})"


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
            print(progress_line(count, frames, now - began), flush=True)
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
    stale += [*run_dir.glob("flight.log.*"), *run_dir.glob("flight.*.log*")]   # rotated logs, the cards' logs
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
    """The SIL scenario, up to the flight's shutdown command; returns the imaging time (s). The
    flight's dictionary digest it waits for first is checked in the summary ("dictionary matches")."""
    station = api.station
    digest = api.await_telemetry("executive.DictionaryDigest")
    print(f"dictionary digest {digest:08x} (ground holds {station.dictionary.digest:08x}"
          + (")" if digest == station.dictionary.digest else ": MISMATCH, the check will fail)"))
    api.ping()
    api.send_and_assert_command("dispatcher.NO_OP")
    record = api.set_parameters({"cluster.DetectionThreshold": 0.5})
    assert record.completed, str(record)
    print("parameters: " + ", ".join(f"{name} = {value:g}" for name, value in
                                     api.get_parameters(["cluster.DetectionThreshold"]).items()))
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
        mode: str, acceleration: float, archive: PacketArchive, outputs: Outputs | None = None) -> int:
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
    summary = build_summary(api.station, tally(api.station, frames, seed), exit_code, elapsed, imaging_time,
                            run_dir, weights_chunk(topology, flight.overrides))
    config = run_config(kind="frames", frames=frames, seed=seed, mode=mode, seu_acceleration=acceleration,
                        run_dir=run_dir, archive=archive.path, overrides=overrides)
    return finish(summary, config, elapsed, outputs or Outputs(), run_dir, archive, api.station.dictionary)


def finish(summary: Summary, config: dict[str, Any], elapsed: float, outputs: Outputs, run_dir: Path,
           archive: PacketArchive, dictionary: Any) -> int:
    """Print the summary, write the files asked for and the report; the exit status (1 if a check failed)."""
    print(summary.text())
    print(f"\narchive: {archive.path}   flight log: {run_dir / 'flight.log'}")
    for line in write_outputs(summary, config, elapsed, outputs.json, outputs.junit):
        print(line)
    if outputs.report:
        print(write_run_report(Path(archive.path), dictionary, run_dir / "report", title=f"orbitfs {summary.title}"))
    print(summary.result())
    return 1 if summary.failed else 0


def weights_chunk(topology: str | None, overrides: list[str]) -> int:
    """The live weights' CRC chunk the flight uses (the cluster's ``weights_chunk``)."""
    from flight.app import load_flight_topology
    from flight.payload.cluster.engine import ClusterConfig

    config = load_flight_topology(topology, overrides).component("cluster").config
    return int(config.get("weights_chunk", ClusterConfig.weights_chunk))


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
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the summary as JSON (rows, checks, config), pass or fail")
    parser.add_argument("--junit", type=Path, metavar="FILE",
                        help="also write the checks as JUnit XML (one testcase per check), pass or fail")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="do not draw the run's report (RUN_DIR/report, needs the plot extra)")
    add_day_arguments(parser)
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    args.run_dir = args.run_dir or fresh_run_dir(Path("runs"), "sil-day" if args.day else "sil")
    outputs = Outputs(args.json, args.junit, args.report)
    try:
        options = day_options(args) if args.day else None
        for path, option in ((outputs.json, "--json"), (outputs.junit, "--junit")):
            if (reason := check_writable(path, option)) is not None:
                raise UsageError(reason)
        archive = prepare(args.run_dir, args.force, args.archive)
    except (UsageError, ArchiveError) as error:
        print(f"orbitfs-sil: {error}", file=sys.stderr)
        return 2
    if args.day:
        from ground_sim.day import run_day
        return run_day(options, args.run_dir, args.topology, args.overrides, archive, outputs)
    return run(args.frames, args.seed, args.run_dir, args.topology, args.overrides, args.mode,
               3e7 if args.seu_acceleration is None else args.seu_acceleration, archive, outputs)


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
