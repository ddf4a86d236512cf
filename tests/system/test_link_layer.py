"""The link layer against a real flight process over real sockets (issue 11): only frames the
ground made run, once each, in order, even across a flight restart and a lossy uplink.

- Forged frames (every bit flip of a frame carrying SHUTDOWN), a replay and a frame beyond the
  anti-replay window are refused, each counted under its reason, and have no effect: the
  parameters, the card states and the dispatcher's counters are the same after as before.
- A frame the flight accepted, sent again after the flight was killed (SIGKILL) and restarted
  on the same run directory, is refused as a replay and does not run; the ground carries on.
- 1,000 commands over an uplink that drops 10 % of the TC frames and corrupts 1 % run exactly
  once each, in order (COP-1: FOP-1 on the ground, FARM-1 on board).
- A key rotated by command (load wrapped, activate, rekey, deactivate the old one) protects the
  next frames at both ends, and a frame under the old key is refused.
"""
from __future__ import annotations

import copy
import random
import signal
import time

from hypothesis import HealthCheck, given, settings, strategies as hst

from flight.wire import sdls
from flight.wire.keyfile import KeyRing, KeyState
from flight.wire.pus import AckFlags
from flight.wire.tc_frame import SegmentHeader, TcFrame, TcHeader
from ground_sim.api import IntegrationApi
from ground_sim.flight_process import FlightProcess

SECURITY = ("link.RefusedMac", "link.RefusedReplay", "link.RefusedWindow", "link.RefusedSa", "link.RefusedFrame")


def fresh(flight: IntegrationApi, channel: str):
    """The value of ``channel`` in a housekeeping report made after this call."""
    return flight.await_telemetry(channel, start=flight.telemetry_mark(channel) + 1, timeout=10)


def effects(flight: IntegrationApi) -> dict:
    """What a command that ran would have changed: parameters, card states, the dispatcher's counts
    (the parameter report asked for here is itself one TC more for the dispatcher)."""
    fresh(flight, "dispatcher.CommandsReceived")
    time.sleep(1.5)  # every component's housekeeping of that cycle is in
    state = {c: flight.station.latest(c) for c in (
        "dispatcher.CommandsReceived", "dispatcher.CommandsCompleted", "dispatcher.CommandsRejected",
        "cluster.card0_State", "cluster.card1_State", "cluster.card2_State", "camera.FramesCaptured",
        "link.FramesAccepted")}
    state["parameters"] = flight.get_parameters(["cluster.DetectionThreshold", "seu.Acceleration",
                                                 "health.PingTimeoutCycles"])
    return state


def forged(flight: IntegrationApi, command: str, args: list, iv_ahead: int) -> bytes:
    """A frame as the ground would make it ``iv_ahead`` IVs past its own, without moving its own."""
    station = flight.station
    link, sa = station.dictionary.link_parameters, copy.copy(station.uplink.sa)
    sa.iv += iv_ahead
    packet = station.encoder.command(command, args, AckFlags.ALL).encode()
    frame = TcFrame(TcHeader(link.spacecraft_id, link.tc_vcid, station.uplink.fop.vs), packet,
                    SegmentHeader(link.tc_map_id))
    return sdls.apply(frame, sa, keys=station.uplink.keys.active_keys())


def test_forged_replayed_and_out_of_window_frames_are_refused_with_no_effect(flight):
    flight.station.acknowledger.close()  # its acknowledgements are commands too: only ours may count
    flight.send_and_assert_command("dispatcher.NO_OP")
    captured = []
    flight.station.uplink._on_frame = lambda raw, tickets: captured.append(raw)  # the next frame sent
    flight.send_and_assert_command("dispatcher.NO_OP_STRING", ["once"])
    before = effects(flight)
    refused_before = sum(fresh(flight, c) for c in SECURITY)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(hst.data())
    def flipped(data) -> None:
        raw = bytearray(forged(flight, "executive.SHUTDOWN", [], iv_ahead=2))
        bit = data.draw(hst.integers(0, 8 * len(raw) - 1))
        raw[bit // 8] ^= 1 << (bit % 8)
        flight.station.send_frame(bytes(raw))

    flipped()
    flight.station.send_frame(captured[0])  # a replay of NO_OP_STRING "once"
    flight.station.send_frame(forged(flight, "executive.SHUTDOWN", [], iv_ahead=10_000))  # beyond the window
    deadline = time.monotonic() + 20
    while (refused := sum(fresh(flight, c) for c in SECURITY)) < refused_before + 27:
        assert time.monotonic() < deadline, f"{refused - refused_before} of 27 frames refused"
    assert refused == refused_before + 27
    assert fresh(flight, "link.RefusedReplay") >= 1 and fresh(flight, "link.RefusedWindow") >= 1
    assert flight.process.alive()
    after = effects(flight)
    moved = {k: (before[k], after[k]) for k in before if after[k] != before[k]}
    # only the parameter report of the first look has been counted since: one TC, one frame
    assert moved == {k: (before[k], before[k] + 1) for k in ("dispatcher.CommandsReceived",
                                                             "dispatcher.CommandsCompleted", "link.FramesAccepted")}
    flight.assert_event_count("dispatcher.NoOpString", 1)
    flight.ping()  # the ground's own frames still go


def test_a_frame_accepted_before_a_restart_is_a_replay_after_it(tmp_path, demo_model):
    run_dir = tmp_path / "flight"
    overrides = [f'cluster.model="{demo_model}"']
    process = FlightProcess(run_dir, None, overrides)
    process.start()
    flight = IntegrationApi(process.connect("archive-1.sqlite"), process=process)
    captured = []
    flight.station.uplink._on_frame = lambda raw, tickets: captured.append(raw)
    flight.send_and_assert_command("dispatcher.NO_OP_STRING", ["before the restart"])
    flight.station.close()
    process.process.send_signal(signal.SIGKILL)
    process.wait(10)
    process.kill()
    again = FlightProcess(run_dir, None, overrides)
    again.start()
    try:
        flight = IntegrationApi(again.connect("archive-2.sqlite"), process=again)
        time.sleep(2.0)  # what the store kept from before the restart comes down first
        mark = flight.event_mark()
        flight.station.send_frame(captured[0])
        flight.await_telemetry("link.RefusedReplay", lambda v: v == 1, timeout=10)
        flight.send_and_assert_command("dispatcher.NO_OP_STRING", ["after the restart"])
        texts = [e.args["text"] for e in flight.station.events[mark:] if e.name == "dispatcher.NoOpString"]
        assert texts == ["after the restart"]
        flight.station.close()
    finally:
        again.kill()


def test_1000_commands_over_an_uplink_dropping_10_and_corrupting_1_percent_run_once_each_in_order(
        flight_factory):
    flight = flight_factory()
    station = flight.station
    station.uplink.packets_per_frame = 1  # one command per frame: 1,000 frames through COP-1
    station.uplink.fop.set_t1_initial(0.3)
    channel, deliver = random.Random(11), station.uplink.send_frame
    lost = {"dropped": 0, "corrupted": 0}

    def lossy(raw: bytes) -> None:
        roll = channel.random()
        if roll < 0.10:
            lost["dropped"] += 1
            return
        if roll < 0.11:
            lost["corrupted"] += 1
            flipped = bytearray(raw)
            flipped[channel.randrange(len(raw))] ^= 1 << channel.randrange(8)
            raw = bytes(flipped)
        deliver(raw)

    station.uplink.send_frame = lossy
    mark = flight.event_mark()
    records = [station.send_command("dispatcher.NO_OP_STRING", [str(n)], AckFlags.NONE) for n in range(1000)]
    assert station.wait_received(records, timeout=300)

    def texts() -> list[str] | None:
        seen = [e.args["text"] for e in station.events[mark:] if e.name == "dispatcher.NoOpString"]
        return seen if len(seen) >= 1000 else None

    assert flight._wait_for(texts, 60, lambda: "1,000 NoOpString events") == [str(n) for n in range(1000)]
    assert lost["dropped"] > 50 and lost["corrupted"] > 0 and station.uplink.stats.retransmissions > 0
    time.sleep(1.0)
    assert len([e for e in station.events[mark:] if e.name == "dispatcher.NoOpString"]) == 1000  # none twice


def test_a_key_rotated_by_command_protects_the_next_frames_and_the_old_key_no_longer_works(flight):
    station = flight.station
    old = copy.copy(station.uplink.sa)  # the SA as it is under key 1
    flight.rotate_key(3)
    flight.send_and_assert_command("dispatcher.NO_OP_STRING", ["under key 3"])
    assert flight.await_telemetry("link.SaKeyId", lambda v: v == 3, timeout=10) == 3
    flight_ring = KeyRing.load(flight.process.run_dir / "keys" / "flight.json")
    ground_ring = KeyRing.load(station.key_file)
    assert flight_ring.sas[1] == ground_ring.sas[1] == 3
    assert flight_ring.keys[1].state is KeyState.DEACTIVATED and ground_ring.keys[1].state is KeyState.DEACTIVATED
    old.iv = station.uplink.sa.iv + 1  # a fresh IV: only the key is old
    mark = flight.telemetry_mark("link.RefusedMac")
    link = station.dictionary.link_parameters
    frame = TcFrame(TcHeader(link.spacecraft_id, link.tc_vcid, station.uplink.fop.vs),
                    station.encoder.command("executive.SHUTDOWN", [], AckFlags.ALL).encode(), SegmentHeader(0))
    old.key_id = 1
    station.send_frame(sdls.apply(frame, old, keys={1: flight_ring.keys[1].key}))
    flight.await_telemetry("link.RefusedMac", lambda v: v >= 1, start=mark, timeout=10)  # the SA's key is 3
    assert flight.process.alive()
    flight.ping()
