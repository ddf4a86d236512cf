"""COP-1 (CCSDS 232.1-B-2), the flight side: FARM-1, the Frame Acceptance and Reporting Mechanism.

COP-1 makes TC frames arrive exactly once and in order over a link that loses some: the ground's
FOP-1 (flight/wire/fop1.py) numbers each Type-AD frame N(S) = 0, 1, ... 255, 0, ... and keeps a copy
until the flight reports it received; the flight's FARM-1 (here) accepts a Type-AD frame only when
N(S) is the number it expects, V(R), and reports V(R) and three flags in the CLCW
(flight/wire/clcw.py) of every TM frame. Type-BD frames bypass the check (expedited service);
Type-BC frames carry FARM-1's two control commands, Unlock and Set V(R). All sequence arithmetic is
modulo 256. This module works on the few frame fields COP-1 needs (the Bypass and Control Command
flags, N(S), the data), passed as plain values: it does not parse transfer frames.

FARM-1 in words (§6, state table 6-1, implemented cell by cell in ``_TABLE`` below):
- Open (S1): a Type-AD frame with N(S) = V(R) is accepted (its data is delivered, V(R) += 1, the
  Retransmit flag is cleared), unless the flight's buffer is full: then it is discarded, the Wait
  and Retransmit flags are set and FARM-1 goes to Wait. A frame ahead of V(R) inside the positive
  window (V(R) < N(S) <= V(R) + PW - 1) is discarded and Retransmit is set (a frame was lost: the
  ground must go back to V(R)); one behind, inside the negative window (V(R) - NW <= N(S) < V(R)),
  is a repeat and is discarded; one outside both windows (the lockout area) is discarded and
  FARM-1 goes to Lockout.
- Wait (S2): every Type-AD frame is discarded until the buffer is released (the caller clears
  ``buffer_full``: event E10, back to Open), or an Unlock or Set V(R) arrives.
- Lockout (S3): every Type-AD frame is discarded until an Unlock arrives; a Set V(R) is counted
  but not executed (FARM-1 must be unlocked first).
- In every state a Type-BD frame is accepted and counted (FARM-B counter), and so is a control
  command.
The window widths: W is even, 2 <= W <= 254, and PW = NW = W / 2 (§6.1.8).

Every ``receive`` returns a Decision saying whether the frame was accepted, the table row (E1..E9)
and a Reason, so the flight can count refusals per reason. E11 (time to report) is ``clcw()``.

Choices where the standard leaves room:
- Event E1 in Wait (an expected frame while the buffer is available) cannot happen here: FARM-1 is
  in Wait only while ``buffer_full`` is true, and clearing it is the Buffer Release signal (E10),
  which leaves Wait at once. The cell is therefore the same as E2's (discard).
- A Type-BC frame whose data is not one of the two control commands, and a frame with Bypass = 0
  and Control Command = 1, are invalid frames (E9): discarded, nothing else changes.
- ``farm_b_counter`` counts on past 3; the CLCW reports its two low bits, as the standard says.
- The frame sequence number of Type-B frames is not used by FARM-1 (the FOP sends zero).

| requirement | verified by |
| each cell of table 6-1 (E1-E10 in S1-S3): in sequence accepted; Retransmit in the positive window; |   |
|   negative window discarded; Lockout outside both; Wait when the buffer is full; buffer release; |   |
|   Unlock and Set V(R) in each state; BD frames always accepted; invalid frames ignored |   |
|   | tests/unit/wire/test_cop1.py |
| V(R) and the windows wrap at 256 | tests/unit/wire/test_cop1.py |
| the CLCW reports V(R), the flags and the FARM-B counter's two low bits | tests/unit/wire/test_cop1.py |
| with FOP-1 over a lossy link, every command is delivered exactly once and in order | tests/unit/wire/test_cop1.py |
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from flight.wire.clcw import Clcw

MODULO = 256
UNLOCK_CODE = b"\x00"
SET_VR_CODE = b"\x82\x00"


def seq_distance(later: int, earlier: int) -> int:
    """How far ``later`` is ahead of ``earlier``, modulo 256 (0..255)."""
    return (later - earlier) % MODULO


class ControlCommandError(ValueError):
    """The data of a Type-BC frame that is neither Unlock nor Set V(R)."""


class ControlKind(enum.Enum):
    UNLOCK = "unlock"
    SET_VR = "set V(R)"


@dataclass(frozen=True)
class ControlCommand:
    """A COP-1 control command (CCSDS 232.0-B §4.1.3.3): Unlock is the octet 0x00, Set V(R) the
    octets 0x82 0x00 V*(R)."""

    kind: ControlKind
    vr: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.vr < MODULO:
            raise ValueError(f"V(R) {self.vr} outside 0..255")

    @classmethod
    def unlock(cls) -> "ControlCommand":
        return cls(ControlKind.UNLOCK)

    @classmethod
    def set_vr(cls, vr: int) -> "ControlCommand":
        return cls(ControlKind.SET_VR, vr)

    def encode(self) -> bytes:
        return UNLOCK_CODE if self.kind is ControlKind.UNLOCK else SET_VR_CODE + bytes([self.vr])

    @classmethod
    def decode(cls, data: bytes) -> "ControlCommand":
        if data == UNLOCK_CODE:
            return cls.unlock()
        if len(data) == 3 and data[:2] == SET_VR_CODE:
            return cls.set_vr(data[2])
        raise ControlCommandError(f"not a COP-1 control command: {data.hex()}")


class FarmState(enum.IntEnum):
    OPEN = 1
    WAIT = 2
    LOCKOUT = 3


class Reason(enum.Enum):
    """Why FARM-1 accepted or discarded a frame."""

    IN_SEQUENCE = "in sequence"                  # E1: accepted, V(R) += 1
    EXPEDITED = "expedited (Type-BD)"            # E6: accepted, FARM-B counter += 1
    UNLOCK = "unlock"                            # E7: executed
    SET_VR = "set V(R)"                          # E8: executed
    SET_VR_IN_LOCKOUT = "set V(R) in lockout"    # E8 in Lockout: counted, not executed
    BUFFER_FULL = "buffer full"                  # E2 in Open: discarded, FARM-1 goes to Wait
    WAIT = "waiting"                             # E1..E3 in Wait: discarded
    AHEAD = "ahead of V(R)"                      # E3: positive window, Retransmit set
    BEHIND = "behind V(R)"                       # E4: negative window, a repeat
    OUTSIDE_WINDOW = "outside the window"        # E5: discarded, FARM-1 goes to Lockout
    LOCKED_OUT = "locked out"                    # any Type-AD frame in Lockout
    INVALID = "invalid frame"                    # E9


@dataclass(frozen=True)
class Decision:
    """What FARM-1 did with one frame: ``data`` is the delivered data of an accepted AD/BD frame."""

    accepted: bool
    reason: Reason
    event: str
    data: bytes | None = None


class _Cell(NamedTuple):
    """One cell of table 6-1: accepted?, why, the actions (FARM-1 method names), the next state."""

    accepted: bool
    reason: Reason
    actions: tuple[str, ...] = ()
    to: FarmState | None = None


_OPEN, _WAIT, _LOCK = FarmState.OPEN, FarmState.WAIT, FarmState.LOCKOUT
_LOCKED = _Cell(False, Reason.LOCKED_OUT)

# CCSDS 232.1-B-2 table 6-1, one row per event, cells for (S1 Open, S2 Wait, S3 Lockout).
_TABLE: dict[str, tuple[_Cell, _Cell, _Cell]] = {
    # E1: Type-AD, N(S) = V(R), buffer available: Accept, V(R) := V(R)+1, Retransmit := 0 | (see
    # the module docstring: not reachable, as E2) | Discard.
    "E1": (_Cell(True, Reason.IN_SEQUENCE, ("_vr_plus_one", "_retransmit_off")),
           _Cell(False, Reason.WAIT), _LOCKED),
    # E2: Type-AD, N(S) = V(R), no buffer: Discard, Retransmit := 1, Wait := 1, (S2) | Discard | Discard.
    "E2": (_Cell(False, Reason.BUFFER_FULL, ("_retransmit_on", "_wait_on"), _WAIT),
           _Cell(False, Reason.WAIT), _LOCKED),
    # E3: Type-AD, V(R) < N(S) <= V(R)+PW-1: Discard, Retransmit := 1 | Discard | Discard.
    "E3": (_Cell(False, Reason.AHEAD, ("_retransmit_on",)), _Cell(False, Reason.WAIT), _LOCKED),
    # E4: Type-AD, V(R)-NW <= N(S) < V(R): Discard | Discard | Discard.
    "E4": (_Cell(False, Reason.BEHIND), _Cell(False, Reason.BEHIND), _LOCKED),
    # E5: Type-AD in the lockout area: Discard, Lockout := 1, (S3) | the same, (S3) | Discard.
    "E5": (_Cell(False, Reason.OUTSIDE_WINDOW, ("_lockout_on",), _LOCK),
           _Cell(False, Reason.OUTSIDE_WINDOW, ("_lockout_on",), _LOCK), _LOCKED),
    # E6: Type-BD: Accept, FARM-B_Counter += 1, in every state.
    "E6": (_Cell(True, Reason.EXPEDITED, ("_farm_b",)),) * 3,
    # E7: Unlock: FARM-B += 1, Retransmit := 0 | and Wait := 0, (S1) | and Wait := 0, Lockout := 0, (S1).
    "E7": (_Cell(True, Reason.UNLOCK, ("_farm_b", "_retransmit_off")),
           _Cell(True, Reason.UNLOCK, ("_farm_b", "_retransmit_off", "_wait_off"), _OPEN),
           _Cell(True, Reason.UNLOCK, ("_farm_b", "_retransmit_off", "_wait_off", "_lockout_off"), _OPEN)),
    # E8: Set V(R): FARM-B += 1, Retransmit := 0, V(R) := V*(R) | and Wait := 0, (S1) | FARM-B += 1 only.
    "E8": (_Cell(True, Reason.SET_VR, ("_farm_b", "_retransmit_off", "_set_vr")),
           _Cell(True, Reason.SET_VR, ("_farm_b", "_retransmit_off", "_wait_off", "_set_vr"), _OPEN),
           _Cell(False, Reason.SET_VR_IN_LOCKOUT, ("_farm_b",))),
    # E9: invalid frame: Ignore, in every state.
    "E9": (_Cell(False, Reason.INVALID),) * 3,
}


class Farm1:
    """FARM-1 of one virtual channel. ``window`` is W (even, 2..254); PW = NW = W / 2."""

    def __init__(self, vcid: int = 0, window: int = 10, vr: int = 0, status: int = 0) -> None:
        if window % 2 or not 2 <= window <= 254:
            raise ValueError(f"FARM sliding window width {window}: W is even and 2 <= W <= 254")
        if not 0 <= vr < MODULO:
            raise ValueError(f"V(R) {vr} outside 0..255")
        self.vcid, self.window, self.status = vcid, window, status
        self.positive_width = self.negative_width = window // 2
        self.state = FarmState.OPEN
        self.vr = vr
        self.lockout = self.wait = self.retransmit = False
        self.farm_b_counter = 0
        self.no_rf_available = self.no_bit_lock = False  # from the physical layer, set by the caller
        self._buffer_full = False
        self._command: ControlCommand | None = None
        Clcw(vcid, vr, status=status)  # refuses a VCID or status the CLCW cannot carry

    # --- the caller's side ------------------------------------------------------------------------
    @property
    def buffer_full(self) -> bool:
        """Whether the flight can take no more data now. Clearing it is the Buffer Release signal."""
        return self._buffer_full

    @buffer_full.setter
    def buffer_full(self, full: bool) -> None:
        if full:
            self._buffer_full = True
        else:
            self.release_buffer()

    def release_buffer(self) -> None:
        """E10, Buffer Release: Ignore in Open; Wait := 0 and back to Open in Wait; Wait := 0 in Lockout."""
        self._buffer_full = False
        if self.state is FarmState.WAIT:
            self.wait, self.state = False, FarmState.OPEN
        elif self.state is FarmState.LOCKOUT:
            self.wait = False

    def receive(self, bypass: bool, control: bool, sequence: int, data: bytes | ControlCommand) -> Decision:
        """Apply table 6-1 to one valid frame (one that passed the frame checks, e.g. its CRC)."""
        if not 0 <= sequence < MODULO:
            raise ValueError(f"N(S) {sequence} outside 0..255")
        self._command = None
        event = self._event(bypass, control, sequence, data)
        cell = _TABLE[event][self.state - 1]
        for action in cell.actions:
            getattr(self, action)()
        if cell.to is not None:
            self.state = cell.to
        delivered = bytes(data) if cell.accepted and not control else None
        return Decision(cell.accepted, cell.reason, event, delivered)

    def clcw(self) -> Clcw:
        """E11, CLCW report time: FARM-1's state as a CLCW."""
        return Clcw(self.vcid, self.vr, lockout=self.lockout, wait=self.wait, retransmit=self.retransmit,
                    farm_b_counter=self.farm_b_counter & 0b11, no_rf_available=self.no_rf_available,
                    no_bit_lock=self.no_bit_lock, status=self.status)

    # --- classification (§6.3.2: the Bypass flag, the Control Command flag, then N(S)) ------------
    def _event(self, bypass: bool, control: bool, sequence: int, data: bytes | ControlCommand) -> str:
        if bypass and control:
            try:
                self._command = data if isinstance(data, ControlCommand) else ControlCommand.decode(bytes(data))
            except ControlCommandError:
                return "E9"
            return "E7" if self._command.kind is ControlKind.UNLOCK else "E8"
        if isinstance(data, ControlCommand) or control:
            return "E9"  # a control command in a Type-D frame, or Bypass = 0 with Control Command = 1
        if bypass:
            return "E6"
        return self._ad_event(sequence)

    def _ad_event(self, ns: int) -> str:
        if ns == self.vr:
            return "E2" if self._buffer_full else "E1"
        if 0 < seq_distance(ns, self.vr) <= self.positive_width - 1:
            return "E3"
        if 0 < seq_distance(self.vr, ns) <= self.negative_width:
            return "E4"
        return "E5"

    # --- the actions of table 6-1 -------------------------------------------------------------------
    def _vr_plus_one(self) -> None:
        self.vr = (self.vr + 1) % MODULO

    def _set_vr(self) -> None:
        assert self._command is not None
        self.vr = self._command.vr

    def _farm_b(self) -> None:
        self.farm_b_counter += 1

    def _retransmit_on(self) -> None:
        self.retransmit = True

    def _retransmit_off(self) -> None:
        self.retransmit = False

    def _wait_on(self) -> None:
        self.wait = True

    def _wait_off(self) -> None:
        self.wait = False

    def _lockout_on(self) -> None:
        self.lockout = True

    def _lockout_off(self) -> None:
        self.lockout = False
