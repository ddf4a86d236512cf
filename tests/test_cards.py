"""Shared-memory slots, the card link and the card worker protocol (flight/payload/cards/slots.py,
link.py, protocol.py).

Verifies: a slot written by the flight is read bit-exactly by another process; acquire/release
never hands out a slot twice and a full pool says so; a worker that attaches and exits does not
destroy the flight's block; a link delivers whole messages in order across processes, reads the
end of the peer process as end-of-file, and refuses at once a send the peer's queue cannot take;
protocol messages round-trip.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.payload.cards import protocol
from flight.payload.cards.link import CardLink
from flight.payload.cards.slots import SlotPool

READER = """
import sys, hashlib
from flight.payload.cards.slots import SlotPool
pool = SlotPool(int(sys.argv[2]), (4, 8, 8), "uint16", name=sys.argv[1])
print(hashlib.sha256(pool.view(int(sys.argv[3])).tobytes()).hexdigest())
pool.close()
"""


def test_a_slot_written_here_is_read_bit_exactly_by_another_process():
    import hashlib

    pool = SlotPool(3, (4, 8, 8))
    try:
        rng = np.random.default_rng(1)
        pixels = rng.integers(0, 65535, (4, 8, 8), dtype=np.uint16)
        slot = pool.acquire()
        pool.write(slot, pixels)
        for _ in range(2):  # the second read proves the first reader's exit left the block alone
            digest = subprocess.run([sys.executable, "-c", READER, pool.name, "3", str(slot)],
                                    capture_output=True, text=True, check=True).stdout.strip()
            assert digest == hashlib.sha256(pixels.tobytes()).hexdigest()
    finally:
        pool.close()


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


ECHO = """
import sys
from flight.payload.cards.link import worker_socket
link = worker_socket(int(sys.argv[1]))
while True:
    message = link.recv(65536)
    if not message:
        break
    link.send(message[::-1])
"""


def _spawn(link: CardLink, program: str) -> subprocess.Popen:
    fd = link.worker_fd()
    try:
        return subprocess.Popen([sys.executable, "-c", program, str(fd)], pass_fds=(fd,))
    finally:
        link.spawned()


def _receive(link: CardLink, timeout: float = 10.0) -> bytes | None:
    import select

    assert select.select([link.fileno()], [], [], timeout)[0], "nothing came"
    return link.receive()


@settings(max_examples=10, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=20))
def test_a_link_carries_whole_messages_in_order_to_another_process_and_back(messages):
    link = CardLink(max_message=4096)
    process = _spawn(link, ECHO)
    try:
        for message in messages:  # all sent before any is read: boundaries must survive queueing
            link.send(message)
        assert [_receive(link) for _ in messages] == [m[::-1] for m in messages]
    finally:
        link.close()
        assert process.wait(timeout=10) == 0  # our end closed: the peer read end-of-file and left


def test_the_end_of_the_peer_process_reads_as_end_of_file_even_under_sigkill():
    link = CardLink(max_message=4096)
    process = _spawn(link, "import os, sys, time; os.kill(os.getpid(), 9)")
    try:
        assert _receive(link) is None
        assert process.wait(timeout=10) == -9
    finally:
        link.close()


def test_a_send_the_stopped_peer_cannot_take_fails_at_once():
    link = CardLink(max_message=4096)
    process = _spawn(link, "import os, signal; os.kill(os.getpid(), signal.SIGSTOP)")
    try:
        message = b"I" + bytes(16)
        with pytest.raises(BlockingIOError):
            for _ in range(1_000_000):  # the peer never reads: its queue fills, then send refuses
                link.send(message)
        with pytest.raises(BlockingIOError):
            link.receive()  # and nothing came back
    finally:
        process.kill()
        process.wait()
        link.close()
