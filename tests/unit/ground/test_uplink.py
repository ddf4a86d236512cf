"""Tests of the ground's uplink (ground_sim.uplink) against the flight's own TC link
(flight.services.tc_link, in the component tester), over a simulated link that drops and
corrupts TC frames and loses CLCWs, seeded: FOP-1, SDLS and FARM-1 end to end in one process."""
from __future__ import annotations

import random
import threading

import pytest

from flight.messages import RawTelecommand
from flight.testing import ComponentTester
from flight.wire.keyfile import KeyRing
from flight.wire.link import LinkParameters
from flight.wire.pus import Telecommand
from flight.wire.tc_frame import PRIMARY_HEADER_SIZE, SEGMENT_HEADER_SIZE
from ground_sim.flight_process import make_keys
from ground_sim.uplink import Uplink

LINK = LinkParameters()
TIMEOUT = 60.0  # a bound on waiting, never a speed requirement


class LossyLink:
    """Frames from the uplink to the TC link, some dropped or corrupted; the CLCW back, some lost."""

    def __init__(self, run_dir, seed: int, drop: float = 0.0, corrupt: float = 0.0, clcw_loss: float = 0.0):
        make_keys(run_dir / "keys")
        self.h = ComponentTester.build(run_dir, [{"name": "link", "kind": "flight.services.tc_link:TcLink"}])
        self.h.start()
        self.random = random.Random(seed)
        self.drop, self.corrupt, self.clcw_loss = drop, corrupt, clcw_loss
        self.sent: list[bytes] = []
        self.uplink: Uplink | None = None
        self.lock = threading.Lock()

    def send(self, raw: bytes) -> None:
        with self.lock:
            self.sent.append(raw)
            roll = self.random.random()
            if roll < self.drop:
                return
            if roll < self.drop + self.corrupt:
                flipped = bytearray(raw)
                flipped[self.random.randrange(len(raw))] ^= 1 << self.random.randrange(8)
                raw = bytes(flipped)
            self.h.send("link.frames", RawTelecommand((raw,)))
            clcw = self.h.sent["link.clcw"][-1].clcw
            lost = self.random.random() < self.clcw_loss
        if not lost:
            self.uplink.on_clcw(clcw)

    def executed(self) -> list[bytes]:
        return [m.frames[0] for m in self.h.sent["link.tc"]]

    def connect(self, run_dir, **options) -> Uplink:
        self.uplink = Uplink(LINK, KeyRing.load(run_dir / "keys" / "ground.json"), self.send, **options)
        self.uplink.on_clcw(self.h.sent["link.clcw"][-1].clcw)  # the first TM frame's CLCW
        return self.uplink.start()


def packet(n: int) -> bytes:
    return Telecommand(1, n % 16384, 17, 1, app_data=n.to_bytes(4, "big")).encode()


def iv_of(raw: bytes) -> int:
    start = PRIMARY_HEADER_SIZE + SEGMENT_HEADER_SIZE + 2  # after the SPI
    return int.from_bytes(raw[start:start + LINK.iv_length], "big")


@pytest.mark.parametrize("seed", [1, 2])
def test_1000_packets_run_once_each_in_order_over_a_link_losing_10_percent_and_corrupting_1(tmp_path, seed):
    link = LossyLink(tmp_path, seed, drop=0.10, corrupt=0.01, clcw_loss=0.05)
    uplink = link.connect(tmp_path, t1=0.05, transmission_limit=50, packets_per_frame=1)
    try:
        tickets = [uplink.submit(packet(n)) for n in range(1000)]
        assert uplink.wait_received(tickets, TIMEOUT)
    finally:
        uplink.close()
    assert link.executed() == [packet(n) for n in range(1000)]
    assert uplink.stats.retransmissions > 0  # the loss was real and COP-1 recovered it
    assert link.h.components["link"].telemetry["RefusedMac"] + link.h.components["link"].telemetry[
        "RefusedFrame"] > 0  # and so was the corruption


def test_a_send_that_raises_is_counted_and_cop1_sends_the_frame_again(tmp_path):
    link = LossyLink(tmp_path, 5)
    uplink = link.connect(tmp_path, t1=0.05, transmission_limit=50)
    deliver, failures = uplink.send_frame, [3]

    def closed_then_open(raw: bytes) -> None:  # the link fails for a while (closed, a socket error)
        if failures[0]:
            failures[0] -= 1
            raise OSError("the link is closed")
        deliver(raw)

    uplink.send_frame = closed_then_open
    try:
        assert uplink.wait_received([uplink.submit(packet(n)) for n in range(5)], TIMEOUT)
    finally:
        uplink.close()
    assert link.executed() == [packet(n) for n in range(5)]
    assert uplink.stats.errors == 3 and "the link is closed" in uplink.stats.last_error


def test_every_transmission_takes_a_fresh_iv(tmp_path):
    link = LossyLink(tmp_path, 3, drop=0.3)
    uplink = link.connect(tmp_path, t1=0.05, transmission_limit=50)
    try:
        assert uplink.wait_received([uplink.submit(packet(n)) for n in range(50)], TIMEOUT)
    finally:
        uplink.close()
    ivs = [iv_of(raw) for raw in link.sent]
    assert ivs == sorted(set(ivs)) and uplink.stats.retransmissions > 0


def test_a_restarted_ground_continues_above_the_flight_s_last_iv(tmp_path):
    link = LossyLink(tmp_path, 4)
    state = tmp_path / "ground.state"
    first = link.connect(tmp_path, state_path=state)
    assert first.wait_received([first.submit(packet(n)) for n in range(30)], TIMEOUT)
    first.close()
    last = iv_of(link.sent[-1])
    second = link.connect(tmp_path, state_path=state)
    try:
        assert second.wait_received([second.submit(packet(30))], TIMEOUT)
    finally:
        second.close()
    assert iv_of(link.sent[-1]) > last
    assert link.executed() == [packet(n) for n in range(31)]


def test_a_lockout_is_recovered_with_unlock_and_nothing_is_lost(tmp_path):
    link = LossyLink(tmp_path, 5)
    farm = link.h.components["link"].farm
    farm.lockout, farm.state = True, type(farm.state).LOCKOUT  # as after a frame outside the window
    link.h.components["link"]._report()
    uplink = link.connect(tmp_path, t1=0.05)
    try:
        assert uplink.wait_received([uplink.submit(packet(n)) for n in range(20)], TIMEOUT)
    finally:
        uplink.close()
    assert uplink.stats.control_frames >= 1  # the Unlock
    assert link.executed() == [packet(n) for n in range(20)]


def test_a_packet_too_large_for_a_frame_is_refused_at_submit(tmp_path):
    link = LossyLink(tmp_path, 6)
    uplink = link.connect(tmp_path)
    try:
        with pytest.raises(ValueError, match="at most"):
            uplink.submit(bytes(LINK.tc_frame_max))
    finally:
        uplink.close()
