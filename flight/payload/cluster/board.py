"""The simulated card hardware's radiation state: latch-up, total dose, burn-out, SEFI.

In hardware-in-the-loop the accelerator card has its own physics; in software-in-the-loop the card
worker (flight.payload.cluster.card_worker) plays the board, and this is the part of it that a
power cycle does not undo. It lives in a small JSON file per card, ``BOARDS_DIR/<card>.json``
(the cluster keeps it in ``RUN_DIR/boards``), so the damage outlives the worker process that the
flight kills and restarts:

- **Single-event latch-up** (``latch``): the board draws ``excess_w`` watts more than its
  functional load, and keeps computing right. A latch-up is cleared only by removing power (the
  process ends). Left latched ``burn_s`` seconds, the board burns out: from then on it never
  starts again (the worker exits with :data:`BURNED_EXIT` at once), as a destroyed board would.
- **Total ionizing dose** (``dose``): every inference after a TID fault adds one step of dose;
  each step slows the board by ``tid_percent`` percent of its fault-free time, permanently.
- **Single-event functional interrupt**: the board stops serving inferences and keeps its
  management plane (heartbeats) alive, until its power is cycled. It is not persisted: a new
  process is a power-cycled board.

``replace`` is the test equipment fitting a fresh board (``clear``): no dose, not burned.

| requirement | verified by |
|---|---|
| dose and burn-out survive a restart of the worker; replace forgets them | tests/unit/payload/test_board.py |
| a latch-up left on burns the board; power-cycled in time it does not | tests/system/test_cluster_engine.py |
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

BURNED_EXIT = 71   # a worker's exit status when its board is burned out


class Board:
    """One card's persistent radiation state (no file: kept in memory for this process only)."""

    def __init__(self, path: Path | None, burn_s: float) -> None:
        self.path = path
        self.burn_s = burn_s
        self.burned = False
        self.dose = 0
        self.tid_percent = 0.0
        self.excess_w = 0.0          # latch-up current, as power above the board's load
        self.latched_at: float | None = None
        if path is not None and path.exists():
            state = json.loads(path.read_text())
            self.burned, self.dose, self.tid_percent = state["burned"], state["dose"], state["tid_percent"]

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"burned": self.burned, "dose": self.dose,
                                         "tid_percent": self.tid_percent}))
        os.replace(temporary, self.path)

    def latch_up(self, excess_w: float) -> None:
        if self.latched_at is None:
            self.latched_at = time.monotonic()
        self.excess_w = excess_w

    def check_burn(self) -> bool:
        """Whether the latch-up has lasted ``burn_s``: the board is burned out (and saved so)."""
        if self.latched_at is not None and time.monotonic() - self.latched_at >= self.burn_s:
            self.burned = True
            self._save()
        return self.burned

    def irradiate(self, tid_percent: float) -> None:
        """A total-dose fault: from now on each inference adds a step of ``tid_percent`` slowdown."""
        self.tid_percent = tid_percent
        self._save()

    def slowdown(self) -> float:
        """The factor the dose so far slows an inference by; one more step of dose taken."""
        if not self.tid_percent:
            return 1.0
        factor = 1.0 + self.tid_percent / 100.0 * self.dose
        self.dose += 1
        self._save()
        return factor

    def replace(self) -> None:
        """A fresh board: no dose, no latch-up, not burned."""
        self.burned, self.dose, self.tid_percent, self.excess_w, self.latched_at = False, 0, 0.0, 0.0, None
        self._save()


def replace_board(boards_dir: Path, card: str) -> None:
    """Fit a fresh board for ``card`` (test equipment, e.g. after a burn-out in a campaign)."""
    (Path(boards_dir) / f"{card}.json").unlink(missing_ok=True)
