"""Tests of the CLCW (flight/wire/clcw.py): the 4-octet COP-1 report of the TM Operational Control Field.

References: the bit layout of CCSDS 232.0-B §4.2 written out bit by bit below (independently of the
shifts in the module), and NASA CryptoLib's initial CLCW (src/core/crypto_config.c sets every field
to 0 but COP in Effect to 1, which is the word 01 00 00 00).
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.wire.clcw import Clcw, ClcwError

clcws = st.builds(Clcw, vcid=st.integers(0, 63), report_value=st.integers(0, 255), lockout=st.booleans(),
                  wait=st.booleans(), retransmit=st.booleans(), farm_b_counter=st.integers(0, 3),
                  no_rf_available=st.booleans(), no_bit_lock=st.booleans(), status=st.integers(0, 7))


def bits(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def word_from_layout(clcw: Clcw, spare_high: str = "00", spare_low: str = "0") -> bytes:
    """The CLCW written field by field in the order of the standard's figure, as a string of bits."""
    text = ("0" + "00" + bits(clcw.status, 3) + "01" + bits(clcw.vcid, 6) + spare_high
            + bits(clcw.no_rf_available, 1) + bits(clcw.no_bit_lock, 1) + bits(clcw.lockout, 1)
            + bits(clcw.wait, 1) + bits(clcw.retransmit, 1) + bits(clcw.farm_b_counter, 2) + spare_low
            + bits(clcw.report_value, 8))
    assert len(text) == 32
    return int(text, 2).to_bytes(4, "big")


@settings(max_examples=300)
@given(clcws)
def test_every_field_round_trips(clcw):
    raw = clcw.encode()
    assert len(raw) == 4
    assert Clcw.decode(raw) == clcw
    assert raw == word_from_layout(clcw)


def test_hand_made_vector():
    # type 0 | version 00 | status 101 | COP 01 | VCID 000111 | spare 00 | no RF 1 | no bit lock 0 |
    # lockout 1 | wait 0 | retransmit 1 | FARM-B 10 | spare 0 | report value 10100101
    text = "0" "00" "101" "01" "000111" "00" "1" "0" "1" "0" "1" "10" "0" "10100101"
    raw = int(text, 2).to_bytes(4, "big")
    assert raw.hex(" ") == "15 1c ac a5"
    clcw = Clcw(vcid=7, report_value=0xA5, lockout=True, retransmit=True, farm_b_counter=2,
                no_rf_available=True, status=5)
    assert clcw.encode() == raw
    assert Clcw.decode(raw) == clcw


def test_cryptolib_initial_clcw():
    assert Clcw(vcid=0, report_value=0).encode() == bytes.fromhex("01000000")
    assert Clcw.decode(bytes.fromhex("01000000")) == Clcw(0, 0)


@given(clcws, st.sampled_from(["01", "10", "11"]), st.sampled_from(["1"]))
def test_spare_bits_are_ignored_on_decode(clcw, spare_high, spare_low):
    assert Clcw.decode(word_from_layout(clcw, spare_high, spare_low)) == clcw


@pytest.mark.parametrize("bit, value, message", [
    (0, 1, "control word type 1"),      # a type-2 report (e.g. a frame security report), not a CLCW
    (1, 0b01, "CLCW version 1"),
    (1, 0b10, "CLCW version 2"),
    (6, 0b00, "COP in effect 00"),
    (6, 0b10, "COP in effect 10"),
    (6, 0b11, "COP in effect 11"),
])
def test_a_word_that_is_not_a_cop1_clcw_is_refused(bit, value, message):
    good = int.from_bytes(Clcw(vcid=3, report_value=9).encode(), "big")
    width = {0: 1, 1: 2, 6: 2}[bit]
    shift = 32 - bit - width
    bad = (good & ~(((1 << width) - 1) << shift)) | (value << shift)
    with pytest.raises(ClcwError, match=message):
        Clcw.decode(bad.to_bytes(4, "big"))


@pytest.mark.parametrize("raw", [b"", b"\x01\x00\x00", b"\x01\x00\x00\x00\x00"])
def test_a_word_of_the_wrong_length_is_refused(raw):
    with pytest.raises(ClcwError, match="octets"):
        Clcw.decode(raw)


@pytest.mark.parametrize("field, value", [("vcid", 64), ("vcid", -1), ("report_value", 256),
                                          ("farm_b_counter", 4), ("status", 8)])
def test_a_field_outside_its_width_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        Clcw(**{"vcid": 0, "report_value": 0, field: value})
