"""Frame-slot upset trials (campaign/slot_trial.py): hand-built upsets of each class classified so
in THROUGHPUT and in TMR alike (every card reads the same slot), a trial replays alone with the
same result, the bench is clean after each, and a small campaign runs through the command."""
from __future__ import annotations

import json
from multiprocessing import shared_memory

import numpy as np
import pytest

from campaign import slot_trial
from campaign.cli import main
from campaign.executor import completed_trials
from campaign.slot_trial import SLOT_SHAPE, SlotUpset, describe, execute, fault_space_bits, run_slot_trial
from campaign.spec import CampaignError, load_campaign
from campaign.weights_trial import WeightBench
from flight.payload.cluster.slots import SlotPool
from flight.payload.scene import BANDS, CLOUD_NIR_MIN_DN, CLOUD_SWIR_MAX_DN, CLOUD_VISIBLE_MIN_DN, FIRE_SWIR_MIN_DN

FRAMES = 2
BAND_PIXELS = SLOT_SHAPE[1] * SLOT_SHAPE[2]
BLUE, GREEN, NIR, SWIR = (BANDS.index(band) for band in ("blue", "green", "nir", "swir"))


@pytest.fixture(scope="module")
def bench(demo_model):
    return WeightBench(demo_model, FRAMES)


@pytest.fixture
def pools(monkeypatch) -> list[str]:
    """The names of the shared-memory blocks the trials make (each must be gone after its trial)."""
    made: list[str] = []

    class Recorded(SlotPool):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self.name)

    monkeypatch.setattr(slot_trial, "SlotPool", Recorded)
    return made


def all_unlinked(names: list[str]) -> bool:
    for name in names:
        try:
            shared_memory.SharedMemory(name=name).close()
        except FileNotFoundError:
            continue
        return False
    return bool(names)


def high_byte(band: int, pixel: int) -> int:
    """The offset in the slot of a uint16 pixel's high byte (little-endian)."""
    return 2 * (band * BAND_PIXELS + pixel) + 1


def first_pixel(bench, cloud: bool) -> int:
    """The first pixel of frame 0 with the scene's cloud signature (bright in blue, green and NIR, cold
    in SWIR), or else clear with no hot SWIR pixel in its 3x3 neighbourhood."""
    tile = bench.inputs[0][0].astype(np.int64)
    signature = ((tile[BLUE] >= CLOUD_VISIBLE_MIN_DN) & (tile[GREEN] >= CLOUD_VISIBLE_MIN_DN)
                 & (tile[NIR] >= CLOUD_NIR_MIN_DN) & (tile[SWIR] <= CLOUD_SWIR_MAX_DN))
    hot = np.pad(tile[SWIR] >= FIRE_SWIR_MIN_DN, 1)
    near_hot = np.any([hot[1 + dy:hot.shape[0] - 1 + dy, 1 + dx:hot.shape[1] - 1 + dx]
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    return int(np.flatnonzero(signature if cloud else ~signature & ~near_hot)[0])


@pytest.mark.parametrize("mode", ["THROUGHPUT", "TMR"])
def test_upsets_the_model_masks_are_masked_and_a_cloud_pixel_made_hot_is_sdc_whatever_the_mode(bench, mode, pools):
    low = execute(bench, SlotUpset(0, 0x01, "single", 0), mode)                   # blue, pixel 0, bit 0
    assert low["outcome"] == "masked" and low["wrong_products"] == 0
    lone = execute(bench, SlotUpset(high_byte(SWIR, first_pixel(bench, cloud=False)), 0x80, "single", 0), mode)
    assert lone["outcome"] == "masked"      # a lone hot pixel: a particle hit to the model, not a fire
    top = SlotUpset(high_byte(SWIR, first_pixel(bench, cloud=True)), 0x80, "single", 0)
    high = execute(bench, top, mode)        # no longer cold: not cloud, the cloud fraction changes
    assert high["outcome"] == "sdc" and high["wrong_products"] == 1 and high["withheld"] == 0   # frame 1 intact
    assert bench.clean() and all_unlinked(pools)


def test_describe_names_the_band_pixel_and_bit_in_the_uint16():
    where = describe(SlotUpset(high_byte(SWIR, 1234), 0x80, "single", 0))
    assert (where["band"], where["pixel"], where["bit"], where["bits"]) == (SWIR, 1234, 15, [15])
    assert describe(SlotUpset(2 * 7, 0b110, "multi", 1))["bits"] == [1, 2]
    assert describe(SlotUpset(2 * 7, 0b110, "multi", 1))["bit"] is None
    assert fault_space_bits(4) == 4 * int(np.prod(SLOT_SHAPE)) * 2 * 8


def test_a_trial_replays_alone_with_the_same_result_and_leaves_nothing(demo_model, pools):
    config = {"model": str(demo_model), "frames": FRAMES, "chunk": 64, "inputs_seed": 7, "seed": 3,
              "mode": "TMR", "kinds": ["single", "multi", "byte"]}
    first = [run_slot_trial(config, i) for i in range(12)]
    assert [run_slot_trial(config, i) for i in (11, 4)] == [first[11], first[4]]
    assert len({(r["offset"], r["mask"]) for r in first}) == 12 and all_unlinked(pools) and len(pools) == 14


def test_a_slots_campaign_refuses_what_it_has_no_use_for(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[target]\nkind = "slots"\n[faults]\ncopies = ["live"]\n[[configurations]]\nname = "a"\n')
    with pytest.raises(CampaignError, match="faults.copies: a slots campaign has no use for it"):
        load_campaign(path)
    path.write_text('[target]\nkind = "slots"\n[[configurations]]\nname = "a"\nscrub_every = 1\n')
    with pytest.raises(CampaignError, match=r"configurations\[0\].scrub_every"):
        load_campaign(path)


def test_a_small_slots_campaign_runs_through_the_command(tmp_path, capsys):
    path = tmp_path / "slots.toml"
    path.write_text('[campaign]\nname = "slots-small"\ntrials = 8\n[target]\nkind = "slots"\nframes = 2\n'
                    '[faults]\nkinds = ["single", "byte"]\n'
                    '[[configurations]]\nname = "off"\nprotection = "off"\n'
                    '[[configurations]]\nname = "tmr"\nprotection = "on"\n')
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    for name, mode in (("off", "THROUGHPUT"), ("tmr", "TMR")):
        s = summary["configurations"][name]
        assert s["trials"] == 8 and s["counts"]["runner_error"] == 0 and s["settings"]["mode"] == mode
        assert s["counts"]["masked"] + s["counts"]["sdc"] == 8          # nothing can notice a bad slot
    off, tmr = (completed_trials(out / f"results-{name}.jsonl") for name in ("off", "tmr"))
    assert all((off[i]["offset"], off[i]["mask"]) == (tmr[i]["offset"], tmr[i]["mask"]) for i in off)  # same upsets
    assert "SDC rate" in capsys.readouterr().out
