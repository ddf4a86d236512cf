"""Tests of flight.core.settings: declared settings checked key by key, to the leaf of nested
tables and lists; every refusal one line naming the key, the value and what is allowed."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from flight.core.settings import Setting, SettingError, check_settings, check_value, reference

CARD = {"name": Setting(str, required=True), "threads": Setting(int, 1, 1, 64),
        "thermal": Setting(dict, {}, fields={"limit_c": Setting(float, 85.0, -150, 300)})}
SETTINGS = {
    "policy": Setting(str, "earliest-finish", choices=("round-robin", "earliest-finish")),
    "slots": Setting(int, 16, 1, 4096, description="frames admitted at once"),
    "speed": Setting(float, 1.0, 0.0, None),
    "flag": Setting(bool, False),
    "cards": Setting(list, [], item=Setting(dict, fields=CARD)),
    "endpoint": Setting(str, "tcp://x:1", check=lambda e: None if "://" in e else "not an endpoint"),
    "options": Setting(dict, {}, open=True),
}


def refused(config) -> str:
    with pytest.raises(SettingError) as caught:
        check_settings("cluster", config, SETTINGS)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_valid_table_comes_back_with_every_default_filled_in():
    checked = check_settings("cluster", {"slots": 8, "speed": 2, "cards": [{"name": "card0"}]}, SETTINGS)
    assert checked == {"policy": "earliest-finish", "slots": 8, "speed": 2.0, "flag": False,
                       "cards": [{"name": "card0", "threads": 1, "thermal": {"limit_c": 85.0}}],
                       "endpoint": "tcp://x:1", "options": {}}
    assert isinstance(checked["speed"], float)


@pytest.mark.parametrize("config, words", [
    ({"polcy": "x"}, ["cluster.polcy: no such setting", "did you mean policy?"]),
    ({"zzz": 1}, ["cluster.zzz: no such setting;", "settings: policy, slots"]),
    ({"slots": "four"}, ["cluster.slots = 'four'", "expected an integer"]),
    ({"slots": True}, ["cluster.slots = True", "expected an integer"]),
    ({"slots": 2.5}, ["cluster.slots = 2.5", "expected an integer"]),
    ({"slots": 0}, ["cluster.slots = 0", "must be an integer from 1 to 4,096"]),
    ({"speed": -1}, ["cluster.speed = -1.0", "must be a number >= 0"]),
    ({"speed": float("nan")}, ["cluster.speed = nan", "finite"]),
    ({"flag": 1}, ["cluster.flag = 1", "expected true or false"]),
    ({"policy": "fastest"}, ["cluster.policy = 'fastest'", "one of 'round-robin', 'earliest-finish'"]),
    ({"endpoint": "nowhere"}, ["cluster.endpoint = 'nowhere'", "not an endpoint"]),
    ({"cards": [{"threads": 2}]}, ["cluster.cards[0].name is required"]),
    ({"cards": [{"name": "c", "threads": "four"}]}, ["cluster.cards[0].threads = 'four'", "integer"]),
    ({"cards": [{"name": "c", "thermal": {"limit": 3}}]},
     ["cluster.cards[0].thermal.limit: no such setting", "did you mean limit_c?"]),
    ({"cards": {"name": "c"}}, ["cluster.cards = {'name': 'c'}", "expected a list"]),
])
def test_a_bad_setting_is_refused_with_its_key_value_and_what_is_allowed(config, words):
    message = refused(config)
    for word in words:
        assert word in message


@given(st.integers(-10**6, 10**6))
def test_an_integer_is_accepted_exactly_inside_its_range(value):
    setting = Setting(int, 1, 1, 4096)
    if 1 <= value <= 4096:
        assert check_value("s.k", value, setting) == value
    else:
        with pytest.raises(SettingError, match=f"s.k = {value}: must be an integer from 1 to 4,096"):
            check_value("s.k", value, setting)


def test_an_open_table_takes_any_keys():
    assert check_settings("c", {"options": {"device_id": 1, "x": "y"}}, SETTINGS)["options"] == {
        "device_id": 1, "x": "y"}


def test_the_reference_lists_every_setting_down_to_nested_ones():
    lines = reference("cluster", SETTINGS)
    keys = [line.split(" | ")[0] for line in lines]
    assert keys == ["cluster.policy", "cluster.slots", "cluster.speed", "cluster.flag", "cluster.cards",
                    "cluster.cards[].name", "cluster.cards[].threads", "cluster.cards[].thermal",
                    "cluster.cards[].thermal.limit_c", "cluster.endpoint", "cluster.options"]
    assert "cluster.slots | an integer from 1 to 4,096 | 16 | frames admitted at once" in lines
    assert "cluster.cards[].name | a string | (required) | " in lines
