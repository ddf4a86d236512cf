"""Random sequences of valid commands against a real flight process (issue 10): every command of
the dictionary (but SHUTDOWN, which ends the flight), with random in-range arguments, in random
order, including power and fault commands on cards that are off, hung or unknown. Whatever the
sequence, the flight loses no thread (it answers, health reports nothing unresponsive), every
command gets exactly one completion (TM[1,7] or TM[1,8]), and frames imaged afterwards are all
delivered, each with its scene's truth.
"""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from flight.app import load_flight_topology
from flight.core.types import DataType
from flight.payload.scene import SceneGenerator

CHOICES = {  # a string argument drawn among names that mean something, and one that does not
    "card": ["card0", "card1", "card2", "card9"],
    "region": ["parameters", "card0_weights", "card2_weights", "frame_slots", "tm_store", "nowhere"],
    "target": ["", "live", "golden", "0", "1", "2", "data", "packets", "x"],
    "fault": ["hang", "crash", "slow", "wrong", "clear", "melt"],
}


def argument(field) -> st.SearchStrategy:
    if field.type is DataType.STRING:
        return st.sampled_from(CHOICES[field.name]) if field.name in CHOICES else st.text(max_size=40)
    if field.type.is_float:
        return st.floats(field.low, field.high, width=32)
    if field.enumeration:
        return st.sampled_from([number for number, _ in field.enumeration])
    low, high = field.type.bounds
    low = max(low, field.low if field.low is not None else low)
    high = min(high, field.high if field.high is not None else high, 10**6)  # an offset, a count
    return st.integers(int(low), int(high))


@st.composite
def sequences(draw, dictionary) -> list[tuple[str, list]]:
    commands = [c for c in dictionary.commands if c.name != "executive.SHUTDOWN"]
    chosen = draw(st.lists(st.sampled_from(commands), min_size=1, max_size=12))
    return [(c.name, [draw(argument(a)) for a in c.args]) for c in chosen]


def completions(flight, request_ids: set[bytes]) -> dict[bytes, int]:
    """How many completion reports (TM[1,7] or TM[1,8]) came down for each request id, as the
    ground archived them (waiting, at most 10 s, until each has one: the archive commits in
    batches)."""
    deadline = time.monotonic() + 10
    while True:
        counts = dict.fromkeys(request_ids, 0)
        for (decoded,) in flight.station.archive.query(
                "SELECT decoded FROM packets WHERE direction = 'down' AND service = 1 AND subtype IN (7, 8)"):
            request = bytes.fromhex(json.loads(decoded)["value"]["request_id"])
            if request in counts:
                counts[request] += 1
        if all(counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def recover_and_image(flight, frames: int) -> None:
    """Every card back in service (whatever the sequence did), then image: all delivered."""
    flight.send_and_assert_command("camera.STOP_IMAGING")
    flight.send_and_assert_command("cluster.SET_MODE", [0])
    undo = [("modes.ENTER_NOMINAL", [])] + [("cluster.UNPARK_CARD", [c]) for c in ("card0", "card1", "card2")]
    for name, args in undo:  # SAFE mode, cards held parked (refused where there is nothing to undo)
        flight.await_verification(flight.send_command(name, args), timeout=20)
    for card in ("card0", "card1", "card2"):  # a fresh board (no dose, not burned), then a power cycle,
        flight.send_and_assert_command("cluster.CLEAR_CARD_FAULT", [card], timeout=20)   # which clears
        flight.send_and_assert_command("cluster.RESET_CARD", [card], timeout=20)          # any other fault
    for card in ("card0", "card1", "card2"):
        flight.await_telemetry(f"cluster.{card}_State", lambda v: v == 3, timeout=30,
                               start=flight.telemetry_mark(f"cluster.{card}_State"))
    delivered = flight.station.latest("cluster.FramesDelivered", 0)
    first = len(flight.station.products)
    flight.send_and_assert_command("camera.START_IMAGING", [frames, 0])
    flight.await_telemetry("cluster.FramesDelivered", lambda v: v >= delivered + frames, timeout=60)
    products = flight.await_products(first + frames, timeout=60)[first:]
    scene = SceneGenerator(load_flight_topology().seed)  # the flight flies the default topology
    for product in products:
        assert product.tile_class == int(scene.truth(product.frame_id).tile_class)


@pytest.fixture(scope="module")
def shared_flight(request, tmp_path_factory, demo_model):
    from ground_sim.api import IntegrationApi
    from ground_sim.flight_process import FlightProcess

    process = FlightProcess(tmp_path_factory.mktemp("sequences"), None,
                            [f'cluster.model="{demo_model}"', "mission.fault_injection=true",
                             "cluster.max_failures=1000"])  # cards come back, however often faulted
    process.start()
    api = IntegrationApi(process.connect(), process=process, default_timeout=30.0)
    yield api
    api.station.close()
    process.kill()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_valid_commands_each_complete_once_and_the_flight_keeps_flying(shared_flight, data):
    flight = shared_flight
    sequence = data.draw(sequences(flight.station.dictionary))
    records = [flight.send_command(name, args) for name, args in sequence]
    for record in records:
        flight.await_verification(record, timeout=60)
        assert record.failure is None or record.failure[0].name == "COMPLETION", record
    assert set(completions(flight, {r.request_id for r in records}).values()) == {1}
    assert flight.process.alive()
    flight.ping()
    recover_and_image(flight, frames=4)
    mark = flight.telemetry_mark("health.UnresponsiveComponents")
    assert flight.await_telemetry("health.UnresponsiveComponents", start=mark) == 0
