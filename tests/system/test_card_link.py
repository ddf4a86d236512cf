"""Shared-memory slots and the card link across processes (flight/payload/cluster/slots.py,
card_link.py).

Verifies: a slot written by the flight is read bit-exactly by another process; a worker that
attaches and exits does not destroy the flight's block; a link delivers whole messages in order
across processes, reads the end of the peer process as end-of-file, and refuses at once a send
the peer's queue cannot take.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.payload.cluster.card_link import CardLink
from flight.payload.cluster.slots import SlotPool


READER = """
import sys, hashlib
from flight.payload.cluster.slots import SlotPool
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


ECHO = """
import sys
from flight.payload.cluster.card_link import worker_socket
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
