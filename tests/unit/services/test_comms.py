"""Tests of Comms over real ZeroMQ on 127.0.0.1 (wildcard ports), in flight.testing's component
tester.

TM frames are read back with the ground's downlink (ground_sim.downlink), verified under the TM
SA (SDLS authentication, the default link) with the run's key file, their packets with
TelemetryPacket.decode and their CRC checked with crcmod.
"""
from __future__ import annotations

import collections
import logging
import time

import crcmod.predefined
import pytest
import zmq

from flight.messages import RawTelecommand
from flight.messages import LinkStatus
from flight.testing import ComponentTester
from flight.wire.clcw import Clcw
from flight.wire.keyfile import KeyRing
from flight.wire.link import TM_PRODUCTS, TM_REALTIME, LinkParameters
from flight.wire.pus import TelemetryPacket
from ground_sim.downlink import Downlink
from ground_sim.flight_process import make_keys

crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")
TIMEOUT_MS = 5000  # bound on waiting for a packet; never a speed requirement
APID = 0x123


@pytest.fixture
def context():
    return zmq.Context.instance()


@pytest.fixture
def make(tmp_path, context):
    started, sockets = [], []

    def build(**config):
        config = {"tc_endpoint": "tcp://127.0.0.1:*", "tm_endpoint": "tcp://127.0.0.1:*",
                  "flush_timeout": 2.0, **config}
        h_keys = make_keys(tmp_path / "keys")
        h = ComponentTester.build(tmp_path, [{"name": "comms", "kind": "flight.services.comms:Comms",
                                **config}], mission={"apid": APID})
        h.time = 1_767_225_600.5
        comms = h.components["comms"]
        comms.start()
        started.append(comms)
        h.comms = comms
        h.keys = KeyRing.load(h_keys)
        h.socket = lambda kind: sockets.append(context.socket(kind)) or sockets[-1]
        return h

    yield build
    for comms in started:
        if comms.downlink.running:
            comms.stop()
    for s in sockets:
        s.close(linger=0)


class Ground:
    """A PULL on the TM endpoint and the ground's downlink: frames in, packets out."""

    def __init__(self, h) -> None:
        self.pull = h.socket(zmq.PULL)
        self.pull.connect(h.comms.tm_endpoint)
        self.clcws: list[bytes] = []
        self.downlink = Downlink(LinkParameters(), on_clcw=self.clcws.append, keys=h.keys)
        self.packets: collections.deque[bytes] = collections.deque()
        self.frames: list = []

    def frame(self):
        assert self.pull.poll(TIMEOUT_MS), "no frame arrived"
        raw = self.pull.recv()
        assert len(raw) == LinkParameters().tm_frame_length
        frame = self.downlink.frame(raw)
        assert frame is not None, self.downlink.last_refusal
        self.frames.append(frame)
        self.packets.extend(self.downlink.packets(frame))
        return frame

    def receive(self) -> TelemetryPacket:
        while not self.packets:
            self.frame()
        raw = self.packets.popleft()
        assert int.from_bytes(raw[-2:], "big") == crc16(raw[:-2])
        return TelemetryPacket.decode(raw)


def ground(h) -> Ground:
    return Ground(h)


def receive(pull: Ground) -> TelemetryPacket:
    return pull.receive()


def depth(h) -> int:
    h.comms.tick(0, 0.0)
    return h.comms.telemetry["TmStoreDepth"]


def test_endpoints_are_bound_on_wildcard_ports(make):
    h = make()
    for endpoint in (h.comms.tc_endpoint, h.comms.tm_endpoint):
        assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith(":*")
    assert h.comms.tc_endpoint != h.comms.tm_endpoint


def test_packets_wait_in_the_store_until_a_ground_connects(make):
    h = make()
    services = [1, 5, 1, 3, 5, 1, 17, 3]
    for i, service in enumerate(services):
        assert h.comms.send_tm(service, 1, bytes([i]) * i)
    time.sleep(0.3)  # give the downlink thread time to try (and fail) to send
    assert depth(h) == len(services)
    assert h.comms.telemetry["TmPacketsQueued"] == len(services)
    assert h.comms.telemetry["TmPacketsSent"] == 0
    pull = ground(h)
    packets = [receive(pull) for _ in services]
    assert [p.app_data for p in packets] == [bytes([i]) * i for i in range(len(services))]
    assert [p.sequence_count for p in packets] == list(range(len(services)))
    assert all(p.apid == APID and p.time == h.time for p in packets)
    seen: dict[int, int] = {}
    for p, service in zip(packets, services):
        assert (p.service, p.subtype) == (service, 1)
        assert p.message_counter == seen.get(service, 0)  # per-service, from 0, consecutive
        seen[service] = p.message_counter + 1
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while depth(h) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert depth(h) == 0
    assert h.comms.telemetry["TmPacketsSent"] == len(services)
    assert h.comms.telemetry["TmFramesSent"] == len(pull.frames) >= 1
    assert h.comms.telemetry["TmBytesSent"] == len(pull.frames) * LinkParameters().tm_frame_length


def test_full_store_drops_new_packets_and_counts_them(make):
    h = make(tm_store_capacity=3)
    accepted = [h.comms.send_tm(5, 1, bytes([i])) for i in range(7)]
    assert accepted == [True] * 3 + [False] * 4
    assert h.comms.telemetry["TmDroppedStoreFull"] == 4
    assert h.comms.telemetry["TmPacketsQueued"] == 3
    assert depth(h) == 3
    pull = ground(h)
    packets = [receive(pull) for _ in range(3)]
    assert [p.app_data for p in packets] == [b"\x00", b"\x01", b"\x02"]
    # the dropped packets used no sequence count and no message counter: no false gap
    assert [(p.sequence_count, p.message_counter) for p in packets] == [(0, 0), (1, 1), (2, 2)]
    assert h.comms.send_tm(5, 1, b"late")
    late = receive(pull)
    assert (late.app_data, late.sequence_count, late.message_counter) == (b"late", 3, 3)
    assert h.comms.telemetry["TmDroppedStoreFull"] == 4


def test_stop_flushes_the_store(make):
    h = make(flush_timeout=10.0)  # an upper bound: stop() returns as soon as the store is empty
    pull = ground(h)
    assert h.comms.send_tm(17, 2, b"probe")
    assert receive(pull).app_data == b"probe"  # the ground is connected
    count = 300
    for i in range(count):
        assert h.comms.send_tm(3, 25, i.to_bytes(2, "big") * 50)
    h.comms.stop()
    assert depth(h) == 0
    packets = [receive(pull) for _ in range(count)]
    assert [int.from_bytes(p.app_data[:2], "big") for p in packets] == list(range(count))
    assert [p.sequence_count for p in packets] == list(range(1, count + 1))


def test_stop_without_a_ground_gives_up_after_flush_timeout_and_says_so(make, caplog):
    h = make(flush_timeout=0.3)
    for i in range(3):
        h.comms.send_tm(5, 1, bytes([i]))
    with caplog.at_level(logging.WARNING):
        h.comms.stop()
    assert depth(h) == 3  # nothing pretended sent
    assert any("3 TM packets not sent" in r.getMessage() for r in caplog.records)


def test_tcs_from_a_dealer_go_out_of_the_tc_port_without_identity(make):
    h = make()
    received = h.sent["comms.tc"]
    dealer = h.socket(zmq.DEALER)
    dealer.connect(h.comms.tc_endpoint)
    messages = [[b"\x18\x01first"], [b"part one", b"part two"], [b""]]
    for message in messages:
        dealer.send_multipart(message)
    [(socket, handler)] = h.comms.poll_sockets()
    poller = zmq.Poller()
    poller.register(socket, zmq.POLLIN)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while len(received) < len(messages) and time.monotonic() < deadline:
        if poller.poll(100):
            handler()
    assert received == [RawTelecommand(tuple(m)) for m in messages]
    assert h.comms.telemetry["TcFramesReceived"] == len(messages)


def test_a_flood_is_bounded_per_cycle_refused_beyond_its_queue_and_another_peer_is_served(make):
    h = make(tcs_per_cycle=5, tc_queue_per_peer=10)
    flood, operator = h.socket(zmq.DEALER), h.socket(zmq.DEALER)
    for dealer in (flood, operator):
        dealer.connect(h.comms.tc_endpoint)
    for n in range(30):
        flood.send(b"flood %d" % n)
    [(socket, handler)] = h.comms.poll_sockets()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while h.comms.telemetry["TcFramesReceived"] < 30 and time.monotonic() < deadline:
        if socket.poll(100):
            handler()
    operator.send(b"operator ping")
    while h.comms.telemetry["TcFramesReceived"] < 31 and time.monotonic() < deadline:
        if socket.poll(100):
            handler()
    sent = h.sent["comms.tc"]
    assert [m.frames for m in sent] == [(b"flood %d" % n,) for n in range(5)]  # this cycle's budget
    assert h.comms.telemetry["TcRefused"] == 15  # 10 waited, 5 went: the other 15 refused, counted
    assert [e[1] for e in h.events].count("TcRefused") >= 1
    h.comms.tick(1, 0.0)  # the next cycle: five more, the operator's among them (peers in turn)
    assert (b"operator ping",) in [m.frames for m in sent[5:10]] and len(sent) == 10
    h.comms.tick(2, 0.0)
    h.comms.tick(3, 0.0)
    assert len(sent) == 16 and h.comms.telemetry["TcQueued"] == 0  # 15 flood + 1 ping, in order
    assert [m.frames for m in sent if m.frames != (b"operator ping",)] == [
        (b"flood %d" % n,) for n in range(15)]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_downlink_thread_is_restarted_and_what_it_had_stored_goes_down(make):
    h = make()
    pull = ground(h)
    comms = h.comms
    socket = comms.downlink.socket

    class Broken:
        def send(self, *args, **kwargs):
            raise RuntimeError("a bug in the downlink")

    comms.downlink.socket = Broken()
    comms.send_tm(3, 25, b"kept")
    comms.downlink.thread.join(TIMEOUT_MS / 1000)
    assert not comms.downlink.thread.is_alive()
    comms.downlink.socket = socket
    assert comms.restart() is True and comms.restart() is False  # once: the new one is alive
    assert receive(pull).app_data == b"kept"
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while depth(h) and time.monotonic() < deadline:  # it leaves the store once its frame is sent
        time.sleep(0.01)
    assert depth(h) == 0


def test_a_message_over_max_message_size_is_refused_before_it_is_buffered(make):
    h = make(max_message_size=1024)
    big, normal = h.socket(zmq.DEALER), h.socket(zmq.DEALER)
    big.connect(h.comms.tc_endpoint)
    big.send(b"x" * (64 << 20))  # 64 MiB: ZeroMQ drops it (and that connection) as it arrives
    normal.connect(h.comms.tc_endpoint)
    normal.send(b"y" * 1024)
    [(socket, handler)] = h.comms.poll_sockets()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not h.sent["comms.tc"] and time.monotonic() < deadline:
        if socket.poll(100):
            handler()
    time.sleep(0.2)
    if socket.poll(0):
        handler()
    assert [m.frames for m in h.sent["comms.tc"]] == [(b"y" * 1024,)]
    assert h.comms.telemetry["TcFramesReceived"] == 1


def test_tm_goes_down_in_frames_on_its_virtual_channel_with_the_latest_clcw(make):
    h = make()
    pull = ground(h)
    h.comms.send_tm(3, 25, b"housekeeping")
    assert receive(pull).service == 3
    assert pull.frames[-1].vcid == TM_REALTIME
    clcw = Clcw(0, 42, retransmit=True).encode()
    h.comms.clcw(LinkStatus(clcw))
    frame = pull.frame()  # nothing waits: a frame of idle data carries the new CLCW at once
    assert frame.ocf == clcw and frame.only_idle_data
    h.comms.send_tm(200, 1, b"product")
    assert receive(pull).service == 200
    assert pull.frames[-1].vcid == TM_PRODUCTS and pull.frames[-1].ocf == clcw
    assert pull.downlink.stats.master_gaps == 0 and pull.downlink.stats.gaps == 0


def test_a_packet_that_waited_longer_than_playback_after_s_goes_down_on_the_playback_channel(make, tmp_path):
    h = make()
    h.comms.downlink.framer.link = LinkParameters(playback_after_s=5.0)
    h.comms.send_tm(3, 25, b"old")
    h.time += 6.0  # mission time moves on before a ground is there
    h.comms.send_tm(3, 25, b"new")
    pull = ground(h)
    first, second = receive(pull), receive(pull)
    assert (first.app_data, second.app_data) == (b"old", b"new")
    assert sorted(f.vcid for f in pull.frames) == [0, 2]
