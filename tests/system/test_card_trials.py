"""Card-fault trials (campaign/card_trial.py) on the real cluster, three card processes in TMR:
each of the four faults, planned by hand, gives whole, right products (a crashed, hung or wrong
card is noticed; a slow one may pass unnoticed), and each trial leaves a whole cluster for the
next; a trial replays from its index with the same plan and outcome."""
from __future__ import annotations

import pytest

from campaign.card_trial import CardFaultPlan, CardTrialBench, execute_card_trial, run_card_trial
from flight.payload.cluster.card_process import CardState

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench(demo_model):
    made = CardTrialBench(demo_model, 5, 7, "TMR")
    yield made
    made.close()


@pytest.mark.parametrize("fault, noticed", [("crash", True), ("hang", True), ("wrong", True), ("slow", None)])
def test_each_card_fault_in_tmr_gives_whole_right_products_and_leaves_a_whole_cluster(bench, fault, noticed):
    result = execute_card_trial(bench, CardFaultPlan("card1", fault, 1))
    assert (result["wrong_products"], result["dropped"], result["lost"]) == (0, 0, 0)
    assert result["outcome"] == ("corrected" if result["noticed"] else "masked")
    if noticed is not None:
        assert result["noticed"] is noticed
    assert all(card.state is CardState.READY for card in bench.cluster.engine.cards.values())


def test_a_card_trial_replays_from_its_index(demo_model):
    config = {"model": str(demo_model), "frames": 5, "inputs_seed": 7, "mode": "TMR", "seed": 3,
              "kinds": ["crash", "wrong"]}
    first = [run_card_trial(config, i) for i in range(4)]
    again = run_card_trial(config, 2)
    assert again == first[2]
    assert {r["fault"] for r in first} <= {"crash", "wrong"} and len({(r["card"], r["at"]) for r in first}) > 1
