"""Tests of flight.services.tm_security (TM SDLS on the downlink) and comms' use of it.

The ground's downlink (ground_sim.downlink) is the oracle: it verifies what the flight sealed.
A crash is a TmSecurity dropped without close (no final save); the frames after it must carry
IVs above every IV sent before, and the ground that accepted those must accept them.
"""
from __future__ import annotations

import pytest

from flight.services.tm_framer import TmFramer
from flight.services.tm_security import RESERVATION_STEP, TmSecurity
from flight.testing import ComponentTester
from flight.wire.keyfile import KeyRing, KeyRingError
from flight.wire.link import TM_REALTIME, LinkParameters
from flight.wire.pus import TelemetryPacket
from ground_sim.downlink import Downlink
from ground_sim.flight_process import make_keys

LINK = LinkParameters()


def packet(seq: int) -> bytes:
    return TelemetryPacket(0x42, seq, 3, 25, bytes(40), 10.0, seq).encode()


def downlinked(framer: TmFramer, first: int, count: int) -> list[bytes]:
    frames, refused = framer.frames([(packet(first + i), TM_REALTIME, 10.0) for i in range(count)], 10.0)
    assert refused == 0
    return frames


def test_frames_go_down_sealed_and_only_the_key_holder_verifies_them(tmp_path):
    ring = KeyRing.create()
    framer = TmFramer(LINK, TmSecurity(LINK, ring, tmp_path / "tm_sa.bin"))
    frames = downlinked(framer, 0, 30) + [framer.clcw_frame()]
    ground = Downlink(LINK, keys=ring)
    packets = []
    for raw in frames:
        frame = ground.frame(raw)
        assert frame is not None, ground.last_refusal
        packets += ground.packets(frame)
    assert packets == [packet(i) for i in range(30)]
    stranger = Downlink(LINK, keys=KeyRing.create())              # another key for SA 2
    assert all(stranger.frame(raw) is None for raw in frames)
    assert stranger.stats.bad_frames == {"BAD_MAC": len(frames)}


def test_after_a_crash_the_flight_continues_above_every_iv_it_sent(tmp_path):
    ring = KeyRing.create()
    ground = Downlink(LINK, keys=ring)
    state = tmp_path / "tm_sa.bin"
    for run in range(3):
        security = TmSecurity(LINK, ring, state)                   # no close at the end: a crash
        first_iv = security.sa.iv
        assert first_iv == run * RESERVATION_STEP                   # the reservation it left
        for raw in downlinked(TmFramer(LINK, security), run * 10, 10):
            assert ground.frame(raw) is not None, ground.last_refusal
        assert ground.sa.last_iv == security.sa.iv - 1 >= first_iv


def test_a_key_file_that_cannot_serve_the_tm_sa_is_refused(tmp_path):
    ring = KeyRing.create((1,))
    with pytest.raises(KeyRingError, match="no key for SA 2"):
        TmSecurity(LINK, ring, tmp_path / "tm_sa.bin")
    ring = KeyRing.create()
    ring.sas[2] = 1                                                 # written by hand: one key, two SAs
    with pytest.raises(KeyRingError, match="both use key 1"):
        TmSecurity(LINK, ring, tmp_path / "tm_sa.bin")
    assert TmSecurity.load(LinkParameters(tm_sdls="off"), tmp_path / "none.json", tmp_path / "x.bin") is None


def comms(tmp_path, **link):
    return ComponentTester.build(tmp_path, [{"name": "comms", "kind": "flight.services.comms:Comms"}],
                                 mission={"link": link}).components["comms"]


def test_comms_without_the_tm_key_refuses_to_start_with_one_line(tmp_path):
    problem = comms(tmp_path).preflight()
    assert problem.startswith("mission.link.key_file: cannot read the key file") and "\n" not in problem
    assert "tm_sdls" in problem and "python -m flight.wire.keyfile" in problem
    assert comms(tmp_path, tm_sdls="off").preflight() is None
    make_keys(tmp_path / "keys")
    assert comms(tmp_path).preflight() is None
