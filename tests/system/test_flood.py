"""A flood of 100,000 TC frames against a real flight process, over real sockets.

A raw DEALER (a misbehaving client on its own connection) sends 100,000 forged TC frames as fast
as ZeroMQ takes them: well formed, for this spacecraft and channel, with an SDLS security header,
but sealed with a key that is not the mission's (once the ground's IVs are past the forger's,
anti-replay refuses them before the MAC). Meanwhile the ground station pings every 0.2 s on its connection. The flight
must keep its clock (rate-group slips during the flood at most twice those of an idle window of
the same length, plus one for the noise of a shared machine), answer every ground ping within
1 s, keep its memory bounded, count what it refused (issue 10; comms.py, tc_intake.py) and run
none of the forged frames (issue 11; tc_link.py).
"""
from __future__ import annotations

import threading
import time

import zmq

import os

from flight.wire import sdls
from flight.wire.link import LinkParameters
from flight.wire.pus import AckFlags, Telecommand
from flight.wire.tc_frame import SegmentHeader, TcFrame, TcHeader

FLOOD = 100_000
WINDOW_S = 4.0


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def slips(flight) -> int:
    latest = flight.station.latest
    return sum(latest(f"{group}.CycleSlips", 0) for group in ("rgFast", "rgSlow"))


def settle_slips(flight, seconds: float) -> int:
    """Slips counted by housekeeping over ``seconds`` (HK comes every second)."""
    flight.await_telemetry("rgSlow.Cycles", lambda v: v > 0)
    start = slips(flight)
    time.sleep(seconds)
    mark = flight.telemetry_mark("rgSlow.Cycles")
    flight.await_telemetry("rgSlow.Cycles", start=mark)  # the next report, after the window
    return slips(flight) - start


def forged_frame(link: LinkParameters, apid: int) -> bytes:
    """A SHUTDOWN-free, harmless ping in a frame that is right in every way but its key."""
    ping = Telecommand(apid, 0, 17, 1, b"", AckFlags.NONE, 0x0AAA).encode()
    sa = link.security_association(1)
    frame = TcFrame(TcHeader(link.spacecraft_id, link.tc_vcid, 0), ping, SegmentHeader(link.tc_map_id))
    return sdls.apply(frame, sa, keys={1: os.urandom(32)})


def flood(endpoint: str, frame: bytes, done: threading.Event) -> None:
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 30_000)  # close() delivers what is still queued
    dealer.connect(endpoint)
    try:
        for _ in range(FLOOD):
            dealer.send(frame)
    finally:
        dealer.close()
        done.set()


def test_a_flood_keeps_the_clock_answers_pings_bounds_memory_and_counts_refusals(flight_factory):
    flight = flight_factory()
    pid = flight.process.process.pid
    idle = settle_slips(flight, WINDOW_S)
    rss_before = rss_kib(pid)
    start_slips = slips(flight)
    done = threading.Event()
    dictionary = flight.station.dictionary
    frame = forged_frame(dictionary.link_parameters, dictionary.apid)
    sender = threading.Thread(target=flood, args=(flight.process.ready["tc_endpoint"], frame, done))
    began = time.monotonic()
    sender.start()
    latencies = []
    while not done.is_set() or time.monotonic() - began < WINDOW_S:
        sent = time.monotonic()
        flight.ping(timeout=5.0)
        latencies.append(time.monotonic() - sent)
        time.sleep(0.2)
    sender.join(60)
    flood_s = time.monotonic() - began
    received = flight.await_telemetry("comms.TcFramesReceived", lambda v: v >= FLOOD, timeout=60)
    mark = flight.telemetry_mark("rgSlow.Cycles")
    flight.await_telemetry("rgSlow.Cycles", start=mark)
    during = slips(flight) - start_slips
    rss_after = rss_kib(pid)
    refused = flight.station.latest("comms.TcRefused")
    security = ("link.RefusedMac", "link.RefusedReplay", "link.RefusedWindow")
    deadline = time.monotonic() + 60
    while (forged := sum(flight.station.latest(c, 0) for c in security)) + refused < FLOOD:
        assert time.monotonic() < deadline, f"{forged} + {refused} of {FLOOD} forged frames accounted for"
        time.sleep(0.2)
    print(f"\nflood of {FLOOD} forged TC frames over {flood_s:.1f} s: slips {during} (idle {idle} in {WINDOW_S} s), "
          f"ground pings {len(latencies)}, slowest {max(latencies) * 1e3:.0f} ms, RSS {rss_before} -> "
          f"{rss_after} KiB, refused at intake {refused}, refused by SDLS {forged}, received {received}")
    assert during <= 2 * idle * max(1.0, flood_s / WINDOW_S) + 1
    assert len(latencies) >= 5 and max(latencies) < 1.0
    assert rss_after - rss_before < 64 * 1024  # bounded: the queues hold a few thousand TCs at most
    assert refused > 0 and received >= FLOOD
    assert forged + refused == FLOOD  # each forged frame refused, at intake or by its MAC: none ran
    flight.ping()
