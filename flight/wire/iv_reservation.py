"""IvReservation: a sending SA's IV and ARSN only grow, across restarts and crashes too.

An AES-GCM key must never seal two frames with one IV, and the receiver's anti-replay refuses a
counter at or below the last it accepted. A sender that restarts from its last saved counter
after a crash would do both, unless every counter it used had been saved first. Saving before
every frame costs a sync each time; instead the reservation saves a bound ``step`` ahead
(flight.core.durable) and the sender uses counters below it; when the SA reaches the bound the
next one is saved before the frame goes. A restarted sender starts at the saved bound: it skips
at most ``step`` values, which the receiver's anti-replay window must allow.

| requirement | verified by |
|---|---|
| after a restart (a crash at any point) the SA's IV and ARSN are above every one used before |   |
|   | tests/unit/wire/test_iv_reservation.py |
| a save happens once per ``step`` frames, not per frame | tests/unit/wire/test_iv_reservation.py |
"""
from __future__ import annotations

from pathlib import Path

from flight.core.durable import DurableRecord
from flight.wire.sdls import SecurityAssociation


class IvReservation:
    def __init__(self, sa: SecurityAssociation, path: str | Path, step: int) -> None:
        if step < 1:
            raise ValueError(f"an IV reservation step of {step}: at least 1")
        self.sa, self.step = sa, step
        self._record = DurableRecord(path)
        saved = self._record.load() or {}
        self._iv = int(saved.get("iv", 0))
        self._arsn = int(saved.get("arsn", 0))
        sa.iv = max(sa.iv, self._iv)
        if sa.arsn_len:
            sa.arsn = max(sa.arsn, self._arsn)
        self.saves = 0

    def before_use(self) -> None:
        """Call before the SA protects a frame: the IV and ARSN it is about to use are reserved on disk."""
        sa = self.sa
        if sa.iv < self._iv and (not sa.arsn_len or sa.arsn < self._arsn):
            return
        iv, arsn = sa.iv + self.step, sa.arsn + self.step if sa.arsn_len else 0
        self._record.save({"iv": iv, "arsn": arsn})
        self._iv, self._arsn = iv, arsn
        self.saves += 1

    def close(self) -> None:
        self._record.close()
