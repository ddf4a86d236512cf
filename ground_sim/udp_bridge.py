"""``orbitfs-bridge``: a ground that speaks UDP (Yamcs, OpenC3 COSMOS) becomes the other end of the flight.

    orbitfs-bridge --run-dir runs/flight --tm-to 127.0.0.1:10015 --tc-from 127.0.0.1:10025
    orbitfs-bridge --tc tcp://HOST:5550 --tm tcp://HOST:5551 --dictionary dictionary.json --keys ground.json \\
                   --tm-to yamcs-host:10015 --tc-from 0.0.0.0:10025

It runs a ground station (ground_sim.station, options as orbitfs-ground's: ground_sim.ground_options)
on the flight's link (TC frames with FOP-1 and SDLS, TM frames), and:
- every TM space packet the station receives (its frames decoded, in order; a packet the flight
  sent again is forwarded once; an undecodable one and the file transfer's virtual channel are not) goes out as one UDP
  datagram to ``--tm-to`` (Yamcs UdpTmDataLink, COSMOS UDP interface read port);
- every datagram arriving on ``--tc-from`` is one TC space packet (Yamcs UdpTcDataLink): a valid
  PUS-C TC of the mission's APID (header, length, CRC: flight.wire.pus) sent from an address of
  ``--tc-peer`` (default: the host of ``--tm-to``, the ground that receives the TM) goes up through
  the station, authenticated by the station's keys, as orbitfs-ground's ``raw`` does; anything
  else (another sender included: a process that can reach the port must not command the flight
  through the bridge's keys) is refused with a log line and counted, and the bridge goes on.
Packets each way are counted and printed at exit (SIGINT or SIGTERM stop it cleanly).

| requirement | verified by |
| HK packets arrive over UDP; a TC[17,1] over UDP gets its TM[17,2] back over UDP | tests/system/test_udp_bridge.py |
| a datagram that is not a TC of the mission, or comes from another sender than the TC peer, |   |
|   is refused and counted; the bridge goes on |   |
|   | tests/system/test_udp_bridge.py |
| SIGTERM stops the CLI, which prints the counts; bad options: one line, exit 2 | tests/system/test_udp_bridge.py |
"""
from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

from flight.cli_common import add_common_options, configure_logging
from flight.wire.failure import PacketError
from flight.wire.pus import Telecommand
from ground_sim.archive import ArchiveError
from ground_sim.ground_options import add_station_options, open_station, resolve_station_options
from ground_sim.station import GroundStation

log = logging.getLogger(__name__)
MAX_DATAGRAM = 65535


def address(text: str, *, any_port: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` as (host, port); ValueError naming what is allowed. Port 0 (any free port)
    only with ``any_port``."""
    host, _, port = text.rpartition(":")
    low = 0 if any_port else 1
    if not host or not port.isdigit() or not low <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT with a port {low}..65535")
    return host.strip("[]"), int(port)


@dataclass
class BridgeCounts:
    tm_forwarded: int = 0
    tm_failed: int = 0
    tc_sent: int = 0
    tc_refused: int = 0

    def __str__(self) -> str:
        return (f"TM packets forwarded {self.tm_forwarded} (failed {self.tm_failed}), "
                f"TC packets sent up {self.tc_sent} (refused {self.tc_refused})")


class UdpBridge:
    """TM packets of ``station`` out to ``tm_to``; TC packets in on ``tc_from`` up through it."""

    def __init__(self, station: GroundStation, tm_to: tuple[str, int], tc_from: tuple[str, int],
                 tc_peer: str | None = None) -> None:
        """``tc_peer``: the host TC datagrams are accepted from (default: ``tm_to``'s host)."""
        self.station = station
        self._peers = {info[4][0] for info in socket.getaddrinfo(tc_peer or tm_to[0], None, type=socket.SOCK_DGRAM)}
        self.counts = BridgeCounts()
        self._lock = threading.Lock()
        family, _, _, _, self._tm_to = socket.getaddrinfo(*tm_to, type=socket.SOCK_DGRAM)[0]
        self._tm_socket = socket.socket(family, socket.SOCK_DGRAM)
        family, _, _, _, bind_to = socket.getaddrinfo(*tc_from, type=socket.SOCK_DGRAM)[0]
        self._tc_socket = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._tc_socket.bind(bind_to)
        except OSError:
            self._tm_socket.close()
            self._tc_socket.close()
            raise
        self._tc_socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive_tcs, name="udp-bridge-tc", daemon=True)
        station.packet_kept = self._forward

    @property
    def tc_address(self) -> tuple[str, int]:
        """Where TC datagrams are received (the real port when 0 was asked for)."""
        return self._tc_socket.getsockname()[:2]

    def start(self) -> "UdpBridge":
        self.station.start()
        self._thread.start()
        return self

    def close(self) -> BridgeCounts:
        """Stop both ways and the station; return the counts."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.station.close()
        self._tm_socket.close()
        self._tc_socket.close()
        return self.counts

    def _forward(self, raw: bytes) -> None:
        try:
            self._tm_socket.sendto(raw, self._tm_to)
        except OSError as error:   # nobody listening (ICMP refused), a full buffer: counted, never fatal
            log.warning("TM packet not forwarded to %s: %s", self._tm_to, error)
            with self._lock:
                self.counts.tm_failed += 1
            return
        with self._lock:
            self.counts.tm_forwarded += 1

    def _receive_tcs(self) -> None:
        while not self._stop.is_set():
            try:
                raw, sender = self._tc_socket.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError as error:
                log.warning("TC socket: %s", error)
                continue
            self._send_up(raw, sender)

    def _send_up(self, raw: bytes, sender: Any) -> None:
        try:
            if sender[0] not in self._peers:
                raise ValueError(f"not from the TC peer ({', '.join(sorted(self._peers))})")
            tc = Telecommand.decode(raw)
            if tc.apid != self.station.dictionary.apid:
                raise ValueError(f"APID {tc.apid}, the mission's is {self.station.dictionary.apid}")
            self.station.send_raw(raw, f"udp TC[{tc.service},{tc.subtype}]")
        except (PacketError, ValueError) as error:
            log.warning("datagram of %d bytes from %s refused: %s", len(raw), sender, error)
            with self._lock:
                self.counts.tc_refused += 1
            return
        with self._lock:
            self.counts.tc_sent += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-bridge", description=__doc__.split("\n")[0])
    add_station_options(parser, archive="bridge-archive.sqlite")
    parser.add_argument("--tm-to", required=True, metavar="HOST:PORT", help="send each TM packet there (UDP)")
    parser.add_argument("--tc-from", required=True, metavar="HOST:PORT",
                        help="receive TC packets here (UDP; port 0: any free port, printed)")
    parser.add_argument("--tc-peer", metavar="HOST", help="accept TC datagrams from this host only "
                                                          "(default: the --tm-to host)")
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    resolve_station_options(parser, args)
    try:
        tm_to, tc_from = address(args.tm_to), address(args.tc_from, any_port=True)
        station = open_station(args)
    except (ArchiveError, OSError, ValueError, KeyError) as error:
        print(f"orbitfs-bridge: {error}", file=sys.stderr)
        return 2
    try:
        bridge = UdpBridge(station, tm_to, tc_from, args.tc_peer)
    except OSError as error:   # an address that cannot be resolved or bound
        station.archive.close()
        print(f"orbitfs-bridge: {args.tm_to} / {args.tc_from}: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        bridge.start()
        print(f"orbitfs-bridge: TM to {args.tm_to}, TC from {bridge.tc_address[0]}:{bridge.tc_address[1]}",
              flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        counts = bridge.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    print(f"orbitfs-bridge: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
