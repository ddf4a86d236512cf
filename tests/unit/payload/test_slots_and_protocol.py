"""Shared-memory slots and the card worker protocol, in this process (flight/payload/cluster/slots.py,
card_protocol.py).

Verifies: acquire/release never hands out a slot twice and a full pool says so; slots come in
ring order so that a batch of consecutive slots is a view; protocol messages round-trip.
"""
from __future__ import annotations

import numpy as np
import pytest

from flight.payload.cluster import card_protocol as protocol
from flight.payload.cluster.slots import SlotPool


def test_acquire_and_release_never_hand_out_a_slot_twice():
    pool = SlotPool(4, (2,))
    try:
        taken = [pool.acquire() for _ in range(4)]
        assert sorted(taken) == [0, 1, 2, 3]
        assert pool.acquire() is None and pool.free == 0
        pool.release(taken[2])
        assert pool.acquire() == taken[2]
        with pytest.raises(ValueError):
            pool.release(99)
        pool.release(taken[0])
        with pytest.raises(ValueError):
            pool.release(taken[0])
    finally:
        pool.close()


def test_protocol_messages_round_trip():
    for slots in ([0, 7, 65536], [5]):
        kind, body = protocol.split(protocol.pack_infer(2**40 + 3, slots))
        assert kind == protocol.INFER
        assert protocol.unpack_infer(body) == (2**40 + 3, slots)
    kind, body = protocol.split(protocol.pack_result(5, 123456789, b"xyz"))
    assert kind == protocol.RESULT and protocol.unpack_result(body) == (5, 123456789, b"xyz")
    kind, body = protocol.split(protocol.pack_error(9, "bad \u2603"))
    assert kind == protocol.ERROR and protocol.unpack_error(body) == (9, "bad \u2603")


def test_slots_come_in_ring_order_and_a_consecutive_batch_is_a_view():
    pool = SlotPool(6, (2, 2))
    try:
        taken = [pool.acquire() for _ in range(4)]
        assert taken == [0, 1, 2, 3]
        for slot in taken:
            pool.write(slot, np.full((2, 2), slot, np.uint16))
        pool.release(1)
        assert pool.acquire() == 4  # the ring goes on rather than reusing the slot just freed
        batch = pool.batch([2, 3, 4])
        assert np.shares_memory(batch, pool.array) and batch.shape == (3, 2, 2)
        scattered = pool.batch([3, 0])
        assert not np.shares_memory(scattered, pool.array)
        assert [int(t[0, 0]) for t in scattered] == [3, 0]
    finally:
        pool.close()
