"""Tests of ground_sim/completeness.py: runs of received neighbours and the acknowledgements
made of them, for packets delivered in any order with repeats (hypothesis). The oracle is the
set of production indices received: with fewer than 16384 packets, neighbours in production
order are exactly consecutive indices."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ground_sim.completeness import Completeness

APID = 0x42


@st.composite
def deliveries(draw):
    """Times of N produced packets (strictly increasing), and the order indices arrive in (with repeats),
    with acknowledgement rounds between some arrivals."""
    n = draw(st.integers(1, 120))
    steps = draw(st.lists(st.integers(1, 70000), min_size=n, max_size=n))
    times = [1_000_000 + sum(steps[:i + 1]) for i in range(n)]
    arrivals = draw(st.lists(st.integers(0, n - 1), max_size=3 * n))
    acks = draw(st.sets(st.integers(0, max(0, len(arrivals) - 1))))
    return times, arrivals, acks


def intervals(indices: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in sorted(indices):
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


@settings(max_examples=200, deadline=None)
@given(case=deliveries(), seq_base=st.integers(0, 16383))
def test_runs_and_acknowledgements_follow_what_was_received(case, seq_base):
    times, arrivals, ack_points = case
    index_of = {t: i for i, t in enumerate(times)}
    completeness, received, acked, again = Completeness(), set(), set(), set()

    def acknowledge() -> None:
        covered = set()
        for ack in completeness.acknowledgements():
            first, last = index_of[ack.first], index_of[ack.last]
            assert ack.apid == APID and ack.count == last - first + 1
            assert set(range(first, last + 1)) <= received          # never a packet not received
            covered.update(range(first, last + 1))
        assert again <= covered                                     # sent again: acknowledged again
        again.clear()
        acked.update(covered)

    for step, i in enumerate(arrivals):
        new = completeness.add(APID, times[i], (seq_base + i) % 16384)
        assert new is (i not in received)
        if i in acked:
            again.add(i)
        received.add(i)
        if step in ack_points:
            acknowledge()
    runs = completeness.runs(APID)
    assert [(index_of[r.first], index_of[r.last]) for r in runs] == intervals(received)
    assert [r.count for r in runs] == [b - a + 1 for a, b in intervals(received)]
    assert completeness.duplicates == len(arrivals) - len(received)
    spans = intervals(received)
    assert [(index_of[g.after], index_of[g.before], g.missing) for g in completeness.gaps()] == [
        (a[1], b[0], b[0] - a[1] - 1) for a, b in zip(spans, spans[1:])]
    assert completeness.missing() == sum(b[0] - a[1] - 1 for a, b in zip(spans, spans[1:]))
    acknowledge()
    assert acked == received                                        # every packet acknowledged
    assert completeness.acknowledgements() == []                    # and once is enough
