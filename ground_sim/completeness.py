"""Completeness: which TM packets the ground holds, as runs, and what it acknowledges to the flight.

The flight numbers each APID's packets with the 14-bit source sequence count and stamps them
with strictly increasing times (CUC 4+2 as an integer; flight.services.tm_store), so a packet is
named by (APID, time) and two packets are neighbours in production order exactly when, ordered
by time, their counts differ by one (modulo 16384). Packets arrive in any order (alerts first,
playback later, retransmissions twice), so the ground keeps, per APID, the runs of neighbours it
holds: [first, last] by time, every packet between them received. A packet whose time falls in
a run is a duplicate (the archive stores it once); one that extends or joins runs merges them.

Acknowledgement (ST[15], flight.services.comms ``ACKNOWLEDGE``): a run is acknowledged by its
ends and its count, which the flight checks against the numbers it stored before it lets the
packets go. A run that grew is acknowledged again from its first packet not yet acknowledged
when it grew only at its end, whole otherwise. A duplicate means the flight did not get the
acknowledgement: its run is acknowledged again, whole.

A run of exactly k x 16384 packets lost between two received packets whose counts follow is
indistinguishable from none lost by the counts alone: the flight's check (the count against the
numbers it stored) refuses the acknowledgement then, and keeps the packets.

| requirement | verified by |
|---|---|
| runs equal the maximal sets of neighbours received, whatever the order and repeats (hypothesis) |   |
|   | tests/unit/ground/test_completeness.py |
| acknowledgements cover every received packet, never one not received | tests/unit/ground/test_completeness.py |
| the gaps between runs name the missing packets and count them | tests/unit/ground/test_completeness.py |
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

MODULO = 16384


@dataclass
class Run:
    """Neighbouring packets of one APID, all received: from (first time, count) to (last time, count)."""

    first: int
    first_seq: int
    last: int
    last_seq: int
    count: int
    acked_from: int | None = None   # time of the first packet acknowledged in it, None: nothing yet
    acked_to: int | None = None     # time of the last packet acknowledged in it
    acked_count: int = 0            # packets acknowledged in it
    pending_from: int | None = None  # first packet received since, when the run grew only at its end

    def forget_acknowledgement(self) -> None:
        self.acked_from = self.acked_to = self.pending_from = None
        self.acked_count = 0

    def follows(self, seq: int) -> bool:
        return seq == (self.last_seq + 1) % MODULO


@dataclass(frozen=True)
class Acknowledgement:
    apid: int
    first: int
    last: int
    count: int


@dataclass(frozen=True)
class Gap:
    apid: int
    after: int      # time of the last packet held before it
    before: int     # time of the first packet held after it
    missing: int    # packets in between, from the counts (0: a multiple of 16384, see above)


class Completeness:
    """For one thread (the ground's receiving thread)."""

    def __init__(self) -> None:
        self._runs: dict[int, list[Run]] = {}
        self._starts: dict[int, list[int]] = {}  # per APID, each run's first time (bisect key)
        self.duplicates = 0

    def runs(self, apid: int) -> list[Run]:
        return list(self._runs.get(apid, []))

    def add(self, apid: int, time: int, seq: int) -> bool:
        """Record a packet; False if it is a duplicate (its time falls in a run already held)."""
        runs, starts = self._runs.setdefault(apid, []), self._starts.setdefault(apid, [])
        index = bisect.bisect_right(starts, time)            # runs[index - 1] starts at or before it
        before = runs[index - 1] if index else None
        after = runs[index] if index < len(runs) else None
        if before is not None and time <= before.last:
            self.duplicates += 1
            before.forget_acknowledgement()                   # the flight sent it again: it lacks the ack
            return False
        joins_before = before is not None and before.follows(seq)
        joins_after = after is not None and after.first_seq == (seq + 1) % MODULO
        if joins_before and joins_after:
            before.last, before.last_seq, before.count = after.last, after.last_seq, before.count + 1 + after.count
            before.forget_acknowledgement()                   # grown in the middle: acknowledged whole
            del runs[index], starts[index]
        elif joins_before:
            if before.pending_from is None and before.acked_to == before.last:
                before.pending_from = time
            before.last, before.last_seq, before.count = time, seq, before.count + 1
        elif joins_after:
            after.first, after.first_seq, after.count = time, seq, after.count + 1
            after.forget_acknowledgement()                    # grown at its front: acknowledged whole
            starts[index] = time
        else:
            runs.insert(index, Run(time, seq, time, seq, 1))
            starts.insert(index, time)
        return True

    def gaps(self) -> list[Gap]:
        """Between each two runs of an APID: the packets missing (by their counts), with the times
        either side, which is what a retransmission request names."""
        out = []
        for apid, runs in self._runs.items():
            for before, after in zip(runs, runs[1:]):
                out.append(Gap(apid, before.last, after.first, (after.first_seq - before.last_seq - 1) % MODULO))
        return out

    def missing(self) -> int:
        """Packets the flight numbered between packets the ground holds that it does not hold."""
        return sum(gap.missing for gap in self.gaps())

    def forget_acknowledgements(self) -> None:
        """Every run is to be acknowledged again, whole (the acknowledgements could not be sent)."""
        for runs in self._runs.values():
            for run in runs:
                run.forget_acknowledgement()

    def acknowledgements(self) -> list[Acknowledgement]:
        """What to acknowledge now: each run not acknowledged to its end, from its first packet not
        yet acknowledged (or whole); marked as acknowledged on return."""
        out = []
        for apid, runs in self._runs.items():
            for run in runs:
                if run.acked_from == run.first and run.acked_to == run.last:
                    continue
                if run.pending_from is not None and run.acked_from == run.first:
                    out.append(Acknowledgement(apid, run.pending_from, run.last, run.count - run.acked_count))
                else:
                    out.append(Acknowledgement(apid, run.first, run.last, run.count))
                run.acked_from, run.acked_to, run.acked_count, run.pending_from = run.first, run.last, run.count, None
        return out
