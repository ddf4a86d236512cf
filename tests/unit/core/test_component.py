"""Tests of flight.core.component: declarations, parameters, event throttles, active components."""
from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from flight.core.component import (ActiveComponent, Channel, CommandBusy, CommandError, Component, Event,
                                   Parameter, command)
from flight.core.types import DataType, Field, Severity, ValueRejected
from flight.testing import ComponentTester, kind_of

WAIT = 5.0  # upper bound for a thread to do what it was asked; never a speed requirement


class Gadget(Component):
    CHANNELS = {"Level": Channel(DataType.U16), "Name": Channel(DataType.STRING)}
    EVENTS = {
        "Noisy": Event(Severity.WARNING_LO, "noisy {n}", (Field("n", DataType.U8),), throttle=3),
        "Quiet": Event(Severity.ACTIVITY, "quiet"),
        "Once": Event(Severity.ACTIVITY, "once", throttle=1),
    }
    PARAMETERS = {
        "Gain": Parameter(DataType.U16, 10, 5, 100),
        "Scale": Parameter(DataType.F32, 1.0, -2.0, 2.0),
        "Free": Parameter(DataType.I8, 0),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.changes: list[tuple[str, object]] = []

    def on_parameter(self, name, value):
        self.changes.append((name, value))

    @command(description="third in the base")
    def ZULU(self):
        pass

    @command(Field("x", DataType.U8))
    def ALPHA(self, x):
        """Alpha from the docstring.

        More text."""

    def helper(self):  # not a command
        pass

    @command()
    def MIKE(self):
        pass


class GadgetPlus(Gadget):
    @command()
    def BRAVO(self):
        pass

    @command(Field("y", DataType.U16), description="overridden")
    def ALPHA(self, y):
        pass


class Worker(ActiveComponent):
    QUEUE_DEPTH = 4

    @command(Field("fail", DataType.BOOL))
    def WORK(self, fail):
        self.worked = threading.current_thread().name
        if fail:
            raise CommandError("it did not work")


@pytest.fixture
def h(tmp_path):
    return ComponentTester.build(tmp_path, [{"name": "gadget", "kind": kind_of(Gadget)},
                              {"name": "worker", "kind": kind_of(Worker), "queue_depth": 3}])


@pytest.fixture
def worker(h):
    component = h.components["worker"]
    component.start()
    blockers: list[threading.Event] = []
    component.blockers = blockers
    yield component
    for blocker in blockers:
        blocker.set()
    component.stop()
    assert not component._thread.is_alive()


def block(component: ActiveComponent) -> threading.Event:
    """Occupy the component's thread until the returned event is set."""
    entered, release = threading.Event(), threading.Event()
    component.blockers.append(release)
    assert component.post(lambda: (entered.set(), release.wait(WAIT * 2)))
    assert entered.wait(WAIT)
    return release


def drained(component: ActiveComponent) -> bool:
    """Post a marker and wait until the thread reaches it (everything before it is done)."""
    done = threading.Event()
    deadline = time.monotonic() + WAIT
    while not component.post(done.set):  # the queue may still be full: retry until it drains
        assert time.monotonic() < deadline, "queue never drained"
        time.sleep(0.005)
    return done.wait(WAIT)


# --- declarations ------------------------------------------------------------------------------
def test_undeclared_channel_is_refused(h):
    gadget = h.components["gadget"]
    gadget.tlm("Level", 7)
    with pytest.raises(KeyError):
        gadget.tlm("Levle", 7)
    assert gadget.telemetry == {"Level": 7, "Name": ""}


def test_undeclared_event_is_refused(h):
    gadget = h.components["gadget"]
    with pytest.raises(KeyError):
        gadget.event("Nope")
    assert h.events == []


def test_undeclared_parameter_is_refused(h):
    gadget = h.components["gadget"]
    with pytest.raises(KeyError):
        gadget.param("Gian")
    with pytest.raises(KeyError):
        gadget.apply_parameter("Gian", 10)
    with pytest.raises(KeyError):
        gadget.param("Gian")  # not created on the fly by the refused set
    assert gadget.changes == []


def test_telemetry_starts_at_zero_of_each_type(h):
    assert h.components["gadget"].telemetry == {"Level": 0, "Name": ""}


# --- parameters --------------------------------------------------------------------------------
def test_parameters_start_at_their_defaults(h):
    gadget = h.components["gadget"]
    assert (gadget.param("Gain"), gadget.param("Scale"), gadget.param("Free")) == (10, 1.0, 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-10, 200), max_size=10))
def test_parameter_range_checked_before_applied(tmp_path_factory, values):
    h = ComponentTester.build(tmp_path_factory.getbasetemp(), [{"name": "gadget", "kind": kind_of(Gadget)}])
    gadget = h.components["gadget"]
    current, expected_changes = 10, []
    for value in values:
        if 5 <= value <= 100:
            assert gadget.apply_parameter("Gain", value) == value
            current = value
            expected_changes.append(("Gain", value))
        else:
            with pytest.raises(ValueRejected) as caught:
                gadget.apply_parameter("Gain", value)
            assert caught.value.out_of_range
        assert gadget.param("Gain") == current
    assert gadget.changes == expected_changes


def test_parameter_type_checked_and_coerced(h):
    gadget = h.components["gadget"]
    with pytest.raises(ValueRejected):
        gadget.apply_parameter("Gain", "20")
    with pytest.raises(ValueRejected) as caught:
        gadget.apply_parameter("Scale", float("nan"))
    assert caught.value.out_of_range
    with pytest.raises(ValueRejected) as caught:
        gadget.apply_parameter("Free", 128)  # natural range of I8
    assert caught.value.out_of_range
    assert gadget.changes == []
    assert gadget.apply_parameter("Gain", 20.0) == 20 and type(gadget.param("Gain")) is int
    assert gadget.apply_parameter("Scale", 2) == 2.0 and type(gadget.param("Scale")) is float
    assert gadget.changes == [("Gain", 20), ("Scale", 2.0)]


# --- events ------------------------------------------------------------------------------------
def test_event_throttle(h):
    gadget = h.components["gadget"]
    results = [gadget.event("Noisy", n=i) for i in range(10)]
    assert results == [True] * 3 + [False] * 7
    assert h.events == [("gadget", "Noisy", [0]), ("gadget", "Noisy", [1]),
                        ("gadget", "Noisy", [2])]
    assert gadget.event("Once") and not gadget.event("Once")
    assert all(gadget.event("Quiet") for _ in range(50))  # unthrottled
    gadget.reset_throttle("Noisy")
    assert [gadget.event("Noisy", n=i) for i in range(5)] == [True] * 3 + [False] * 2
    assert not gadget.event("Once")  # another event's throttle is untouched by the reset
    assert len(h.events_named("Noisy")) == 6 and len(h.events_named("Quiet")) == 50
    assert len(h.events_named("Once")) == 1


def test_event_arguments_are_in_declared_order(h):
    gadget = h.components["gadget"]
    assert gadget.event("Noisy", n=200)
    assert h.events[-1] == ("gadget", "Noisy", [200])


# --- commands ----------------------------------------------------------------------------------
def test_command_specs_order_and_descriptions():
    specs = Gadget.command_specs()
    assert list(specs) == ["ZULU", "ALPHA", "MIKE"]  # declaration order, not alphabetical
    assert specs["ZULU"].description == "third in the base"
    assert specs["ALPHA"].description == "Alpha from the docstring."
    assert specs["ALPHA"].args == (Field("x", DataType.U8),)
    assert specs["MIKE"].description == "" and specs["MIKE"].args == ()
    plus = GadgetPlus.command_specs()
    assert list(plus) == ["ZULU", "ALPHA", "MIKE", "BRAVO"]  # base classes first
    assert plus["ALPHA"].args == (Field("y", DataType.U16),)  # the override's declaration
    assert plus["ALPHA"].description == "overridden"


def test_run_command_calls_the_handler(h):
    calls = []
    gadget = h.components["gadget"]
    gadget.MIKE = lambda *args: calls.append(args)
    gadget.run_command("MIKE", [])
    assert calls == [()]


def test_passive_component_answers_a_ping_at_once(h):
    gadget = h.components["gadget"]
    gadget.request_ping(41)
    assert gadget.last_pong == 41


# --- active components -------------------------------------------------------------------------
def test_active_component_answers_pings_through_its_queue(worker):
    assert worker.last_pong == -1
    worker.request_ping(1)
    assert drained(worker)
    assert worker.last_pong == 1


def test_active_component_stops_answering_while_its_thread_is_blocked(worker):
    release = block(worker)
    worker.request_ping(2)
    assert worker.last_pong == -1 and worker.queue_depth == 1  # the ping waits in the queue
    release.set()
    assert drained(worker)
    assert worker.last_pong == 2


def test_post_returns_false_when_the_queue_is_full(worker):
    release = block(worker)
    ran = []
    assert [worker.post(ran.append, i) for i in range(4)] == [True, True, True, False]
    assert worker.queue_depth == 3
    worker.request_ping(9)  # dropped too: no room for it
    release.set()
    assert drained(worker)
    assert ran == [0, 1, 2] and worker.last_pong == -1


def test_queue_depth_defaults_to_the_class_attribute(tmp_path):
    h = ComponentTester.build(tmp_path, [{"name": "w", "kind": kind_of(Worker)}])
    w = h.components["w"]
    assert [w.post(lambda: None) for _ in range(5)] == [True] * 4 + [False]  # not started


def test_failing_work_does_not_kill_the_thread(worker, caplog):
    def boom():
        raise RuntimeError("boom")

    assert worker.post(boom)
    worker.request_ping(5)
    assert drained(worker)
    assert worker.last_pong == 5 and worker._thread.is_alive()
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_an_active_component_completes_a_command_after_its_thread_ran_it(worker):
    release = block(worker)
    outcomes = []
    worker.run_command("WORK", [False]).when_done(outcomes.append)
    worker.run_command("WORK", [True]).when_done(outcomes.append)
    assert outcomes == []  # queued behind the blocked work: not done, so not complete
    release.set()
    assert drained(worker)
    assert outcomes[0] is None and isinstance(outcomes[1], CommandError)
    assert worker.worked == "worker"  # run on the component's own thread


def test_an_active_component_refuses_a_command_at_once_when_its_queue_is_full(worker):
    release = block(worker)
    while worker.post(lambda: None):
        pass
    with pytest.raises(CommandBusy, match="queue is full"):
        worker.run_command("WORK", [False])
    release.set()
    assert drained(worker)


def test_a_failing_work_item_is_counted_and_the_thread_goes_on(worker):
    assert worker.post(lambda: 1 / 0)
    assert drained(worker)
    assert worker.work_failures == 1 and worker._thread.is_alive()
