"""Output voting (the vote functions of flight/payload/cluster/voter.py).

Verifies: any corruption confined to one card's output is voted away and that card named (property
test); three pairwise-different outputs are uncorrectable; two outputs agree or not; tolerance
voting ignores float noise but not a changed decision.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.payload.cluster.voter import vote_bitwise, vote_tolerance

floats = st.lists(st.floats(-1e6, 1e6, width=32, allow_nan=False), min_size=1, max_size=80)


def _bytes(values) -> bytes:
    return np.asarray(values, np.float32).tobytes()


@settings(max_examples=200, deadline=None)
@given(floats, st.data())
def test_any_corruption_of_one_card_is_voted_away_and_the_card_named(values, data):
    good = _bytes(values)
    bad = bytearray(good)
    positions = data.draw(st.lists(st.integers(0, len(good) - 1), min_size=1, max_size=len(good),
                                   unique=True))
    for position in positions:
        bad[position] ^= data.draw(st.integers(1, 255))
    liar = data.draw(st.sampled_from(["a", "b", "c"]))
    outputs = {name: (bytes(bad) if name == liar else good) for name in "abc"}
    outcome = vote_bitwise(outputs)
    assert outcome.output == good
    assert outcome.disagreeing == {liar}


def test_three_pairwise_different_outputs_are_uncorrectable():
    a = _bytes([1.0, 2.0])
    b = _bytes([1.0, 3.0])
    c = _bytes([1.0, 4.0])
    outcome = vote_bitwise({"a": a, "b": b, "c": c})
    assert outcome.output is None


def test_two_outputs_agree_or_not_and_one_is_itself():
    a, b = _bytes([1.0]), _bytes([2.0])
    assert vote_bitwise({"a": a, "b": a}).output == a
    assert vote_bitwise({"a": a, "b": b}).output is None
    assert vote_bitwise({"a": a}).output == a


def _decisions(record: bytes) -> bytes:  # first value's sign decides, as a stand-in decision
    return bytes([int(np.frombuffer(record, np.float32)[0] > 0)])


def test_tolerance_voting_ignores_float_noise_but_not_a_changed_decision():
    base = np.array([0.7, 0.25, 0.5], np.float32)
    noisy = base + np.float32(1e-6)
    flipped = base.copy()
    flipped[0] = -0.7
    outcome = vote_tolerance({"a": base.tobytes(), "b": noisy.tobytes(), "c": flipped.tobytes()},
                             _decisions)
    assert outcome.output in (base.tobytes(), noisy.tobytes())
    assert outcome.disagreeing == {"c"}
    drifted = base.copy()
    drifted[1] += 0.1  # same decision, but no longer within tolerance
    assert vote_tolerance({"a": base.tobytes(), "b": drifted.tobytes()}, _decisions).output is None
