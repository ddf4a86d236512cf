"""COP-1 (CCSDS 232.1-B-2), the ground side: FOP-1, the Frame Operation Procedure of one virtual channel.

FOP-1 turns the ground's requests into Type-AD frames numbered N(S) = V(S), V(S) + 1, ... (modulo 256),
keeps each on its Sent_Queue until a CLCW from the flight's FARM-1 (flight/wire/cop1.py) acknowledges
it (its Report Value N(R) has gone past it), and sends again, from the oldest unacknowledged frame
on (go-back-N), when the CLCW's Retransmit flag asks for it or when the timer T1 runs out. At most K
frames (the FOP sliding window width) are unacknowledged at a time; a request that does not fit
waits on the one-place Wait_Queue, and a further request is refused. The variables are those of
§5.1: V(S), NN(R) (the oldest unacknowledged N(S)), K, T1_Initial, Transmission_Limit,
Transmission_Count (transmissions of the oldest unacknowledged frame), Timeout_Type and
Suspend_State. No clock and no thread: the caller gives the time (any unit, the same as T1's) to
``on_clcw``, ``poll`` (the timer), ``frames`` (what to send now) and the directives that start T1.

The states (§5.1.2): S1 Active; S2 Retransmit without Wait (retransmitting, the flight can take
frames); S3 Retransmit with Wait (a retransmission is due but the CLCW's Wait flag says the flight
cannot take data: nothing is sent); S4 Initialising without BC Frame (Initiate AD Service with CLCW
check: waiting for a CLCW with N(R) = V(S) and no flag); S5 Initialising with BC Frame (the Unlock or
Set V(R) control command is out, waiting for the CLCW that shows it executed); S6 Initial (no AD
service: before initiation, after Terminate, an alert, or a suspension). The machine is table 5-1,
written below as data: ``_CLCW_TABLE`` (events E1-E15: a CLCW arrives), ``_TIMER_TABLE`` (E16-E18,
E104: T1 runs out) and ``_DIRECTIVE_TABLE`` (E23-E39), one row per event, one cell per state,
each cell the actions of §5.2 then the next state. In short: a CLCW that acknowledges frames
removes them (they are reported ACKNOWLEDGED) and returns to S1; one with the Retransmit flag goes
back to NN(R) (S2), or to S3 if the Wait flag is also set; Lockout, an impossible N(R) or
inconsistent flags raise an Alert: the timer is cancelled, the Sent_Queue and Wait_Queue are purged
(their requests reported PURGED and REJECTED: the ground must find out, from the CLCW's N(R), which
purged frames had in fact arrived) and FOP-1 goes to S6.

Choices where the standard leaves room (each also noted where it is made):
- The lower procedures are always ready (AD_Out, BC_Out and BD_Out stay Ready; events E22, E26, E28
  and E41-E46 do not arise, and there is no LLIF alert): a frame is passed on the moment FOP-1
  makes it, and ``frames(now)`` hands over all of them. Look for FDU therefore sends every frame
  marked for retransmission, then frames the waiting FDU while V(S) < NN(R) + K.
- T1 is (re)started when frames are handed over (``frames(now)``), which is the moment they leave,
  and at the other points the table names (retransmission, Initiate with CLCW check, Resume).
- Purging the Sent_Queue leaves nothing unacknowledged, so NN(R) := V(S). After Initialise,
  NN(R) = V(S) in S4 and S5, so events E2 and E5-E12 cannot arise there (their cells are Ignore).
- Suspend (E18, E104 in S4) also cancels the timer; in S6 timer events are ignored anyway.
- Type-B frames carry N(S) = 0 (FARM-1 does not use it).
- A CLCW for another virtual channel is ignored before the table (§5.3.2); four octets that are
  not a COP-1 CLCW are event E15 (Alert [CLCW] in S1-S5).
- Event E16 (T1 out, transmissions left) keeps FOP-1 in its state (S1 or S2): it retransmits.

| requirement | verified by |
| the directives (Initiate AD Service without CLCW check, with CLCW check, with Unlock, with Set V(R); |   |
|   Terminate; Resume; Set V(S), K, T1_Initial, Transmission_Limit, Timeout_Type) are accepted or |   |
|   rejected per state as table 5-1 (E23-E40) says | tests/unit/wire/test_cop1.py |
| a request is refused when the window and the Wait_Queue are full, and framed when an |   |
|   acknowledgement opens the window | tests/unit/wire/test_cop1.py |
| each CLCW event E1-E15 in each state S1-S6 does what table 5-1 says | tests/unit/wire/test_cop1.py |
| T1 running out retransmits every unacknowledged frame; at the transmission limit FOP-1 alerts |   |
|   (Timeout_Type 0) or suspends (Timeout_Type 1) | tests/unit/wire/test_cop1.py |
| a Lockout CLCW raises Alert [LOCKOUT] and purges both queues | tests/unit/wire/test_cop1.py |
| with FARM-1 over a link losing 10 % of TC frames (1 % corrupted) and some CLCWs, 1,000 commands |   |
|   arrive exactly once and in order and each is acknowledged to the ground; also with K > PW, |   |
|   and with a lockout recovered by Initiate with Unlock or Set V(R) | tests/unit/wire/test_cop1.py |
"""
from __future__ import annotations

import enum
import itertools
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from flight.wire.clcw import Clcw, ClcwError
from flight.wire.cop1 import MODULO, ControlCommand, seq_distance


class FopState(enum.IntEnum):
    ACTIVE = 1
    RETRANSMIT_WITHOUT_WAIT = 2
    RETRANSMIT_WITH_WAIT = 3
    INITIALISING_WITHOUT_BC = 4
    INITIALISING_WITH_BC = 5
    INITIAL = 6


class AlertReason(enum.Enum):
    """The reason codes of the Alert notification (232.1-B-2 table 4-4), less LLIF (see above)."""

    LIMIT = "Retransmit flag with Transmission_Limit 1"
    T1 = "T1 ran out at the transmission limit, or while initialising"
    LOCKOUT = "the CLCW reports Lockout"
    SYNCH = "the CLCW contradicts FOP-1's state"
    NN_R = "the CLCW's N(R) is outside NN(R)..V(S)"
    CLCW = "the CLCW has Wait without Retransmit, or is not a CLCW"
    TERM = "Terminate AD Service"


class Refusal(enum.Enum):
    NOT_ACTIVE = "the AD service is not running (S4, S5 or S6)"
    WAIT_QUEUE_FULL = "the Wait_Queue is taken: the sliding window is full"
    WRONG_STATE = "not allowed in this state"
    NOT_SUSPENDED = "nothing is suspended"
    INVALID = "invalid directive argument"


class EventKind(enum.Enum):
    ACKNOWLEDGED = "acknowledged"  # positive confirm: the flight accepted the request's frame in sequence
    ACCEPTED = "accepted"          # a request that waited on the Wait_Queue was framed (``sequence``)
    PURGED = "purged"              # negative confirm: its frame was on the Sent_Queue when that was purged
    REJECTED = "rejected"          # it was on the Wait_Queue when that was purged: never sent
    INITIATED = "initiated"        # positive confirm of an Initiate AD Service directive: S1 reached
    ALERT = "alert"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class FopEvent:
    """A notification to the caller; ``row`` is the table 5-1 event that caused it."""

    kind: EventKind
    row: str
    request: int | None = None
    sequence: int | None = None
    alert: AlertReason | None = None
    report_value: int | None = None  # N(R) of the CLCW behind an alert


@dataclass(frozen=True)
class Transfer:
    """The answer to a request: accepted (with its request id, and N(S) if framed at once) or refused."""

    accepted: bool
    request: int | None = None
    sequence: int | None = None
    refusal: Refusal | None = None


@dataclass(frozen=True)
class DirectiveResult:
    accepted: bool
    row: str
    refusal: Refusal | None = None
    events: tuple[FopEvent, ...] = ()


@dataclass(frozen=True)
class FopFrame:
    """A frame to send: the fields a TC transfer frame needs from COP-1. ``transmission`` counts from 1."""

    bypass: bool
    control: bool
    sequence: int
    data: bytes
    request: int | None = None
    transmission: int = 1


class _Sent:
    """A frame on the Sent_Queue (or the Type-BC frame of an initiation): ``pending`` = to be handed over."""

    __slots__ = ("request", "sequence", "data", "control", "pending", "transmissions")

    def __init__(self, request: int | None, sequence: int, data: bytes, control: bool = False) -> None:
        self.request, self.sequence, self.data, self.control = request, sequence, data, control
        self.pending, self.transmissions = True, 0

    def hand_over(self) -> FopFrame:
        self.pending = False
        self.transmissions += 1
        return FopFrame(self.control, self.control, self.sequence, self.data, self.request, self.transmissions)


class _Queues:
    """V(S), NN(R), K, the Sent_Queue (N(S) = NN(R) .. V(S) - 1, oldest first) and the Wait_Queue."""

    def __init__(self, window: int, vs: int) -> None:
        self.window, self.vs, self.nnr = window, vs, vs
        self.sent: deque[_Sent] = deque()
        self.waiting: tuple[int, bytes] | None = None

    def outstanding(self) -> int:
        return seq_distance(self.vs, self.nnr)

    def is_valid_nr(self, nr: int) -> bool:
        """NN(R) <= N(R) <= V(S), modulo 256."""
        return seq_distance(nr, self.nnr) <= self.outstanding()

    def frame_waiting(self) -> _Sent | None:
        """5.2.10 c) with 5.2.4: the waiting FDU becomes frame N(S) = V(S) if V(S) < NN(R) + K."""
        if self.waiting is None or self.outstanding() >= self.window:
            return None
        (request, data), self.waiting = self.waiting, None
        frame = _Sent(request, self.vs, data)
        self.sent.append(frame)
        self.vs = (self.vs + 1) % MODULO
        return frame

    def remove_acknowledged(self, nr: int) -> list[_Sent]:
        removed = [self.sent.popleft() for _ in range(seq_distance(nr, self.nnr))]
        self.nnr = nr
        return removed

    def purge_sent(self) -> list[_Sent]:
        purged = list(self.sent)
        self.sent.clear()
        self.nnr = self.vs  # nothing is unacknowledged any more (a choice: see the module docstring)
        return purged


class _Cell(NamedTuple):
    """One cell of table 5-1: the actions (method names, or (name, argument)), then the next state."""

    steps: tuple = ()
    to: FopState | None = None
    refusal: Refusal | None = None


S1, S2, S3, S4, S5, S6 = FopState
_IGNORE = _Cell()
_REJECT = _Cell(refusal=Refusal.WRONG_STATE)


def _do(*steps: str | tuple, to: FopState | None = None) -> _Cell:
    return _Cell(tuple(steps), to)


def _alert(reason: AlertReason) -> _Cell:
    return _Cell((("_alert", reason),), S6)


def _in_s6(cell: _Cell) -> tuple[_Cell, ...]:
    """A directive allowed only in S6 (Reject in S1-S5)."""
    return (_REJECT,) * 5 + (cell,)


_ALL_ACKED = _do("_remove_acknowledged", "_cancel_timer", "_look_for_fdu", to=S1)
_SOME_ACKED = _do("_remove_acknowledged", "_look_for_fdu", to=S1)
_GO_BACK = _do("_remove_acknowledged", "_initiate_ad_retransmission", "_look_for_fdu", to=S2)
_RETRANSMIT = _do("_initiate_ad_retransmission", "_look_for_fdu", to=S2)
_ACKED_THEN_WAIT = _do("_remove_acknowledged", to=S3)
_ACKED_THEN_LIMIT = _do("_remove_acknowledged", ("_alert", AlertReason.LIMIT), to=S6)
_RESEND = _do("_initiate_ad_retransmission", "_look_for_fdu")
A = AlertReason

# Table 5-1, a valid CLCW arrives (E1-E14) or an invalid one (E15). Cells: S1, S2, S3, S4, S5, S6.
# In S4 and S5 NN(R) = V(S) (see the module docstring): E2 and E5-E12 cannot arise there (Ignore).
_CLCW_TABLE: dict[str, tuple[_Cell, ...]] = {
    # E1: N(R) = V(S) = NN(R), R = 0, W = 0.
    "E1": (_IGNORE, _alert(A.SYNCH), _alert(A.SYNCH), _do("_confirm_initiate", "_cancel_timer", to=S1),
           _do("_release_bc", "_cancel_timer", "_confirm_initiate", to=S1), _IGNORE),
    # E2: N(R) = V(S) != NN(R), R = 0, W = 0: everything outstanding is acknowledged.
    "E2": (_ALL_ACKED, _ALL_ACKED, _ALL_ACKED, _IGNORE, _IGNORE, _IGNORE),
    # E3: N(R) = V(S), R = 0, W = 1.
    "E3": (_alert(A.CLCW),) * 5 + (_IGNORE,),
    # E4: N(R) = V(S), R = 1: nothing to retransmit.
    "E4": (_alert(A.SYNCH),) * 4 + (_IGNORE, _IGNORE),
    # E5: NN(R) = N(R) < V(S), R = 0, W = 0: no progress.
    "E5": (_IGNORE, _alert(A.SYNCH), _alert(A.SYNCH), _IGNORE, _IGNORE, _IGNORE),
    # E6: NN(R) < N(R) < V(S), R = 0, W = 0: some acknowledged.
    "E6": (_SOME_ACKED, _SOME_ACKED, _SOME_ACKED, _IGNORE, _IGNORE, _IGNORE),
    # E7: NN(R) <= N(R) < V(S), R = 0, W = 1.
    "E7": (_alert(A.CLCW),) * 3 + (_IGNORE,) * 3,
    # E101: N(R) < V(S), R = 1, Transmission_Limit = 1, N(R) != NN(R).
    "E101": (_ACKED_THEN_LIMIT,) * 3 + (_IGNORE,) * 3,
    # E102: N(R) < V(S), R = 1, Transmission_Limit = 1, N(R) = NN(R).
    "E102": (_alert(A.LIMIT),) * 3 + (_IGNORE,) * 3,
    # E8: N(R) < V(S), R = 1, limit > 1, N(R) != NN(R), W = 0.
    "E8": (_GO_BACK,) * 3 + (_IGNORE,) * 3,
    # E9: N(R) < V(S), R = 1, limit > 1, N(R) != NN(R), W = 1.
    "E9": (_ACKED_THEN_WAIT,) * 3 + (_IGNORE,) * 3,
    # E10: N(R) = NN(R) < V(S), R = 1, Transmission_Count < limit, W = 0.
    "E10": (_RETRANSMIT, _IGNORE, _RETRANSMIT, _IGNORE, _IGNORE, _IGNORE),
    # E11: N(R) = NN(R) < V(S), R = 1, Transmission_Count < limit, W = 1.
    "E11": (_do(to=S3), _do(to=S3), _IGNORE, _IGNORE, _IGNORE, _IGNORE),
    # E12: N(R) = NN(R) < V(S), R = 1, Transmission_Count >= limit, W = 0.
    "E12": (_do(to=S2), _IGNORE, _do(to=S2), _IGNORE, _IGNORE, _IGNORE),
    # E103: N(R) = NN(R) < V(S), R = 1, Transmission_Count >= limit, W = 1.
    "E103": (_do(to=S3), _do(to=S3), _IGNORE, _IGNORE, _IGNORE, _IGNORE),
    # E13: N(R) outside NN(R)..V(S).
    "E13": (_alert(A.NN_R),) * 4 + (_IGNORE, _IGNORE),
    # E14: Lockout = 1.
    "E14": (_alert(A.LOCKOUT),) * 4 + (_IGNORE, _IGNORE),
    # E15: an invalid CLCW.
    "E15": (_alert(A.CLCW),) * 5 + (_IGNORE,),
}

# Table 5-1, T1 runs out: E16 (count < limit, TT = 0), E104 (count < limit, TT = 1), E17 (count >=
# limit, TT = 0), E18 (count >= limit, TT = 1).
_TIMER_TABLE: dict[str, tuple[_Cell, ...]] = {
    "E16": (_RESEND, _RESEND, _IGNORE, _alert(A.T1), _do("_initiate_bc_retransmission"), _IGNORE),
    "E104": (_RESEND, _RESEND, _IGNORE, _do(("_suspend", 4), to=S6), _do("_initiate_bc_retransmission"), _IGNORE),
    "E17": (_alert(A.T1),) * 5 + (_IGNORE,),
    "E18": (_do(("_suspend", 1), to=S6), _do(("_suspend", 2), to=S6), _do(("_suspend", 3), to=S6),
            _do(("_suspend", 4), to=S6), _alert(A.T1), _IGNORE),
}

# Table 5-1, directives (E23-E39; E40, an invalid directive, is a Reject wherever it arrives).
_DIRECTIVE_TABLE: dict[str, tuple[_Cell, ...]] = {
    "E23": _in_s6(_do("_initialise", "_confirm_initiate", to=S1)),           # Initiate, no CLCW check
    "E24": _in_s6(_do("_initialise", "_restart_timer", to=S4)),              # Initiate with CLCW check
    "E25": _in_s6(_do("_initialise", "_transmit_unlock", to=S5)),            # Initiate with Unlock
    "E27": _in_s6(_do("_initialise", "_take_set_vr", "_transmit_set_vr", to=S5)),  # with Set V(R)
    "E29": (_alert(A.TERM),) * 5 + (_IGNORE,),                               # Terminate (S6: Confirm)
    "E30": (_Cell(refusal=Refusal.NOT_SUSPENDED),) * 6,                      # Resume, SS = 0
    "E31": _in_s6(_do("_resume", to=S1)),                                    # Resume, SS = 1 .. 4
    "E32": _in_s6(_do("_resume", to=S2)),
    "E33": _in_s6(_do("_resume", to=S3)),
    "E34": _in_s6(_do("_resume", to=S4)),
    "E35": _in_s6(_do("_set_vs")),                                           # Set V(S) (SS = 0)
    "E36": (_do("_set_window"),) * 6,                                        # Set FOP window width K
    "E37": (_do("_set_t1"),) * 6,                                            # Set T1_Initial
    "E38": (_do("_set_limit"),) * 6,                                         # Set Transmission_Limit
    "E39": (_do("_set_timeout_type"),) * 6,                                  # Set Timeout_Type
}


class _Fop1Actions:
    """FOP-1's variables and the actions of §5.2 that the table cells name."""

    def __init__(self, vcid: int, window: int, t1: float, limit: int, timeout_type: int, vs: int) -> None:
        self.vcid = vcid
        self._q = _Queues(window, vs)
        self._state = FopState.INITIAL
        self._t1, self._limit, self._tt = t1, limit, timeout_type
        self._count = 1          # Transmission_Count
        self._ss = 0             # Suspend_State
        self._deadline: float | None = None
        self._now = 0.0
        self._bc: _Sent | None = None  # the Type-BC frame of an initiation in progress
        self._expedited: deque[FopFrame] = deque()
        self._requests = itertools.count()
        self._events: list[FopEvent] = []
        self._row = ""
        self._argument: object = 0
        self._report_value: int | None = None

    def _emit(self, kind: EventKind, **fields: object) -> None:
        self._events.append(FopEvent(kind, self._row, **fields))

    def _restart_timer(self) -> None:
        self._deadline = self._now + self._t1

    def _cancel_timer(self) -> None:
        self._deadline = None

    def _purge(self) -> None:
        """5.2.2 and 5.2.3: negative confirms for the Sent_Queue, a reject for the Wait_Queue."""
        for frame in self._q.purge_sent():
            self._emit(EventKind.PURGED, request=frame.request, sequence=frame.sequence)
        if self._q.waiting is not None:
            self._emit(EventKind.REJECTED, request=self._q.waiting[0])
            self._q.waiting = None
        self._bc = None

    def _initialise(self) -> None:
        """5.2.14: purge both queues, Transmission_Count := 1, Suspend_State := 0."""
        self._purge()
        self._count, self._ss = 1, 0

    def _alert(self, reason: AlertReason) -> None:
        """5.2.15: cancel the timer, purge both queues (an initiation in progress fails), notify."""
        self._cancel_timer()
        self._purge()
        self._emit(EventKind.ALERT, alert=reason, report_value=self._report_value)

    def _suspend(self, state: int) -> None:
        """5.2.16, with Suspend_State := the state left; the timer is cancelled too (a choice)."""
        self._ss = state
        self._cancel_timer()
        self._emit(EventKind.SUSPENDED)

    def _resume(self) -> None:
        """5.2.17: start the timer, Suspend_State := 0."""
        self._restart_timer()
        self._ss = 0

    def _look_for_fdu(self) -> None:
        """5.2.10: frames marked for retransmission go at hand-over; frame the waiting FDU if it fits."""
        was_empty = not self._q.sent
        frame = self._q.frame_waiting()
        if frame is not None:
            if was_empty:
                self._count = 1  # 5.2.4 c)
            self._emit(EventKind.ACCEPTED, request=frame.request, sequence=frame.sequence)

    def _remove_acknowledged(self) -> None:
        """5.2.8: positive confirms up to N(R); NN(R) := N(R); Transmission_Count := 1 if any."""
        assert self._report_value is not None
        removed = self._q.remove_acknowledged(self._report_value)
        for frame in removed:
            self._emit(EventKind.ACKNOWLEDGED, request=frame.request, sequence=frame.sequence)
        if removed:
            self._count = 1

    def _initiate_ad_retransmission(self) -> None:
        """5.2.7: Transmission_Count += 1, restart the timer, mark every Sent_Queue frame."""
        self._count += 1
        self._restart_timer()
        for frame in self._q.sent:
            frame.pending = True

    def _initiate_bc_retransmission(self) -> None:
        """5.2.7 for the Type-BC frame; Look for Directive is its hand-over by ``frames``."""
        self._count += 1
        self._restart_timer()
        if self._bc is not None:
            self._bc.pending = True

    def _transmit_bc(self, command: ControlCommand) -> None:
        """5.2.5: the Type-BC frame goes out; Transmission_Count := 1 (the timer starts at hand-over)."""
        self._bc = _Sent(None, 0, command.encode(), control=True)
        self._count = 1

    def _transmit_unlock(self) -> None:
        self._transmit_bc(ControlCommand.unlock())

    def _take_set_vr(self) -> None:
        """E27: V(S) := NN(R) := V*(R) before the Set V(R) goes out."""
        self._q.vs = self._q.nnr = self._argument

    def _transmit_set_vr(self) -> None:
        self._transmit_bc(ControlCommand.set_vr(self._argument))

    def _release_bc(self) -> None:
        self._bc = None

    def _confirm_initiate(self) -> None:
        self._emit(EventKind.INITIATED)

    def _set_vs(self) -> None:
        self._q.vs = self._q.nnr = self._argument

    def _set_window(self) -> None:
        self._q.window = self._argument

    def _set_t1(self) -> None:
        self._t1 = self._argument

    def _set_limit(self) -> None:
        self._limit = self._argument

    def _set_timeout_type(self) -> None:
        self._tt = self._argument


class Fop1(_Fop1Actions):
    """FOP-1 of one virtual channel; starts in S6 (Initial). ``t1`` is in the caller's time unit."""

    def __init__(self, vcid: int = 0, window: int = 5, t1: float = 3.0, transmission_limit: int = 8,
                 timeout_type: int = 0, vs: int = 0) -> None:
        if not 1 <= window < MODULO or t1 <= 0 or transmission_limit < 1 or timeout_type not in (0, 1):
            raise ValueError(f"FOP-1: K {window} (1..255), T1 {t1} (> 0), limit {transmission_limit} (>= 1), "
                             f"timeout type {timeout_type} (0 or 1)")
        if not 0 <= vs < MODULO:
            raise ValueError(f"V(S) {vs} outside 0..255")
        super().__init__(vcid, window, t1, transmission_limit, timeout_type, vs)

    # --- what the caller reads --------------------------------------------------------------------
    @property
    def state(self) -> FopState:
        return self._state

    @property
    def vs(self) -> int:
        """V(S), the N(S) of the next new frame."""
        return self._q.vs

    @property
    def nnr(self) -> int:
        """NN(R), the oldest unacknowledged N(S)."""
        return self._q.nnr

    @property
    def window(self) -> int:
        """K, the FOP sliding window width."""
        return self._q.window

    @property
    def transmission_count(self) -> int:
        return self._count

    @property
    def transmission_limit(self) -> int:
        return self._limit

    @property
    def t1_initial(self) -> float:
        return self._t1

    @property
    def timeout_type(self) -> int:
        return self._tt

    @property
    def suspend_state(self) -> int:
        return self._ss

    @property
    def timer_deadline(self) -> float | None:
        """When T1 runs out (None: not running)."""
        return self._deadline

    @property
    def unacknowledged(self) -> int:
        """How many frames are on the Sent_Queue."""
        return len(self._q.sent)

    @property
    def waiting(self) -> bool:
        """Whether an FDU is on the Wait_Queue."""
        return self._q.waiting is not None

    # --- requests and frames ----------------------------------------------------------------------
    def transmit(self, data: bytes) -> Transfer:
        """Request to transfer an FDU (AD service): E19 if the Wait_Queue is empty, else E20 (Reject).

        E19: S1, S2: Add to Wait_Queue, Look for FDU; S3: Add to Wait_Queue; S4-S6: Reject.
        """
        if self._state in (S4, S5, S6):
            return Transfer(False, refusal=Refusal.NOT_ACTIVE)
        if self._q.waiting is not None:
            return Transfer(False, refusal=Refusal.WAIT_QUEUE_FULL)
        request = next(self._requests)
        self._q.waiting = (request, bytes(data))
        if self._state is not S3:
            self._row = "E19"
            self._look_for_fdu()
            self._drain()  # its only event is this request's ACCEPTED: the Transfer says it
        framed = self._q.waiting is None
        return Transfer(True, request, self._q.sent[-1].sequence if framed else None)

    def transmit_expedited(self, data: bytes) -> Transfer:
        """Request to transfer an FDU with the BD service: E21 in every state (Accept, Transmit Type-BD)."""
        request = next(self._requests)
        self._expedited.append(FopFrame(True, False, 0, bytes(data), request))
        return Transfer(True, request, 0)

    def frames(self, now: float) -> list[FopFrame]:
        """The frames to send now: Type-BD, then the Type-BC of an initiation (S5), then the Type-AD frames
        not yet sent or marked for retransmission (in S1 and S2; S3 waits). T1 restarts if any BC/AD left."""
        self._now = now
        out = list(self._expedited)
        self._expedited.clear()
        sent_any = False
        if self._state is S5 and self._bc is not None and self._bc.pending:
            out.append(self._bc.hand_over())
            sent_any = True
        if self._state in (S1, S2):
            for frame in self._q.sent:
                if frame.pending:
                    out.append(frame.hand_over())
                    sent_any = True
        if sent_any:
            self._restart_timer()
        return out

    # --- what arrives -----------------------------------------------------------------------------
    def on_clcw(self, clcw: Clcw | bytes, now: float) -> list[FopEvent]:
        """A CLCW arrives (E1-E15). One for another virtual channel is ignored (§5.3.2)."""
        self._now = now
        if not isinstance(clcw, Clcw):
            try:
                clcw = Clcw.decode(clcw)
            except ClcwError:
                self._report_value = None
                return self._apply("E15", _CLCW_TABLE)
        if clcw.vcid != self.vcid:
            return []
        self._report_value = clcw.report_value
        return self._apply(self.clcw_event(clcw), _CLCW_TABLE)

    def poll(self, now: float) -> list[FopEvent]:
        """Check the timer: if T1 has run out, E16/E104 (transmissions left) or E17/E18 (limit reached)."""
        self._now = now
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        self._report_value = None
        if self._count < self._limit:
            return self._apply("E16" if self._tt == 0 else "E104", _TIMER_TABLE)
        return self._apply("E17" if self._tt == 0 else "E18", _TIMER_TABLE)

    # --- directives -------------------------------------------------------------------------------
    def initiate_without_clcw_check(self) -> DirectiveResult:
        return self._directive("E23")

    def initiate_with_clcw_check(self, now: float) -> DirectiveResult:
        """E24: S4 until a CLCW shows N(R) = V(S) (set V(S) first) and no flag, or T1 runs out."""
        self._now = now
        return self._directive("E24")

    def initiate_with_unlock(self) -> DirectiveResult:
        return self._directive("E25")

    def initiate_with_set_vr(self, vr: int) -> DirectiveResult:
        return self._directive("E27", vr, 0 <= vr < MODULO)

    def terminate(self) -> DirectiveResult:
        return self._directive("E29")

    def resume(self, now: float) -> DirectiveResult:
        """E30 (nothing suspended: Reject) or E31-E34 (back to the state suspended from, in S6 only)."""
        self._now = now
        return self._directive(f"E{30 + self._ss}")

    def set_vs(self, vs: int) -> DirectiveResult:
        """E35: S6 with nothing suspended only; V(S) := NN(R) := vs."""
        if self._ss:
            return DirectiveResult(False, "E35", Refusal.WRONG_STATE)
        return self._directive("E35", vs, 0 <= vs < MODULO)

    def set_window(self, k: int) -> DirectiveResult:
        return self._directive("E36", k, 1 <= k < MODULO)

    def set_t1_initial(self, t1: float) -> DirectiveResult:
        return self._directive("E37", t1, t1 > 0)

    def set_transmission_limit(self, limit: int) -> DirectiveResult:
        return self._directive("E38", limit, limit >= 1)

    def set_timeout_type(self, timeout_type: int) -> DirectiveResult:
        return self._directive("E39", timeout_type, timeout_type in (0, 1))

    # --- the table ----------------------------------------------------------------------------------
    def clcw_event(self, clcw: Clcw) -> str:
        """Which of E1-E14 a valid CLCW would be now (table 5-1's event conditions, in its order)."""
        nr, nnr, vs = clcw.report_value, self._q.nnr, self._q.vs
        if clcw.lockout:
            return "E14"
        if nr == vs:
            if clcw.retransmit:
                return "E4"
            return "E3" if clcw.wait else ("E1" if nr == nnr else "E2")
        if not self._q.is_valid_nr(nr):
            return "E13"
        if not clcw.retransmit:
            return "E7" if clcw.wait else ("E5" if nr == nnr else "E6")
        if self._limit == 1:
            return "E101" if nr != nnr else "E102"
        if nr != nnr:
            return "E9" if clcw.wait else "E8"
        if self._count < self._limit:
            return "E11" if clcw.wait else "E10"
        return "E103" if clcw.wait else "E12"

    def _directive(self, row: str, argument: object = 0, valid: bool = True) -> DirectiveResult:
        if not valid:
            return DirectiveResult(False, "E40", Refusal.INVALID)  # E40: Reject
        self._argument = argument
        self._report_value = None
        cell = _DIRECTIVE_TABLE[row][self._state - 1]
        events = self._apply(row, _DIRECTIVE_TABLE)
        return DirectiveResult(cell.refusal is None, row, cell.refusal, tuple(events))

    def _apply(self, row: str, table: dict[str, tuple[_Cell, ...]]) -> list[FopEvent]:
        cell = table[row][self._state - 1]
        if cell.refusal is None:
            self._row = row
            self._run(cell)
        return self._drain()

    def _run(self, cell: _Cell) -> None:
        for step in cell.steps:
            name, *args = step if isinstance(step, tuple) else (step,)
            getattr(self, name)(*args)
        if cell.to is not None:
            self._state = cell.to

    def _drain(self) -> list[FopEvent]:
        events, self._events = self._events, []
        return events
