"""Tests of COP-1: FARM-1 (flight/wire/cop1.py) and FOP-1 (flight/wire/fop1.py), CCSDS 232.1-B-2.

References: table 6-1 (FARM-1) and table 5-1 (FOP-1) of the standard, transcribed again below as the
expected cells (FARM_CELLS, FOP_CLCW_CELLS, FOP_TIMER_CELLS) independently of the modules' own
tables; the window arithmetic of §6.1.8 (PW = NW = W / 2) worked out by hand at the wrap.

The end-to-end property: FOP-1 and FARM-1 joined by a simulated link (``Mission``), in-process and
deterministic (one seeded random generator, time counted in cycles, no sleep). Each cycle: the CLCW
the flight made at the end of the last cycle comes down (or is lost), the ground's FOP-1 processes
it and its timer, the ground submits commands while FOP-1 takes them, the frames go up (10 % are
lost, 1 % arrive with one bit flipped and are discarded by the receiver's CRC check, as a bad CRC
would be), and FARM-1 makes the next CLCW. Every command must reach the flight exactly once and in
order, and the ground must learn that each one arrived.
"""
from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field

import crcmod.predefined
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.wire.clcw import Clcw
from flight.wire.cop1 import ControlCommand, ControlCommandError, Farm1, FarmState, Reason, seq_distance
from flight.wire.fop1 import AlertReason, EventKind, Fop1, FopState, Refusal

OPEN, WAIT, LOCKOUT = FarmState.OPEN, FarmState.WAIT, FarmState.LOCKOUT
S1, S2, S3, S4, S5, S6 = FopState
crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")


# ====================================================================================================
# FARM-1
# ====================================================================================================
VR = 100  # V(R) of the FARM-1 under test; W = 10, so PW = NW = 5


def farm_in(state: FarmState) -> Farm1:
    farm = Farm1(window=10, vr=VR)
    if state is WAIT:
        farm.buffer_full = True
        farm.receive(False, False, VR, b"x")
    elif state is LOCKOUT:
        farm.receive(False, False, (VR + 128) % 256, b"x")
    assert farm.state is state
    return farm


def frame_for(event: str, farm: Farm1):
    """The frame fields (bypass, control, N(S), data) that make ``event`` of table 6-1."""
    return {
        "E1": (False, False, VR, b"ad"),
        "E2": (False, False, VR, b"ad"),            # with the buffer full
        "E3": (False, False, VR + 4, b"ad"),        # V(R) < N(S) <= V(R) + PW - 1
        "E4": (False, False, VR - 5, b"ad"),        # V(R) - NW <= N(S) < V(R)
        "E5": (False, False, VR + 5, b"ad"),        # just past the positive window
        "E6": (True, False, 0, b"bd"),
        "E7": (True, True, 0, b"\x00"),
        "E8": (True, True, 0, b"\x82\x00\x07"),
        "E9": (True, True, 0, b"\x01"),             # not a control command
    }[event]


# (accepted, reason, next state, Lockout, Wait, Retransmit, V(R), FARM-B increment), per table 6-1.
FARM_CELLS = {
    (OPEN, "E1"): (True, Reason.IN_SEQUENCE, OPEN, 0, 0, 0, VR + 1, 0),
    (OPEN, "E2"): (False, Reason.BUFFER_FULL, WAIT, 0, 1, 1, VR, 0),
    (OPEN, "E3"): (False, Reason.AHEAD, OPEN, 0, 0, 1, VR, 0),
    (OPEN, "E4"): (False, Reason.BEHIND, OPEN, 0, 0, 0, VR, 0),
    (OPEN, "E5"): (False, Reason.OUTSIDE_WINDOW, LOCKOUT, 1, 0, 0, VR, 0),
    (OPEN, "E6"): (True, Reason.EXPEDITED, OPEN, 0, 0, 0, VR, 1),
    (OPEN, "E7"): (True, Reason.UNLOCK, OPEN, 0, 0, 0, VR, 1),
    (OPEN, "E8"): (True, Reason.SET_VR, OPEN, 0, 0, 0, 7, 1),
    (OPEN, "E9"): (False, Reason.INVALID, OPEN, 0, 0, 0, VR, 0),
    (WAIT, "E2"): (False, Reason.WAIT, WAIT, 0, 1, 1, VR, 0),
    (WAIT, "E3"): (False, Reason.WAIT, WAIT, 0, 1, 1, VR, 0),
    (WAIT, "E4"): (False, Reason.BEHIND, WAIT, 0, 1, 1, VR, 0),
    (WAIT, "E5"): (False, Reason.OUTSIDE_WINDOW, LOCKOUT, 1, 1, 1, VR, 0),
    (WAIT, "E6"): (True, Reason.EXPEDITED, WAIT, 0, 1, 1, VR, 1),
    (WAIT, "E7"): (True, Reason.UNLOCK, OPEN, 0, 0, 0, VR, 1),
    (WAIT, "E8"): (True, Reason.SET_VR, OPEN, 0, 0, 0, 7, 1),
    (WAIT, "E9"): (False, Reason.INVALID, WAIT, 0, 1, 1, VR, 0),
    (LOCKOUT, "E1"): (False, Reason.LOCKED_OUT, LOCKOUT, 1, 0, 0, VR, 0),
    (LOCKOUT, "E2"): (False, Reason.LOCKED_OUT, LOCKOUT, 1, 0, 0, VR, 0),
    (LOCKOUT, "E3"): (False, Reason.LOCKED_OUT, LOCKOUT, 1, 0, 0, VR, 0),
    (LOCKOUT, "E4"): (False, Reason.LOCKED_OUT, LOCKOUT, 1, 0, 0, VR, 0),
    (LOCKOUT, "E5"): (False, Reason.LOCKED_OUT, LOCKOUT, 1, 0, 0, VR, 0),
    (LOCKOUT, "E6"): (True, Reason.EXPEDITED, LOCKOUT, 1, 0, 0, VR, 1),
    (LOCKOUT, "E7"): (True, Reason.UNLOCK, OPEN, 0, 0, 0, VR, 1),
    (LOCKOUT, "E8"): (False, Reason.SET_VR_IN_LOCKOUT, LOCKOUT, 1, 0, 0, VR, 1),
    (LOCKOUT, "E9"): (False, Reason.INVALID, LOCKOUT, 1, 0, 0, VR, 0),
}


@pytest.mark.parametrize("state, event", sorted(FARM_CELLS, key=lambda cell: (cell[0], int(cell[1][1:]))))
def test_farm_state_table_cell(state, event):
    accepted, reason, to, lockout, wait, retransmit, vr, farm_b = FARM_CELLS[state, event]
    farm = farm_in(state)
    if event == "E2":
        farm.buffer_full = True
    bypass, control, ns, data = frame_for(event, farm)
    decision = farm.receive(bypass, control, ns % 256, data)
    assert (decision.accepted, decision.reason, decision.event) == (accepted, reason, event)
    assert farm.state is to
    assert (farm.lockout, farm.wait, farm.retransmit) == (bool(lockout), bool(wait), bool(retransmit))
    assert farm.vr == vr
    assert farm.farm_b_counter == farm_b
    assert decision.data == (data if accepted and not control else None)


def test_farm_accepts_in_sequence_and_delivers_each_frame_once():
    farm = Farm1(window=10)
    got = [farm.receive(False, False, ns, bytes([ns])) for ns in (0, 1, 1, 2, 0)]
    assert [d.accepted for d in got] == [True, True, False, True, False]
    assert [d.data for d in got if d.accepted] == [b"\x00", b"\x01", b"\x02"]
    assert farm.vr == 3 and farm.state is OPEN


def test_farm_retransmit_flag_stays_until_the_missing_frame_arrives():
    farm = Farm1(window=10)
    farm.receive(False, False, 0, b"0")
    assert farm.receive(False, False, 2, b"2").reason is Reason.AHEAD   # frame 1 was lost
    assert farm.clcw().retransmit and farm.clcw().report_value == 1
    farm.receive(False, False, 3, b"3")
    assert farm.retransmit
    assert farm.receive(False, False, 1, b"1").accepted                 # the ground went back to 1
    assert not farm.retransmit and farm.vr == 2


def test_farm_window_edges_wrap_at_256():
    farm = Farm1(window=10, vr=254)                                     # positive window 254 .. 2
    assert farm.receive(False, False, 2, b"").event == "E3"
    assert Farm1(window=10, vr=254).receive(False, False, 3, b"").event == "E5"
    assert Farm1(window=10, vr=2).receive(False, False, 253, b"").event == "E4"  # negative 253 .. 1
    assert Farm1(window=10, vr=2).receive(False, False, 252, b"").event == "E5"
    farm = Farm1(window=10, vr=255)
    assert farm.receive(False, False, 255, b"").accepted and farm.vr == 0


def test_farm_smallest_window_has_no_room_ahead():
    farm = Farm1(window=2, vr=10)                                       # PW = NW = 1
    assert farm.receive(False, False, 9, b"").event == "E4"
    assert farm.receive(False, False, 11, b"").event == "E5" and farm.state is LOCKOUT


def test_farm_buffer_release_in_each_state():
    farm = farm_in(OPEN)
    farm.release_buffer()                                               # E10 in Open: Ignore
    assert farm.state is OPEN and not farm.wait
    farm = farm_in(WAIT)
    assert not farm.receive(False, False, VR, b"x").accepted            # still full
    farm.buffer_full = False                                            # E10 in Wait
    assert farm.state is OPEN and not farm.wait and farm.retransmit
    assert farm.receive(False, False, VR, b"x").accepted
    farm = farm_in(WAIT)
    farm.receive(False, False, VR + 128, b"x")                          # E5 in Wait: Lockout, Wait stays
    assert farm.state is LOCKOUT and farm.wait
    farm.release_buffer()                                               # E10 in Lockout: Wait := 0
    assert farm.state is LOCKOUT and not farm.wait


def test_farm_unlock_then_set_vr_recovers_a_lockout():
    farm = farm_in(LOCKOUT)
    assert farm.receive(True, True, 0, ControlCommand.set_vr(7)).reason is Reason.SET_VR_IN_LOCKOUT
    assert farm.vr == VR and farm.state is LOCKOUT
    assert farm.receive(True, True, 0, ControlCommand.unlock()).accepted and farm.state is OPEN
    assert farm.receive(True, True, 0, ControlCommand.set_vr(7)).accepted and farm.vr == 7
    assert farm.receive(False, False, 7, b"x").accepted


def test_farm_invalid_frames_change_nothing():
    farm = Farm1(window=10)
    for bypass, control, data in ((True, True, b"\x82\x01\x05"), (False, True, b"x"),
                                  (False, False, ControlCommand.unlock())):
        decision = farm.receive(bypass, control, 0, data)
        assert (decision.accepted, decision.event, decision.reason) == (False, "E9", Reason.INVALID)
    assert farm.vr == 0 and farm.farm_b_counter == 0 and farm.state is OPEN


def test_farm_clcw_reports_its_state():
    farm = Farm1(vcid=9, window=10, vr=3, status=5)
    for _ in range(5):
        farm.receive(True, False, 0, b"bd")
    farm.receive(False, False, 5, b"")                                  # ahead: Retransmit
    farm.no_bit_lock = True
    assert farm.clcw() == Clcw(vcid=9, report_value=3, retransmit=True, farm_b_counter=1, no_bit_lock=True,
                               status=5)
    assert farm.farm_b_counter == 5


def test_control_commands_encode_as_232_0():
    assert ControlCommand.unlock().encode() == b"\x00"
    assert ControlCommand.set_vr(0xA5).encode() == b"\x82\x00\xa5"
    assert ControlCommand.decode(b"\x82\x00\xa5") == ControlCommand.set_vr(0xA5)
    with pytest.raises(ControlCommandError):
        ControlCommand.decode(b"\x82\x00")


@pytest.mark.parametrize("window", [0, 1, 3, 256])
def test_farm_window_must_be_even_and_2_to_254(window):
    with pytest.raises(ValueError, match="window"):
        Farm1(window=window)


# ====================================================================================================
# FOP-1: directives and requests
# ====================================================================================================
def active(window: int = 5, t1: float = 10, limit: int = 8, timeout_type: int = 0) -> Fop1:
    fop = Fop1(window=window, t1=t1, transmission_limit=limit, timeout_type=timeout_type)
    assert fop.initiate_without_clcw_check().accepted
    return fop


def kinds(events) -> list[EventKind]:
    return [e.kind for e in events]


def test_initiate_without_clcw_check():
    fop = Fop1()
    assert fop.state is S6
    assert fop.transmit(b"x").refusal is Refusal.NOT_ACTIVE             # E19 in S6: Reject
    result = fop.initiate_without_clcw_check()                          # E23
    assert result.accepted and kinds(result.events) == [EventKind.INITIATED] and fop.state is S1
    assert fop.transmit(b"x").sequence == 0
    assert fop.initiate_without_clcw_check().refusal is Refusal.WRONG_STATE  # E23 in S1: Reject


def test_initiate_with_clcw_check_waits_for_a_clean_clcw_with_nr_equal_vs():
    fop = Fop1(t1=10)
    assert fop.set_vs(5).accepted and (fop.vs, fop.nnr) == (5, 5)      # E35 in S6
    result = fop.initiate_with_clcw_check(now=0)                        # E24: Initialise, start T1
    assert result.accepted and not result.events and fop.state is S4 and fop.timer_deadline == 10
    assert fop.transmit(b"x").refusal is Refusal.NOT_ACTIVE
    assert fop.on_clcw(Clcw(0, 5, lockout=True, retransmit=True), 1) != [] and fop.state is S6  # E14
    fop.initiate_with_clcw_check(now=2)
    assert kinds(fop.on_clcw(Clcw(0, 5), 3)) == [EventKind.INITIATED]  # E1 in S4
    assert fop.state is S1 and fop.timer_deadline is None
    assert fop.transmit(b"x").sequence == 5


@pytest.mark.parametrize("clcw, reason", [(Clcw(0, 6), AlertReason.NN_R), (Clcw(0, 5, wait=True), AlertReason.CLCW),
                                          (Clcw(0, 5, retransmit=True), AlertReason.SYNCH)])
def test_initiate_with_clcw_check_fails_on_a_clcw_that_does_not_match(clcw, reason):
    fop = Fop1()
    fop.set_vs(5)
    fop.initiate_with_clcw_check(now=0)
    events = fop.on_clcw(clcw, 1)
    assert events[-1].kind is EventKind.ALERT and events[-1].alert is reason and fop.state is S6


def test_initiate_with_clcw_check_times_out():
    fop = Fop1(t1=10)
    fop.initiate_with_clcw_check(now=0)
    assert fop.poll(9.9) == []
    assert fop.poll(10)[-1].alert is AlertReason.T1 and fop.state is S6  # E16 in S4: Alert [T1]


def test_initiate_with_unlock_sends_the_bc_frame_until_the_clcw_shows_it_done():
    fop = Fop1(t1=10)
    fop.set_vs(40)
    assert fop.initiate_with_unlock().accepted and fop.state is S5    # E25
    [frame] = fop.frames(0)
    assert (frame.bypass, frame.control, frame.data, frame.transmission) == (True, True, b"\x00", 1)
    assert fop.frames(1) == []
    assert fop.on_clcw(Clcw(0, 40, lockout=True), 2) == [] and fop.state is S5  # E14 in S5: Ignore
    assert fop.on_clcw(Clcw(0, 12), 3) == [] and fop.state is S5                # E13 in S5: Ignore
    assert fop.poll(10) == [] and fop.transmission_count == 2          # E16 in S5: BC retransmission
    assert fop.frames(10)[0].transmission == 2
    assert kinds(fop.on_clcw(Clcw(0, 40), 11)) == [EventKind.INITIATED] and fop.state is S1  # E1 in S5
    assert fop.frames(11) == [] and fop.timer_deadline is None
    assert fop.transmit(b"x").sequence == 40 and fop.transmission_count == 1  # 5.2.4 c): queue was empty


def test_initiate_with_set_vr_renumbers_both_ends():
    fop = Fop1()
    assert fop.initiate_with_set_vr(256).refusal is Refusal.INVALID    # E40
    assert fop.initiate_with_set_vr(42).accepted and (fop.vs, fop.nnr) == (42, 42)  # E27
    [frame] = fop.frames(0)
    assert frame.data == b"\x82\x00\x2a" and frame.bypass and frame.control
    farm = farm_in(OPEN)
    assert farm.receive(frame.bypass, frame.control, frame.sequence, frame.data).accepted and farm.vr == 42
    assert kinds(fop.on_clcw(farm.clcw(), 1)) == [EventKind.INITIATED] and fop.state is S1
    assert fop.transmit(b"x").sequence == 42


def test_initiate_with_unlock_is_rejected_outside_s6():
    fop = active()
    assert fop.initiate_with_unlock().refusal is Refusal.WRONG_STATE
    assert fop.initiate_with_set_vr(3).refusal is Refusal.WRONG_STATE
    assert fop.initiate_with_clcw_check(0).refusal is Refusal.WRONG_STATE
    assert fop.set_vs(3).refusal is Refusal.WRONG_STATE and fop.vs == 0


def test_terminate_purges_and_alerts():
    fop = active(window=2)
    for i in range(3):
        fop.transmit(bytes([i]))
    result = fop.terminate()                                            # E29 in S1: Alert [TERM]
    assert kinds(result.events) == [EventKind.PURGED, EventKind.PURGED, EventKind.REJECTED, EventKind.ALERT]
    assert [e.request for e in result.events[:3]] == [0, 1, 2]
    assert result.events[-1].alert is AlertReason.TERM and fop.state is S6
    assert (fop.vs, fop.nnr, fop.unacknowledged, fop.waiting) == (2, 2, 0, False)
    again = fop.terminate()                                             # E29 in S6: Confirm
    assert again.accepted and not again.events


def test_settings_are_accepted_in_every_state_and_checked():
    fop = active()
    assert fop.set_window(7).accepted and fop.window == 7
    assert fop.set_t1_initial(2.5).accepted and fop.t1_initial == 2.5
    assert fop.set_transmission_limit(3).accepted and fop.transmission_limit == 3
    assert fop.set_timeout_type(1).accepted and fop.timeout_type == 1
    for bad in (fop.set_window(0), fop.set_window(256), fop.set_t1_initial(0), fop.set_transmission_limit(0),
                fop.set_timeout_type(2), fop.set_vs(-1)):
        assert (bad.accepted, bad.row, bad.refusal) == (False, "E40", Refusal.INVALID)


def test_window_full_refusal():
    fop = active(window=2)
    first, second, third, fourth = (fop.transmit(bytes([i])) for i in range(4))
    assert (first.sequence, second.sequence) == (0, 1)
    assert third.accepted and third.sequence is None and fop.waiting       # on the Wait_Queue
    assert (fourth.accepted, fourth.refusal) == (False, Refusal.WAIT_QUEUE_FULL)  # E20: Reject
    assert [f.sequence for f in fop.frames(0)] == [0, 1]
    events = fop.on_clcw(Clcw(0, 1), 1)                                 # E6: frame 0 acknowledged
    assert [(e.kind, e.request, e.sequence) for e in events] == [
        (EventKind.ACKNOWLEDGED, first.request, 0), (EventKind.ACCEPTED, third.request, 2)]
    assert [f.sequence for f in fop.frames(1)] == [2] and not fop.waiting


def test_timer_expiry_retransmits_every_unacknowledged_frame():
    fop = active(t1=10)
    for i in range(3):
        fop.transmit(bytes([i]))
    assert len(fop.frames(0)) == 3 and fop.timer_deadline == 10
    fop.on_clcw(Clcw(0, 1), 5)                                          # E6: frame 0 acknowledged
    assert fop.poll(9) == [] and fop.frames(9) == []
    assert fop.poll(10) == [] and fop.state is S1                       # E16 in S1
    again = fop.frames(10)
    assert [(f.sequence, f.transmission) for f in again] == [(1, 2), (2, 2)]
    assert fop.transmission_count == 2 and fop.timer_deadline == 20
    fop.on_clcw(Clcw(0, 2), 11)                                         # E6: an acknowledgement resets
    assert fop.transmission_count == 1                                  # Transmission_Count to 1
    fop.transmit(b"3")
    assert len(fop.frames(15)) == 1 and fop.timer_deadline == 25        # each transmission restarts T1


def test_frames_marked_for_retransmission_wait_in_s3():
    fop = active(t1=10)
    for i in range(3):
        fop.transmit(bytes([i]))
    fop.frames(0)
    fop.poll(10)                                                        # E16: all three marked
    fop.on_clcw(Clcw(0, 0, retransmit=True, wait=True), 10)             # E11 before they leave: S3
    assert fop.state is S3 and fop.frames(10) == []                     # the flight cannot take them
    fop.on_clcw(Clcw(0, 0, retransmit=True), 11)                        # E10 in S3: S2
    assert [f.sequence for f in fop.frames(11)] == [0, 1, 2]


def test_transmission_limit_alert_on_timer():
    fop = active(t1=10, limit=2)
    fop.transmit(b"x")
    fop.frames(0)
    fop.poll(10)                                                        # E16: 2nd transmission
    fop.frames(10)
    events = fop.poll(20)                                               # E17: count 2 = limit
    assert kinds(events) == [EventKind.PURGED, EventKind.ALERT] and events[-1].alert is AlertReason.T1
    assert fop.state is S6


def test_transmission_limit_one_alerts_on_retransmit_flag():
    fop = active(limit=1)
    for i in range(3):
        fop.transmit(bytes([i]))
    fop.frames(0)
    events = fop.on_clcw(Clcw(0, 1, retransmit=True), 1)                # E101: acknowledge 0, Alert [LIMIT]
    assert kinds(events) == [EventKind.ACKNOWLEDGED, EventKind.PURGED, EventKind.PURGED, EventKind.ALERT]
    assert events[-1].alert is AlertReason.LIMIT and fop.state is S6


def test_lockout_alert_purges_both_queues_and_reports_nr():
    fop = active(window=2)
    requests = [fop.transmit(bytes([i])).request for i in range(3)]
    fop.frames(0)
    events = fop.on_clcw(Clcw(0, 1, lockout=True), 1)                   # E14
    assert [(e.kind, e.request) for e in events] == [
        (EventKind.PURGED, requests[0]), (EventKind.PURGED, requests[1]), (EventKind.REJECTED, requests[2]),
        (EventKind.ALERT, None)]
    assert (events[-1].alert, events[-1].report_value, events[-1].row) == (AlertReason.LOCKOUT, 1, "E14")
    assert fop.state is S6 and fop.timer_deadline is None and fop.frames(2) == []


def test_retransmit_flag_goes_back_to_nr():
    fop = active()
    for i in range(4):
        fop.transmit(bytes([i]))
    fop.frames(0)
    events = fop.on_clcw(Clcw(0, 1, retransmit=True), 1)                # E8: 0 acknowledged, go back to 1
    assert kinds(events) == [EventKind.ACKNOWLEDGED] and fop.state is S2
    assert [(f.sequence, f.transmission) for f in fop.frames(1)] == [(1, 2), (2, 2), (3, 2)]
    assert fop.on_clcw(Clcw(0, 1, retransmit=True), 2) == [] and fop.state is S2  # E10 in S2: Ignore
    assert kinds(fop.on_clcw(Clcw(0, 4), 3)) == [EventKind.ACKNOWLEDGED] * 3 and fop.state is S1  # E2


def test_wait_flag_holds_retransmission_until_the_flight_takes_data():
    fop = active()
    for i in range(3):
        fop.transmit(bytes([i]))
    fop.frames(0)
    fop.on_clcw(Clcw(0, 1, retransmit=True, wait=True), 1)              # E9: S3
    assert fop.state is S3 and fop.frames(1) == []
    assert fop.transmit(b"3").sequence is None                          # E19 in S3: waits, not framed
    fop.on_clcw(Clcw(0, 1, retransmit=True, wait=True), 2)              # E11 in S3: Ignore
    assert fop.state is S3
    fop.on_clcw(Clcw(0, 1, retransmit=True), 3)                         # E10 in S3: retransmit, S2
    assert fop.state is S2 and [f.sequence for f in fop.frames(3)] == [1, 2, 3]


def test_suspend_and_resume():
    fop = active(t1=10, limit=1, timeout_type=1)
    assert fop.resume(0).refusal is Refusal.NOT_SUSPENDED              # E30
    fop.transmit(b"x")
    fop.frames(0)
    assert kinds(fop.poll(10)) == [EventKind.SUSPENDED]                 # E18 in S1: Suspend, SS = 1
    assert (fop.state, fop.suspend_state, fop.unacknowledged) == (S6, 1, 1)
    assert fop.set_vs(9).refusal is Refusal.WRONG_STATE                 # E35 with SS != 0: Reject
    fop.set_transmission_limit(5)
    assert fop.resume(20).accepted and fop.state is S1 and fop.suspend_state == 0  # E31
    assert fop.timer_deadline == 30
    assert fop.poll(30) == [] and [f.transmission for f in fop.frames(30)] == [2]


def test_expedited_frames_bypass_the_state_machine():
    fop = Fop1()
    transfer = fop.transmit_expedited(b"bd")                             # E21, even in S6
    assert transfer.accepted
    [frame] = fop.frames(0)
    assert (frame.bypass, frame.control, frame.sequence, frame.data) == (True, False, 0, b"bd")


def test_clcws_for_other_channels_are_ignored_and_bad_words_alert():
    fop = active()
    fop.transmit(b"x")
    assert fop.on_clcw(Clcw(vcid=3, report_value=0, lockout=True), 1) == [] and fop.state is S1
    events = fop.on_clcw(b"\x80\x00\x00\x00", 2)                         # E15: not a CLCW
    assert events[-1].alert is AlertReason.CLCW and events[-1].row == "E15" and fop.state is S6


# ====================================================================================================
# FOP-1: every cell of table 5-1 for a CLCW (E1-E15) and for T1 (E16-E18, E104)
# ====================================================================================================
def fop_in(state: FopState, outstanding: int = 3) -> Fop1:
    """FOP-1 in ``state`` reached through its API; in S1-S3 frames 0..2 are out, NN(R) = 0, V(S) = 3,
    Transmission_Count = 2 (T1 ran out once) or 3 (S2: E10 retransmitted)."""
    fop = Fop1(window=5, t1=10, transmission_limit=8)
    if state is S4:
        fop.initiate_with_clcw_check(0)
    elif state is S5:
        fop.initiate_with_unlock()
        fop.frames(0)
    elif state is not S6:
        fop.initiate_without_clcw_check()
        for i in range(outstanding):
            fop.transmit(bytes([i]))
        fop.frames(0)
        if outstanding:
            fop.poll(10)
            fop.frames(10)
        if state is not S1:
            fop.on_clcw(Clcw(0, 0, retransmit=True, wait=state is S3), 11)
    assert fop.state is state
    return fop


def clcw_for(event: str, fop: Fop1) -> Clcw | bytes:
    vs, nnr = fop.vs, fop.nnr
    return {"E1": Clcw(0, vs), "E2": Clcw(0, vs), "E3": Clcw(0, vs, wait=True), "E4": Clcw(0, vs, retransmit=True),
            "E5": Clcw(0, nnr), "E6": Clcw(0, nnr + 1), "E7": Clcw(0, nnr + 1, wait=True),
            "E101": Clcw(0, nnr + 1, retransmit=True), "E102": Clcw(0, nnr, retransmit=True),
            "E8": Clcw(0, nnr + 1, retransmit=True), "E9": Clcw(0, nnr + 1, retransmit=True, wait=True),
            "E10": Clcw(0, nnr, retransmit=True), "E11": Clcw(0, nnr, retransmit=True, wait=True),
            "E12": Clcw(0, nnr, retransmit=True), "E103": Clcw(0, nnr, retransmit=True, wait=True),
            "E13": Clcw(0, (vs + 100) % 256), "E14": Clcw(0, nnr, lockout=True),
            "E15": b"\x00\x00\x00\x00"}[event]


A = AlertReason
# The next state, or the alert (which leads to S6), per state S1..S6; None: the event cannot arise.
FOP_CLCW_CELLS = {
    "E1": (S1, None, None, S1, S1, S6),
    "E2": (S1, S1, S1, None, None, None),
    "E3": (A.CLCW, A.CLCW, A.CLCW, A.CLCW, A.CLCW, S6),
    "E4": (A.SYNCH, A.SYNCH, A.SYNCH, A.SYNCH, S5, S6),
    "E5": (S1, A.SYNCH, A.SYNCH, None, None, None),
    "E6": (S1, S1, S1, None, None, None),
    "E7": (A.CLCW, A.CLCW, A.CLCW, None, None, None),
    "E101": (A.LIMIT, A.LIMIT, A.LIMIT, None, None, None),
    "E102": (A.LIMIT, A.LIMIT, A.LIMIT, None, None, None),
    "E8": (S2, S2, S2, None, None, None),
    "E9": (S3, S3, S3, None, None, None),
    "E10": (S2, S2, S2, None, None, None),
    "E11": (S3, S3, S3, None, None, None),
    "E12": (S2, S2, S2, None, None, None),
    "E103": (S3, S3, S3, None, None, None),
    "E13": (A.NN_R, A.NN_R, A.NN_R, A.NN_R, S5, S6),
    "E14": (A.LOCKOUT, A.LOCKOUT, A.LOCKOUT, A.LOCKOUT, S5, S6),
    "E15": (A.CLCW, A.CLCW, A.CLCW, A.CLCW, A.CLCW, S6),
}


@pytest.mark.parametrize("event, state", [(event, state) for event, cells in FOP_CLCW_CELLS.items()
                                          for state, cell in zip(FopState, cells) if cell is not None])
def test_fop_clcw_table_cell(event, state):
    expected = FOP_CLCW_CELLS[event][state - 1]
    fop = fop_in(state, outstanding=0 if event == "E1" else 3)
    if event in ("E101", "E102"):
        fop.set_transmission_limit(1)
    elif event in ("E12", "E103"):
        fop.set_transmission_limit(fop.transmission_count)
    clcw = clcw_for(event, fop)
    if isinstance(clcw, Clcw):
        assert fop.clcw_event(clcw) == event
    events = fop.on_clcw(clcw, 20)
    alerts = [e.alert for e in events if e.kind is EventKind.ALERT]
    if isinstance(expected, AlertReason):
        assert alerts == [expected] and fop.state is S6
        assert events[-1].row == event
    else:
        assert alerts == [] and fop.state is expected
    acknowledged = [e.sequence for e in events if e.kind is EventKind.ACKNOWLEDGED]
    if event in ("E2", "E6", "E8", "E9", "E101") and state in (S1, S2, S3):
        assert acknowledged == list(range(seq_distance(clcw.report_value, 0)))
    else:
        assert acknowledged == []
    if (event, state) in GOES_BACK:                                     # Initiate AD Retransmission
        assert [f.transmission > 1 for f in fop.frames(20)] == [True] * fop.unacknowledged


GOES_BACK = {("E8", S1), ("E8", S2), ("E8", S3), ("E10", S1), ("E10", S3)}


# Per state S1..S5: the next state, the alert, or ("suspended", Suspend_State).
FOP_TIMER_CELLS = {
    ("E16", 0, False): (S1, S2, S3, A.T1, S5),
    ("E104", 1, False): (S1, S2, S3, ("suspended", 4), S5),
    ("E17", 0, True): (A.T1, A.T1, A.T1, A.T1, A.T1),
    ("E18", 1, True): (("suspended", 1), ("suspended", 2), ("suspended", 3), ("suspended", 4), A.T1),
}


@pytest.mark.parametrize("row, state", [(row, state) for row in FOP_TIMER_CELLS for state in (S1, S2, S3, S4, S5)])
def test_fop_timer_table_cell(row, state):
    event, timeout_type, at_limit = row
    expected = FOP_TIMER_CELLS[row][state - 1]
    fop = fop_in(state)
    fop.set_timeout_type(timeout_type)
    fop.set_transmission_limit(fop.transmission_count if at_limit else 50)
    count = fop.transmission_count
    events = fop.poll(1000)
    assert {e.row for e in events} <= {event}
    if isinstance(expected, AlertReason):
        assert [e.alert for e in events if e.kind is EventKind.ALERT] == [expected] and fop.state is S6
    elif isinstance(expected, tuple):
        assert kinds(events)[-1] is EventKind.SUSPENDED and (fop.state, fop.suspend_state) == (S6, expected[1])
    else:
        assert fop.state is expected and not events
        resent = fop.frames(1000)
        if state is S3:
            assert resent == [] and fop.transmission_count == count  # E16 in S3: Ignore
        else:
            assert resent and all(f.transmission > 1 for f in resent) and fop.transmission_count == count + 1


# ====================================================================================================
# FOP-1 and FARM-1 over a lossy link
# ====================================================================================================
@dataclass
class Figures:
    cycles: int = 0
    frames_sent: int = 0              # frames put on the uplink (AD and BC)
    retransmissions: int = 0          # of which AD frames sent again
    control_frames: int = 0           # Type-BC frames (Unlock, Set V(R))
    dropped: int = 0
    corrupted: int = 0                # arrived with a flipped bit: discarded by the CRC check
    clcws_lost: int = 0
    arrived_busy: int = 0             # in-sequence Type-AD frames that reached FARM-1 while its buffer was full
    alerts: Counter = field(default_factory=Counter)
    farm: Counter = field(default_factory=Counter)   # FARM-1 decisions by reason


class Mission:
    """The ground (FOP-1 and an operator), the link and the flight (FARM-1), stepped one cycle at a time.

    On an Alert [LOCKOUT] the ground sees: the ALERT with the N(R) of the CLCW that reported the
    lockout, a PURGED event for each request whose frame was unacknowledged, a REJECTED one for the
    request on the Wait_Queue. The flight accepts nothing in Lockout, so N(R) says exactly which
    purged frames had arrived (those numbered below it): the operator counts them as delivered and
    queues the others again, in order, then recovers: ``unlock`` = Set V(S) := N(R), Initiate AD with
    Unlock; ``set_vr`` = Initiate AD with Unlock, then, once a CLCW shows the flight unlocked with
    V(R) != V(S), Terminate and Initiate AD with Set V(R) := V(S).
    """

    def __init__(self, seed: int, commands: int = 1000, fop_window: int = 5, farm_window: int = 10,
                 t1: int = 3, limit: int = 16, drop: float = 0.10, corrupt: float = 0.01,
                 clcw_loss: float = 0.10, busy: float = 0.0, recovery: str = "unlock",
                 lockout_at: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.fop = Fop1(window=fop_window, t1=t1, transmission_limit=limit)
        self.farm = Farm1(window=farm_window)
        self.drop, self.corrupt, self.clcw_loss, self.busy = drop, corrupt, clcw_loss, busy
        self.recovery, self.lockout_at = recovery, lockout_at
        self.commands = commands
        self.pending: deque[int] = deque(range(commands))  # not yet taken by FOP-1, in order
        self.in_fop: dict[int, int] = {}                    # request -> command
        self.confirmed: list[int] = []                      # commands the ground knows arrived, in order
        self.reconciled = 0                                  # of which learnt from N(R) after a lockout
        self.delivered: list[int] = []                       # what the flight received, in order
        self.figures = Figures()
        self.downlink: Clcw | None = None
        self.seen: Clcw | None = None                        # the CLCW the ground received this cycle
        self.purged: list = []
        assert self.fop.initiate_without_clcw_check().accepted

    def done(self) -> bool:
        return (not self.pending and not self.in_fop and self.fop.state is S1 and not self.fop.unacknowledged)

    def run(self, max_cycles: int = 20_000) -> Figures:
        for now in range(max_cycles):
            if self.done():
                return self.figures
            self.cycle(now)
        raise AssertionError(f"not done after {max_cycles} cycles: FOP-1 in {self.fop.state.name}, "
                             f"{len(self.confirmed)} confirmed, {self.figures}")

    def cycle(self, now: int) -> None:
        self.figures.cycles += 1
        self.farm.buffer_full = False
        self.seen = None
        if self.downlink is not None:
            if self.rng.random() < self.clcw_loss:
                self.figures.clcws_lost += 1
            else:
                self.seen = self.downlink
                self.ground(self.fop.on_clcw(self.downlink.encode(), now))
        self.ground(self.fop.poll(now))
        self.operator()
        while self.pending:
            transfer = self.fop.transmit(self.pending[0].to_bytes(4, "big"))
            if not transfer.accepted:
                break
            self.in_fop[transfer.request] = self.pending.popleft()
        if self.rng.random() < self.busy:
            self.farm.buffer_full = True
        for frame in self.fop.frames(now):
            self.uplink(frame)
        if now == self.lockout_at:   # after this cycle's frames, one from nowhere: FARM-1 locks out
            self.farm.receive(False, False, (self.farm.vr + 128) % 256, b"rogue")
        self.downlink = self.farm.clcw()

    def uplink(self, frame) -> None:
        figures = self.figures
        figures.frames_sent += 1
        figures.retransmissions += frame.transmission > 1 and not frame.control
        figures.control_frames += frame.control
        wire = bytes([frame.bypass << 7 | frame.control << 6, frame.sequence]) + frame.data
        wire = bytearray(wire + crc16(wire).to_bytes(2, "big"))
        draw = self.rng.random()
        if draw < self.drop:
            figures.dropped += 1
            return
        if draw < self.drop + self.corrupt:
            figures.corrupted += 1
            bit = self.rng.randrange(len(wire) * 8)
            wire[bit // 8] ^= 0x80 >> bit % 8
        if crc16(bytes(wire[:-2])) != int.from_bytes(wire[-2:], "big"):
            return                                            # the receiver's frame check
        bypass, control = bool(wire[0] & 0x80), bool(wire[0] & 0x40)
        figures.arrived_busy += self.farm.buffer_full and not bypass and not control and wire[1] == self.farm.vr
        decision = self.farm.receive(bypass, control, wire[1], bytes(wire[2:-2]))
        figures.farm[decision.reason] += 1
        if decision.data is not None:
            self.delivered.append(int.from_bytes(decision.data, "big"))

    def ground(self, events) -> None:
        for event in events:
            if event.kind is EventKind.ACKNOWLEDGED:
                self.confirmed.append(self.in_fop.pop(event.request))
            elif event.kind in (EventKind.PURGED, EventKind.REJECTED):
                self.purged.append(event)
            elif event.kind is EventKind.ALERT:
                self.figures.alerts[event.alert] += 1
                if event.alert is AlertReason.LOCKOUT:
                    self.reconcile(event.report_value)
                    self.recover(event.report_value)

    def reconcile(self, nr: int) -> None:
        """Purged frames numbered below N(R) had arrived; the rest go back to the front of the queue."""
        sent = [e for e in self.purged if e.kind is EventKind.PURGED]
        arrived = seq_distance(nr, sent[0].sequence) if sent else 0
        for event in sent[:arrived]:
            self.confirmed.append(self.in_fop.pop(event.request))
        self.reconciled += arrived
        again = [self.in_fop.pop(e.request) for e in self.purged[arrived:]]
        self.pending.extendleft(reversed(again))
        self.purged = []

    def recover(self, nr: int) -> None:
        if self.recovery == "unlock":
            assert self.fop.set_vs(nr).accepted
        assert self.fop.initiate_with_unlock().accepted

    def operator(self) -> None:
        """In ``set_vr`` recovery: the flight is unlocked but V(R) != V(S): renumber it with Set V(R)."""
        clcw = self.seen
        if self.recovery == "set_vr" and self.fop.state is S5 and clcw is not None and not clcw.lockout \
                and clcw.report_value != self.fop.vs:
            self.ground(self.fop.terminate().events)
            assert self.fop.initiate_with_set_vr(self.fop.vs).accepted


def check_exactly_once_in_order(mission: Mission, allowed_alerts=()) -> None:
    everything = list(range(mission.commands))
    assert mission.delivered == everything, "the flight must receive every command once, in order"
    assert mission.confirmed == everything, "the ground must learn that each command arrived, in order"
    assert set(mission.figures.alerts) <= set(allowed_alerts), mission.figures.alerts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), farm_window=st.sampled_from([2, 4, 6, 10, 20, 60]),
       fop_share=st.floats(0.0, 1.0), t1=st.integers(2, 6), clcw_loss=st.sampled_from([0.0, 0.1, 0.3]),
       busy=st.sampled_from([0.0, 0.03]))
def test_every_command_arrives_exactly_once_in_order(seed, farm_window, fop_share, t1, clcw_loss, busy):
    fop_window = max(1, round(fop_share * farm_window // 2))            # 1 <= K <= PW
    mission = Mission(seed, fop_window=fop_window, farm_window=farm_window, t1=t1, clcw_loss=clcw_loss,
                      busy=busy)
    mission.run()
    check_exactly_once_in_order(mission)
    assert mission.figures.dropped and mission.figures.retransmissions
    if busy:  # each in-sequence frame that found the buffer full was discarded for it, and only those
        assert mission.figures.farm[Reason.BUFFER_FULL] == mission.figures.arrived_busy


def test_fixed_seeded_long_run():
    figures = Mission(seed=2024).run()
    again = Mission(seed=2024)
    assert again.run() == figures                                       # deterministic
    check_exactly_once_in_order(again)
    assert figures.dropped > 100 and figures.corrupted > 5 and figures.clcws_lost > 20
    assert figures.retransmissions > figures.dropped
    assert figures.cycles < 1000 and figures.frames_sent < 2000


def test_farm_window_smaller_than_fop_window_locks_out_and_recovers():
    """K = 6 > PW = 2 breaks the rule K <= PW: after a lost frame, frames two or more ahead of V(R) are in
    the lockout area. The ground sees Alert [LOCKOUT] each time, reconciles with N(R) and unlocks."""
    mission = Mission(seed=7, fop_window=6, farm_window=4)
    figures = mission.run()
    check_exactly_once_in_order(mission, allowed_alerts=[AlertReason.LOCKOUT])
    assert figures.alerts[AlertReason.LOCKOUT] >= 5
    assert figures.farm[Reason.OUTSIDE_WINDOW] == figures.alerts[AlertReason.LOCKOUT]
    assert figures.farm[Reason.UNLOCK] >= figures.alerts[AlertReason.LOCKOUT]
    assert mission.reconciled > 0


@pytest.mark.parametrize("recovery", ["unlock", "set_vr"])
def test_lockout_mid_run_is_recovered(recovery):
    """A rogue frame at the end of cycle 111 locks FARM-1 out. The ground sees one Alert [LOCKOUT] with the
    purged and rejected requests; the frames the flight accepted in cycle 111 are among the purged, and the
    ground learns from the lockout CLCW's N(R) that they arrived; it recovers and sends the rest again."""
    mission = Mission(seed=11, recovery=recovery, lockout_at=111)
    figures = mission.run()
    allowed = [AlertReason.LOCKOUT] + ([AlertReason.TERM] if recovery == "set_vr" else [])
    check_exactly_once_in_order(mission, allowed_alerts=allowed)
    assert figures.alerts[AlertReason.LOCKOUT] == 1 and mission.reconciled > 0
    assert figures.farm[Reason.UNLOCK] >= 1 and figures.control_frames >= 1
    if recovery == "set_vr":                                            # V(R) != V(S) after the Unlock:
        assert figures.alerts[AlertReason.TERM] == 1 and figures.farm[Reason.SET_VR] == 1  # renumbered
    assert mission.farm.state is OPEN and mission.fop.state is S1
