"""Tests of Health with a real ActiveComponent whose thread the test blocks and releases."""
from __future__ import annotations

import threading
import time

import pytest

from flight.core.component import ActiveComponent, CommandRefused, Component
from flight.testing import ComponentTester, kind_of

WAIT = 5.0  # bound on waiting for a thread; never a speed requirement


class Worker(ActiveComponent):
    pass


class Passive(Component):
    pass


@pytest.fixture
def h(tmp_path):
    h = ComponentTester.build(tmp_path, [{"name": "health", "kind": "flight.services.health:Health"},
                           {"name": "worker", "kind": kind_of(Worker), "queue_depth": 4},
                           {"name": "passive", "kind": kind_of(Passive)}])
    worker = h.components["worker"]
    worker.start()
    h.releases = []
    yield h
    for release in h.releases:
        release.set()
    worker.stop()


def block(h) -> threading.Event:
    worker = h.components["worker"]
    entered, release = threading.Event(), threading.Event()
    h.releases.append(release)
    assert worker.post(lambda: (entered.set(), release.wait(2 * WAIT)))
    assert entered.wait(WAIT)
    return release


def drain(h) -> None:
    """Wait until the worker has done everything queued so far."""
    worker, done = h.components["worker"], threading.Event()
    deadline = time.monotonic() + WAIT
    while not worker.post(done.set):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert done.wait(WAIT)


def cycle(h, n=1, answer=False):
    """Run ``n`` health cycles; return the health events they emitted.

    With ``answer``, the worker is given the time to answer between cycles (it must not be
    blocked); without, cycles follow each other at once.
    """
    health = h.components["health"]
    h.events.clear()
    for _ in range(n):
        h.tick += 1
        health.tick(h.tick, float(h.tick))
        if answer:
            drain(h)
    return [(e[1], e[2]) for e in h.events]


def strokes(h) -> int:
    return h.components["health"].telemetry["WatchdogStrokes"]


def test_all_responsive_strokes_every_cycle(h):
    for n in range(1, 6):
        assert cycle(h, answer=True) == []
        assert strokes(h) == n
    assert h.components["health"].telemetry["UnresponsiveComponents"] == 0
    # pinged: worker, passive and the rate group, every cycle (all answered in between)
    assert h.components["health"].telemetry["PingsSent"] == 5 * 3


@pytest.mark.parametrize("timeout", [1, 3, 5])
def test_hung_component_reported_once_then_recovered(h, timeout):
    h.components["health"].apply_parameter("PingTimeoutCycles", timeout)
    release = block(h)
    assert cycle(h) == []  # the ping goes out; the worker cannot answer it
    assert strokes(h) == 1
    for waited in range(1, timeout):
        assert cycle(h) == [], waited
    assert strokes(h) == timeout
    assert cycle(h) == [("ComponentUnresponsive", ["worker", timeout])]
    assert strokes(h) == timeout  # no stroke from the cycle that found it unresponsive
    assert cycle(h, 10) == []  # reported once only
    assert strokes(h) == timeout
    assert h.components["health"].telemetry["UnresponsiveComponents"] == 1
    release.set()
    drain(h)  # the worker answered the ping that waited in its queue
    assert cycle(h, answer=True) == [("ComponentRecovered", ["worker"])]
    assert strokes(h) == timeout + 1
    assert h.components["health"].telemetry["UnresponsiveComponents"] == 0
    assert cycle(h, 3, answer=True) == []
    assert strokes(h) == timeout + 4


def test_a_slow_answer_within_the_timeout_is_not_reported(h):
    release = block(h)
    assert cycle(h, 3) == []  # ping sent, then 2 cycles waited: below the default 3
    release.set()
    drain(h)
    assert cycle(h, 5, answer=True) == []
    assert strokes(h) == 8


def test_a_ping_lost_to_a_full_queue_does_not_make_a_live_component_dead_forever(h):
    release = block(h)
    worker = h.components["worker"]
    for _ in range(4):  # fill the queue: the next ping is dropped
        assert worker.post(lambda: None)
    assert cycle(h) == []
    release.set()
    drain(h)  # the worker is alive and idle again
    events = cycle(h, 10, answer=True)
    assert ("ComponentRecovered", ["worker"]) in events or not events
    assert h.components["health"].telemetry["UnresponsiveComponents"] == 0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_component_whose_thread_died_is_restarted_with_an_event_and_answers_again(h):
    worker = h.components["worker"]
    assert worker.post(lambda: (_ for _ in ()).throw(SystemExit("the thread dies")))
    worker._thread.join(WAIT)
    assert not worker._thread.is_alive()
    events = cycle(h, 4)  # unresponsive after PingTimeoutCycles (3): then restarted
    assert ("ComponentUnresponsive", "worker") in [(name, args[0]) for name, args in events]
    assert ("ComponentRestarted", ["worker"]) in events
    assert h.components["health"].telemetry["Restarts"] == 1 and worker._thread.is_alive()
    drain(h)
    assert ("ComponentRecovered", ["worker"]) in cycle(h, 2, answer=True)


def test_a_hung_thread_is_reported_but_not_restarted(h):
    block(h)
    names = [name for name, _ in cycle(h, 4)]
    assert "ComponentUnresponsive" in names and "ComponentRestarted" not in names
    assert h.components["health"].telemetry["Restarts"] == 0


@pytest.fixture
def manual(tmp_path):
    """Health without auto_restart: a dead thread waits for RESTART_UNRESPONSIVE."""
    h = ComponentTester.build(tmp_path, [{"name": "health", "kind": "flight.services.health:Health",
                                          "auto_restart": False},
                                         {"name": "worker", "kind": kind_of(Worker), "queue_depth": 4}])
    worker = h.components["worker"]
    worker.start()
    h.releases = []
    yield h
    for release in h.releases:
        release.set()
    worker.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_without_auto_restart_restart_unresponsive_restarts_a_dead_thread(manual):
    h, health, worker = manual, manual.components["health"], manual.components["worker"]
    with pytest.raises(CommandRefused, match="no component is unresponsive"):
        health.RESTART_UNRESPONSIVE()
    assert worker.post(lambda: (_ for _ in ()).throw(SystemExit("the thread dies")))
    worker._thread.join(WAIT)
    events = cycle(h, 4)
    assert ("ComponentUnresponsive", "worker") in [(name, args[0]) for name, args in events]
    assert "ComponentRestarted" not in [name for name, _ in events] and not worker._thread.is_alive()
    health.RESTART_UNRESPONSIVE()
    assert h.events_named("ComponentRestarted") and worker._thread.is_alive()
    assert health.telemetry["Restarts"] == 1
    drain(h)
    assert ("ComponentRecovered", ["worker"]) in cycle(h, 2, answer=True)


def test_restart_unresponsive_fails_for_a_thread_alive_but_hung(manual):
    h, health = manual, manual.components["health"]
    block(h)
    cycle(h, 4)
    with pytest.raises(CommandRefused, match="not restarted .*: worker"):
        health.RESTART_UNRESPONSIVE()
    assert health.telemetry["Restarts"] == 0
