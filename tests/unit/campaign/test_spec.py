"""Campaign files (campaign/spec.py): a valid one gives its campaign, the trial count from margin
and confidence is Leveugle's, and every bad key or value is refused with one line (exit 2 from
the command)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from campaign.spec import CampaignError, load_campaign
from campaign.stats import leveugle_sample_size

VALID = """
[campaign]
name = "t"
seed = 5
{trials}
[faults]
kinds = ["single", "byte"]
[[configurations]]
name = "off"
protection = "off"
[[configurations]]
name = "on"
[criteria]
max_sdc = {{ on = 0.0 }}
"""


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_a_valid_file_gives_its_campaign_with_defaults_filled_in(tmp_path):
    campaign = load_campaign(write(tmp_path, VALID.format(trials="trials = 123")))
    assert (campaign.name, campaign.seed, campaign.trials) == ("t", 5, 123)
    assert [c["protection"] for c in campaign.configurations] == ["off", "on"]   # "on" by default
    assert campaign.faults == {"kinds": ["single", "byte"], "copies": ["live", "golden"]}
    assert campaign.target["frames"] == 4 and campaign.criteria == {"max_sdc": {"on": 0.0}}


def test_the_trial_count_from_margin_and_confidence_is_leveugles_for_the_fault_space(tmp_path):
    path = write(tmp_path, VALID.format(trials="margin = 0.01\nconfidence = 0.99"))
    assert load_campaign(path).trials == 16_590                       # an infinite fault space
    assert load_campaign(path, 67_584).trials == leveugle_sample_size(67_584, 0.01, 0.99) < 16_590


@pytest.mark.parametrize("change, words", [
    (("seed = 5", "sead = 5"), "campaign.sead: no such setting (did you mean seed?)"),
    (('kinds = ["single", "byte"]', 'kinds = ["single", "double"]'), "faults.kinds"),
    (('protection = "off"', 'protection = "maybe"'), "configurations[0].protection"),
    (('name = "on"', 'name = "off"'), "configuration names must be distinct"),
    (("max_sdc = { on = 0.0 }", "max_sdc = { nope = 0.0 }"), "criteria.max_sdc.nope"),
    (("[faults]", "[fault]"), "unknown table 'fault'"),
    (("seed = 5", "seed = -1"), "campaign.seed"),
    (("seed = 5", "seed = "), "c.toml"),
])
def test_a_bad_file_is_refused_with_one_line_naming_what_is_wrong(tmp_path, change, words):
    path = write(tmp_path, VALID.format(trials="trials = 10").replace(*change))
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_command_refuses_a_bad_file_with_one_line_exit_2_and_writes_nothing(tmp_path):
    path = write(tmp_path, VALID.format(trials="trials = 10").replace("seed = 5", "seed = 'x'"))
    result = subprocess.run([sys.executable, "-m", "campaign.cli", str(path), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("orbitfs-campaign: ") and "campaign.seed" in result.stderr
    assert not (tmp_path / "out").exists()


def test_guarded_auto_needs_an_unprotected_configuration_before_it(tmp_path):
    text = VALID.format(trials="trials = 10").replace('name = "on"', 'name = "on"\nguarded = ["auto"]')
    assert load_campaign(write(tmp_path, text)).configurations[1]["guarded"] == ["auto"]
    first = text.replace('name = "off"\nprotection = "off"', 'name = "off"\nprotection = "on"')
    with pytest.raises(CampaignError, match="needs an unprotected configuration before it"):
        load_campaign(write(tmp_path, first))


def test_a_configuration_may_set_its_mode_and_scrub_rate_over_its_protection(tmp_path):
    text = VALID.format(trials="trials = 10").replace('name = "on"', 'name = "scrub"\nmode = "THROUGHPUT"\n'
                                                      'scrub_every = 2').replace("on = 0.0", "scrub = 0.5")
    off, scrub = load_campaign(write(tmp_path, text)).configurations
    assert (off["mode"], off["scrub_every"], off["protection"]) == ("THROUGHPUT", 0, "off")
    assert (scrub["mode"], scrub["scrub_every"], scrub["protection"]) == ("THROUGHPUT", 2, "partial")
