"""TcIntake: the telecommands waiting for the dispatcher, bounded and fair between peers.

A flood must not stall the flight or starve an operator. Messages from the ground wait in one
queue per peer (the ZeroMQ identity of the connection), at most ``per_peer`` each and
``max_peers`` peers at once; a message that finds its queue full (or no room for a new peer) is
refused and counted, never queued. The dispatcher is given at most ``per_cycle`` messages per
cycle, taken from the peers in turn, so a peer that floods waits behind its own messages while
another's are served within a cycle or two.

Requirements (verified in tests/unit/services/test_tc_intake.py and tests/system/test_flood.py):
messages of one peer keep their order; no peer waits more than one round behind another; the
queue never holds more than ``per_peer`` x ``max_peers`` messages; every refusal is counted.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any


class TcIntake:
    def __init__(self, per_peer: int, max_peers: int) -> None:
        self.per_peer = per_peer
        self.max_peers = max_peers
        self.refused = 0
        self._queues: OrderedDict[bytes, deque[Any]] = OrderedDict()  # peers in serving order
        self._depth = 0

    def offer(self, peer: bytes, message: Any) -> bool:
        """Queue ``message`` from ``peer``; False (and counted) if it is refused."""
        queue = self._queues.get(peer)
        if queue is None:
            if len(self._queues) >= self.max_peers:
                self.refused += 1
                return False
            queue = self._queues[peer] = deque()
        if len(queue) >= self.per_peer:
            self.refused += 1
            return False
        queue.append(message)
        self._depth += 1
        return True

    def take(self, count: int) -> list[Any]:
        """Up to ``count`` messages, one peer after the other (round robin), each peer's in order."""
        taken: list[Any] = []
        while self._queues and len(taken) < count:
            peer, queue = next(iter(self._queues.items()))
            taken.append(queue.popleft())
            self._depth -= 1
            if queue:
                self._queues.move_to_end(peer)
            else:
                del self._queues[peer]
        return taken

    def __len__(self) -> int:
        return self._depth
