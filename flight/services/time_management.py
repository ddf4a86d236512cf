"""TimeManagement: PUS-C ST[9] time reports, and the correction of on-board time from the ground.

Time reports: a TM[9,2] CUC time report (flight.wire.time_management) every 2^exponent seconds of
mission time, at the first tick of its rate group at or after each multiple of that period; the
exponent (0 to 8) is set by TC[9,1] (the dispatcher routes ST[9] here: this is a
:class:`~flight.services.dispatcher.ServiceProvider`), and starts at the ``rate_exponent``
setting. PUS-C counts the rate in TM frames of VC 0, each report made as the frame leaves, for a
ground that time-stamps frames at reception; here frames are made on the downlink thread, away
from any component, so the rate counts seconds, and the ground correlates by round trip instead
(ground_sim.time_correlation: the on-board stamp of a TC's acceptance report against the ground's
send and receive times).

Setting the time: PUS-C ST[9] has no request that sets spacecraft time, so this mission uses a
function of its own, ST[8] ``ADJUST_TIME(offset_s, rate_ppm)``: the correction added to the
wall clock's time (flight.core.clock.TimeCorrection) changes by ``offset_s`` and by ``rate_ppm``
from now on, so the ground can take out both an offset and a drift it measured. On-board time
never runs backwards: every TM time stamp must be later than the one before (the TM store and the
ground's completeness order packets by it; flight.services.tm_downlink holds a stamp that would
go back at the last one), and models that integrate over mission time refuse a negative interval.
So a positive offset is a step, at once; a negative one is slewed: on-board time runs slower by
``slew_ppm`` until it has been taken back (``Slewing``: what remains, s).
On a simulated clock ADJUST_TIME is refused (INVALID_STATE): simulated mission time is
``epoch + tick x period``, and a correction would make a run depend on when a command came. The
correction and the report rate are on disk (flight.core.durable, ``file``) before they take
effect, and a new flight restores them (``TimeCorrectionRestored``); a correction on disk is not
applied to a simulated clock (``TimeCorrectionIgnored``). A time change moves everything stamped
with mission time, the time-tagged schedule's releases included (flight.services.time_schedule
releases by mission time).

| requirement | verified by |
|---|---|
| TM[9,2] every 2^exponent s of mission time; TC[9,1] sets the exponent, 0 to 8, else refused |   |
|   with its code | tests/unit/services/test_time_management.py |
| ADJUST_TIME corrects a wall clock's offset and rate, with an event, never stepping time back; |   |
|   refused on a simulated clock | tests/unit/services/test_time_management.py |
| the correction and the rate survive a restart; a record that cannot be read is replaced, |   |
|   with an event | tests/unit/services/test_time_management.py |
| the ground measures an injected offset and drift, and the offset is ~0 once corrected |   |
|   | tests/system/test_clock_correlation.py |
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

from flight.core.clock import TimeCorrection, WallClock
from flight.core.component import Channel, CommandRefused, Component, Event, command
from flight.core.context import Context
from flight.core.durable import DurableRecord, DurableRecordError
from flight.core.ports import OutputPort
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.messages import TmPacket
from flight.services.dispatcher import Action, Route, ServiceProvider
from flight.wire import time_management as tm9
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import Telecommand

_OFFSET = Field("offset", DataType.F64, description="s")
_RATE = Field("rate_ppm", DataType.F64, description="ppm")


class TimeManagement(Component, ServiceProvider):
    CHANNELS = {
        "RateExponent": Channel(DataType.U8, description="a TM[9,2] every 2^RateExponent s"),
        "TimeReports": Channel(DataType.U32, "reports"),
        "CorrectionOffset": Channel(DataType.F64, "s", description="the correction at its reference time"),
        "CorrectionRate": Channel(DataType.F64, "ppm", description="the correction's rate"),
        "TimeAdjustments": Channel(DataType.U32, "commands"),
        "Slewing": Channel(DataType.F64, "s", description="the step back still to be taken (<= 0)"),
    }
    EVENTS = {
        "TimeAdjusted": Event(Severity.WARNING_LO, "On-board time adjusted by {offset:.6f} s and {rate_ppm:.3f} ppm",
                              (_OFFSET, _RATE)),
        "TimeReportRate": Event(Severity.ACTIVITY, "A time report every {seconds} s",
                                (Field("seconds", DataType.U32),)),
        "TimeCorrectionRestored": Event(Severity.ACTIVITY, "Time correction restored: {offset:.6f} s, "
                                                           "{rate_ppm:.3f} ppm", (_OFFSET, _RATE)),
        "TimeCorrectionIgnored": Event(Severity.WARNING_LO, "Time correction on disk ({offset:.6f} s, "
                                                            "{rate_ppm:.3f} ppm) not applied: the clock is "
                                                            "simulated", (_OFFSET, _RATE)),
        "TimeCorrectionLost": Event(Severity.WARNING_HI, "Time correction record unreadable, replaced: {detail}",
                                    (Field("detail", DataType.STRING),)),
    }
    SETTINGS = {
        "rate_exponent": Setting(int, 6, 0, tm9.MAX_EXPONENT, description="a TM[9,2] every 2^this s until "
                                                                          "TC[9,1] sets it"),
        "file": Setting(str, "time_correction.bin", description="the correction and rate, in the run directory"),
        "slew_ppm": Setting(float, 1e5, 1e3, 5e5, description="how much slower on-board time runs while a "
                                                             "negative ADJUST_TIME offset is taken back"),
    }
    tm = OutputPort(TmPacket, "TM[9,2] time reports", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.record: DurableRecord | None = None
        self._exponent = self.config["rate_exponent"]
        self._due: float | None = None     # the next report's time; None: from the next tick's

    # --- life -------------------------------------------------------------------------------------
    def start(self) -> None:
        path = self.context.run_file(self.config["file"])
        try:
            self.record = DurableRecord(path)
            saved = self.record.load() or {}
            exponent, correction = int(saved.get("exponent", self._exponent)), TimeCorrection(
                **saved.get("correction", {}))
        except (DurableRecordError, TypeError, ValueError) as error:   # not a record, or not this one's
            if self.record is not None:
                self.record.close()
            path.replace(path.with_suffix(".unreadable"))
            self.event("TimeCorrectionLost", detail=f"{type(error).__name__}: {error}")
            self.record, exponent, correction = DurableRecord(path), self._exponent, TimeCorrection()
        self._exponent = exponent
        if correction != TimeCorrection():
            self._restore(correction)
        self._publish()

    def stop(self) -> None:
        if self.record is not None:
            self.record.close()

    def _restore(self, correction: TimeCorrection) -> None:
        clock = self.context.clock
        if isinstance(clock, WallClock):
            clock.correction = correction
            self.event("TimeCorrectionRestored", offset=correction.offset, rate_ppm=correction.rate_ppm)
        else:
            self.event("TimeCorrectionIgnored", offset=correction.offset, rate_ppm=correction.rate_ppm)

    def _correction(self) -> TimeCorrection:
        clock = self.context.clock
        return clock.correction if isinstance(clock, WallClock) else TimeCorrection()

    def _save(self, correction: TimeCorrection, exponent: int) -> None:
        assert self.record is not None   # started: no command comes before
        self.record.save({"correction": dataclasses.asdict(correction), "exponent": exponent})

    def _publish(self) -> None:
        correction = self._correction()
        self.tlm("RateExponent", self._exponent)
        self.tlm("CorrectionOffset", correction.offset)
        self.tlm("CorrectionRate", correction.rate_ppm)
        clock = self.context.clock
        self.tlm("Slewing", correction.pending(clock.uncorrected()) if isinstance(clock, WallClock) else 0.0)

    # --- reports ----------------------------------------------------------------------------------
    def tick(self, tick: int, now: float) -> None:
        if self.telemetry["Slewing"]:
            self._publish()
        period = float(2 ** self._exponent)
        if self._due is None:
            self._due = math.ceil(now / period) * period
        if now >= self._due:
            self.tm.send(TmPacket(tm9.TIME_MANAGEMENT, tm9.CUC_TIME_REPORT,
                                  tm9.TimeReport(self._exponent, now).pack()))
            self.increment("TimeReports")
            self._due = (math.floor(now / period) + 1) * period

    def service_routes(self, vet: Callable[[bytes], Telecommand]) -> Mapping[tuple[int, int], Route]:
        return {(tm9.TIME_MANAGEMENT, tm9.SET_REPORT_RATE): self._accept_rate}

    def _accept_rate(self, tc: Telecommand) -> tuple[str, Action]:
        try:
            exponent = tm9.unpack_rate(tc.app_data)
        except ValueError as error:
            code = FailureCode.ARGUMENT_OUT_OF_RANGE if len(tc.app_data) == 1 else FailureCode.BAD_ARGUMENTS
            raise PacketError(code, f"TC[9,1]: {error}") from None

        def set_rate() -> None:
            self._save(self._correction(), exponent)
            self._exponent, self._due = exponent, None
            self.event("TimeReportRate", seconds=2 ** exponent)
            self._publish()
        return f"time report rate 2^{exponent} s", set_rate

    # --- the correction ---------------------------------------------------------------------------
    @command(Field("offset_s", DataType.F64, -1e6, 1e6, "added to on-board time now, s"),
             Field("rate_ppm", DataType.F64, -1e4, 1e4, "added to its rate from now on, ppm"),
             description="Correct the wall clock's time by an offset now and a rate from now on (time correlation)")
    def ADJUST_TIME(self, offset_s: float, rate_ppm: float) -> None:
        clock = self.context.clock
        if not isinstance(clock, WallClock):
            raise CommandRefused("the clock is simulated: its mission time is epoch + tick x period, never corrected")
        correction = clock.correction.adjusted(clock.uncorrected(), offset_s, rate_ppm, self.config["slew_ppm"])
        self._save(correction, self._exponent)
        clock.correction = correction
        self._due = None
        self.increment("TimeAdjustments")
        self.event("TimeAdjusted", offset=offset_s, rate_ppm=rate_ppm)
        self._publish()
