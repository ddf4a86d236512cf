"""Tests of flight.core.completion: the outcome of work done on another thread."""
from __future__ import annotations

import threading

import pytest
from hypothesis import given, strategies as st

from flight.core.completion import Pending


@given(st.booleans(), st.booleans())
def test_the_callback_runs_once_with_the_outcome_before_or_after_the_work(register_first, fails):
    error = ValueError("no") if fails else None
    pending, seen = Pending(), []
    if register_first:
        pending.when_done(seen.append)
        assert seen == [] and not pending.finished
    worker = threading.Thread(target=pending.finish, args=(error,))
    worker.start()
    worker.join()
    if not register_first:
        pending.when_done(seen.append)
    assert seen == [error] and pending.finished
    with pytest.raises(RuntimeError, match="already finished"):
        pending.finish()
    assert seen == [error]
