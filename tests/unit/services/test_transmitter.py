"""Tests of the Transmitter: passes from the propagated orbit, its events, telemetry and state."""
from __future__ import annotations

import pytest

from flight.core.clock import parse_epoch
from flight.environment.orbit import mission_orbit
from flight.environment.passes import all_passes
from flight.testing import ComponentTester

EPOCH = parse_epoch("2026-01-01T00:00:00Z")


def make_transmitter(tmp_path, schedule):
    return ComponentTester.build(tmp_path, [{"name": "transmitter", "schedule": schedule,
                                             "kind": "flight.services.transmitter:Transmitter"}])


@pytest.fixture(scope="module")
def first_passes():
    return all_passes(mission_orbit({}), EPOCH, EPOCH + 6 * 3600)[:2]


def run(t, start, end, step):
    transmitter, now = t.components["transmitter"], start
    while now <= end:
        t.time = now
        transmitter.tick(0, now)
        now += step


@pytest.mark.parametrize("schedule", ["passes", "always"])
def test_passes_begin_and_end_with_events_and_state_at_the_orbit_times(tmp_path, first_passes, schedule):
    assert len(first_passes) == 2
    t = make_transmitter(tmp_path, schedule)
    run(t, EPOCH, first_passes[1].set + 60, 1.0)
    names = [name for _, name, _ in t.events]
    assert names == ["PassStarted", "PassEnded"] * 2
    started = [values for _, name, values in t.events if name == "PassStarted"]
    ended = [values for _, name, values in t.events if name == "PassEnded"]
    for begun, values, expected in zip(started, ended, first_passes, strict=True):
        assert begun[0] == values[0] == expected.station
        assert begun[1] == pytest.approx(expected.rise, abs=0.002)
        assert values[1] == pytest.approx(expected.set, abs=0.002)
        assert values[2] == pytest.approx(expected.duration, abs=0.004)
    assert t.components["transmitter"].telemetry["PassCount"] == 2
    states = [(s.on, s.station) for s in t.sent["transmitter.state"]]
    station = first_passes[0].station
    if schedule == "passes":
        assert states == [(False, ""), (True, station), (False, ""), (True, station), (False, "")]
    else:
        assert states == [(True, "")]


def test_in_pass_follows_the_orbit_tick_by_tick(tmp_path, first_passes):
    t = make_transmitter(tmp_path, "passes")
    transmitter, first = t.components["transmitter"], first_passes[0]
    for now in (first.rise - 2.0, first.rise + 2.0, first.set - 2.0, first.set + 2.0):
        t.time = now
        transmitter.tick(0, now)
        inside = first.rise <= now <= first.set
        assert transmitter.telemetry["InPass"] is inside
        assert transmitter.telemetry["TransmitterOn"] is inside
