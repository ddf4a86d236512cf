"""ST[9] layouts (flight/wire/time_management.py): TC[9,1] rate exponential value, TM[9,2] CUC time report."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from flight.wire import time_management as tm9
from flight.wire.pus import CUC_TICKS


def test_a_time_report_is_the_exponent_the_cuc_p_field_and_the_4_2_t_field():
    assert tm9.TimeReport(3, 1.5).pack() == bytes([3, 0x2E, 0, 0, 0, 1, 0x80, 0])
    assert tm9.P_FIELD == 0x2E   # no extension, agency epoch (0b010), 4 coarse octets, 2 fine octets


@given(st.integers(0, tm9.MAX_EXPONENT), st.integers(0, 2**48 - 1))
def test_a_time_report_round_trips(exponent, ticks):
    report = tm9.TimeReport(exponent, ticks / CUC_TICKS)
    assert tm9.TimeReport.unpack(report.pack()) == report


@pytest.mark.parametrize("exponent", range(tm9.MAX_EXPONENT + 1))
def test_every_rate_exponent_from_0_to_8_is_one_octet(exponent):
    assert tm9.unpack_rate(tm9.pack_rate(exponent)) == exponent
    assert tm9.pack_rate(exponent) == bytes([exponent])


@pytest.mark.parametrize("data", [b"", b"\x09", b"\xff", b"\x01\x00"])
def test_a_bad_rate_is_refused(data):
    with pytest.raises(ValueError):
        tm9.unpack_rate(data)


def test_a_report_of_the_wrong_length_or_p_field_is_refused():
    good = tm9.TimeReport(2, 100.0).pack()
    with pytest.raises(ValueError, match="octets"):
        tm9.TimeReport.unpack(good[:-1])
    with pytest.raises(ValueError, match="P-field"):
        tm9.TimeReport.unpack(good[:1] + b"\x1e" + good[2:])
    with pytest.raises(ValueError):
        tm9.pack_rate(9)
