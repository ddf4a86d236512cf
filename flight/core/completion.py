"""Completion of work that runs on another thread: a command a component executes on its own
thread reports its outcome when the work has run, not when it was queued (F Prime's async
commands).

A command handler that hands its work to another thread returns a :class:`Pending`; whoever runs
the work calls :meth:`Pending.finish` once, with the exception that failed it or None. The
command router (the dispatcher) registers with :meth:`Pending.when_done` and sends the ST[1]
completion from there. The callback runs in the thread that finishes the work, or at once if it
is already finished.

Requirements (verified in tests/unit/core/test_completion.py): the callback runs exactly once,
with the outcome, whether it is registered before or after the work finished, from any thread;
finishing twice is refused.
"""
from __future__ import annotations

import threading
from typing import Callable

Outcome = Callable[[BaseException | None], None]


class Pending:
    """The outcome of work that has not run yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished = False
        self._error: BaseException | None = None
        self._callbacks: list[Outcome] = []

    def finish(self, error: BaseException | None = None) -> None:
        """The work ran: successfully (``error`` None) or failed with ``error``."""
        with self._lock:
            if self._finished:
                raise RuntimeError("this work was already finished")
            self._finished, self._error = True, error
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(error)

    def when_done(self, callback: Outcome) -> None:
        """Call ``callback(error)`` once the work has run (now, if it already has)."""
        with self._lock:
            if not self._finished:
                self._callbacks.append(callback)
                return
        callback(self._error)

    @property
    def finished(self) -> bool:
        return self._finished
