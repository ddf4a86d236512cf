"""Tests of the link's parameters (flight/wire/link.py): a bad ``[mission.link]`` value is refused
with one line naming ``mission.link.<key>`` (the FARM window must be even), also when the
topology loads; the SA built from the checked settings has the configured SPI, service, lengths,
window and channel, and protects a frame that the flight's SA of the same settings opens; the
dictionary's ``link`` section carries everything but the key file and gives the parameters back.
"""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from flight.app import load_flight_topology
from flight.core.settings import SettingError, check_settings
from flight.core.topology import TopologyError
from flight.wire import sdls
from flight.wire.link import LINK_SETTINGS, TM_FILES, TM_PLAYBACK, TM_PRODUCTS, TM_REALTIME, LinkParameters
from flight.wire.tc_frame import SegmentHeader, TcFrame, TcHeader

SETTINGS = settings(max_examples=60, deadline=None)
KEY = bytes(range(32))


def checked(**link) -> dict:
    return check_settings("mission.link", link, LINK_SETTINGS)


# --- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, words", [
    ("farm_window", 3, ["even"]),
    ("farm_window", 11, ["even"]),
    ("farm_window", 256, ["from 2 to 254"]),
    ("farm_window", 0, ["from 2 to 254"]),
    ("spacecraft_id", 1024, ["from 0 to 1,023"]),
    ("spacecraft_id", -1, ["from 0 to 1,023"]),
    ("sdls_service", "encryption", ["'authenticated_encryption'", "'authentication'"]),
    ("sdls", "maybe", ["'on'", "'off'"]),
    ("mac_length", 4, ["one of"]),
    ("iv_length", 11, ["from 12 to 16"]),
    ("tm_frame_length", 4096, ["from 64 to 2,048"]),
    ("tm_sdls", "on", ["'off'", "'authentication'"]),
    ("tm_spi", 0, ["from 1 to 65,534"]),
    ("spi", "1", ["expected an integer"]),
    ("farm_windw", 10, ["no such setting", "did you mean farm_window?"]),
])
def test_a_bad_value_is_refused_with_one_line_naming_it(key, value, words):
    with pytest.raises(SettingError) as refused:
        checked(**{key: value})
    message = str(refused.value)
    assert message.startswith(f"mission.link.{key}") and "\n" not in message
    for word in words:
        assert word in message


@SETTINGS
@given(window=st.integers(2, 254))
def test_the_farm_window_is_accepted_exactly_when_even(window):
    if window % 2:
        with pytest.raises(SettingError, match="mission.link.farm_window"):
            checked(farm_window=window)
    else:
        assert checked(farm_window=window)["farm_window"] == window


def test_the_settings_and_the_parameters_have_the_same_keys_and_defaults():
    assert set(LINK_SETTINGS) == {f.name for f in dataclasses.fields(LinkParameters)}
    assert LinkParameters.of({"link": checked()}) == LinkParameters()
    assert LinkParameters.of({}) == LinkParameters()


def test_an_odd_farm_window_stops_the_topology_loading():
    # a nested table is overridden as a whole (as in tests/unit/test_configuration_errors.py)
    with pytest.raises(TopologyError) as refused:
        load_flight_topology(overrides=["mission.link={farm_window = 3}"])
    assert "mission.link.farm_window = 3" in str(refused.value) and "even" in str(refused.value)
    with pytest.raises(TopologyError, match="mission.link.farm_window"):
        load_flight_topology(overrides=["mission.link.farm_window=3"])
    topology = load_flight_topology(overrides=["mission.link={farm_window = 4, spacecraft_id = 7}"])
    link = LinkParameters.of(topology.settings)
    assert (link.farm_window, link.spacecraft_id, link.tc_frame_max) == (4, 7, 1024)


def test_the_tm_sa_is_refused_when_it_is_the_tc_sa():
    with pytest.raises(TopologyError) as refused:
        load_flight_topology(overrides=["mission.link={spi = 3, tm_spi = 3}"])
    message = str(refused.value)
    assert message.startswith("mission.link: tm_spi and spi are both 3") and "\n" not in message
    for fine in ("{spi = 3, tm_spi = 4}", "{spi = 3, tm_spi = 3, tm_sdls = 'off'}",
                 "{spi = 3, tm_spi = 3, sdls = 'off'}"):
        link = LinkParameters.of(load_flight_topology(overrides=[f"mission.link={fine}"]).settings)
        assert link.spi == 3


def test_the_tm_sa_has_its_spi_and_service_the_tc_lengths_and_a_wide_window():
    link = LinkParameters.of({"link": checked(tm_sdls="authenticated_encryption", tm_spi=9, iv_length=16,
                                              mac_length=12)})
    sa = link.tm_security_association(key_id=4)
    assert (sa.spi, sa.service, sa.key_id, sa.iv_len, sa.mac_len, sa.arsn_len, sa.vcid) == (
        9, sdls.Service.AUTHENTICATED_ENCRYPTION, 4, 16, 12, 0, None)
    assert sa.window == 1 << 32 and link.tm_authenticated
    assert not LinkParameters(tm_sdls="off").tm_authenticated


# --- the SA ------------------------------------------------------------------------------------
CONFIGURED = {"spacecraft_id": 0x155, "tc_vcid": 5, "tc_map_id": 9, "farm_window": 6,
              "sdls_service": "authentication", "spi": 77, "iv_length": 16, "arsn_length": 4,
              "mac_length": 12, "sdls_window": 9}


def test_the_sa_has_the_configured_spi_service_lengths_window_and_channel():
    link = LinkParameters.of({"link": checked(**CONFIGURED)})
    sa = link.security_association(key_id=3)
    assert (sa.spi, sa.service, sa.key_id, sa.key) == (77, sdls.Service.AUTHENTICATION, 3, None)
    assert (sa.iv_len, sa.iv_tx_len, sa.arsn_len, sa.arsn_tx_len, sa.mac_len) == (16, 16, 4, 4, 12)
    assert (sa.window, sa.vcid) == (9, 5)
    default = LinkParameters().security_association(key_id=1)
    assert (default.spi, default.service, default.iv_len, default.arsn_len, default.mac_len, default.window,
            default.vcid) == (1, sdls.Service.AUTHENTICATED_ENCRYPTION, 12, 0, 16, 64, 0)


@pytest.mark.parametrize("service", ["authentication", "authenticated_encryption"])
def test_the_ground_s_sa_protects_what_the_flight_s_sa_of_the_same_settings_opens(service):
    link = LinkParameters.of({"link": checked(**{**CONFIGURED, "sdls_service": service})})
    ground, flight = link.security_association(key_id=3), link.security_association(key_id=3)
    data = b"\x18\x01\xc0\x00\x00\x03\x2f\x11\x01\x00"
    plain = TcFrame(TcHeader(scid=link.spacecraft_id, vcid=link.tc_vcid), data, SegmentHeader(0b11, link.tc_map_id))
    protected = sdls.apply(plain, ground, keys={3: KEY}, segment_header=True)
    # primary header 5 + segment header 1 + SPI 2 + IV 16 + ARSN 4 + data + MAC 12 + FECF 2
    assert len(protected) == 5 + 1 + 2 + 16 + 4 + len(data) + 12 + 2
    assert protected[6:8] == (77).to_bytes(2, "big")
    assert (data in protected) is (service == "authentication")
    opened = sdls.process(protected, {flight.spi: flight}, keys={3: KEY}, segment_header=True)
    assert opened.data == data and opened.spi == 77
    wrong_channel = dataclasses.replace(plain, header=TcHeader(scid=link.spacecraft_id, vcid=link.tc_vcid + 1))
    with pytest.raises(sdls.SdlsError):  # the SA is bound to the configured TC virtual channel
        sdls.apply(wrong_channel, ground, keys={3: KEY}, segment_header=True)


# --- the dictionary's link section -------------------------------------------------------------
links = st.builds(LinkParameters, spacecraft_id=st.integers(0, 1023), tc_vcid=st.integers(0, 63),
                  farm_window=st.integers(1, 127).map(lambda w: 2 * w), tm_frame_length=st.integers(64, 2048),
                  playback_after_s=st.floats(0, 1e6), sdls=st.sampled_from(["on", "off"]),
                  sdls_service=st.sampled_from(["authentication", "authenticated_encryption"]),
                  spi=st.integers(1, 65534), iv_length=st.integers(12, 16), arsn_length=st.integers(0, 8),
                  mac_length=st.sampled_from([8, 12, 16]),
                  key_file=st.text(min_size=1, max_size=20).map(lambda t: f"keys/{t}.json"))


@SETTINGS
@given(link=links)
def test_public_carries_everything_but_the_key_file_and_gives_the_parameters_back(link):
    doc = link.public()
    assert "key_file" not in doc and link.key_file not in doc.values()
    assert doc["tm_virtual_channels"] == {"realtime": TM_REALTIME, "products": TM_PRODUCTS, "playback": TM_PLAYBACK,
                                          "files": TM_FILES}
    assert LinkParameters.from_public(doc) == dataclasses.replace(link, key_file=LinkParameters().key_file)
    assert doc["spacecraft_id"] == link.spacecraft_id and doc["farm_window"] == link.farm_window
