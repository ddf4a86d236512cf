"""Tests of the LinkRelay (ground_sim/link_relay.py) over real sockets: a stand-in flight (ROUTER
for TC, PUSH for TM) and a stand-in station (DEALER, PULL) on either side of it, mission time set
by the test. Passes come from the default orbit (flight.environment.passes)."""
from __future__ import annotations

import time

import pytest
import zmq

from flight.core.clock import parse_epoch
from flight.environment.orbit import mission_orbit
from flight.environment.passes import all_passes
from flight.services.tm_framer import TmFramer
from flight.wire.link import LinkParameters
from flight.wire.pus import TelemetryPacket
from ground_sim.downlink import Downlink
from ground_sim.link_model import LinkConditions, one_way_delay
from ground_sim.link_relay import LinkRelay

EPOCH = parse_epoch("2026-01-01T00:00:00Z")
WAIT_S = 3.0   # bound on waiting for a frame; never a speed requirement
CLEAN = LinkConditions(rate_bps=2e6)


@pytest.fixture(scope="module")
def first_pass():
    return all_passes(mission_orbit({}), EPOCH, EPOCH + 4 * 3600)[0]


class Ends:
    def __init__(self, up=CLEAN, down=CLEAN, seed=1):
        c = zmq.Context.instance()
        self.flight_tc, self.flight_tm = c.socket(zmq.ROUTER), c.socket(zmq.PUSH)
        self.flight_tc.bind("tcp://127.0.0.1:*")
        self.flight_tm.bind("tcp://127.0.0.1:*")
        self.time: float | None = None
        self.events: list[tuple[str, str, float]] = []
        self.relay = LinkRelay(self.flight_tc.getsockopt_string(zmq.LAST_ENDPOINT),
                               self.flight_tm.getsockopt_string(zmq.LAST_ENDPOINT), mission_orbit({}), up, down,
                               lambda: self.time, seed,
                               on_pass=lambda kind, p: self.events.append((kind, p.station, p.los or p.aos)))
        self.relay.start()
        self.station_tc, self.station_tm = c.socket(zmq.DEALER), c.socket(zmq.PULL)
        self.station_tc.connect(self.relay.tc_endpoint)
        self.station_tm.connect(self.relay.tm_endpoint)

    def close(self):
        self.relay.close()
        for s in (self.flight_tc, self.flight_tm, self.station_tc, self.station_tm):
            s.close(linger=0)


@pytest.fixture
def ends():
    made = []
    yield lambda **kw: made.append(Ends(**kw)) or made[-1]
    for e in made:
        e.close()


def arrived(socket, timeout=WAIT_S) -> list[bytes]:
    out = []
    if socket.poll(int(timeout * 1000)):
        while socket.poll(100):
            out.append(socket.recv_multipart()[-1])
    return out


def test_nothing_crosses_outside_a_pass_and_both_ways_cross_in_one_after_the_light_time(ends, first_pass):
    e = ends()
    e.time = first_pass.rise - 60
    e.station_tc.send(b"tc outside")
    e.flight_tm.send(b"tm outside")
    time.sleep(0.3)
    e.time += 1                                  # time goes on, still no pass
    assert arrived(e.flight_tc, 0.5) == [] and arrived(e.station_tm, 0.5) == []
    assert e.relay.outside_pass == {"up": 1, "down": 1} and not e.relay.in_pass
    now = first_pass.rise + 30
    e.time = now
    time.sleep(0.2)
    e.station_tc.send(b"tc")
    e.flight_tm.send(b"tm" * 500)
    time.sleep(0.3)
    assert arrived(e.flight_tc, 0.3) == []        # on their way: the light time has not passed
    station = mission_orbit({}).stations[0]
    delay = one_way_delay(mission_orbit({}).slant_range_km(station, now))
    assert delay > 0.002
    e.time = now + delay + 1000 * 8 / CLEAN.rate_bps + 1e-4
    assert arrived(e.flight_tc) == [b"tc"] and arrived(e.station_tm) == [b"tm" * 500]
    assert e.relay.in_pass and e.relay.passes[-1].frames == {"up": 1, "down": 1}


def test_passes_are_recorded_as_they_begin_and_end(ends, first_pass):
    e = ends()
    for t in (first_pass.rise - 5, first_pass.rise + 5, first_pass.set - 5, first_pass.set + 5):
        e.time = t
        time.sleep(0.1)
    assert [(kind, station) for kind, station, _ in e.events] == [("AOS", first_pass.station),
                                                                 ("LOS", first_pass.station)]
    record = e.relay.passes[0]
    assert first_pass.rise - 5 < record.aos <= first_pass.rise + 5
    assert first_pass.set - 5 < record.los <= first_pass.set + 5


def tm_frames(count: int) -> list[bytes]:
    framer = TmFramer(LinkParameters(tm_sdls="off"))
    packets = [(TelemetryPacket(7, n, 3, 25, bytes([n % 256]) * 900, 0.0, n).encode(), 0, 0.0) for n in range(count)]
    frames, _ = framer.frames(packets, 0.0)
    return frames


def test_loss_and_bit_errors_as_configured_and_every_corrupted_frame_refused_by_its_crc(ends, first_pass):
    down = LinkConditions(rate_bps=2e6, loss_rate=0.05, mean_burst=4, ber=2e-5)
    e = ends(down=down, seed=7)
    frames = tm_frames(400)
    e.time = first_pass.rise + 10
    time.sleep(0.1)
    for frame in frames:
        e.flight_tm.send(frame)
    received = []
    deadline = time.monotonic() + 10
    while len(received) < e.relay.down.stats.delivered or e.relay.down.stats.frames < len(frames):
        e.time += 0.05
        received += arrived(e.station_tm, 0.05)
        assert time.monotonic() < deadline, "the relay did not pass every frame on"
    stats = e.relay.down.stats
    assert stats.frames == len(frames) and stats.lost + stats.delivered == len(frames)
    assert 0 < stats.lost < len(frames) * 0.2 and stats.corrupted > 0
    downlink = Downlink(LinkParameters(tm_sdls="off"))
    accepted = [raw for raw in received if downlink.frame(raw) is not None]
    corrupted = [raw for raw in received if raw not in frames]
    assert len(corrupted) == stats.corrupted and len(received) == stats.delivered
    assert len(accepted) == len(received) - len(corrupted)       # every corrupted one refused
    assert all(raw in frames for raw in accepted)


def test_a_station_gone_first_holds_its_frames_in_the_relay_which_still_closes_at_once(ends, first_pass):
    e = ends()
    e.time = first_pass.rise + 30
    time.sleep(0.1)
    e.station_tm.close(linger=0)                  # the station leaves before the relay
    for k in range(50):
        e.flight_tm.send(b"tm%d" % k)
    time.sleep(0.3)
    e.time += 5.0                                 # every frame is due at the station
    time.sleep(0.3)
    assert e.relay.error is None and len(e.relay._queue) > 0         # held, the relay's thread going on
    e.station_tm = zmq.Context.instance().socket(zmq.PULL)           # a station back: it gets them, in order
    e.station_tm.connect(e.relay.tm_endpoint)
    got = []
    while len(got) < 50 and e.station_tm.poll(int(WAIT_S * 1000)):
        got.append(e.station_tm.recv())
    assert got == [b"tm%d" % k for k in range(50)]
    e.station_tm.close(linger=0)
    e.flight_tm.send(b"late")
    time.sleep(0.2)
    e.time += 5.0
    began = time.monotonic()
    e.relay.close()
    assert time.monotonic() - began < 1.0 and e.relay.error is None
