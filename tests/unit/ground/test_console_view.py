"""The console's telemetry view and listings (ground_sim/console_view.py, ground_sim/console_listings.py)
on a station that is never started: what came down is put into it by the test."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from flight.app import load_flight_topology
from flight.core.catalog import ChannelDef
from flight.core.types import DataType, Limits, Severity
from flight.messages import Product
from flight.wire.dictionary import build_dictionary
from ground_sim.api import IntegrationApi
from ground_sim.console import Console, check_dictionary
from ground_sim.console_view import RESET, channel_row, format_rows, parse_argument
from ground_sim.decoder import EventRecord
from ground_sim.station import GroundStation

MODES = ((0, "NOMINAL"), (1, "SAFE"))


@pytest.fixture
def console(tmp_path) -> Iterator[Console]:
    station = GroundStation(build_dictionary(load_flight_topology()), "tcp://127.0.0.1:1", "tcp://127.0.0.1:2",
                            tmp_path / "a.sqlite")
    console = Console(IntegrationApi(station))
    yield console
    console.close()
    station.archive.close()


def run(console: Console, line: str, capsys) -> str:
    capsys.readouterr()
    console.onecmd(line)
    return capsys.readouterr().out


def test_a_row_shows_the_name_units_time_and_limit_state():
    mode = ChannelDef(1, "modes.Mode", DataType.U8, enumeration=MODES)
    assert channel_row(mode, (0.25, 1)).value == "SAFE" and channel_row(mode, (0.25, 1)).time == "00:00:00.250"
    volts = ChannelDef(2, "eps.Volts", DataType.F32, units="V", limits=Limits(10, 11, 13, 14))
    assert [channel_row(volts, (3600.0, v)).state for v in (12.0, 10.5, 9.0)] == ["ok", "yellow", "red"]
    assert channel_row(volts, (0.0, 12.0)).value == "12 V"
    assert channel_row(ChannelDef(3, "x.Name", DataType.STRING), (0.0, "text")).state == "-"
    row = channel_row(volts, (0.0, 9.0))
    assert "\x1b[" not in format_rows([row], colour=False) and format_rows([row], colour=False).endswith("red")
    assert format_rows([row], colour=True).endswith(f"red{RESET}")


@given(hs.sampled_from(MODES), hs.sampled_from([str.lower, str.upper, str.title]))
def test_an_enumeration_name_in_any_case_or_its_number_is_accepted(entry, case):
    number, name = entry
    assert parse_argument(DataType.U8, case(name), MODES) == number == parse_argument(DataType.U8, str(number), MODES)


def test_an_unknown_name_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match="'SAVE' is not one of NOMINAL, SAFE"):
        parse_argument(DataType.U8, "SAVE", MODES)


def test_tlm_shows_values_with_names_and_a_missing_channel_says_so(console, capsys):
    console.station.telemetry["modes.Mode"].append((10.5, 1))
    console.station.telemetry["cluster.Mode"].append((10.5, 0))
    out = run(console, "tlm Mode", capsys)
    assert "SAFE" in out and "THROUGHPUT" in out and "00:00:10.500" in out
    assert "no telemetry matches" in run(console, "tlm nothing.Such", capsys) and not console.failed
    assert "THROUGHPUT" in run(console, "watch cluster.Mode", capsys)
    assert "SAFE" not in run(console, "watch cluster.", capsys)


def test_wait_tlm_succeeds_on_the_latest_value_and_fails_at_its_timeout(console, capsys):
    console.station.telemetry["modes.Mode"].append((1.0, 1))
    assert "modes.Mode = SAFE" in run(console, "wait tlm modes.Mode == SAFE 0.1", capsys) and not console.failed
    assert "modes.Mode = SAFE" in run(console, "wait tlm modes.Mode >= 1 0.1", capsys) and not console.failed
    assert "timed out" in run(console, "wait tlm modes.Mode == NOMINAL 0.1", capsys) and console.failed
    assert "no channel" in run(console, "wait tlm no.Such == 1 0.1", capsys) and console.failed
    assert "usage" in run(console, "wait tlm modes.Mode ~ 1", capsys) and console.failed


def test_wait_event_sees_events_from_the_previous_line_on(console, capsys):
    def event(name: str) -> EventRecord:
        return EventRecord(name, Severity.ACTIVITY, {}, f"{name} happened", 0.0)

    console.station.events.append(event("dispatcher.NoOpString"))
    run(console, "status", capsys)
    console.station.events.append(event("modes.SafeModeEntered"))
    assert "modes.SafeModeEntered happened" in run(console, "wait event modes.SafeModeEntered 0.1", capsys)
    assert not console.failed
    assert "timed out" in run(console, "wait event dispatcher.NoOpString 0.1", capsys) and console.failed
    assert run(console, "events 1", capsys).strip() == (
        "[ACTIVITY] modes.SafeModeEntered: modes.SafeModeEntered happened")
    assert "NoOpString" in run(console, "events dispatcher", capsys)


def test_products_list_the_latest_and_one_shows_its_fire_map(console, capsys):
    fire = np.zeros((2, 3), bool)
    fire[1, 2] = True
    console.station.products += [Product(7, 0, 0.9, 0.1, np.zeros((2, 3), bool), 1500, 1),
                                 Product(8, 2, 0.75, 0.0, fire, 2100, 0xFF)]
    lines = run(console, "products 1", capsys).splitlines()
    assert lines[0].split()[:4] == ["frame", "8", "FIRE", "confidence"] and "fire cells   1" in lines[0]
    assert lines[1].strip() == "2 products received"
    assert run(console, "product 8", capsys).splitlines()[1:] == ["  latency 2100 us, voted", "  ...", "  ..#"]
    assert run(console, "product 7", capsys).splitlines()[-1] == "  no fire cells"
    assert "no product of frame 9" in run(console, "product 9", capsys) and console.failed


def test_dictionary_listings_show_types_units_limits_and_enumerations(console, capsys):
    assert "{0 NOMINAL, 1 SAFE}" in run(console, "channels modes.Mode", capsys)
    assert "limits yellow> 0" in run(console, "channels comms.TmEvicted", capsys)
    assert "(mode: U8 {0 THROUGHPUT, 1 TMR, 2 DMR})" in run(console, "list cluster.SET_MODE", capsys)
    assert "cluster.DetectionThreshold" in run(console, "params Detection", capsys)
    assert run(console, "eventdefs dispatcher.NoOpString", capsys).split()[:2] == ["dispatcher.NoOpString", "ACTIVITY"]


def test_a_bad_line_fails_and_help_names_the_verbs(console, capsys):
    assert "no verb 'nonsense'" in run(console, "nonsense", capsys) and console.failed
    assert "usage" in run(console, "product x", capsys) and console.failed
    assert "wait tlm CHANNEL" in run(console, "help", capsys) and not console.failed
    assert run(console, "help watch", capsys).startswith("watch [SUBSTRING ...]")


def test_the_dictionary_check_says_when_it_could_not_be_done_and_when_digests_differ(console, capsys):
    assert check_dictionary(console.api, timeout=0.1) is None
    assert capsys.readouterr().out.startswith("dictionary check NOT DONE: no executive.DictionaryDigest within 0.1 s")
    console.station.telemetry["executive.DictionaryDigest"].append((1.0, console.station.dictionary.digest ^ 1))
    assert check_dictionary(console.api, timeout=0.1) is False
    assert capsys.readouterr().out.startswith("[WARNING] DICTIONARY MISMATCH")
