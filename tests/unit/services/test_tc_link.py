"""Tests of the TC link (flight.services.tc_link) in the component tester: frames built as a ground
builds them (TC frame, segment header, SDLS apply with the ground's copy of the key file), fed to
the ``frames`` port; what comes out of ``tc`` (packets for the dispatcher) and ``clcw`` checked."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from flight.core.component import CommandRefused
from flight.messages import RawTelecommand
from flight.testing import ComponentTester
from flight.wire import sdls
from flight.wire.clcw import Clcw
from flight.wire.cop1 import ControlCommand
from flight.wire.keyfile import KeyRing
from flight.wire.link import LinkParameters
from flight.wire.pus import Telecommand
from flight.wire.tc_frame import SegmentHeader, TcFrame, TcHeader, control_frame
from ground_sim.flight_process import make_keys

LINK = LinkParameters()


class Ground:
    """What a ground does to send: number frames (N(S)), protect them with its SA."""

    def __init__(self, run_dir, link: LinkParameters = LINK) -> None:
        self.link = link
        self.ring = KeyRing.load(make_keys(run_dir / "keys")) if link.authenticated else None
        self.sa = link.security_association(self.ring.key_id_of(link.spi)) if self.ring else None
        self.ns = 0

    def frame(self, *packets: bytes, ns: int | None = None, bypass: bool = False) -> bytes:
        sequence = self.ns if ns is None else ns
        if ns is None and not bypass:
            self.ns = (self.ns + 1) % 256
        tc = TcFrame(TcHeader(self.link.spacecraft_id, self.link.tc_vcid, sequence, bypass=bypass),
                     b"".join(packets), SegmentHeader(self.link.tc_map_id))
        if self.sa is None:
            return tc.encode()
        return sdls.apply(tc, self.sa, keys=self.ring.active_keys())


def ping(n: int) -> bytes:
    return Telecommand(1, n, 17, 1).encode()


@pytest.fixture
def make(tmp_path):
    testers = []

    def build(link: dict | None = None, run_dir=None):
        make_keys((run_dir or tmp_path) / "keys")
        h = ComponentTester.build(run_dir or tmp_path, [{"name": "link", "kind": "flight.services.tc_link:TcLink"}],
                                  mission={"link": link or {}})
        h.start()
        testers.append(h)
        return h

    yield build
    for h in testers:
        h.stop()


def feed(h, raw: bytes) -> list[bytes]:
    """Send one frame in; the packets that went out for the dispatcher because of it."""
    before = len(h.sent["link.tc"])
    h.send("link.frames", RawTelecommand((raw,)))
    return [m.frames[0] for m in h.sent["link.tc"][before:]]


def clcw(h) -> Clcw:
    return Clcw.decode(h.sent["link.clcw"][-1].clcw)


def counters(h) -> dict:
    return {k: v for k, v in h.components["link"].telemetry.items() if k.startswith(("Refused", "Frames", "Farm"))}


def test_frames_in_sequence_deliver_their_packets_once_in_order_and_the_clcw_follows(make, tmp_path):
    h, ground = make(), Ground(tmp_path)
    assert feed(h, ground.frame(ping(0), ping(1))) == [ping(0), ping(1)]
    assert feed(h, ground.frame(ping(2))) == [ping(2)]
    assert clcw(h).report_value == 2 and not clcw(h).retransmit
    assert feed(h, ground.frame(ping(3), ns=5)) == []  # ahead of V(R): discarded, Retransmit asked
    assert clcw(h).retransmit and h.components["link"].telemetry["FarmDiscarded"] == 1
    telemetry = h.components["link"].telemetry
    assert telemetry["FramesAccepted"] == 2 and telemetry["ReceiveVR"] == 2


def test_a_replayed_frame_is_refused_and_nothing_runs(make, tmp_path):
    h, ground = make(), Ground(tmp_path)
    first = ground.frame(ping(0))
    assert feed(h, first) == [ping(0)]
    assert feed(h, first) == []
    assert h.components["link"].telemetry["RefusedReplay"] == 1
    assert clcw(h).status & 0b010  # bad sequence number, in the CLCW
    assert h.events_named("SecurityRefused")[-1][2][0] == "REPLAY"


def test_a_frame_beyond_the_window_is_refused(make, tmp_path):
    h, ground = make(), Ground(tmp_path)
    ground.sa.iv = LINK.sdls_window + 1  # the flight has accepted nothing: 0..window are acceptable
    assert feed(h, ground.frame(ping(0))) == []
    assert h.components["link"].telemetry["RefusedWindow"] == 1


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_single_bit_flip_of_a_protected_frame_is_refused_with_no_effect(tmp_path_factory, data):
    run_dir = tmp_path_factory.mktemp("flip")
    make_keys(run_dir / "keys")
    h = ComponentTester.build(run_dir, [{"name": "link", "kind": "flight.services.tc_link:TcLink"}])
    h.start()
    try:
        ground = Ground(run_dir)
        raw = bytearray(ground.frame(ping(0), ping(1)))
        bit = data.draw(st.integers(0, 8 * len(raw) - 1))
        raw[bit // 8] ^= 1 << (bit % 8)
        before = counters(h)
        assert feed(h, bytes(raw)) == []
        after = counters(h)
        refused = {k: after[k] - before[k] for k in after if k.startswith("Refused") and after[k] != before[k]}
        assert sum(refused.values()) == 1, refused  # counted once, under its reason
        assert after["FramesAccepted"] == before["FramesAccepted"] and h.components["link"].farm.vr == 0
        assert feed(h, ground.frame(ping(2), ns=0)) == [ping(2)]  # the next good frame is taken
    finally:
        h.stop()


def test_a_frame_accepted_before_a_restart_is_a_replay_after_it(make, tmp_path):
    ground = Ground(tmp_path)
    frames = [ground.frame(ping(n)) for n in range(3)]
    h = make()
    assert [feed(h, f) for f in frames] == [[ping(0)], [ping(1)], [ping(2)]]
    h.stop()
    again = make()  # the same run directory: the flight after a reboot
    assert clcw(again).report_value == 3  # V(R) survived too
    assert [feed(again, f) for f in frames] == [[], [], []]
    assert again.components["link"].telemetry["RefusedReplay"] == 3
    assert feed(again, ground.frame(ping(3))) == [ping(3)]


def test_frames_of_another_spacecraft_or_channel_or_with_a_bad_crc_are_refused(make, tmp_path):
    h, ground = make(), Ground(tmp_path)
    other = Ground(tmp_path, LinkParameters(spacecraft_id=7))
    assert feed(h, other.frame(ping(0))) == []
    good = bytearray(ground.frame(ping(0)))
    good[-1] ^= 1
    assert feed(h, bytes(good)) == []
    assert feed(h, b"") == []
    h.send("link.frames", RawTelecommand((b"a", b"b")))
    assert h.components["link"].telemetry["RefusedFrame"] == 4
    assert {e[2][0] for e in h.events_named("FrameRefused")} == {"WRONG_CHANNEL", "BAD_CRC", "TOO_SHORT", "MULTIPART"}


def test_unlock_and_set_vr_control_frames_drive_the_farm(make, tmp_path):
    h, ground = make(), Ground(tmp_path)
    assert feed(h, ground.frame(ping(0), ns=100)) == []  # outside the window: lockout
    assert clcw(h).lockout and h.events_named("FarmLockout")
    assert feed(h, control_frame(LINK.spacecraft_id, LINK.tc_vcid, ControlCommand.unlock()).encode()) == []
    assert not clcw(h).lockout
    feed(h, control_frame(LINK.spacecraft_id, LINK.tc_vcid, ControlCommand.set_vr(100)).encode())
    assert clcw(h).report_value == 100
    assert feed(h, ground.frame(ping(1), ns=100)) == [ping(1)]


def test_keys_are_loaded_activated_rotated_and_deactivated_by_command(make, tmp_path):
    h, ground = make(), Ground(tmp_path)
    link = h.components["link"]
    wrapped = ground.ring.new_key(3)
    link.run_command("KEY_LOAD", [3, wrapped.hex()])
    with pytest.raises(CommandRefused, match="preactive"):
        link.run_command("SA_REKEY", [LINK.spi, 3])
    link.run_command("KEY_ACTIVATE", [3])
    with pytest.raises(CommandRefused, match="in use"):
        link.run_command("KEY_DEACTIVATE", [1])
    link.run_command("SA_REKEY", [LINK.spi, 3])
    link.run_command("KEY_DEACTIVATE", [1])
    assert KeyRing.load(tmp_path / "keys" / "flight.json").sas[LINK.spi] == 3  # saved before it took effect
    assert feed(h, ground.frame(ping(0))) == []  # the ground still uses key 1: refused
    assert link.telemetry["RefusedMac"] + link.telemetry["RefusedSa"] == 1
    ground.ring.activate(3)
    ground.ring.rekey(LINK.spi, 3)
    ground.sa.key_id = 3
    assert feed(h, ground.frame(ping(1), ns=0)) == [ping(1)]
    assert link.telemetry["SaKeyId"] == 3


@pytest.mark.parametrize("command, args, words", [
    ("KEY_LOAD", [3, "zz"], "not hex"),
    ("KEY_LOAD", [3, "00" * 40], "does not unwrap"),
    ("KEY_ACTIVATE", [9], "no key 9"),
    ("SA_REKEY", [77, 1], "no SA 77"),
])
def test_a_bad_key_command_fails_with_its_reason_and_changes_nothing(make, tmp_path, command, args, words):
    h = make()
    Ground(tmp_path)
    before = (tmp_path / "keys" / "flight.json").read_text()
    with pytest.raises(CommandRefused, match=words):
        h.components["link"].run_command(command, args)
    assert (tmp_path / "keys" / "flight.json").read_text() == before


def test_a_link_state_that_cannot_be_saved_refuses_the_frame(make, tmp_path, monkeypatch):
    h, ground = make(), Ground(tmp_path)
    link = h.components["link"]

    def full(state):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(link._state, "save", full)
    assert feed(h, ground.frame(ping(0))) == []
    assert link.telemetry["RefusedState"] == 1 and link.farm.vr == 0
    monkeypatch.undo()
    assert feed(h, ground.frame(ping(1), ns=0)) == [ping(1)]


def test_an_unauthenticated_link_says_so_and_obeys_plain_frames(make, tmp_path):
    h = make({"sdls": "off"})
    assert h.events_named("Unauthenticated")
    assert feed(h, Ground(tmp_path, LinkParameters(sdls="off")).frame(ping(0))) == [ping(0)]


def test_a_missing_key_file_is_one_line_naming_the_setting_and_the_way_out(tmp_path):
    h = ComponentTester.build(tmp_path, [{"name": "link", "kind": "flight.services.tc_link:TcLink"}])
    problem = h.components["link"].preflight()
    assert problem.startswith("mission.link.key_file: cannot read the key file") and "\n" not in problem
    assert "python -m flight.wire.keyfile" in problem
