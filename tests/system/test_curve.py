"""CURVE on the ground link, with real processes and sockets: a flight bound to every address
(reachable, so CURVE is on by default) obeys only the ground whose key it authorizes, and its
telemetry goes to that ground only (flight/services/link_security.py)."""
from __future__ import annotations

import time

import zmq

from flight.services.link_security import CurveClient, create_keys
from flight.wire.pus import AckFlags, Telecommand
from ground_sim.api import IntegrationApi
from ground_sim.flight_process import FlightProcess


def test_only_the_authorized_ground_commands_the_flight_and_receives_its_telemetry(tmp_path, demo_model):
    run_dir = tmp_path / "flight"
    flight_public, ground_secret = create_keys(run_dir / "curve")
    process = FlightProcess(run_dir, None, [f'cluster.model="{demo_model}"',
                                            'comms.tc_endpoint="tcp://0.0.0.0:*"',
                                            'comms.tm_endpoint="tcp://0.0.0.0:*"'])
    ready = process.start()
    stranger_tc, stranger_tm = zmq.Context.instance().socket(zmq.DEALER), zmq.Context.instance().socket(zmq.PULL)
    try:
        assert "curve_server_key" in ready  # on by default: the endpoints are reachable
        tc, tm = (ready[k].replace("0.0.0.0", "127.0.0.1") for k in ("tc_endpoint", "tm_endpoint"))
        for socket, endpoint in ((stranger_tc, tc), (stranger_tm, tm)):
            socket.setsockopt(zmq.LINGER, 0)
            socket.connect(endpoint)  # no keys: no handshake
        ground = process.connect(curve=CurveClient.load(flight_public, ground_secret))
        api = IntegrationApi(ground, process=process)
        api.ping()
        before = api.await_telemetry("comms.TcFramesReceived", lambda v: v >= 1)
        shutdown = Telecommand(ground.dictionary.apid, 0, 8, 1,
                               ground.dictionary.command_by_name["executive.SHUTDOWN"].opcode.to_bytes(2, "big"),
                               AckFlags.NONE, 0x0BAD).encode()
        for _ in range(20):   # a DEALER whose handshake failed has no peer: it would block, not send
            try:
                stranger_tc.send(shutdown, zmq.NOBLOCK)
            except zmq.Again:
                pass
        time.sleep(2.0)
        assert process.alive()  # the stranger's SHUTDOWN never reached the flight
        ground.acknowledger.close()  # its acknowledgements are TC frames too: count only what it sent
        time.sleep(1.5)
        mark = api.telemetry_mark("comms.TcFramesReceived")
        assert before <= api.await_telemetry("comms.TcFramesReceived", start=mark) == ground.uplink.stats.frames
        assert stranger_tm.poll(500) == 0  # nothing for the stranger ...
        api.ping()
        assert ground.stats.sequence_gaps == 0  # ... and the ground misses nothing
        api.send_and_assert_command("executive.SHUTDOWN")
        assert process.wait(30) == 0
        ground.close()
    finally:
        stranger_tc.close()
        stranger_tm.close()
        process.kill()
