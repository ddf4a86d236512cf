"""Who may talk to the flight: ZeroMQ CURVE with ZAP on the ground link.

With CURVE on, both comms sockets (the TC ROUTER and the TM PUSH) are CURVE servers holding the
flight's secret key, and a ZAP handler (pyzmq's ``ThreadAuthenticator``) admits only clients
whose public key is in the authorized folder. A connection without one of those keys completes
no handshake: it cannot send a TC, and TM goes to authenticated grounds only, so a stranger
cannot take a share of the downlink. Keys are ZeroMQ certificate files
(``zmq.auth.create_certificates``: ``NAME.key`` holds the public key, ``NAME.key_secret`` both),
kept out of the repository.

``curve = "auto"`` (the default) turns CURVE on when an endpoint is reachable from another host
(TCP on anything but a loopback address) and off for loopback, IPC and in-process endpoints;
``"on"`` and ``"off"`` say so explicitly. A flight that would bind a reachable endpoint without
keys refuses to start (one line); running it unauthenticated takes ``curve = "off"`` written in
its configuration, and comms then says so in a WARNING_HI event at start.

| requirement | verified by |
| auto: on for a reachable endpoint, off for loopback, IPC, in-process | tests/unit/services/test_link_security.py |
| a reachable endpoint without keys is refused before anything starts | tests/unit/services/test_link_security.py |
| with CURVE, only an authorized ground sends TCs and receives TM | tests/system/test_curve.py |
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

_TCP_HOST = re.compile(r"^tcp://(\[[0-9a-fA-F:]+\]|[^:]+):")


def reachable(endpoint: str) -> bool:
    """Whether another host could connect to ``endpoint`` (TCP on a non-loopback address)."""
    match = _TCP_HOST.match(endpoint)
    if match is None:
        return False  # ipc:// and inproc:// stay on this host
    host = match.group(1).strip("[]")
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface or a host name: reachable
        return True


def curve_wanted(mode: str, endpoints: list[str]) -> bool:
    """Whether CURVE is on for ``mode`` ("auto", "on", "off") and these endpoints."""
    return mode == "on" or (mode == "auto" and any(reachable(e) for e in endpoints))


@dataclass
class CurveServer:
    """The flight's CURVE keys and its ZAP handler (one per comms, on comms' own context)."""

    public_key: bytes
    secret_key: bytes
    clients: Path

    @classmethod
    def load(cls, secret_file: Path, clients: Path) -> "CurveServer":
        """Keys from the flight's certificate and the folder of authorized ground certificates;
        ValueError with the reason if either is unusable."""
        try:
            public, secret = zmq.auth.load_certificate(secret_file)
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read the flight's CURVE certificate {secret_file}: {error}") from None
        if secret is None:
            raise ValueError(f"{secret_file} holds no secret key (use the NAME.key_secret file)")
        if not clients.is_dir() or not zmq.auth.load_certificates(clients):
            raise ValueError(f"no authorized ground certificate (NAME.key) in {clients}")
        return cls(public, secret, clients)

    def start(self, context: zmq.Context) -> ThreadAuthenticator:
        """The ZAP handler admitting the authorized grounds only, running on ``context``."""
        authenticator = ThreadAuthenticator(context)
        authenticator.start()
        authenticator.configure_curve(domain="*", location=str(self.clients))
        return authenticator

    def secure(self, socket: zmq.Socket) -> None:
        """Make ``socket`` a CURVE server with the flight's keys (before it binds)."""
        socket.curve_secretkey = self.secret_key
        socket.curve_publickey = self.public_key
        socket.curve_server = True


@dataclass(frozen=True)
class CurveClient:
    """A ground's keys for a flight that uses CURVE: the flight's public key, the ground's pair."""

    server_public: bytes
    public_key: bytes
    secret_key: bytes

    @classmethod
    def load(cls, server_public_file: Path, client_secret_file: Path) -> "CurveClient":
        server, _ = zmq.auth.load_certificate(server_public_file)
        public, secret = zmq.auth.load_certificate(client_secret_file)
        if secret is None:
            raise ValueError(f"{client_secret_file} holds no secret key (use the NAME.key_secret file)")
        return cls(server, public, secret)

    def secure(self, socket: zmq.Socket) -> None:
        """Make ``socket`` a CURVE client of the flight (before it connects)."""
        socket.curve_serverkey = self.server_public
        socket.curve_publickey = self.public_key
        socket.curve_secretkey = self.secret_key


def create_keys(folder: Path, ground: str = "ground") -> tuple[Path, Path]:
    """A fresh key set in ``folder``: the flight's certificate (``flight.key_secret``, public part
    ``flight.key``), a ground's (``GROUND.key_secret``), and the folder of authorized grounds
    (``grounds/GROUND.key``). Returns (the flight's public certificate, the ground's secret one).
    The secret certificates are readable by their owner only (mode 0600), as the SDLS key file is."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grounds").mkdir(exist_ok=True)
    flight_public, flight_secret = zmq.auth.create_certificates(folder, "flight")
    ground_public, ground_secret = zmq.auth.create_certificates(folder, ground)
    for secret in (flight_secret, ground_secret):
        os.chmod(secret, 0o600)
    Path(ground_public).replace(folder / "grounds" / f"{ground}.key")
    return Path(flight_public), Path(ground_secret)


def main(argv: list[str] | None = None) -> int:
    """``python -m flight.services.link_security DIR``: create a key set for one flight and one
    ground (copy DIR to the flight's run directory as ``curve/``; give the ground
    DIR/flight.key and DIR/ground.key_secret)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--ground", default="ground", help="the ground's name (its certificate's)")
    args = parser.parse_args(argv)
    flight_public, ground_secret = create_keys(args.folder, args.ground)
    print(f"flight: {args.folder / 'flight.key_secret'} (public {flight_public}); authorized grounds: "
          f"{args.folder / 'grounds'}; ground: {ground_secret}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
