"""Tests of ground_sim/acknowledger.py, one round at a time with a clock of our own."""
from __future__ import annotations

import threading

from ground_sim.acknowledger import Acknowledger
from ground_sim.completeness import Completeness

APID = 0x42


def make(sent: list, fail: bool = False):
    clock = [100.0]
    completeness = Completeness()

    def send(name, args):
        if fail:
            raise ValueError("no keys")
        sent.append((name, args))

    return completeness, clock, Acknowledger(completeness, threading.Lock(), send, interval=1.0,
                                             retransmit_after=5.0, clock=lambda: clock[0])


def test_runs_are_acknowledged_once_and_gaps_asked_for_after_retransmit_after():
    sent: list = []
    completeness, clock, acknowledger = make(sent)
    for n in (0, 1, 2, 5, 6):                                   # 3 and 4 missing
        completeness.add(APID, 1000 + n, n)
    acknowledger.round()
    assert sent == [("comms.ACKNOWLEDGE", [APID, 1000, 1002, 3]), ("comms.ACKNOWLEDGE", [APID, 1005, 1006, 2])]
    sent.clear()
    clock[0] += 4.0
    acknowledger.round()
    assert sent == []                                           # the gap may be on its way
    clock[0] += 1.0
    acknowledger.round()
    assert sent == [("comms.RETRANSMIT", [APID, 1002, 1005])]
    sent.clear()
    clock[0] += 1.0
    acknowledger.round()
    assert sent == []                                           # not again before retransmit_after
    completeness.add(APID, 1003, 3)
    completeness.add(APID, 1004, 4)
    clock[0] += 10.0
    acknowledger.round()
    assert sent == [("comms.ACKNOWLEDGE", [APID, 1000, 1006, 7])]   # joined: acknowledged whole, no gap left
    assert (acknowledger.acknowledged, acknowledger.requested, acknowledger.failures) == (3, 1, 0)


def test_a_failing_send_is_counted_and_the_next_round_goes_on():
    sent: list = []
    completeness, clock, acknowledger = make(sent, fail=True)
    completeness.add(APID, 1000, 0)
    acknowledger.round()
    acknowledger.round()
    assert acknowledger.failures == 1 and acknowledger.acknowledged == 0   # marked acknowledged: not repeated


def test_nothing_is_acknowledged_that_the_archive_does_not_hold():
    sent: list = []
    completeness = Completeness()
    holds = [False]
    acknowledger = Acknowledger(completeness, threading.Lock(), lambda name, args: sent.append((name, args)),
                                durable=lambda: holds[0])
    for n in range(3):
        completeness.add(APID, 1000 + n, n)
    acknowledger.round()
    assert sent == [] and acknowledger.withheld == 1
    holds[0] = True                                             # committed now
    acknowledger.round()
    assert sent == [("comms.ACKNOWLEDGE", [APID, 1000, 1002, 3])]


def test_nothing_is_sent_out_of_contact_and_what_waited_goes_in_the_next_round_in_contact():
    sent: list = []
    completeness = Completeness()
    contact = [False]
    acknowledger = Acknowledger(completeness, threading.Lock(), lambda name, args: sent.append((name, args)),
                                contact=lambda: contact[0])
    for n in range(3):
        completeness.add(APID, 1000 + n, n)
        acknowledger.round()
    assert sent == []
    contact[0] = True
    acknowledger.round()
    assert sent == [("comms.ACKNOWLEDGE", [APID, 1000, 1002, 3])]
