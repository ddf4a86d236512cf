"""CardLink: the wire between the flight and one card worker, a Unix SOCK_SEQPACKET socket pair.

The flight creates the pair when it spawns a card and hands one end to the worker process (an
inherited file descriptor). Each message of ``protocol`` is one datagram, so message boundaries
need no framing, and a send by either of the worker's two threads (the server loop and the
heartbeat thread) can never interleave with the other's. There is no I/O thread on either side:
a send is one system call that puts the message in the peer's receive queue, and a card that is
busy computing finds its next request there without being woken. A process that ends, however it
ends (SIGKILL included), closes its end, so the other side reads end-of-file at once: the flight
learns of a crashed card without waiting for a heartbeat, and a card whose flight is gone exits.

Why not ZeroMQ here (as before): in tools/bench_inference.py figure 2 (two saturated cards on
this 2-core host) its I/O threads took ~100 us of CPU per frame in all (the flight's ~45, the
cards' ~55), ~8 % of a 1.3 ms inference; replacing them with these socket pairs alone took that
figure from 0.76 to 0.81 of bare ONNX Runtime. Cards are local child processes of the flight (a
card is an accelerator wired to the payload computer); the ground link stays on ZeroMQ.

| requirement | verified by |
| a message is delivered whole, as one datagram, in order | tests/system/test_card_link.py |
| the end of the peer process reads as end-of-file | tests/system/test_card_link.py |
| a send that would block (the card stopped reading) fails at once | tests/system/test_card_link.py |
"""
from __future__ import annotations

import socket

MAX_CONTROL_MESSAGE = 4096  # HELLO, ERROR and FAULT messages are cut to fit this


class CardLink:
    """The flight's end of a card's socket (non-blocking), and the worker's end until spawned."""

    def __init__(self, max_message: int) -> None:
        self.max_message = max(MAX_CONTROL_MESSAGE, max_message)
        self.socket, self._worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.socket.setblocking(False)
        self.closed = False

    def worker_fd(self) -> int:
        """The descriptor to pass to the worker (``pass_fds``); call :meth:`spawned` after."""
        return self._worker_end.fileno()

    def spawned(self) -> None:
        """The worker holds its end now: close ours, so that its exit reads as end-of-file."""
        self._worker_end.close()

    def fileno(self) -> int:
        return self.socket.fileno()

    def send(self, message: bytes) -> None:
        """Queue ``message`` for the card; BlockingIOError if its queue is full (it stopped)."""
        self.socket.send(message)

    def receive(self) -> bytes | None:
        """The next message; None once the card's end is closed. BlockingIOError if there is
        none yet: call it when poll says the link is readable (poll says so again while more
        messages wait, so each wake-up reads one without a failing call after it)."""
        try:
            message = self.socket.recv(self.max_message)
        except ConnectionResetError:
            return None
        return message or None  # a datagram is never empty: b"" is end-of-file

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.socket.close()
            self._worker_end.close()


def worker_socket(fd: int) -> socket.socket:
    """The worker's end of its link, blocking, from the inherited descriptor ``fd``."""
    return socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=fd)
