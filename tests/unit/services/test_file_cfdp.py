"""Tests of flight.services.cfdp_entity: two CFDP entities connected in-process through a lossy
channel (a PDU is dropped with the drawn probability, from a seeded generator)."""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from spacepackets.cfdp import ConditionCode, PduFactory
from spacepackets.cfdp.pdu import FileDataPdu

from flight.services.cfdp_entity import CfdpEntity, CfdpTimers, Finished

FAST = CfdpTimers(0.01, 1000, 0.01, 1000, 0.01, 10.0)
SHORT = CfdpTimers(0.05, 20, 0.05, 20, 0.05, 0.5)   # 1 s of silence fails a transfer that runs


class Pair:
    """Entity 1 (``a``) and entity 2 (``b``), each delivering into its own folder of ``root``."""

    def __init__(self, root: Path, timers: CfdpTimers = FAST, admit=lambda name, size: None) -> None:
        self.ends: list[Finished] = []
        self.root = root
        self.a, self.b = (self._entity(local, 3 - local, timers, admit) for local in (1, 2))

    def _entity(self, local: int, remote: int, timers: CfdpTimers, admit) -> CfdpEntity:
        folder = self.root / str(local)
        folder.mkdir(parents=True, exist_ok=True)

        def deliver(name: str, staged: Path) -> str | None:
            os.replace(staged, folder / name)
            return None

        return CfdpEntity(local, remote, folder / ".partial", max_pdu=300, deliver=deliver, admit=admit,
                          finished=self.ends.append, timers=timers)

    def run(self, rng: random.Random, loss: float = 0.0, until=None, seconds: float = 15.0,
            tamper=lambda pdu: pdu) -> None:
        """Exchange PDUs until ``until()`` (default: both ends finished and idle again)."""
        until = until or (lambda: len(self.ends) >= 2 and not any(
            e.sending or e.receiving for e in (self.a, self.b)))
        deadline = time.monotonic() + seconds
        while not until():
            assert time.monotonic() < deadline, f"not done: {self.ends}, {self.a.stats}, {self.b.stats}"
            for sender, receiver in ((self.a, self.b), (self.b, self.a)):
                for pdu in sender.poll(16):
                    if rng.random() >= loss:
                        receiver.receive(tamper(pdu))


def sent_file(root: Path, size: int, seed: int) -> Path:
    path = root / "source.bin"
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, 20_000), loss=st.floats(0.0, 0.5), seed=st.integers(0, 2**32 - 1))
def test_any_random_loss_up_to_half_of_the_pdus_delivers_the_file_intact(tmp_path_factory, size, loss, seed):
    root = tmp_path_factory.mktemp("pair")
    pair = Pair(root)
    source = sent_file(root, size, seed)
    pair.a.put(source, "copy.bin")
    pair.run(random.Random(seed), loss)
    assert all(end.ok for end in pair.ends), pair.ends
    assert (root / "2" / "copy.bin").read_bytes() == source.read_bytes()
    assert not any((root / "2" / ".partial").glob("*"))


def test_a_damaged_pdu_is_refused_by_its_crc_and_garbage_is_counted_never_raised(tmp_path):
    pair = Pair(tmp_path)
    source = sent_file(tmp_path, 5_000, 1)
    pair.a.put(source, "copy.bin")
    damaged = []

    def flip(pdu: bytes) -> bytes:
        if not damaged and not PduFactory.is_file_directive(pdu):
            damaged.append(pdu)
            return pdu[:-3] + bytes([pdu[-3] ^ 0x10]) + pdu[-2:]
        return pdu

    pair.run(random.Random(1), tamper=flip)
    assert pair.b.stats.refused == 1 and "Crc" in pair.b.last_refusal
    for garbage in (b"", b"\x00", os.urandom(7), os.urandom(400), b"\xff" * 50):
        pair.b.receive(garbage)
    assert pair.b.stats.refused == 6
    assert all(end.ok for end in pair.ends)
    assert (tmp_path / "2" / "copy.bin").read_bytes() == source.read_bytes()


def test_a_file_refused_at_metadata_ends_in_a_filestore_rejection_and_leaves_nothing(tmp_path):
    pair = Pair(tmp_path, admit=lambda name, size: f"{size} octets do not fit")
    source = sent_file(tmp_path, 3_000, 2)
    pair.a.put(source, "big.bin")
    pair.run(random.Random(2))
    assert {end.sent: end.condition for end in pair.ends} == {True: ConditionCode.FILESTORE_REJECTION,
                                                             False: ConditionCode.FILESTORE_REJECTION}
    assert not (tmp_path / "2" / "big.bin").exists()
    assert not any((tmp_path / "2" / ".partial").glob("*"))


def test_a_file_failing_its_crc32c_never_takes_its_name(tmp_path):
    """A chunk altered with a valid CRC-16 (what the PDU CRC cannot see): the whole-file check does."""
    pair = Pair(tmp_path)
    source = sent_file(tmp_path, 4_000, 3)
    pair.a.put(source, "copy.bin")

    def alter(pdu: bytes) -> bytes:
        parsed = PduFactory.from_raw(pdu)
        if isinstance(parsed, FileDataPdu) and parsed.offset == 0:
            data = bytearray(parsed.file_data)
            data[0] ^= 0xFF
            parsed.file_data = bytes(data)
            return parsed.pack()
        return pdu

    pair.run(random.Random(3), tamper=alter)
    assert {end.sent: end.condition for end in pair.ends} == {True: ConditionCode.FILE_CHECKSUM_FAILURE,
                                                             False: ConditionCode.FILE_CHECKSUM_FAILURE}
    assert not (tmp_path / "2" / "copy.bin").exists()
    assert not any((tmp_path / "2" / ".partial").glob("*"))


def test_paused_no_timer_fires_however_long_and_resumed_the_transfer_completes(tmp_path):
    pair = Pair(tmp_path, SHORT)
    source = sent_file(tmp_path, 20_000, 4)
    pair.a.put(source, "copy.bin")
    rng = random.Random(4)
    pair.run(rng, 0.2, until=lambda: pair.b.receiving and pair.a.stats.pdus_out > 20)
    for end in (pair.a, pair.b):
        end.pause()
    time.sleep(1.5)
    assert pair.a.poll(16) == [] and pair.b.poll(16) == []
    for end in (pair.a, pair.b):
        end.resume()
    pair.run(rng, 0.2)
    assert all(end.ok for end in pair.ends) and pair.a.stats.faults == pair.b.stats.faults == 0
    assert (tmp_path / "2" / "copy.bin").read_bytes() == source.read_bytes()


def test_without_the_pause_the_same_silence_fails_the_transfer(tmp_path):
    """The control of the test above: the timers are what the pause holds; and a transfer whose
    peer went silent ends at both ends (retry limits, inactivity), leaving each free for the next."""
    pair = Pair(tmp_path, SHORT)
    source = sent_file(tmp_path, 20_000, 4)
    pair.a.put(source, "copy.bin")
    rng = random.Random(4)
    pair.run(rng, 0.2, until=lambda: pair.b.receiving and pair.a.stats.pdus_out > 20)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:   # polled, but nothing gets through: the link is down
        pair.a.poll(16), pair.b.poll(16)
    assert pair.a.stats.faults + pair.b.stats.faults > 0
    pair.run(rng, 0.2, until=lambda: not pair.a.sending and not pair.b.receiving)   # both give it up
    assert pair.ends and not any(end.ok for end in pair.ends)
