"""Acknowledger: the ground's side of the flight's TM store (ST[15]): every ``interval`` seconds it
acknowledges the runs of packets it holds (``comms.ACKNOWLEDGE``), so the flight lets them go,
and asks again for the packets missing between runs (``comms.RETRANSMIT``), each gap at most
once per ``retransmit_after`` seconds, while the ground is in contact (``contact``: a pass, with
the link model of ground_sim.link_relay; always, without one).

Only what the station's archive holds is acknowledged: before it sends a round's
acknowledgements it waits for the archive to commit what it received (``durable``); if the
archive failed or lost a row, it acknowledges nothing (the flight keeps its packets, and the
archive's alarm says why). It reads the station's :class:`~ground_sim.completeness.Completeness`
under the station's lock and sends through a callable (the station's, which puts the TC through
COP-1 and SDLS); a ground without keys cannot command, and a send that fails is counted, never fatal: the flight then
sends its packets again after its ``ack_timeout``, and the archive keeps each once.

| requirement | verified by |
|---|---|
| acknowledgements and retransmission requests go out as the completeness says; a failing send |   |
|   is counted and the thread goes on | tests/unit/ground/test_acknowledger.py |
| nothing is acknowledged that the archive does not hold | tests/unit/ground/test_acknowledger.py |
| nothing is sent out of contact; what waited goes in the next round in contact |   |
|   | tests/unit/ground/test_acknowledger.py |
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ground_sim.completeness import Completeness

log = logging.getLogger(__name__)


class Acknowledger:
    def __init__(self, completeness: Completeness, lock: threading.Condition | threading.Lock,
                 send: Callable[[str, list[Any]], Any], durable: Callable[[], bool] = lambda: True,
                 interval: float = 1.0, retransmit_after: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 contact: Callable[[], bool] = lambda: True) -> None:
        self.completeness, self._lock, self._send, self._clock = completeness, lock, send, clock
        self._contact = contact
        self._durable = durable
        self.interval, self.retransmit_after = interval, retransmit_after
        self.acknowledged = self.requested = self.failures = self.withheld = 0
        self._asked: dict[tuple[int, int, int], float] = {}   # gap -> when it was last asked for
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ground-acknowledger", daemon=True)

    def start(self) -> "Acknowledger":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.round()

    def round(self) -> None:
        """One round: acknowledge what is held, ask for what is missing (only in contact: a
        command sent outside a pass would not reach the flight)."""
        if not self._contact():
            return
        with self._lock:
            acks = self.completeness.acknowledgements()
            gaps = self.completeness.gaps()
        if acks and not self._durable():          # the archive does not hold them (yet, or at all):
            with self._lock:                      # the flight keeps them, they are acknowledged later
                self.completeness.forget_acknowledgements()
            self.withheld += 1
            acks = []
        for ack in acks:
            if self._command("comms.ACKNOWLEDGE", [ack.apid, ack.first, ack.last, ack.count]):
                self.acknowledged += 1
        now = self._clock()
        open_gaps = {(gap.apid, gap.after, gap.before) for gap in gaps}
        self._asked = {key: at for key, at in self._asked.items() if key in open_gaps}
        for key in sorted(open_gaps):
            since = self._asked.setdefault(key, now)            # a new gap may only be on its way: wait
            if now - since >= self.retransmit_after:
                if self._command("comms.RETRANSMIT", list(key)):
                    self.requested += 1
                self._asked[key] = now

    def _command(self, name: str, args: list[Any]) -> bool:
        try:
            self._send(name, args)
            return True
        except Exception as error:  # no keys, a full uplink queue, ...: counted; the flight sends again
            self.failures += 1
            log.debug("%s %s not sent: %s", name, args, error)
            return False
