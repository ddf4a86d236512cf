"""Card-fault trials (campaign/card_trial.py) on the real cluster, three card processes in TMR:
each fault, planned by hand, gives whole, right products (a crashed, hung, wrong, latched-up or
functionally interrupted card is noticed; a slow one or a few frames of dose may pass unnoticed),
and each trial leaves a whole cluster for the next; a latch-up the flight does not cut burns the
board and is classified so; a trial replays from its index with the same plan and outcome."""
from __future__ import annotations

import tomllib

import pytest

from campaign.card_trial import CardFaultPlan, CardTrialBench, execute_card_trial, run_card_trial
from flight.app import DEFAULT_TOPOLOGY
from flight.payload.cluster.card_process import CardState

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench(demo_model):
    made = CardTrialBench(demo_model, 5, 7, "TMR")
    yield made
    made.close()


@pytest.mark.parametrize("fault, noticed", [("crash", True), ("hang", True), ("wrong", True), ("slow", None),
                                            ("latchup", True), ("sefi", True), ("tid", None)])
def test_each_card_fault_in_tmr_gives_whole_right_products_and_leaves_a_whole_cluster(bench, fault, noticed):
    result = execute_card_trial(bench, CardFaultPlan("card1", fault, 1))
    assert (result["wrong_products"], result["dropped"], result["lost"]) == (0, 0, 0)
    assert result["outcome"] == ("corrected" if result["noticed"] else "masked")
    if noticed is not None:
        assert result["noticed"] is noticed
    assert all(card.state is CardState.READY for card in bench.cluster.engine.cards.values())


def test_a_latch_up_the_flight_does_not_cut_is_classified_burned_and_the_next_trial_has_a_whole_cluster(
        demo_model):
    default = tomllib.loads(DEFAULT_TOPOLOGY.read_text())
    cards = next(c for c in default["components"] if c["name"] == "cluster")["cards"]
    unprotected = [dict(card, overcurrent_w=10_000.0) for card in cards]
    bench = CardTrialBench(demo_model, 3, 7, "TMR", cards=unprotected, latchup_burn_s=0.3)
    try:
        result = execute_card_trial(bench, CardFaultPlan("card2", "latchup", 0))
        assert result["outcome"] == "burned" and result["wrong_products"] == result["lost"] == 0
        assert execute_card_trial(bench, CardFaultPlan("card2", "slow", 0))["outcome"] in ("masked", "corrected")
        assert all(card.state is CardState.READY for card in bench.cluster.engine.cards.values())
    finally:
        bench.close()


def test_a_card_trial_replays_from_its_index(demo_model):
    config = {"model": str(demo_model), "frames": 5, "inputs_seed": 7, "mode": "TMR", "seed": 3,
              "kinds": ["crash", "wrong"]}
    first = [run_card_trial(config, i) for i in range(4)]
    again = run_card_trial(config, 2)
    assert again == first[2]
    assert {r["fault"] for r in first} <= {"crash", "wrong"} and len({(r["card"], r["at"]) for r in first}) > 1
