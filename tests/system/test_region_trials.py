"""Region-upset trials (campaign/region_trial.py) on the real cluster: hand-built upsets of each
class are classified right with protection on (TMR, a scrub after every frame) and off
(THROUGHPUT, no scrub), every trial leaves the regions bit-exact and the cluster whole, a trial
replays alone with the same result, plans cover every region and copy they may, and a small
"regions" campaign runs through orbitfs-campaign."""
from __future__ import annotations

import json
import random


from campaign import cli
from campaign.card_trial import process_bench
from campaign.region_trial import (RegionBench, RegionPlan, execute_region_trial, fault_space_bits,
                                   plan_region_upset, restore, run_region_trial, upset_targets)
from campaign.spec import PRESETS
from flight.payload.cluster.card_process import CardState

FRAMES = 4
EXPONENT_TOP = 0x40   # bit 6 of a float32's last byte: the exponent's highest bit
CLASS_BIAS = 1344     # the demo model's class_bias in the packed weights (checked below)


def config(demo_model, protection: str, **more) -> dict:
    mode, scrub_every = PRESETS[protection]
    return {"model": str(demo_model), "frames": FRAMES, "inputs_seed": 7, "mode": mode, "scrub_every": scrub_every,
            "seed": 5, "kinds": ["single", "multi", "byte"], "copies": ["live", "golden"], **more}


def bench_of(demo_model, protection: str) -> RegionBench:
    """The bench run_region_trial uses for this configuration (one per process, shared)."""
    c = config(demo_model, protection)
    return process_bench(RegionBench, demo_model, c["frames"], c["inputs_seed"], c["mode"])


def whole_and_clean(bench: RegionBench) -> bool:
    return bench.clean() and all(c.state is CardState.READY for c in bench.cluster.engine.cards.values())


def run(demo_model, protection: str, plan: RegionPlan, before=None) -> dict:
    bench = bench_of(demo_model, protection)
    try:
        if before:
            before(bench)
        return {**bench.describe(plan), **execute_region_trial(bench, plan, PRESETS[protection][1])}
    finally:
        restore(bench)
        assert whole_and_clean(bench)


def test_a_golden_upset_is_corrected_by_the_scrub_and_left_latent_without(demo_model):
    plan = RegionPlan("card2_weights", "golden", CLASS_BIAS + 3, EXPONENT_TOP, "single", 1)
    on = run(demo_model, "on", plan)
    assert on["outcome"] == "corrected" and on["repaired_exactly"] and not on["noticed"] and not on["latent"]
    off = run(demo_model, "off", plan)
    assert off["outcome"] == "masked" and off["latent"] and off["repaired_exactly"] is None


def test_a_live_weights_upset_is_outvoted_and_repaired_exactly_on_and_is_sdc_off(demo_model):
    plan = RegionPlan("card0_weights", "live", CLASS_BIAS + 3, EXPONENT_TOP, "single", 0)
    on = run(demo_model, "on", plan)
    assert (on["tensor"], on["field"], on["bit"]) == ("class_bias", "exponent", 30)
    assert on["outcome"] == "corrected" and on["noticed"] and on["repaired_exactly"] and on["wrong_products"] == 0
    off = run(demo_model, "off", plan)        # card0 computes frames 0 and 3 (round-robin from each trial)
    assert off["outcome"] == "sdc" and off["wrong_products"] == 2 and off["latent"] and off["off_schedule"] == 0


def test_a_parameters_copy_upset_is_repaired_on_and_outvoted_silently_off(demo_model):
    plan = RegionPlan("parameters", "1", 2, 0x0C, "multi", 0)
    on = run(demo_model, "on", plan)
    assert on["outcome"] == "corrected" and on["repaired_exactly"] and on["tensor"] is None
    off = run(demo_model, "off", plan)        # every read votes it away: nothing wrong, nothing noticed
    assert off["outcome"] == "masked" and off["latent"] and off["wrong_products"] == 0


def test_both_copies_of_a_chunk_bad_is_due_and_the_recovery_leaves_a_clean_whole_cluster(demo_model):
    plan = RegionPlan("card1_weights", "live", CLASS_BIAS + 3, EXPONENT_TOP, "single", 0)

    def golden_too(bench):
        bench.seu.inject("card1_weights", "golden", CLASS_BIAS + 2, 0x01, "single", 0, 0.0)

    result = run(demo_model, "on", plan, before=golden_too)
    assert result["outcome"] == "due" and result["uncorrectable"] and not result["repaired_exactly"]
    assert result["wrong_products"] == 0      # the vote still delivered the right products


def test_a_trial_replays_alone_with_the_same_result_and_each_leaves_the_bench_clean(demo_model):
    for protection in ("on", "off"):
        c = config(demo_model, protection)
        first = []
        for index in range(6):
            first.append(run_region_trial(c, index))
            assert whole_and_clean(bench_of(demo_model, protection))
        assert run_region_trial(c, 4) == first[4]
        assert all(r["off_schedule"] == 0 for r in first)
        assert {r["outcome"] for r in first} <= ({"corrected"} if protection == "on" else {"masked", "sdc"})


def test_plans_keep_to_the_copies_reach_every_region_and_the_fault_space_is_the_benchs(demo_model):
    bench = bench_of(demo_model, "on")
    assert bench.describe(RegionPlan("card0_weights", "live", CLASS_BIAS, 1, "single", 0))["tensor"] == "class_bias"
    plans = [plan_region_upset(bench.regions, FRAMES, random.Random(i).getrandbits(63), ("single",), ["golden"])
             for i in range(3000)]
    assert {(p.region, p.copy) for p in plans} == {
        *((f"card{i}_weights", "golden") for i in range(3)), *(("parameters", str(k)) for k in range(3))}
    assert {p.at for p in plans} == set(range(FRAMES)) and {bin(p.mask).count("1") for p in plans} == {1}
    for copies in (["golden"], ["live", "golden"]):
        bits = 8 * sum(region.size for region, _ in upset_targets(bench.regions, copies))
        assert fault_space_bits(next(r.size for r in bench.regions if r.kind == "live"), copies) == bits


def test_a_regions_campaign_runs_through_the_cli_with_its_summary(tmp_path, capsys):
    file = tmp_path / "regions.toml"
    file.write_text('[campaign]\nname = "r"\nseed = 3\ntrials = 10\n[target]\nkind = "regions"\nframes = 2\n'
                    '[faults]\nkinds = ["single", "byte"]\n[[configurations]]\nname = "off"\nprotection = "off"\n'
                    '[[configurations]]\nname = "on"\nprotection = "on"\n[criteria]\nmax_sdc = { on = 0.0 }\n')
    assert cli.main([str(file), "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().out[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for name in ("off", "on"):
        s = summary["configurations"][name]
        assert s["trials"] == 10 and s["counts"]["runner_error"] == 0 and s["by_region"]
    assert summary["configurations"]["on"]["counts"]["sdc"] == 0
    assert "SDC rate" in capsys.readouterr().out
