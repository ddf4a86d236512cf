"""FlightLink: the ground's ZeroMQ sockets. DEALER -> flight ROUTER for TC frames, PULL <- flight PUSH for TM frames.

A DEALER blocks (never drops) at its high-water mark, so a frame handed to ``send`` reaches the
flight's socket. The receive thread hands each TM message (one TM frame), with its arrival time,
to a callback.
With a :class:`CurveClient` both sockets are CURVE clients of the flight (its public key, the
ground's key pair): needed when the flight's link uses CURVE (flight.services.link_security).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import zmq

from flight.services.link_security import CurveClient


MAX_MESSAGE = 2048  # the longest TM transfer frame (CCSDS 132.0-B-3)


class FlightLink:
    def __init__(self, tc_endpoint: str, tm_endpoint: str,
                 on_message: Callable[[bytes, float], None],
                 context: zmq.Context | None = None, curve: CurveClient | None = None) -> None:
        self.curve = curve
        self.tc_endpoint = tc_endpoint
        self.tm_endpoint = tm_endpoint
        self._on_message = on_message
        self._context = context or zmq.Context.instance()
        self._send_lock = threading.Lock()
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._receive_loop, name="ground-rx", daemon=True)

    def start(self) -> None:
        self._tc = self._context.socket(zmq.DEALER)
        self._tc.setsockopt(zmq.LINGER, 2000)
        self._tm = self._context.socket(zmq.PULL)
        self._tm.setsockopt(zmq.LINGER, 0)
        self._tm.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)  # a larger message is no TM frame: refused
        if self.curve is not None:
            self.curve.secure(self._tc)
            self.curve.secure(self._tm)
        self._tc.connect(self.tc_endpoint)
        self._tm.connect(self.tm_endpoint)
        self._running.set()
        self._thread.start()

    def send(self, frame: bytes) -> None:
        with self._send_lock:
            self._tc.send(frame)

    def _receive_loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._tm, zmq.POLLIN)
        while self._running.is_set():
            if not poller.poll(100):
                continue
            while True:
                try:
                    message = self._tm.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._on_message(message, time.time())

    def close(self) -> None:
        self._running.clear()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._tc.close()
        self._tm.close()
