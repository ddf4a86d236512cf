"""A flood of 100,000 telecommands against a real flight process, over real sockets.

A raw DEALER (a misbehaving client on its own connection) sends 100,000 valid pings as fast as
ZeroMQ takes them, while the ground station pings every 0.2 s on its connection. The flight must
keep its clock (rate-group slips during the flood at most twice those of an idle window of the
same length, plus one for the noise of a shared machine), answer every ground ping within 1 s,
keep its memory bounded, and count what it refused (issue 10; comms.py, tc_intake.py).
"""
from __future__ import annotations

import threading
import time

import zmq

from flight.wire.pus import AckFlags, Telecommand

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


def flood(endpoint: str, apid: int, done: threading.Event) -> None:
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 30_000)  # close() delivers what is still queued
    dealer.connect(endpoint)
    ping = Telecommand(apid, 0, 17, 1, b"", AckFlags.NONE, 0x0AAA).encode()
    try:
        for _ in range(FLOOD):
            dealer.send(ping)
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
    sender = threading.Thread(target=flood, args=(flight.process.ready["tc_endpoint"],
                                                  flight.station.dictionary.apid, done))
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
    received = flight.await_telemetry("comms.TcPacketsReceived", lambda v: v >= FLOOD, timeout=60)
    mark = flight.telemetry_mark("rgSlow.Cycles")
    flight.await_telemetry("rgSlow.Cycles", start=mark)
    during = slips(flight) - start_slips
    rss_after = rss_kib(pid)
    refused = flight.station.latest("comms.TcRefused")
    print(f"\nflood of {FLOOD} TCs over {flood_s:.1f} s: slips {during} (idle {idle} in {WINDOW_S} s), "
          f"ground pings {len(latencies)}, slowest {max(latencies) * 1e3:.0f} ms, RSS {rss_before} -> "
          f"{rss_after} KiB, refused {refused}, received {received}")
    assert during <= 2 * idle * max(1.0, flood_s / WINDOW_S) + 1
    assert len(latencies) >= 5 and max(latencies) < 1.0
    assert rss_after - rss_before < 64 * 1024  # bounded: the queues hold a few thousand TCs at most
    assert refused > 0 and received >= FLOOD
    flight.ping()
