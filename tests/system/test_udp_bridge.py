"""The UDP bridge (ground_sim/udp_bridge.py, options from ground_sim/ground_options.py) on a real flight
over real UDP sockets: HK packets arrive as datagrams; a TC[17,1] sent as a datagram gets its
TM[17,2] (and its ST[1] reports, echoing its request id) back as datagrams; garbage, a TC of
another APID and a TC from another sender than the TM's host are refused and counted and the
bridge keeps working; the CLI stops on SIGTERM and prints its counts; bad options are one line
with exit 2.

One flight for the module's flight test: its test station is closed first, so that the bridge's
station is the flight's only ground (one COP-1 sequence, one IV reservation), as in operations."""
from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from flight.wire.dictionary import Dictionary
from flight.wire.pus import Telecommand, TelemetryPacket
from ground_sim.ground_options import add_station_options, open_station, resolve_station_options
from ground_sim.udp_bridge import UdpBridge, main


def receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    return sock


def wait_for(sock: socket.socket, wanted: Callable[[TelemetryPacket], bool], timeout: float = 15.0) -> TelemetryPacket:
    """The first datagram that is a TM packet ``wanted`` accepts (every datagram must be a TM packet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            raw = sock.recv(65535)
        except TimeoutError:
            continue
        packet = TelemetryPacket.decode(raw)
        if wanted(packet):
            return packet
    raise AssertionError("no such packet over UDP in time")


def test_the_bridge_carries_tm_out_and_tc_in(flight, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = flight.process.run_dir
    flight.station.close()
    parser = argparse.ArgumentParser()
    add_station_options(parser, archive=str(tmp_path / "bridge.sqlite"))
    args = parser.parse_args(["--run-dir", str(run_dir)])
    resolve_station_options(parser, args)
    tm = receiver()
    bridge = UdpBridge(open_station(args), tm.getsockname(), ("127.0.0.1", 0)).start()
    dictionary: Dictionary = bridge.station.dictionary
    try:
        hk = wait_for(tm, lambda p: (p.service, p.subtype) == (3, 25))
        assert int.from_bytes(hk.app_data[:2], "big") in dictionary.housekeeping_by_id
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind(("127.0.0.2", 0))             # another sender than the TM's host
        stranger.sendto(Telecommand(dictionary.apid, 4, 17, 1).encode(), bridge.tc_address)
        uplink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        uplink.sendto(b"\x18\x01 not a telecommand", bridge.tc_address)
        uplink.sendto(Telecommand(dictionary.apid + 1, 0, 17, 1).encode(), bridge.tc_address)
        ping = Telecommand(dictionary.apid, 5, 17, 1)
        uplink.sendto(ping.encode(), bridge.tc_address)
        wait_for(tm, lambda p: (p.service, p.subtype) == (17, 2))
        wait_for(tm, lambda p: (p.service, p.subtype) == (1, 7) and p.app_data[:4] == ping.request_id)
    finally:
        counts = bridge.close()
    assert (counts.tc_sent, counts.tc_refused, counts.tm_failed) == (1, 3, 0) and counts.tm_forwarded >= 3

    def stop_when_hk_arrives() -> None:
        try:
            wait_for(tm, lambda p: (p.service, p.subtype) == (3, 25))
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_hk_arrives, daemon=True).start()
    host, port = tm.getsockname()
    assert main(["--run-dir", str(run_dir), "--archive", str(tmp_path / "cli.sqlite"),
                 "--tm-to", f"{host}:{port}", "--tc-from", "127.0.0.1:0"]) == 0
    out = capsys.readouterr().out
    assert "TC from 127.0.0.1:" in out and "TM packets forwarded" in out and "(refused 0)" in out


@pytest.mark.parametrize("tm_to, tc_from", [("localhost", "127.0.0.1:0"), ("127.0.0.1:0", "127.0.0.1:0"),
                                            ("127.0.0.1:9", "127.0.0.1:70000"),
                                            ("no-such-host.invalid:9", "127.0.0.1:0")])
def test_bad_addresses_are_one_line_exit_2(tm_to: str, tc_from: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    dictionary = tmp_path / "dictionary.json"
    Dictionary("m", 1).write(dictionary)
    argv = ["--tc", "tcp://127.0.0.1:1", "--tm", "tcp://127.0.0.1:2", "--dictionary", str(dictionary),
            "--archive", str(tmp_path / "a.sqlite"), "--tm-to", tm_to, "--tc-from", tc_from]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("orbitfs-bridge: ") and error.count("\n") == 1


def test_a_run_dir_without_a_started_flight_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--run-dir", str(tmp_path), "--ready-timeout", "0.5", "--tm-to", "127.0.0.1:9",
              "--tc-from", "127.0.0.1:0"])
    assert exit_.value.code == 2 and "flight-ready.json" in capsys.readouterr().err
