"""Benchmark the link: ours vs raw pyzmq on the same socket types, side by side in one run.

1. TM throughput, packets/s end to end: the flight's Comms component (PUS-C encode with CRC,
   store, downlink thread, PUSH) in one process -> the ground's FlightLink (PULL) and TmDecoder
   (CRC check and decode into named housekeeping values) in another; and the same with the whole
   GroundStation (plus SQLite archive and state). Peer: a PUSH sending the same pre-built bytes to
   a PULL that only receives them.
2. TC round trip, p50/p99: a ping TC[17,1] from the GroundStation to a real flight process and
   its TM[17,2] back (acknowledgement flags NONE, so one reply). Peer: a DEALER -> ROUTER echo
   that answers on PUSH -> PULL, with the same packet bytes.

    python tools/bench_link.py [--json] [--packets 50000] [--pings 2000] [--repeat 3]

The machine is shared and noisy: medians of ``--repeat`` runs are reported, with ratios.
"""
from __future__ import annotations

import argparse
import json
import threading
import multiprocessing as mp
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from flight.app import load_flight_topology
from flight.testing import ComponentTester
from flight.wire.dictionary import build_dictionary
from flight.wire import services as st
from flight.wire.pus import AckFlags, TelemetryPacket, Telecommand

HK_STRUCTURE = "comms"  # a real housekeeping structure of the default topology


def _hk_payload(dictionary) -> bytes:
    structure = next(h for h in dictionary.housekeeping if h.component == HK_STRUCTURE)
    body = struct.pack(">H", structure.structure_id)
    for cid in structure.channels:
        body += dictionary.channel_by_id[cid].type.encode(7)
    return body


# --- TM throughput: senders (child processes) ---------------------------------------------------
def _send_ours(endpoint_queue: mp.Queue, count: int) -> None:
    dictionary = build_dictionary(load_flight_topology())
    tester = ComponentTester.build(Path(tempfile.gettempdir()), [
        {"name": "comms", "kind": "flight.services.comms:Comms", "tc_endpoint": "tcp://127.0.0.1:*",
         "tm_endpoint": "tcp://127.0.0.1:*", "tm_store_capacity": count}])
    tester.context.now = time.time
    comms = tester.components["comms"]
    comms.start()
    endpoint_queue.put(comms.tm_endpoint)
    endpoint_queue.get()  # the receiver is connected
    payload = _hk_payload(dictionary)
    for _ in range(count):
        comms.send_tm(st.HOUSEKEEPING, st.HK_REPORT, payload)
    comms.stop()


def _send_raw(endpoint_queue: mp.Queue, count: int) -> None:
    dictionary = build_dictionary(load_flight_topology())
    packet = TelemetryPacket(1, 0, st.HOUSEKEEPING, st.HK_REPORT, _hk_payload(dictionary),
                             0.0).encode()
    socket = zmq.Context.instance().socket(zmq.PUSH)
    socket.setsockopt(zmq.SNDHWM, 10_000)
    socket.bind("tcp://127.0.0.1:*")
    endpoint_queue.put(socket.getsockopt_string(zmq.LAST_ENDPOINT))
    endpoint_queue.get()
    for _ in range(count):
        socket.send(packet)
    socket.close(linger=10_000)


def _tm_run(kind: str, count: int) -> float:
    """Packets per second received (and decoded, for ours) in this process."""
    ctx = mp.get_context("spawn")
    endpoints: mp.Queue = ctx.Queue()
    sender = ctx.Process(target=_send_raw if kind == "raw" else _send_ours,
                         args=(endpoints, count))
    sender.start()
    endpoint = endpoints.get(timeout=60)
    receive = _receive_raw if kind == "raw" else _receive_ours
    received, first, last = receive(kind, endpoint, endpoints, count)
    sender.join(60)
    if received < count:
        raise RuntimeError(f"{kind}: {received}/{count} packets")
    return (received - 1) / (last - first)


def _receive_raw(kind: str, endpoint: str, endpoints: mp.Queue, count: int) -> tuple[int, float, float]:
    """A PULL that only receives: (packets, time of the first, time of the last)."""
    pull = zmq.Context.instance().socket(zmq.PULL)
    pull.connect(endpoint)
    time.sleep(0.2)
    endpoints.put("go")
    pull.recv()
    first = time.perf_counter()
    received = 1
    while received < count:
        pull.recv()
        received += 1
    last = time.perf_counter()
    pull.close()
    return received, first, last


def _receive_ours(kind: str, endpoint: str, endpoints: mp.Queue, count: int) -> tuple[int, float, float]:
    """The ground's FlightLink and TmDecoder, or its whole GroundStation (``ours-station``)."""
    from ground_sim.decoder import TmDecoder
    from ground_sim.link import FlightLink
    from ground_sim.station import GroundStation

    dictionary = build_dictionary(load_flight_topology())
    finished = threading.Event()
    stamps: list[float] = []
    if kind == "ours-station":
        station = GroundStation(dictionary, "tcp://127.0.0.1:1", endpoint,
                                Path(tempfile.mkdtemp()) / "archive.sqlite")
        original = station._receive

        def on_packet(raw: bytes, t: float) -> None:
            original(raw, t)
            stamps.append(time.perf_counter())
            if len(stamps) >= count:
                finished.set()

        station.link = FlightLink("tcp://127.0.0.1:1", endpoint, on_packet)
        station.start()
        closer = station.close
    else:
        decoder = TmDecoder(dictionary)

        def on_packet(raw: bytes, t: float) -> None:
            decoder.decode(raw)
            stamps.append(time.perf_counter())
            if len(stamps) >= count:
                finished.set()

        link = FlightLink("tcp://127.0.0.1:1", endpoint, on_packet)
        link.start()
        closer = link.close
    time.sleep(0.2)
    endpoints.put("go")
    finished.wait(300)
    closer()
    return len(stamps), stamps[0], stamps[-1]


# --- TC round trip ------------------------------------------------------------------------------
def _echo_server(endpoint_queue: mp.Queue) -> None:
    ctx = zmq.Context.instance()
    router, push = ctx.socket(zmq.ROUTER), ctx.socket(zmq.PUSH)
    router.bind("tcp://127.0.0.1:*")
    push.bind("tcp://127.0.0.1:*")
    endpoint_queue.put((router.getsockopt_string(zmq.LAST_ENDPOINT),
                        push.getsockopt_string(zmq.LAST_ENDPOINT)))
    while True:
        frames = router.recv_multipart()
        if frames[1] == b"stop":
            return
        push.send(frames[1])


def _rtt_raw(pings: int) -> list[float]:
    ctx = mp.get_context("spawn")
    endpoints: mp.Queue = ctx.Queue()
    server = ctx.Process(target=_echo_server, args=(endpoints,))
    server.start()
    tc_endpoint, tm_endpoint = endpoints.get(timeout=60)
    zctx = zmq.Context.instance()
    dealer, pull = zctx.socket(zmq.DEALER), zctx.socket(zmq.PULL)
    dealer.connect(tc_endpoint)
    pull.connect(tm_endpoint)
    packet = Telecommand(1, 0, st.TEST, st.PING, ack=AckFlags.NONE).encode()
    times = []
    for i in range(pings + 50):
        began = time.perf_counter()
        dealer.send(packet)
        pull.recv()
        if i >= 50:  # warm-up
            times.append(time.perf_counter() - began)
    dealer.send(b"stop")
    server.join(10)
    dealer.close()
    pull.close()
    return times


def _rtt_ours(pings: int) -> list[float]:
    from ground_sim.flight_process import FlightProcess
    from flight.payload.demo_model import write_demo_model

    run_dir = Path(tempfile.mkdtemp()) / "flight"
    run_dir.mkdir(parents=True)
    write_demo_model(run_dir / "demo_model.onnx")
    flight = FlightProcess(run_dir, overrides=['cluster.model="demo_model.onnx"'])
    flight.start()
    station = flight.connect()
    times = []
    try:
        for i in range(pings + 50):
            with station.changed:
                before = station.pings
            began = time.perf_counter()
            station.send(station.encoder.ping(AckFlags.NONE), "ping")
            with station.changed:
                while station.pings == before:
                    station.changed.wait(5)
            if i >= 50:
                times.append(time.perf_counter() - began)
    finally:
        station.close()
        flight.kill()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ours vs raw pyzmq: TM throughput, TC round trip")
    parser.add_argument("--packets", type=int, default=50_000)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    rates = {kind: statistics.median(_tm_run(kind, args.packets) for _ in range(args.repeat))
             for kind in ("raw", "ours", "ours-station")}
    rtt = {"raw": np.array(_rtt_raw(args.pings)), "ours": np.array(_rtt_ours(args.pings))}
    pct = {k: {"p50_us": float(np.percentile(v, 50) * 1e6), "p99_us": float(np.percentile(v, 99) * 1e6)}
           for k, v in rtt.items()}
    result = {
        "tm_packets_per_s": rates,
        "tm_ratio_ours_vs_raw": rates["ours"] / rates["raw"],
        "tm_ratio_station_vs_raw": rates["ours-station"] / rates["raw"],
        "tc_round_trip": pct,
        "tc_p50_ratio_ours_vs_raw": pct["ours"]["p50_us"] / pct["raw"]["p50_us"],
        "tc_p99_ratio_ours_vs_raw": pct["ours"]["p99_us"] / pct["raw"]["p99_us"],
        "packets": args.packets, "pings": args.pings, "repeat": args.repeat,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"TM throughput, {args.packets} housekeeping packets, median of {args.repeat}:")
    print(f"  raw pyzmq PUSH->PULL (bytes only)          {rates['raw']:>10,.0f} packets/s")
    print(f"  ours: Comms encode+store+send -> decode    {rates['ours']:>10,.0f} packets/s"
          f"   ratio {result['tm_ratio_ours_vs_raw']:.2f}")
    print(f"  ours: ... -> GroundStation (+archive)      {rates['ours-station']:>10,.0f} packets/s"
          f"   ratio {result['tm_ratio_station_vs_raw']:.2f}")
    print(f"TC round trip, {args.pings} pings (ack NONE, TM[17,2] back):")
    for kind, label in (("raw", "raw pyzmq DEALER->ROUTER, PUSH->PULL echo"),
                        ("ours", "ours: ground -> flight process -> ground")):
        print(f"  {label:<42} p50 {pct[kind]['p50_us']:8.0f} us   p99 {pct[kind]['p99_us']:8.0f} us")
    print(f"  ratio ours/raw: p50 {result['tc_p50_ratio_ours_vs_raw']:.2f}  "
          f"p99 {result['tc_p99_ratio_ours_vs_raw']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
