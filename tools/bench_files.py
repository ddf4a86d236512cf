"""Benchmark file transfer (CFDP class 2, flight.services.file_transfer): a file up to the flight's
store and one down, through the real flight process, the link relay at the given loss and rates,
and the ground (ground_sim.file_pass), the upload started ``--lead`` mission seconds before the
pass ends so the pass end cuts it and it finishes in the next pass, then the download.

    python tools/bench_files.py [--json] [--size 10000000] [--loss 0.01] [--up 256e3] [--down 1e6]
                                [--speedup 4] [--lead 150] [--together]

Prints the size, the wall and mission time of each direction, the rate over the mission seconds
spent in a pass against the link's configured rate, the NAKs and file data PDUs sent again at each
end (and the uplink frames COP-1 sent again: it, not CFDP, recovers the uplink's losses), the
frames the link lost, and the CPU.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flight.payload.demo_model import write_demo_model  # noqa: E402
from ground_sim.file_pass import PassOptions, start, transfer_across_pass_end  # noqa: E402
from ground_sim.link_model import LinkConditions  # noqa: E402

from bench_host import cpu  # noqa: E402  (tools/, beside this script)


def measure(args: argparse.Namespace) -> dict:
    options = PassOptions(speedup=args.speedup, up=LinkConditions(args.up, args.loss),
                          down=LinkConditions(args.down, args.loss), seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-files-") as folder:
        model = write_demo_model(Path(folder) / "demo_model.onnx")
        run = start(Path(folder) / "flight", model, options)
        began = time.monotonic()
        try:
            crossing = transfer_across_pass_end(run, args.size, args.lead, options, args.timeout, args.together)
            wall = time.monotonic() - began
            ground = run.api.station.files.entity.stats
            cop1 = run.api.station.uplink.stats.retransmissions
            flight = {name: run.api.station.latest(f"files.{name}") for name in ("Naks", "FileDataResent")}
            relay = {"up": vars(run.relay.up.stats), "down": vars(run.relay.down.stats),
                     "outside_pass": run.relay.outside_pass}
            first = run.plan[0]
        finally:
            run.close()
    return {"size": args.size, "loss": args.loss, "speedup": args.speedup, "together": args.together,
            "wall_s": wall, "epoch": run.epoch, "pass_end": first.set - run.epoch,
            "next_pass": run.plan[1].rise - run.epoch,
            "up": crossing.up.as_dict(), "down": crossing.down.as_dict(),
            "intact": crossing.up_intact and crossing.down_intact,
            "ground": {"naks": ground.naks, "file_data_resent": ground.resent, "pdus_out": ground.pdus_out,
                       "cop1_retransmissions": cop1},
            "flight": {"naks": flight["Naks"], "file_data_resent": flight["FileDataResent"]},
            "relay": relay, "cpu": cpu()["model"], "machine": platform.machine()}


def report(result: dict) -> None:
    print(f"{result['size']:,} octets each way, {result['loss']:.1%} frame loss, speedup {result['speedup']:g}, "
          f"pass ends at +{result['pass_end']:.0f} s, next at +{result['next_pass']:.0f} s; "
          f"wall {result['wall_s']:.0f} s; intact: {result['intact']}")
    for direction in ("up", "down"):
        d = result[direction]
        print(f"  {direction:4s} from +{d['started'] - result['epoch']:.0f} s: mission {d['mission_s']:7.1f} s, "
              f"in pass {d['in_pass_s']:7.1f} s, {d['rate_bps'] / 1e3:8.1f} kbit/s of "
              f"{d['link_bps'] / 1e3:g} kbit/s = {d['ratio']:.0%}")
    print(f"  NAKs / file data PDUs sent again: ground {result['ground']['naks']} / "
          f"{result['ground']['file_data_resent']}, flight {result['flight']['naks']} / "
          f"{result['flight']['file_data_resent']}; uplink frames sent again by COP-1: "
          f"{result['ground']['cop1_retransmissions']}")
    relay = result["relay"]
    print(f"  link frames lost: up {relay['up']['lost']} of {relay['up']['frames']}, down {relay['down']['lost']} "
          f"of {relay['down']['frames']}; offered outside a pass: {relay['outside_pass']}")
    print(f"  CPU: {result['cpu']} ({result['machine']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a file up and down across a pass end, at a loss")
    parser.add_argument("--size", type=int, default=10_000_000, help="octets each way")
    parser.add_argument("--loss", type=float, default=0.01, help="frame loss each way")
    parser.add_argument("--up", type=float, default=256e3, help="uplink bit/s (mission time)")
    parser.add_argument("--down", type=float, default=1e6, help="downlink bit/s (mission time)")
    parser.add_argument("--speedup", type=float, default=4.0, help="mission seconds per wall second")
    parser.add_argument("--lead", type=float, default=150.0, help="mission s before the pass ends the upload starts")
    parser.add_argument("--together", action="store_true", help="up and down at once (else down after up)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=1800.0, help="wall seconds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    result = measure(args)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        report(result)
    return 0 if result["intact"] else 1


if __name__ == "__main__":
    sys.exit(main())
