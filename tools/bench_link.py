"""Benchmark the link: ours vs raw pyzmq moving the same octets, side by side in one run.

1. TM end to end, N housekeeping packets (the ``comms`` report, 108 octets) in 1,024-octet TM
   frames. Senders, each in a child process: the link alone (packets built by PUS-C encode with
   CRC, framed with the CLCW and sealed under TM SDLS by the flight's TmFramer, PUSH), with
   ``tm_sdls`` authentication (the default) and off; and the flight's Comms component (the same,
   with each packet numbered and committed to the durable TM store first, and taken from it).
   Receiver, in this process: the ground's FlightLink (PULL), Downlink (SDLS verify, deframe,
   per-VC gaps) and TmDecoder (CRC check, decode into named housekeeping values); or the whole
   GroundStation (archive, state). Peer: a PUSH sending the same frames (the same octets in the
   same 1,024-octet messages, built beforehand) to a PULL that only receives them. Timed from the
   first frame received to the last packet decoded.
2. The same for bulk packets (``--bulk-octets``, 1,000 by default: about one per frame), the
   link alone with TM SDLS authentication, decoded to their PUS-C fields.
3. Where ours spends its time: microseconds per packet of each stage, in one process (the store:
   durable commits of 256 packets); and the ceiling of a receiver that handles each packet in
   Python: raw's receive time per packet plus the least Python work per packet (FECF and MAC
   checked per frame, each packet cut out, its CRC checked, its headers unpacked, housekeeping
   values by name), with no anti-replay, counters or objects.
4. TC round trip, p50/p99: a ping TC[17,1] from the GroundStation (FOP-1, SDLS
   authenticated encryption, TC frame) to a real flight process (TC link: SDLS verify,
   anti-replay, FARM-1, state saved; dispatcher) and its TM[17,2] back in a TM frame
   (acknowledgement flags NONE, so one reply). Peer: a DEALER -> ROUTER echo that answers on
   PUSH -> PULL, with a request of the protected TC frame's size and a 1,024-octet reply.

    python tools/bench_link.py [--json] [--packets 100000] [--bulk-octets 1000] [--pings 1000] [--repeat 3]

The machine is shared and noisy: medians of ``--repeat`` runs, with ratios and the CPU.
"""
from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import zmq

from flight.app import load_flight_topology
from flight.services.tm_framer import TmFramer
from flight.services.tm_security import TmSecurity
from flight.testing import ComponentTester
from flight.wire import sdls
from flight.wire import services as st
from flight.wire.dictionary import Dictionary, build_dictionary
from flight.wire.keyfile import KeyRing
from flight.wire.link import TM_REALTIME, LinkParameters
from flight.wire.pus import TM_OVERHEAD, AckFlags, Telecommand, TelemetryPacket
from flight.wire.tc_frame import SegmentHeader, TcFrame, TcHeader

from bench_host import cpu  # tools/, beside this script

HK_STRUCTURE = "comms"  # a real housekeeping structure of the default topology
BULK_SERVICE = 128      # a mission-specific service: bulk data the benchmark's receiver decodes to PUS-C fields
TM_KINDS = ("raw", "link-auth", "link-plain", "flight-auth", "station-auth")
BULK_KINDS = ("raw", "link-auth")


@functools.lru_cache(maxsize=1)
def default_dictionary() -> Dictionary:
    return build_dictionary(load_flight_topology())


@functools.lru_cache(maxsize=1)
def hk_payload() -> bytes:
    """The ``comms`` housekeeping report's data, every channel at 7."""
    dictionary = default_dictionary()
    structure = next(h for h in dictionary.housekeeping if h.component == HK_STRUCTURE)
    body = struct.pack(">H", structure.structure_id)
    for cid in structure.channels:
        body += dictionary.channel_by_id[cid].type.encode(7)
    return body


def bench_packet(sequence: int, bulk_octets: int, now: float = 0.0) -> bytes:
    """The packet a run moves: the ``comms`` housekeeping report (``bulk_octets`` 0), or a bulk
    packet of ``bulk_octets`` octets (a mission service, BULK_SERVICE) that the receiver decodes
    to its PUS-C fields only."""
    if not bulk_octets:
        return TelemetryPacket(1, sequence % 16384, st.HOUSEKEEPING, st.HK_REPORT, hk_payload(),
                               now, sequence & 0xFFFF).encode()
    return TelemetryPacket(1, sequence % 16384, BULK_SERVICE, 1, bytes(bulk_octets - TM_OVERHEAD), now,
                           sequence & 0xFFFF).encode()


def run_dir_with_keys() -> Path:
    from ground_sim.flight_process import make_keys
    run_dir = Path(tempfile.mkdtemp(prefix="bench-link-"))
    make_keys(run_dir / "keys")
    return run_dir


# --- TM: senders (child processes) ---------------------------------------------------------------
def send_ours(queue: mp.Queue, count: int, tm_sdls: str, bulk_octets: int) -> None:
    """The flight's Comms sending ``count`` housekeeping packets as fast as it frames them."""
    run_dir = run_dir_with_keys()
    tester = ComponentTester.build(run_dir, [
        {"name": "comms", "kind": "flight.services.comms:Comms", "tc_endpoint": "tcp://127.0.0.1:*",
         "tm_endpoint": "tcp://127.0.0.1:*", "tm_pending_max": count,
         "flush_timeout": 0.5}], mission={"link": {"tm_sdls": tm_sdls}})
    tester.context.now = time.time
    comms = tester.components["comms"]
    comms.start()
    queue.put((comms.tc_endpoint, comms.tm_endpoint, str(run_dir / "keys" / "ground.json")))
    queue.get()  # the receiver is connected
    payload = hk_payload()
    for _ in range(count):
        comms.send_tm(st.HOUSEKEEPING, st.HK_REPORT, payload)
    queue.get(timeout=600)  # the receiver has every packet: the frames still queued are not needed
    comms.stop()


def send_link(queue: mp.Queue, count: int, tm_sdls: str, bulk_octets: int) -> None:
    """The link alone, as issue 11 defines its figure: ``count`` packets built (PUS-C encode with
    CRC), framed and sealed by the flight's TmFramer 256 at a time, and sent (PUSH)."""
    run_dir = run_dir_with_keys()
    link = LinkParameters(tm_sdls=tm_sdls)
    security = TmSecurity.load(link, run_dir / "keys" / "flight.json", run_dir / "tm_sa.bin")
    framer = TmFramer(link, security)
    socket = zmq.Context.instance().socket(zmq.PUSH)
    socket.setsockopt(zmq.SNDHWM, 10_000)
    socket.bind("tcp://127.0.0.1:*")
    queue.put((None, socket.getsockopt_string(zmq.LAST_ENDPOINT), str(run_dir / "keys" / "ground.json")))
    queue.get()
    for start in range(0, count, 256):
        packets = [bench_packet(n, bulk_octets, time.time()) for n in range(start, min(start + 256, count))]
        for frame in framer.frames([(packet, TM_REALTIME, 0.0) for packet in packets], 0.0)[0]:
            socket.send(frame)
    queue.get(timeout=600)
    socket.close(linger=0)


def frames_of(count: int, bulk_octets: int = 0) -> list[bytes]:
    """The frames the link would send for ``count`` packets (TM SDLS off)."""
    packet = bench_packet(0, bulk_octets)
    framer = TmFramer(LinkParameters(tm_sdls="off"))
    frames: list[bytes] = []
    for start in range(0, count, 256):
        frames += framer.frames([(packet, TM_REALTIME, 0.0)] * min(256, count - start), 0.0)[0]
    return frames


def send_raw(queue: mp.Queue, count: int, tm_sdls: str, bulk_octets: int) -> None:
    frames = frames_of(count, bulk_octets)
    socket = zmq.Context.instance().socket(zmq.PUSH)
    socket.setsockopt(zmq.SNDHWM, 10_000)
    socket.bind("tcp://127.0.0.1:*")
    queue.put((None, socket.getsockopt_string(zmq.LAST_ENDPOINT), len(frames)))
    queue.get()
    for frame in frames:
        socket.send(frame)
    socket.close(linger=10_000)


# --- TM: receivers (this process) ----------------------------------------------------------------
def receive_raw(endpoint: str, frames: int, go: Callable[[], None]) -> tuple[float, int]:
    """A PULL that only receives ``frames`` messages: (seconds from the first to the last, octets)."""
    pull = zmq.Context.instance().socket(zmq.PULL)
    pull.connect(endpoint)
    time.sleep(0.2)
    go()
    octets = len(pull.recv())
    first = time.perf_counter()
    for _ in range(frames - 1):
        octets += len(pull.recv())
    elapsed = time.perf_counter() - first
    pull.close()
    return elapsed, octets


def receive_ours(kind: str, endpoints: tuple, count: int, go: Callable[[], None],
                 bulk_octets: int) -> tuple[float, int]:
    """The ground's link, downlink and decoder (or its whole station) until ``count`` packets are
    decoded: (seconds from the first frame to the last packet, octets of packets decoded)."""
    from ground_sim.decoder import TmDecoder
    from ground_sim.downlink import Downlink
    from ground_sim.link import FlightLink
    from ground_sim.station import GroundStation

    tc_endpoint, tm_endpoint, ground_keys = endpoints
    dictionary = build_dictionary(load_flight_topology())  # its own: the link section is changed below
    if kind != "station-auth":
        dictionary.link = {**dictionary.link, "tm_sdls": "off" if kind.endswith("plain") else "authentication"}
    finished, stamps, octets = threading.Event(), [0.0, 0.0], [0, 0]

    def counted(raw: bytes) -> None:
        octets[0] += len(raw)
        octets[1] += 1
        if octets[1] == count:
            stamps[1] = time.perf_counter()
            finished.set()

    def first(receive: Callable[[bytes, float], None]) -> Callable[[bytes, float], None]:
        def on_frame(raw: bytes, t: float) -> None:
            stamps[0] = stamps[0] or time.perf_counter()
            receive(raw, t)
        return on_frame

    if kind == "station-auth":
        station = GroundStation(dictionary, tc_endpoint, tm_endpoint, Path(tempfile.mkdtemp()) / "archive.sqlite",
                                keys=ground_keys)
        station.packet_kept = counted
        station.link._on_message = first(station._receive_frame)
        station.start()
        closer = station.close
    else:
        keys = KeyRing.load(ground_keys)
        downlink = Downlink(dictionary.link_parameters, keys=keys)
        decode = TelemetryPacket.decode if bulk_octets else TmDecoder(dictionary).decode

        def deframe(raw: bytes, t: float) -> None:
            frame = downlink.frame(raw)
            for packet in downlink.packets(frame) if frame is not None else ():
                decode(packet)
                counted(packet)

        link = FlightLink(tc_endpoint or "tcp://127.0.0.1:1", tm_endpoint, first(deframe))
        link.start()
        closer = link.close
    time.sleep(0.2)
    go()
    finished.wait(600)
    closer()
    if octets[1] < count:
        raise RuntimeError(f"{kind}: {octets[1]}/{count} packets decoded")
    return stamps[1] - stamps[0], octets[0]


def tm_run(kind: str, count: int, bulk_octets: int = 0) -> dict[str, float]:
    """One run of one kind: packets/s and octets/s of packets delivered."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    senders = {"raw": send_raw, "link-auth": send_link, "link-plain": send_link}
    sender = ctx.Process(target=senders.get(kind, send_ours),
                         args=(queue, count, "off" if kind.endswith("plain") else "authentication", bulk_octets))
    sender.start()
    endpoints = queue.get(timeout=120)
    go = lambda: queue.put("go")  # noqa: E731
    if kind == "raw":
        elapsed, _ = receive_raw(endpoints[1], endpoints[2], go)
        octets = count * len(bench_packet(0, bulk_octets))  # the packets those frames carry
    else:
        elapsed, octets = receive_ours(kind, endpoints, count, go, bulk_octets)
    queue.put("done")
    sender.join(120)
    return {"packets_per_s": count / elapsed, "packet_octets_per_s": octets / elapsed, "seconds": elapsed}


# --- where the time goes --------------------------------------------------------------------------
def per_packet_us(work: Callable[[], object], packets: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times) / packets * 1e6


def least_python_receiver(frames: list[bytes], link: LinkParameters, key: bytes, bulk: bool) -> Callable[[], list]:
    """The least a Python receiver can do with ``frames`` (sealed under the TM SA, authentication):
    check each frame's FECF and MAC, cut each packet out of the data fields by its length, check
    its CRC, unpack its headers and, for housekeeping, its values by name. No frame checks beyond
    those, no anti-replay, counters, gaps or objects: a floor under any receiver written in
    Python, not a receiver."""
    import hmac

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from native import crc16_ccitt_false

    from flight.wire.sdls import masked
    dictionary = default_dictionary()
    structure = next(h for h in dictionary.housekeeping if h.component == HK_STRUCTURE)
    channels = [dictionary.channel_by_id[c] for c in structure.channels]
    names = [c.name for c in channels]
    values = struct.Struct(">" + "".join(c.type.value for c in channels))
    primary, secondary = struct.Struct(">HHH"), struct.Struct(">BBBHHIH")
    sa, gcm = link.tm_security_association(0), AESGCM(key)
    start = 6 + sa.header_size                                   # after the frame and security headers
    mac_start = link.tm_frame_length - 2 - 4 - sa.mac_len        # before the MAC, the OCF and the FECF
    iv = slice(6 + 2, 6 + 2 + sa.iv_len)

    def receive() -> list:
        fields = []
        for frame in frames:
            mac = gcm.encrypt(frame[iv], b"", masked(frame[:mac_start], sa.abm))[:sa.mac_len]
            if crc16_ccitt_false(frame) or not hmac.compare_digest(mac, frame[mac_start:mac_start + sa.mac_len]):
                raise ValueError("FECF or MAC")
            fields.append(frame[start:mac_start])
        stream = b"".join(fields)
        position, end, out = 0, len(stream), []
        while end - position >= 6:
            packet_id, control, length = primary.unpack_from(stream, position)
            packet = stream[position:position + length + 7]
            position += length + 7
            if packet_id & 0x7FF == 0x7FF:  # idle fill
                continue
            if crc16_ccitt_false(packet):
                raise ValueError("CRC")
            body = packet[19:-2] if bulk else dict(zip(names, values.unpack_from(packet, 21)))
            out.append((packet_id, control, secondary.unpack_from(packet, 6), body))
        return out
    return receive


def stage_costs(count: int, repeat: int, bulk_octets: int) -> dict[str, float]:
    """Microseconds per packet of each stage of the TM path, each alone, in this process, and of
    the least Python receiver for housekeeping and for bulk packets."""
    from ground_sim.decoder import TmDecoder
    from ground_sim.downlink import Downlink

    dictionary = default_dictionary()
    link, ring = LinkParameters(), KeyRing.create()
    packets = [bench_packet(i, 0) for i in range(count)]
    batch = [(p, TM_REALTIME, 0.0) for p in packets]
    plain = TmFramer(LinkParameters(tm_sdls="off"))
    sealed = TmFramer(link, TmSecurity(link, ring, Path(tempfile.mkdtemp()) / "tm_sa.bin"))
    frames = sealed.frames(batch, 0.0)[0]
    bulk_frames = sealed.frames([(bench_packet(i, bulk_octets), TM_REALTIME, 0.0) for i in range(count)], 0.0)[0]
    key = ring.active_keys()[ring.key_id_of(link.tm_spi)]
    decoder = TmDecoder(dictionary)

    def receive() -> None:
        downlink = Downlink(link, keys=ring)
        for raw in frames:
            downlink.packets(downlink.frame(raw))

    def store() -> None:
        from flight.services.tm_store import NewRecord, StoreClass, TmStore
        durable = TmStore(Path(tempfile.mkdtemp()) / "store.sqlite", capacity=1 << 40)
        records = [NewRecord(p, 1, i, i, StoreClass.HOUSEKEEPING, TM_REALTIME, 0.0) for i, p in enumerate(packets)]
        for start in range(0, count, 256):
            durable.append(records[start:start + 256], {"seq:1": start})
        durable.close()

    return {
        "store": per_packet_us(store, count, repeat),
        "encode": per_packet_us(lambda: [bench_packet(i, 0) for i in range(count)], count, repeat),
        "frame": per_packet_us(lambda: plain.frames(batch, 0.0), count, repeat),
        "frame_and_seal": per_packet_us(lambda: sealed.frames(batch, 0.0), count, repeat),
        "verify_and_deframe": per_packet_us(receive, count, repeat),
        "decode": per_packet_us(lambda: [decoder.decode(p) for p in packets], count, repeat),
        "least_python_receiver": per_packet_us(least_python_receiver(frames, link, key, False), count, repeat),
        "least_python_receiver_bulk": per_packet_us(least_python_receiver(bulk_frames, link, key, True), count, repeat),
        "packets_per_frame": count / len(frames),
    }


# --- TC round trip -----------------------------------------------------------------------------------
def echo_server(queue: mp.Queue, reply_size: int) -> None:
    ctx = zmq.Context.instance()
    router, push = ctx.socket(zmq.ROUTER), ctx.socket(zmq.PUSH)
    router.bind("tcp://127.0.0.1:*")
    push.bind("tcp://127.0.0.1:*")
    queue.put((router.getsockopt_string(zmq.LAST_ENDPOINT), push.getsockopt_string(zmq.LAST_ENDPOINT)))
    reply = bytes(reply_size)
    while True:
        frames = router.recv_multipart()
        if frames[1] == b"stop":
            return
        push.send(reply)


def protected_ping() -> bytes:
    """A ping TC[17,1] in a TC frame under the default link's SA: what ours sends, octet for octet."""
    link = LinkParameters()
    sa = link.security_association(1)
    tc = TcFrame(TcHeader(link.spacecraft_id, link.tc_vcid, 0), Telecommand(1, 0, st.TEST, st.PING,
                 ack=AckFlags.NONE).encode(), SegmentHeader(link.tc_map_id))
    return sdls.apply(tc, sa, keys={1: bytes(32)})


def rtt_raw(pings: int) -> list[float]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    server = ctx.Process(target=echo_server, args=(queue, LinkParameters().tm_frame_length))
    server.start()
    tc_endpoint, tm_endpoint = queue.get(timeout=60)
    zctx = zmq.Context.instance()
    dealer, pull = zctx.socket(zmq.DEALER), zctx.socket(zmq.PULL)
    dealer.connect(tc_endpoint)
    pull.connect(tm_endpoint)
    request = protected_ping()
    times = []
    for i in range(pings + 50):
        began = time.perf_counter()
        dealer.send(request)
        pull.recv()
        if i >= 50:  # warm-up
            times.append(time.perf_counter() - began)
    dealer.send(b"stop")
    server.join(10)
    dealer.close()
    pull.close()
    return times


def rtt_ours(pings: int) -> list[float]:
    from flight.payload.demo_model import write_demo_model
    from ground_sim.flight_process import FlightProcess

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


# --- the report ------------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> dict:
    def median_run(kind: str, bulk_octets: int = 0) -> dict[str, float]:
        runs = [tm_run(kind, args.packets, bulk_octets) for _ in range(args.repeat)]
        return {key: statistics.median(run[key] for run in runs) for key in runs[0]}

    rates = {kind: median_run(kind) for kind in TM_KINDS}
    bulk = {kind: median_run(kind, args.bulk_octets) for kind in BULK_KINDS}
    rtt = {"raw": np.array(rtt_raw(args.pings)), "ours": np.array(rtt_ours(args.pings))}
    pct = {k: {"p50_us": float(np.percentile(v, 50) * 1e6), "p99_us": float(np.percentile(v, 99) * 1e6)}
           for k, v in rtt.items()}
    stages = stage_costs(min(args.packets, 20_000), args.repeat, args.bulk_octets)
    raw_us, raw_bulk_us = 1e6 / rates["raw"]["packets_per_s"], 1e6 / bulk["raw"]["packets_per_s"]
    return {
        "cpu": cpu(),
        "tm": rates,
        "raw_us_per_packet": raw_us,
        "raw_bulk_us_per_packet": raw_bulk_us,
        # the most a Python receiver can reach against raw: it receives as raw does, then does the least work
        "least_python_receiver_ratio_vs_raw": raw_us / (raw_us + stages["least_python_receiver"]),
        "least_python_receiver_bulk_ratio_vs_raw": raw_bulk_us / (raw_bulk_us + stages["least_python_receiver_bulk"]),
        "tm_ratio_vs_raw": {kind: rates[kind]["packets_per_s"] / rates["raw"]["packets_per_s"]
                            for kind in TM_KINDS if kind != "raw"},
        "bulk": bulk,
        "bulk_ratio_vs_raw": {kind: bulk[kind]["packets_per_s"] / bulk["raw"]["packets_per_s"]
                              for kind in BULK_KINDS if kind != "raw"},
        "bulk_octets": args.bulk_octets,
        "tm_stage_us_per_packet": stages,
        "tc_round_trip": pct,
        "tc_p50_ratio_ours_vs_raw": pct["ours"]["p50_us"] / pct["raw"]["p50_us"],
        "tc_p99_ratio_ours_vs_raw": pct["ours"]["p99_us"] / pct["raw"]["p99_us"],
        "packets": args.packets, "packet_octets": len(bench_packet(0, 0)), "pings": args.pings, "repeat": args.repeat,
    }


LABELS = {"raw": "raw pyzmq PUSH->PULL, the same frames",
          "link-auth": "link, TM SDLS auth: build -> decode",
          "link-plain": "link, TM SDLS off:  build -> decode",
          "flight-auth": "flight's Comms (durable store) -> decode",
          "station-auth": "flight's Comms -> whole GroundStation"}


def print_table(result: dict) -> None:
    print(f"CPU: {result['cpu']['model']} ({result['cpu']['machine']}; {' '.join(result['cpu']['features'])})")
    print(f"TM end to end, {result['packets']:,} housekeeping packets of {result['packet_octets']} octets in "
          f"1,024-octet frames, median of {result['repeat']}:")
    for kind, label in LABELS.items():
        rate = result["tm"][kind]
        ratio = f"   ratio {result['tm_ratio_vs_raw'][kind]:.3f}" if kind != "raw" else ""
        print(f"  {label:<40} {rate['packets_per_s']:>11,.0f} packets/s "
              f"{rate['packet_octets_per_s'] / 1e6:>8.1f} MB/s{ratio}")
    print(f"Bulk packets of {result['bulk_octets']:,} octets (decoded to PUS-C fields), the same frames, "
          f"median of {result['repeat']}:")
    for kind in BULK_KINDS:
        rate = result["bulk"][kind]
        ratio = f"   ratio {result['bulk_ratio_vs_raw'][kind]:.3f}" if kind != "raw" else ""
        print(f"  {LABELS[kind]:<40} {rate['packets_per_s']:>11,.0f} packets/s "
              f"{rate['packet_octets_per_s'] / 1e6:>8.1f} MB/s{ratio}")
    stages = result["tm_stage_us_per_packet"]
    print(f"  where ours spends it, us per packet ({stages['packets_per_frame']:.1f} packets per frame): "
          + ", ".join(f"{k} {v:.2f}" for k, v in stages.items() if k != "packets_per_frame"))
    print("  the ceiling of a receiver that handles each packet in Python: it receives as raw does, then checks "
          "FECF and MAC, cuts each packet, checks its CRC, unpacks its headers (and housekeeping values by name), "
          "nothing more:")
    for name, raw_key, floor_key in (("housekeeping", "raw_us_per_packet", "least_python_receiver"),
                                     ("bulk", "raw_bulk_us_per_packet", "least_python_receiver_bulk")):
        print(f"    {name:<12} raw {result[raw_key]:.2f} us per packet + least Python {stages[floor_key]:.2f} us: "
              f"at most {result[floor_key + '_ratio_vs_raw']:.3f}"
              " of raw")
    pct = result["tc_round_trip"]
    print(f"TC round trip, {result['pings']} pings (ack NONE, TM[17,2] back in a TM frame):")
    for kind, label in (("raw", "raw pyzmq DEALER->ROUTER, PUSH->PULL echo"),
                        ("ours", "ours: FOP-1+SDLS -> flight -> TM frame")):
        print(f"  {label:<42} p50 {pct[kind]['p50_us']:8.0f} us   p99 {pct[kind]['p99_us']:8.0f} us")
    print(f"  ratio ours/raw: p50 {result['tc_p50_ratio_ours_vs_raw']:.2f}  "
          f"p99 {result['tc_p99_ratio_ours_vs_raw']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ours vs raw pyzmq: TM end to end in frames, TC round trip")
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bulk-octets", type=int, default=1000,
                        help="size of the bulk packets of the second TM table (default 1000)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    result = measure(args)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
