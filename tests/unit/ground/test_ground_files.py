"""Tests of ground_sim.files: the ground's CFDP entity and its pump thread, against a CFDP entity
in the test as the flight (packets carried in-process)."""
from __future__ import annotations

import collections
import os
import time
from pathlib import Path

import pytest
from spacepackets.cfdp import ConditionCode

from flight.services.cfdp_entity import CfdpEntity, CfdpTimers, Finished
from flight.wire.link import LinkParameters
from flight.wire.spacepacket import PacketType, PrimaryHeader
from ground_sim.files import GroundFiles

FAST = CfdpTimers(0.02, 500, 0.02, 500, 0.02, 10.0)
LINK = LinkParameters()


class Flight:
    """The flight's end: a CFDP entity delivering into ``folder``, and the packets between."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.ends, self.up = folder, [], collections.deque()
        folder.mkdir()
        self.entity = CfdpEntity(1, 2, folder / ".partial", max_pdu=900, finished=self.ends.append,
                                 deliver=lambda name, staged: os.replace(staged, folder / name),
                                 admit=lambda name, size: None, timers=FAST)
        self.contact = True

    def submit(self, packet: bytes) -> None:
        self.up.append(packet)

    def run(self, ground: GroundFiles, until, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while not until():
            assert time.monotonic() < deadline, f"not done: {self.ends}, {ground.entity.stats}"
            while self.up:
                self.entity.receive(self.up.popleft()[6:])
            for pdu in self.entity.poll(64):
                ground.packet(PrimaryHeader(PacketType.TM, LINK.file_apid, 0, len(pdu) - 1,
                                            secondary_header=False).pack() + pdu)
            time.sleep(0.002)


@pytest.fixture
def ends(tmp_path):
    flight = Flight(tmp_path / "flight")
    ground = GroundFiles(LINK, flight.submit, lambda: len(flight.up), lambda: flight.contact, timers=FAST).start()
    yield flight, ground
    ground.close()


def test_an_expected_file_lands_at_its_path_only_whole(ends, tmp_path):
    flight, ground = ends
    source = flight.folder / "log.txt"
    source.write_bytes(os.urandom(30_000))
    target = tmp_path / "down" / "log.txt"
    transfer = ground.expect("7-log.txt", target)
    flight.entity.put(source, "7-log.txt")
    whole = []                                      # each time the file was there: was it whole?

    def done() -> bool:
        if target.exists():
            whole.append(target.read_bytes() == source.read_bytes())
        return transfer.done.is_set() and bool(flight.ends)

    flight.run(ground, done)
    assert transfer.wait(0).ok and target.read_bytes() == source.read_bytes()
    assert whole and all(whole)
    assert flight.ends[-1].ok and flight.ends[-1].sent


def test_a_file_nobody_asked_for_is_refused(ends):
    flight, ground = ends
    source = flight.folder / "x.bin"
    source.write_bytes(b"x" * 5_000)
    flight.entity.put(source, "x.bin")
    flight.run(ground, lambda: flight.ends and not flight.entity.sending)
    assert flight.ends[-1].condition == ConditionCode.FILESTORE_REJECTION


def test_an_upload_goes_only_in_contact_and_bad_packets_are_counted_never_fatal(ends, tmp_path):
    flight, ground = ends
    for bad in (b"", b"\x00\x01", PrimaryHeader(PacketType.TM, 99, 0, 3, secondary_header=False).pack() + b"abcd",
                PrimaryHeader(PacketType.TM, LINK.file_apid, 0, 30, secondary_header=False).pack() + b"short"):
        ground.packet(bad)
    assert ground.bad_packets == 4
    ground.packet(PrimaryHeader(PacketType.TM, LINK.file_apid, 0, 9, secondary_header=False).pack() + os.urandom(10))
    source = tmp_path / "up.bin"
    source.write_bytes(os.urandom(20_000))
    flight.contact = False
    transfer = ground.upload(source, "up.bin")
    time.sleep(0.3)
    assert not flight.up and not transfer.done.is_set()
    flight.contact = True
    flight.run(ground, transfer.done.is_set)
    result: Finished = transfer.wait(0)
    assert result.ok and (flight.folder / "up.bin").read_bytes() == source.read_bytes()
    assert ground.entity.stats.refused == 1 and ground.errors == 0


def test_a_transfer_that_fails_says_why(ends, tmp_path):
    _, ground = ends
    transfer = ground.upload(tmp_path / "missing.bin", "m")
    with pytest.raises(AssertionError, match="missing.bin is not a file"):
        transfer.wait(5)
