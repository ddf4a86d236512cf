"""ST[21] layouts (flight/wire/sequencing.py): round trips and refusals."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from flight.wire import sequencing as sq
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import Telecommand
from flight.wire.sequencing import Step

names = st.text(min_size=1, max_size=8)
requests = st.binary(max_size=20).map(lambda data: Telecommand(1, 3, 8, 1, data).encode())
steps = st.lists(st.builds(Step, st.integers(0, sq.MAX_DELAY_MS), requests), max_size=5)


@given(names, steps)
def test_a_load_round_trips(name, seq):
    assert sq.unpack_load(sq.pack_load(name, seq)) == (name, seq)


@given(st.lists(st.tuples(names, st.booleans()), max_size=5))
def test_a_status_report_round_trips(entries):
    assert sq.unpack_status(sq.pack_status(entries)) == entries


@pytest.mark.parametrize("data", [sq.pack_load("a", [Step(1, Telecommand(1, 1, 8, 1, b"xy").encode())])[:-1],
                                  sq.pack_load("a", []) + b"\0", sq.pack_load("", []), sq.pack_load("a" * 33, [])])
def test_a_malformed_load_is_refused(data):
    with pytest.raises(PacketError) as refused:
        sq.unpack_load(data)
    assert refused.value.code is FailureCode.BAD_ARGUMENTS


def test_a_name_request_refuses_bytes_left_over():
    with pytest.raises(PacketError):
        sq.unpack_name(sq.pack_name("a") + b"\0", "TC[21,4]")
