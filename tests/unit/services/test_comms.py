"""Tests of Comms over real ZeroMQ on 127.0.0.1 (wildcard ports), in flight.testing's component
tester.

TM frames are read back with the ground's downlink (ground_sim.downlink), verified under the TM
SA (SDLS authentication, the default link) with the run's key file, their packets with
TelemetryPacket.decode and their CRC checked with crcmod.
"""
from __future__ import annotations

import collections
import time

import crcmod.predefined
import pytest
import zmq

from flight.core.component import CommandRefused
from flight.messages import LinkStatus, RawTelecommand, TransmitterState
from flight.services.tm_store import StoreClass
from flight.testing import ComponentTester
from flight.wire.clcw import Clcw
from flight.wire.keyfile import KeyRing
from flight.wire.link import TM_PRODUCTS, TM_REALTIME, LinkParameters
from flight.wire.pus import TelemetryPacket
from ground_sim.completeness import Completeness
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
    """A PULL on the TM endpoint and the ground's downlink: frames in, packets out; it acknowledges
    what it holds as the ground station does (ground_sim.completeness), by calling the command."""

    def __init__(self, h) -> None:
        self.comms = h.comms
        self.completeness = Completeness()
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

    def receive(self, duplicates: bool = False) -> TelemetryPacket:
        """The next packet; one received before is skipped (as the station keeps it once) unless
        ``duplicates``."""
        while True:
            while not self.packets:
                self.frame()
            raw = self.packets.popleft()
            assert int.from_bytes(raw[-2:], "big") == crc16(raw[:-2])
            packet = TelemetryPacket.decode(raw)
            if self.completeness.add(packet.apid, round(packet.time * 65536), packet.sequence_count) or duplicates:
                return packet

    def acknowledge(self) -> None:
        for ack in self.completeness.acknowledgements():
            self.comms.run_command("ACKNOWLEDGE", [ack.apid, ack.first, ack.last, ack.count])


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


def wait_for(h, channel: str, wanted: int) -> bool:
    """Whether ``channel`` reads ``wanted`` within the timeout (the store's thread gets there)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        h.comms.tick(0, 0.0)
        if h.comms.telemetry[channel] == wanted:
            return True
        time.sleep(0.01)
    return False


def wait_for_depth(h, wanted: int) -> int:
    wait_for(h, "TmStoreDepth", wanted)
    return depth(h)


def test_packets_wait_in_the_store_until_a_ground_connects_and_leave_it_when_acknowledged(make):
    h = make()
    services = [1, 5, 1, 3, 5, 1, 17, 3]
    for i, service in enumerate(services):
        assert h.comms.send_tm(service, 1, bytes([i]) * i)
    assert wait_for(h, "TmPacketsStored", len(services))           # stored, none sent: no ground
    assert h.comms.telemetry["TmPacketsQueued"] == depth(h) == len(services)
    assert h.comms.telemetry["TmPacketsSent"] == 0
    pull = ground(h)
    packets = [receive(pull) for _ in services]
    events_first = [i for i, s in enumerate(services) if s != 3] + [i for i, s in enumerate(services) if s == 3]
    assert [p.app_data for p in packets] == [bytes([i]) * i for i in events_first]   # housekeeping last
    assert sorted(p.sequence_count for p in packets) == list(range(len(services)))
    assert all(p.apid == APID for p in packets)
    times = [p.time for p in sorted(packets, key=lambda p: p.sequence_count)]
    assert times[0] == h.time and all(b > a for a, b in zip(times, times[1:]))  # strictly increasing
    seen: dict[int, int] = {}
    for p in sorted(packets, key=lambda p: p.sequence_count):
        assert p.message_counter == seen.get(p.service, 0)  # per-service, from 0, consecutive
        seen[p.service] = p.message_counter + 1
    assert depth(h) == len(services)                           # sent, not yet acknowledged
    pull.acknowledge()
    assert wait_for_depth(h, 0) == 0
    assert h.comms.telemetry["TmAcknowledged"] == len(services)
    assert h.comms.telemetry["TmPacketsSent"] == len(services)
    assert h.comms.telemetry["TmFramesSent"] == len(pull.frames) >= 1
    assert h.comms.telemetry["TmBytesSent"] == len(pull.frames) * LinkParameters().tm_frame_length


def test_alerts_go_first_then_products_events_housekeeping(make):
    h = make()
    h.comms.send_tm(3, 25, b"hk")
    h.comms.send_tm(5, 1, b"event")
    h.comms.send_tm(200, 1, b"product", StoreClass.PRODUCT)
    h.comms.send_tm(5, 4, b"fatal event")                      # an alert by its severity
    h.comms.send_tm(200, 1, b"fire", StoreClass.ALERT)
    assert wait_for(h, "TmPacketsStored", 5)
    pull = ground(h)
    assert [receive(pull).app_data for _ in range(5)] == [b"fatal event", b"fire", b"product", b"event", b"hk"]


def test_nothing_is_framed_while_the_transmitter_is_off_and_what_waits_goes_alerts_first_once_on(make):
    h = make()
    h.send("comms.transmitter", TransmitterState(False, ""))
    pull = ground(h)                                            # a ground is there, but no pass
    h.comms.send_tm(3, 25, b"hk")
    h.comms.send_tm(200, 1, b"fire", StoreClass.ALERT)
    assert wait_for(h, "TmPacketsStored", 2)
    assert not pull.pull.poll(300)                              # nothing went
    assert h.comms.telemetry["TmFramesSent"] == h.comms.telemetry["TmPacketsSent"] == 0
    h.send("comms.transmitter", TransmitterState(True, "svalbard"))
    assert [receive(pull).app_data for _ in range(2)] == [b"fire", b"hk"]


def test_an_acknowledgement_the_store_cannot_match_is_refused_and_changes_nothing(make):
    h = make()
    pull = ground(h)
    for i in range(3):
        h.comms.send_tm(3, 25, bytes([i]))
    packets = [receive(pull) for _ in range(3)]
    first, last = (round(p.time * 65536) for p in (packets[0], packets[2]))
    with pytest.raises(CommandRefused, match="the ground says 2"):
        h.comms.run_command("ACKNOWLEDGE", [APID, first, last, 2])   # three were stored between
    with pytest.raises(CommandRefused, match="holds no packet"):
        h.comms.run_command("ACKNOWLEDGE", [APID, first, last + 1, 4])
    assert depth(h) == 3 and [e[1] for e in h.events].count("AckRefused") == 2
    h.comms.run_command("ACKNOWLEDGE", [APID, first, last, 3])
    assert depth(h) == 0


def test_a_packet_not_acknowledged_goes_again_after_ack_timeout_and_at_once_when_asked(make):
    h = make(ack_timeout=0.3)
    pull = ground(h)
    h.comms.send_tm(3, 25, b"once")
    first = receive(pull)
    again = pull.receive(duplicates=True)                      # no acknowledgement: it comes again
    assert again.app_data == b"once" and again.sequence_count == first.sequence_count
    assert h.comms.downlink.resent >= 1
    assert pull.completeness.duplicates == 1
    stamp = round(first.time * 65536)
    h.comms.run_command("RETRANSMIT", [APID, stamp - 1, stamp + 1])
    assert pull.receive(duplicates=True).app_data == b"once"  # asked for: at once
    pull.acknowledge()
    assert wait_for_depth(h, 0) == 0


def test_every_packet_past_ack_timeout_goes_again_also_after_another_was_asked_for(make, monkeypatch):
    """The downlink finds what waited too long from the oldest sent: a packet sent again on
    request goes to the back, so those sent before it still expire on time (a clock stands in for
    time.monotonic: the timeout is counted on it, never on wall time)."""
    import types

    from flight.services import tm_downlink
    clock = [0.0]
    monkeypatch.setattr(tm_downlink, "time", types.SimpleNamespace(monotonic=lambda: clock[0], sleep=time.sleep))
    h = make(ack_timeout=10.0)
    pull = ground(h)
    for data in (b"A", b"B", b"C"):
        h.comms.send_tm(3, 25, data)
    first = {p.app_data: p for p in (receive(pull) for _ in range(3))}
    clock[0] = 5.0
    stamp = round(first[b"A"].time * 65536)
    h.comms.run_command("RETRANSMIT", [APID, stamp - 1, stamp + 1])
    assert pull.receive(duplicates=True).app_data == b"A"       # asked for: at once, now sent at 5
    clock[0] = 12.0                                              # B and C (sent at 0) are past 10, A is not
    assert {pull.receive(duplicates=True).app_data for _ in range(2)} == {b"B", b"C"}
    clock[0] = 16.0                                              # and now A
    assert pull.receive(duplicates=True).app_data == b"A"


def test_stop_sends_what_the_store_holds_and_keeps_it_until_acknowledged(make):
    h = make(flush_timeout=10.0)  # an upper bound: stop() returns once everything went
    pull = ground(h)
    assert h.comms.send_tm(17, 2, b"probe")
    assert receive(pull).app_data == b"probe"  # the ground is connected
    count = 300
    for i in range(count):
        assert h.comms.send_tm(3, 25, i.to_bytes(2, "big") * 50)
    h.comms.stop()
    packets = [receive(pull) for _ in range(count)]
    assert [int.from_bytes(p.app_data[:2], "big") for p in packets] == list(range(count))
    assert [p.sequence_count for p in packets] == list(range(1, count + 1))


def test_what_a_stopped_flight_stored_goes_down_after_the_restart_numbered_on(make):
    h = make(flush_timeout=0.3)
    for i in range(3):
        h.comms.send_tm(5, 1, bytes([i]))
    h.comms.stop()                                             # no ground: nothing sent, all kept
    again = make(flush_timeout=0.3)                            # the same run directory: the same store
    again.comms.send_tm(5, 1, b"after")
    pull = ground(again)
    packets = [receive(pull) for _ in range(4)]
    assert [p.app_data for p in packets] == [b"\x00", b"\x01", b"\x02", b"after"]
    assert [p.sequence_count for p in packets] == [0, 1, 2, 3]           # counts go on across restarts
    assert [p.message_counter for p in packets] == [0, 1, 2, 3]


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
    pull.acknowledge()
    assert wait_for_depth(h, 0) == 0


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


def test_a_full_store_evicts_housekeeping_oldest_first_counts_it_and_keeps_every_alert(make):
    h = make(tm_store_octets=4096)
    h.comms.send_tm(5, 4, b"alert")                             # a fatal event: an alert
    for i in range(100):
        h.comms.send_tm(3, 25, i.to_bytes(2, "big") * 20)      # 61-octet housekeeping packets
    assert wait_for(h, "TmPacketsStored", 101)
    evicted = h.comms.telemetry["TmEvicted"]
    assert evicted > 0 and depth(h) == 101 - evicted
    assert h.comms.telemetry["TmStoreOctets"] <= 4096
    pull = ground(h)
    packets = [receive(pull) for _ in range(101 - evicted)]
    assert packets[0].app_data == b"alert"
    assert [int.from_bytes(p.app_data[:2], "big") for p in packets[1:]] == list(range(evicted, 100))


def test_a_store_sqlite_cannot_open_is_moved_aside_said_in_an_event_and_a_fresh_one_used(make, tmp_path):
    (tmp_path / "tm_store.sqlite").write_bytes(b"an upset made this unreadable " * 50)
    h = make()
    [reason] = [e[2][0] for e in h.events if e[1] == "StoreRecovered"]
    assert "moved aside" in reason and (tmp_path / "tm_store.sqlite.corrupt-1").exists()
    assert h.comms.send_tm(3, 25, b"after") and receive(ground(h)).app_data == b"after"
