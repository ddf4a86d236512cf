"""Two-process integration tests: a real flight process, a real ground, real ZeroMQ on loopback.

Verifies, through the scenario API (ground_sim.api) and its pytest fixtures (ground_sim.pytest_plugin):
ping; a parameter set, read back, saved, and restored after a restart; commands the flight must
refuse, each with its failure code and event, while it keeps serving; hypothesis-generated
garbage at the command socket; a clean shutdown with every packet archived; an upset commanded
from the ground into a card's weights, repaired by the scrubber, with products still correct.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from flight.wire import services as st
from flight.wire.failure import FailureCode
from flight.wire.pus import Telecommand


def test_ping_and_no_op(flight):
    flight.ping()
    flight.send_and_assert_command("dispatcher.NO_OP")
    mark = flight.event_mark()
    flight.send_and_assert_command("dispatcher.NO_OP_STRING", {"text": "hello orbit"})
    event = flight.await_event("dispatcher.NoOpString", start=mark)
    assert event.args == {"text": "hello orbit"}


def test_parameter_set_read_back_and_persisted_across_restart(flight_factory, tmp_path):
    run_dir = tmp_path / "persisted"
    api = flight_factory(run_dir=run_dir)
    default = api.get_parameters(["cluster.DetectionThreshold"])["cluster.DetectionThreshold"]
    assert default == pytest.approx(0.5)
    assert api.set_parameters({"cluster.DetectionThreshold": 0.7}).completed
    value = api.get_parameters(["cluster.DetectionThreshold"])["cluster.DetectionThreshold"]
    assert value == pytest.approx(0.7, abs=1e-6)
    api.send_and_assert_command("prmDb.SAVE_FILE")
    api.send_and_assert_command("executive.SHUTDOWN")
    assert api.process.wait(20) == 0
    api.station.close()

    restarted = flight_factory(run_dir=run_dir)
    restarted.await_event("prmDb.ParamFileLoaded", lambda args: args["count"] >= 1)
    value = restarted.get_parameters(["cluster.DetectionThreshold"])[
        "cluster.DetectionThreshold"]
    assert value == pytest.approx(0.7, abs=1e-6)


def test_refused_commands_get_their_codes_and_events_and_flight_keeps_serving(flight_factory):
    flight = flight_factory(["dispatcher.max_tc_size=256"])  # a TC frame carries at most 986 octets of packets
    dictionary = flight.station.dictionary
    mark = flight.event_mark()
    flight.send_and_assert_failure("camera.START_IMAGING", [0, 0], FailureCode.ARGUMENT_OUT_OF_RANGE,
                                   check=False)
    unknown = Telecommand(dictionary.apid, 100, st.FUNCTION, st.PERFORM_FUNCTION,
                          struct.pack(">H", 0xFFFF)).encode()
    flight.send_raw_and_assert_failure(unknown, FailureCode.UNKNOWN_COMMAND)
    good = Telecommand(dictionary.apid, 101, st.TEST, st.PING).encode()
    flight.send_raw_and_assert_failure(good[:-1] + bytes([good[-1] ^ 0x01]),
                                       FailureCode.CRC_MISMATCH)
    flight.send_raw_and_assert_failure(
        Telecommand(dictionary.apid + 1, 102, st.TEST, st.PING).encode(), FailureCode.UNKNOWN_APID)
    flight.send_raw_and_assert_failure(
        Telecommand(dictionary.apid, 103, 99, 1).encode(), FailureCode.UNKNOWN_SERVICE)
    flight.send_raw_and_assert_failure(
        Telecommand(dictionary.apid, 104, st.TEST, 1, bytes(400)).encode(), FailureCode.OVERSIZED)
    reasons = {FailureCode.ARGUMENT_OUT_OF_RANGE, FailureCode.UNKNOWN_COMMAND,
               FailureCode.CRC_MISMATCH, FailureCode.UNKNOWN_APID, FailureCode.UNKNOWN_SERVICE,
               FailureCode.OVERSIZED}
    for code in reasons:
        flight.await_event("dispatcher.CommandRejected", lambda a, c=code: a["code"] == c,
                           start=mark)
    flight.await_telemetry("dispatcher.CommandsRejected", lambda v: v >= len(reasons))
    flight.ping()


def test_garbage_at_the_command_socket_never_crashes_the_flight(flight):
    apid = flight.station.dictionary.apid
    valid = Telecommand(apid, 7, st.TEST, st.PING).encode()
    corrupted_valid = hst.tuples(hst.integers(0, len(valid) * 8 - 1)).map(
        lambda bit: valid[:bit[0] // 8] + bytes([valid[bit[0] // 8] ^ (1 << bit[0] % 8)])
        + valid[bit[0] // 8 + 1:])
    header_then_noise = hst.binary(min_size=0, max_size=300).map(
        lambda body: struct.pack(">HHH", 0x1800 | apid, 0xC000, max(len(body) - 1, 0)) + body)
    garbage = hst.one_of(hst.binary(max_size=900), corrupted_valid, header_then_noise)  # within one TC frame

    @settings(max_examples=120, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(garbage)
    def send(raw: bytes) -> None:
        record = flight.await_verification(flight.station.send_raw(raw), timeout=10)
        assert record.failure is not None, f"garbage {raw.hex()} was accepted"
        stage, code = record.failure
        assert stage is st.Stage.ACCEPTANCE and code in set(FailureCode)

    send()
    assert flight.process.alive()
    flight.ping()
    rejected = flight.await_telemetry("dispatcher.CommandsRejected", lambda v: v >= 120)
    assert rejected >= 120


def test_clean_shutdown_archives_every_packet(flight):
    flight.ping()
    flight.send_and_assert_command("executive.SHUTDOWN")
    assert flight.process.wait(20) == 0
    station = flight.station
    station.close()
    up, down = (station.archive.query("SELECT COUNT(*) FROM packets WHERE direction = ?", d)[0][0]
                for d in ("up", "down"))
    assert up == len(station.command_log)
    assert down == station.stats.packets
    assert station.stats.sequence_gaps == 0 and station.stats.decode_errors == 0


def test_an_upset_commanded_into_the_weights_is_repaired_and_products_stay_correct(flight):
    from flight.app import load_flight_topology
    from flight.payload.scene import SceneGenerator

    flight.await_event("cluster.CardReady", lambda a: a["card"] == "card0")
    mark = flight.event_mark()
    flight.send_and_assert_command("seu.INJECT", {"region": "card0_weights", "target": "live",
                                                  "offset": 100, "bit": 7})
    flight.await_event("seu.UpsetInjected", lambda a: a["region"] == "card0_weights", start=mark)
    repaired = flight.await_event("scrubber.UpsetRepaired",
                                  lambda a: a["region"] == "card0_weights", start=mark)
    assert repaired.args["offset"] == 100 and repaired.args["bits"] == 1
    assert repaired.args["copy"] == "live"
    flight.send_and_assert_command("camera.START_IMAGING", {"count": 8, "priority": 0})
    products = flight.await_products(8, timeout=60)
    scene = SceneGenerator(load_flight_topology().seed)  # the fixture flies the default topology
    for product in products:
        truth = scene.truth(product.frame_id)
        assert product.tile_class == int(truth.tile_class)
        assert (product.fire_cells == truth.fire_cells).all()


def test_card_workers_do_not_outlive_a_killed_flight(flight):
    import os
    import signal
    import time

    flight.await_event("cluster.CardReady", lambda a: a["card"] == "card2")
    pids = [flight.await_telemetry(f"cluster.card{i}_Pid", lambda v: v > 0) for i in range(3)]
    os.kill(flight.process.process.pid, signal.SIGKILL)
    flight.process.process.wait()

    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split()[2] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(p) for p in pids)
