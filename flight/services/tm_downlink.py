"""TmDownlink: comms' TM store and the thread that frames what it holds and sends it.

Packets wait in the store (bounded: ``capacity``) with the virtual channel they take and the
mission time they were stored. The downlink thread takes up to ``BATCH`` of them at a time,
frames them (flight.services.tm_framer) and offers each frame to the PUSH socket until it goes:
a PUSH refuses to send with no ground connected or at its high-water mark, and nothing is
dropped, the frame is offered again. A packet leaves the store only once every frame of its batch
has gone, so the store holds whatever has not. A changed CLCW with nothing to send goes down in
an idle frame at once. A send error other than a full queue is counted, logged, and the frame
offered again; a thread that dies anyway is started again by :meth:`restart` (comms' health
hook), the store untouched.

| requirement | verified by |
|---|---|
| a packet waits in the store while no ground is connected, then is delivered | tests/unit/services/test_comms.py |
| a full store refuses new packets (comms counts them) | tests/unit/services/test_comms.py |
| a packet leaves the store once its frame is sent | tests/unit/services/test_comms.py |
| a dead thread is restarted and sends what the store kept | tests/unit/services/test_comms.py |
"""
from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from typing import Callable

import zmq

from flight.protection.buffers import PacketStore
from flight.services.tm_framer import TmFramer


class TmDownlink:
    BATCH = 256  # packets framed and sent per round
    SEND_RETRY_S = 0.1  # after a failed send (not a full queue: an error of the socket)

    def __init__(self, name: str, framer: TmFramer, capacity: int, now: Callable[[], float],
                 log: logging.Logger) -> None:
        self.name, self.framer, self.capacity, self._now, self.log = name, framer, capacity, now, log
        self.store: collections.deque[bytes] = collections.deque()
        self._stored: collections.deque[tuple[int, float]] = collections.deque()  # each packet's VC and time
        self.lock = threading.Lock()
        self._ready = threading.Condition(self.lock)
        self.running = False
        self.socket: zmq.Socket | None = None
        self.thread = threading.Thread(target=self._loop, name=f"{name}-downlink", daemon=True)
        self.sent = self.sent_bytes = self.frames_sent = self.corrupt = self.send_failures = 0
        self._clcw_changed = False  # a new CLCW waits for a frame to carry it
        self.region = PacketStore("tm_store", self.store, self.lock)

    # --- the producers' side -----------------------------------------------------------------------
    def put(self, build: Callable[[], bytes], vcid: int, now: float) -> bool:
        """Store the packet ``build`` makes (called under the store's lock, so packets are numbered
        in store order); False, and nothing built, when the store is full."""
        with self.lock:
            if len(self.store) >= self.capacity:
                return False
            self.store.append(build())
            self._stored.append((vcid, now))
            self._ready.notify()
            return True

    def set_clcw(self, clcw: bytes) -> None:
        if clcw != self.framer.clcw:
            with self.lock:
                self.framer.clcw = clcw
                self._clcw_changed = True
                self._ready.notify()

    def depth(self) -> int:
        with self.lock:
            return len(self.store)

    # --- the thread --------------------------------------------------------------------------------
    def start(self, socket: zmq.Socket) -> None:
        self.socket, self.running = socket, True
        self.thread.start()

    def stop(self, flush_timeout: float) -> None:
        """Wait up to ``flush_timeout`` seconds for the store to empty, then stop the thread."""
        deadline = time.monotonic() + flush_timeout
        with self.lock:
            while self.store and time.monotonic() < deadline:
                self._ready.wait(0.05)
            self.running = False
            self._ready.notify_all()
        self.thread.join(timeout=flush_timeout + 1)

    def restart(self) -> bool:
        """The thread again if it died while running (the store is kept)."""
        if self.thread.is_alive() or not self.running:
            return False
        self.thread = threading.Thread(target=self._loop, name=f"{self.name}-downlink", daemon=True)
        self.thread.start()
        return True

    def _loop(self) -> None:
        """Frame what the store holds, a batch at a time; a packet leaves the store once the frames
        of its batch have gone."""
        while True:
            with self.lock:
                while self.running and not self.store and not self._clcw_changed:
                    self._ready.wait()
                if not self.running:
                    return self._unsent()
                count = min(len(self.store), self.BATCH)
                batch = [(packet, vcid, stored) for packet, (vcid, stored)
                         in zip(itertools.islice(self.store, count), itertools.islice(self._stored, count))]
                self._clcw_changed = False
            frames, corrupt = self.framer.frames(batch, self._now()) if batch else ([self.framer.clcw_frame()], 0)
            for frame in frames:
                if not self._send(frame):
                    with self.lock:
                        return self._unsent()
            with self.lock:
                for _ in range(count):
                    self.store.popleft()
                    self._stored.popleft()
                self.sent += count - corrupt
                self.corrupt += corrupt
                self.frames_sent += len(frames)
                self.sent_bytes += sum(len(frame) for frame in frames)
                self._ready.notify_all()

    def _unsent(self) -> None:
        if self.store:
            self.log.warning("%d TM packets not sent at shutdown", len(self.store))

    def _send(self, frame: bytes) -> bool:
        """Send one frame, waiting while the ground is away or behind; False if the flight stops first."""
        while self.running:
            try:
                self.socket.send(frame, copy=False)
                return True
            except zmq.Again:  # no ground connected, or the ground is behind: offer it again
                continue
            except zmq.ZMQError as error:  # the socket failed: keep the frame, count, try again
                self.send_failures += 1
                self.log.warning("TM send failed (%s): the frame is offered again", error)
                time.sleep(self.SEND_RETRY_S)
        return False
