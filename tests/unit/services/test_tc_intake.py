"""Tests of TcIntake: bounded per peer and in peers, each peer's order kept, peers served in turn,
every refusal counted (property-tested against our own count of what waits)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from flight.services.tc_intake import TcIntake

PEERS = [b"ground", b"flood", b"other", b"late"]
steps = st.lists(st.one_of(st.tuples(st.just("offer"), st.sampled_from(PEERS)),
                           st.tuples(st.just("take"), st.integers(0, 6))), max_size=120)


@given(steps, st.integers(1, 5), st.integers(1, 3))
def test_the_intake_is_bounded_ordered_fair_and_counts_refusals(actions, per_peer, max_peers):
    intake = TcIntake(per_peer, max_peers)
    waiting: dict[bytes, int] = {}  # how many of each peer's messages wait, by our own count
    refused, out = 0, []
    for serial, (action, value) in enumerate(actions):
        if action == "offer":
            room = waiting.get(value, 0) < per_peer and (value in waiting or len(waiting) < max_peers)
            assert intake.offer(value, (value, serial)) == room
            if room:
                waiting[value] = waiting.get(value, 0) + 1
            refused += not room
        else:
            batch = intake.take(value)
            assert len(batch) == min(value, sum(waiting.values()))
            shares = {p: sum(1 for m in batch if m[0] == p) for p in waiting}
            for peer, n in shares.items():
                waiting[peer] -= n
            still = [shares[p] for p in shares if waiting[p] > 0]  # peers not emptied by the take
            assert not still or max(shares.values()) - min(still) <= 1  # served in turn
            waiting = {p: n for p, n in waiting.items() if n}
            out += batch
        assert len(intake) == sum(waiting.values()) <= per_peer * max_peers
        assert intake.refused == refused
    out += intake.take(10**6)
    for peer in PEERS:  # each peer's messages come out in the order they went in
        serials = [s for p, s in out if p == peer]
        assert serials == sorted(serials)


def test_a_flooding_peer_waits_behind_itself_while_another_is_served_at_once():
    intake = TcIntake(per_peer=100, max_peers=4)
    for n in range(250):
        intake.offer(b"flood", n)
    assert len(intake) == 100 and intake.refused == 150
    intake.offer(b"operator", "ping")
    assert intake.take(2) == [0, "ping"]  # one round: the operator's ping among the first two
