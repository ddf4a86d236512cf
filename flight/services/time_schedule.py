"""TimeSchedule: PUS-C ST[11] time-based scheduling. Telecommands stored on board, each released at
its time into the dispatcher, exactly as if it had come from the ground.

An activity is a release time (mission time, the CUC 4+2 of the TM time field) and a request: a
whole PUS-C TC packet with its own APID, sequence count and source id, i.e. its own request id.
The dispatcher routes every TC[11,x] here (this is a
:class:`~flight.services.dispatcher.ServiceProvider`) and reports ST[1] for it; the layouts are
flight.wire.scheduling's: TC[11,1]/[11,2] enable/disable the release function, TC[11,3] reset
(delete all, disable), TC[11,4] insert, TC[11,5] delete by request id, TC[11,7] time-shift by
request id, TC[11,15] time-shift all, TC[11,16] detail report (TM[11,10]), TC[11,17] summary report
(TM[11,13]), reports out of the ``tm`` port.

Acceptance refuses a request whole, before anything changes (a multi-activity insert, delete or
shift is all or nothing), with its own code: a malformed ST[11] request BAD_ARGUMENTS; more
activities than ``capacity`` leaves room for SCHEDULE_FULL; a release time, inserted or shifted,
earlier than the current mission time plus ``margin_s`` RELEASE_TIME_PASSED (the current mission
time is the time of the tick about to run, so an activity accepted is always released on time);
a request id scheduled already, or twice in one insert, DUPLICATE_REQUEST; one not scheduled
UNKNOWN_REQUEST. Each activity's request is vetted by the dispatcher's own acceptance: one that
is malformed (its packet or its arguments) or is itself an ST[11] request is BAD_ACTIVITY; any
other refusal keeps its own code (UNKNOWN_COMMAND, NOT_ENABLED for a test-equipment command when
fault injection is off, ARGUMENT_OUT_OF_RANGE, ...); the detail of the dispatcher's
``CommandRejected`` event names the activity.

Release: each tick of its rate group, while the release function is enabled, the activities whose
time has come (at most ``releases_per_tick``; ties in insertion order) are recorded as released
on disk, then sent out of the ``tc`` port, which the topology wires into the dispatcher's, each
with an ``ActivityReleased`` event first. So an activity is released at the first tick at or
after its time, and at most once (flight.services.schedule_store: one released just before a
crash is reported ``ActivityInDoubt`` at the next start and never released again).

Late activities: an activity whose time came while the schedule could not release it (the flight
was down, or the release function disabled) by more than ``late_window_s`` before release became
possible again is late. ``late = "skip"`` deletes it unreleased (``ActivitySkipped``,
``SkippedLate``); ``late = "release"`` releases it anyway (``ActivityReleased`` with its lateness,
``ReleasedLate``). The schedule, its release function's state included, is on disk
(``file``); a new schedule's function is ``enabled`` (default off, as PUS has it).

| requirement | verified by |
|---|---|
| insert, delete, time-shift, reset and reports do what ST[11] says; the schedule equals a model |   |
|   for random sequences of requests, refusals and restarts (hypothesis) | tests/unit/services/test_time_schedule.py |
| each refusal has its own code and changes nothing | tests/unit/services/test_time_schedule.py |
| an activity is released at the first tick at or after its time, in time order (ties: insertion |   |
|   order), into the dispatcher with its own ST[1] reports | tests/unit/services/test_time_schedule.py |
| at most once: recorded before it is handed over; in doubt after a crash, never run again |   |
|   | tests/unit/services/test_time_schedule.py |
| late activities follow the ``late`` rule, each with an event and a counter |   |
|   | tests/unit/services/test_time_schedule.py |
| 1,000 activities run once each, within one tick, across a SIGKILL and a restart |   |
|   | tests/system/test_scheduled_commands.py |
| on a full disk an insert fails (ST[1], INTERNAL_ERROR) keeping nothing of itself and every |   |
|   activity stored before; a release that cannot be written is deferred with an event and a |   |
|   counter, nothing released or lost, and goes on when there is room | tests/unit/services/test_time_schedule.py |
"""
from __future__ import annotations

import sqlite3

from typing import Any, Callable, Mapping

from flight.core.component import Channel, Component, Event
from flight.core.context import Context
from flight.core.ports import OutputPort
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.messages import RawTelecommand, TmPacket
from flight.services.dispatcher import Action, Route, ServiceProvider, vet_embedded
from flight.services.schedule_store import ScheduleStore
from flight.wire import scheduling as sched
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import CUC_TICKS, Telecommand
from flight.wire.scheduling import Activity, RequestId, ticks

_REQUEST = Field("request", DataType.U32, description="the ST[1] request id of the activity's TC")
_DUE = Field("due", DataType.F64, description="its release time, s since 1970-01-01")
_LATE = Field("late", DataType.F32, description="s after its release time")


def st1_id(activity: Activity) -> int:
    """The request id ST[1] reports carry (packet id and sequence control), as a number."""
    return int.from_bytes(activity.packet[:4], "big")


class TimeSchedule(Component, ServiceProvider):
    CHANNELS = {
        "Pending": Channel(DataType.U32, "activities", description="waiting for their time"),
        "Released": Channel(DataType.U32, "activities", description="handed to the dispatcher"),
        "ReleasedLate": Channel(DataType.U32, "activities", description="released late (late = release)"),
        "SkippedLate": Channel(DataType.U32, "activities", description="deleted unreleased (late = skip)"),
        "InDoubt": Channel(DataType.U32, "activities", description="released as the flight stopped: "
                                                                    "may not have run; never run again"),
        "Refused": Channel(DataType.U32, "requests", description="ST[11] requests refused at acceptance"),
        "Deferred": Channel(DataType.U32, "ticks", description="ticks whose release the store could not write "
                                                               "(a full disk): nothing released, nothing lost"),
        "Enabled": Channel(DataType.BOOL, description="the release function"),
        "NextRelease": Channel(DataType.F64, "s", description="the next release time; 0: none"),
    }
    EVENTS = {
        "ActivitiesInserted": Event(Severity.ACTIVITY, "{count} activities inserted, due {first:.3f} to {last:.3f}",
                                    (Field("count", DataType.U32), Field("first", DataType.F64),
                                     Field("last", DataType.F64))),
        "ActivityReleased": Event(Severity.ACTIVITY, "Released {request:08x} due {due:.3f}, {late:.3f} s late",
                                  (_REQUEST, _DUE, _LATE)),
        "ActivitySkipped": Event(Severity.WARNING_LO, "Skipped {request:08x} due {due:.3f}: {late:.3f} s late, "
                                                      "beyond the late window", (_REQUEST, _DUE, _LATE)),
        "ActivityInDoubt": Event(Severity.WARNING_HI, "{request:08x} due {due:.3f} was being released as the "
                                                      "flight stopped: it may not have run, it will not run again",
                                 (_REQUEST, _DUE)),
        "ActivitiesDeleted": Event(Severity.ACTIVITY, "{count} activities deleted", (Field("count", DataType.U32),)),
        "ActivitiesShifted": Event(Severity.ACTIVITY, "{count} activities shifted by {offset:.3f} s",
                                   (Field("count", DataType.U32), Field("offset", DataType.F64))),
        "ScheduleReset": Event(Severity.ACTIVITY, "Schedule reset: {count} activities deleted, release disabled",
                               (Field("count", DataType.U32),)),
        "ReleaseFunction": Event(Severity.ACTIVITY, "Release function {state}", (Field("state", DataType.STRING),)),
        "ScheduleLost": Event(Severity.WARNING_HI, "{detail}", (Field("detail", DataType.STRING),)),
        "ReleaseFailed": Event(Severity.WARNING_HI, "Handing over {request:08x} raised: {detail}",
                               (_REQUEST, Field("detail", DataType.STRING)), throttle=10),
        "ReleaseDeferred": Event(Severity.WARNING_HI, "The schedule could not be written ({detail}): what is due "
                                                      "stays scheduled until it can",
                                 (Field("detail", DataType.STRING),), throttle=10),
    }
    SETTINGS = {
        "file": Setting(str, "time_schedule.sqlite", description="the schedule on disk, in the run directory"),
        "capacity": Setting(int, 4096, 1, 1_000_000, description="activities the schedule holds"),
        "enabled": Setting(bool, False, description="the release function of a new schedule (PUS: off until "
                                                    "TC[11,1]); a schedule on disk keeps its own"),
        "margin_s": Setting(float, 0.0, 0.0, 86400.0, description="a release time must be at least this far "
                                                                  "ahead of mission time (RELEASE_TIME_PASSED)"),
        "late": Setting(str, "skip", choices=("skip", "release"),
                        description="an activity due while the schedule could not release it (flight down, "
                                    "release disabled), by more than late_window_s: skip it or release it"),
        "late_window_s": Setting(float, 5.0, 0.0, 1e9, description="how late an activity may be released"),
        "releases_per_tick": Setting(int, 64, 1, 100_000, description="activities released in one tick at "
                                                                      "most; the others wait for the next"),
    }
    tc = OutputPort(RawTelecommand, "released activities, into the dispatcher", required=True)
    tm = OutputPort(TmPacket, "TM[11,10] detail and TM[11,13] summary reports", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.store: ScheduleStore | None = None
        self._vet: Callable[[bytes], Telecommand] | None = None   # the dispatcher's, when it serves us
        self._enabled = False
        self._resumed: float | None = None   # mission time release became possible (set at the next tick)

    # --- life -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.store = store = ScheduleStore(self.context.run_file(self.config["file"]))
        if store.recovered:
            self.event("ScheduleLost", detail=store.recovered)
        for activity in store.in_doubt:
            self.event("ActivityInDoubt", request=st1_id(activity), due=activity.release_seconds)
        if store.in_doubt:
            self.increment("InDoubt", len(store.in_doubt))
            store.handed()
        self._enabled = store.enabled(self.config["enabled"])
        self._update()

    def stop(self) -> None:
        if self.store is not None:
            self.store.close()

    def _update(self) -> None:
        assert self.store is not None
        span = self.store.span()
        self.tlm("Pending", self.store.pending)
        self.tlm("Enabled", self._enabled)
        self.tlm("NextRelease", span[0] / CUC_TICKS if span else 0.0)

    # --- release ----------------------------------------------------------------------------------
    def tick(self, tick: int, now: float) -> None:
        if self.store is None or not self._enabled:
            return
        if self._resumed is None:
            self._resumed = now
        late_before = ticks(self._resumed - self.config["late_window_s"])
        skip = self.config["late"] == "skip"
        try:
            released, skipped = self.store.take_due(ticks(now), self.config["releases_per_tick"],
                                                    late_before if skip else None)
        except sqlite3.Error as error:    # a full disk: the transaction rolled back, the activities wait
            self.increment("Deferred")
            self.event("ReleaseDeferred", detail=str(error))
            return
        for activity in skipped:
            self.event("ActivitySkipped", request=st1_id(activity), due=activity.release_seconds,
                       late=now - activity.release_seconds)
        self.increment("SkippedLate", len(skipped))
        for activity in released:
            self._release(activity, now, activity.release < late_before)
        if released:
            self.store.handed()
        if released or skipped:
            self._update()

    def _release(self, activity: Activity, now: float, late: bool) -> None:
        self.event("ActivityReleased", request=st1_id(activity), due=activity.release_seconds,
                   late=now - activity.release_seconds)
        self.increment("Released")
        if late:
            self.increment("ReleasedLate")
        try:
            self.tc.send(RawTelecommand((activity.packet,)))
        except Exception as error:   # the dispatcher contains its handlers' faults: this is the last guard
            self.log.exception("handing over %s", activity.request_id)
            self.event("ReleaseFailed", request=st1_id(activity), detail=repr(error))

    # --- requests: acceptance (changes nothing) returns the action ------------------------------------
    def service_routes(self, vet: Callable[[bytes], Telecommand]) -> Mapping[tuple[int, int], Route]:
        self._vet = vet
        accept = {sched.ENABLE: lambda tc: self._accept_switch(tc, True),
                  sched.DISABLE: lambda tc: self._accept_switch(tc, False),
                  sched.RESET: self._accept_reset, sched.INSERT: self._accept_insert,
                  sched.DELETE: self._accept_delete, sched.TIME_SHIFT: self._accept_shift,
                  sched.TIME_SHIFT_ALL: self._accept_shift_all,
                  sched.DETAIL_REPORT_ALL: self._accept_detail, sched.SUMMARY_REPORT_ALL: self._accept_summary}
        return {(sched.SCHEDULING, subtype): self._counted(check) for subtype, check in accept.items()}

    def _counted(self, accept: Route) -> Route:
        def route(tc: Telecommand) -> tuple[str, Action]:
            try:
                return accept(tc)
            except PacketError:
                self.increment("Refused")
                raise
        return route

    @property
    def _store(self) -> ScheduleStore:
        if self.store is None:
            raise PacketError(FailureCode.INVALID_STATE, "the schedule has not started")
        return self.store

    def _earliest(self) -> int:
        return ticks(self.context.now() + self.config["margin_s"])

    def _accept_switch(self, tc: Telecommand, enabled: bool) -> tuple[str, Action]:
        _no_data(tc)
        store = self._store

        def switch() -> None:
            store.set_enabled(enabled)
            self._enabled, self._resumed = enabled, None
            self.event("ReleaseFunction", state="enabled" if enabled else "disabled")
            self._update()
        return ("enable" if enabled else "disable") + " schedule release", switch

    def _accept_reset(self, tc: Telecommand) -> tuple[str, Action]:
        _no_data(tc)
        store = self._store

        def reset() -> None:
            count = store.pending
            store.reset()
            self._enabled = False
            self.event("ScheduleReset", count=count)
            self._update()
        return "reset schedule", reset

    def _accept_insert(self, tc: Telecommand) -> tuple[str, Action]:
        store = self._store
        activities = _parsed(sched.unpack_activities, tc)
        if store.pending + len(activities) > self.config["capacity"]:
            raise PacketError(FailureCode.SCHEDULE_FULL, f"{len(activities)} activities, {store.pending} of "
                                                         f"{self.config['capacity']} places taken")
        earliest, seen = self._earliest(), set()
        for index, activity in enumerate(activities):
            self._vet_activity(index, activity)
            if activity.release < earliest:
                raise PacketError(FailureCode.RELEASE_TIME_PASSED, f"activity {index} ({activity.request_id}) "
                                  f"due {activity.release_seconds:.3f}, before {earliest / CUC_TICKS:.3f}")
            if activity.request_id in seen:
                raise PacketError(FailureCode.DUPLICATE_REQUEST, f"activity {index}: {activity.request_id} twice")
            seen.add(activity.request_id)
        taken = store.releases(seen)
        if taken:
            raise PacketError(FailureCode.DUPLICATE_REQUEST, f"{min(taken)} is scheduled already")

        def insert() -> None:
            store.insert(activities)
            if activities:
                due = [a.release_seconds for a in activities]
                self.event("ActivitiesInserted", count=len(activities), first=min(due), last=max(due))
            self._update()
        return f"insert {len(activities)} activities", insert

    def _vet_activity(self, index: int, activity: Activity) -> None:
        """The dispatcher's acceptance of the activity's request, its refusal named for the activity."""
        vet_embedded(self._vet, activity.packet, sched.SCHEDULING, FailureCode.BAD_ACTIVITY,
                     f"activity {index} ({activity.request_id})")

    def _scheduled(self, ids: list[RequestId]) -> dict[RequestId, int]:
        releases = self._store.releases(ids)
        missing = [rid for rid in ids if rid not in releases]
        if missing:
            raise PacketError(FailureCode.UNKNOWN_REQUEST, f"{missing[0]} is not scheduled")
        return releases

    def _accept_delete(self, tc: Telecommand) -> tuple[str, Action]:
        ids = _parsed(sched.unpack_ids, tc)
        releases = self._scheduled(ids)

        def delete() -> None:
            self._store.delete(list(releases))
            self.event("ActivitiesDeleted", count=len(releases))
            self._update()
        return f"delete {len(releases)} activities", delete

    def _check_shift(self, offset: int, releases: list[int]) -> None:
        if releases and min(releases) + offset < self._earliest():
            raise PacketError(FailureCode.RELEASE_TIME_PASSED, f"shifted by {offset / CUC_TICKS:.3f} s, "
                              f"an activity would be due {(min(releases) + offset) / CUC_TICKS:.3f}")
        if releases and max(releases) + offset > sched.MAX_TIME:
            raise PacketError(FailureCode.ARGUMENT_OUT_OF_RANGE, "an activity would be due beyond CUC 4+2")

    def _shift_action(self, offset: int, ids: list[RequestId] | None, count: int) -> Action:
        def shift() -> None:
            self._store.shift(offset, ids)
            self.event("ActivitiesShifted", count=count, offset=offset / CUC_TICKS)
            self._update()
        return shift

    def _accept_shift(self, tc: Telecommand) -> tuple[str, Action]:
        offset, ids = _parsed(sched.unpack_shift, tc)
        releases = self._scheduled(ids)
        self._check_shift(offset, list(releases.values()))
        return f"time-shift {len(releases)} activities", self._shift_action(offset, list(releases), len(releases))

    def _accept_shift_all(self, tc: Telecommand) -> tuple[str, Action]:
        offset = _parsed(sched.unpack_shift_all, tc)
        span = self._store.span()
        self._check_shift(offset, list(span or ()))
        return "time-shift all activities", self._shift_action(offset, None, self._store.pending)

    def _accept_detail(self, tc: Telecommand) -> tuple[str, Action]:
        _no_data(tc)
        store = self._store
        return "detail-report schedule", lambda: self._send(sched.DETAIL_REPORT,
                                                            sched.detail_reports(store.activities()))

    def _accept_summary(self, tc: Telecommand) -> tuple[str, Action]:
        _no_data(tc)
        store = self._store
        return "summary-report schedule", lambda: self._send(sched.SUMMARY_REPORT, sched.summary_reports(
            (a.release, a.request_id) for a in store.activities()))

    def _send(self, subtype: int, reports: list[bytes]) -> None:
        for data in reports:
            self.tm.send(TmPacket(sched.SCHEDULING, subtype, data))


def _no_data(tc: Telecommand) -> None:
    if tc.app_data:
        raise PacketError(FailureCode.BAD_ARGUMENTS, f"TC[11,{tc.subtype}] carries no data")


def _parsed(unpack: Callable[[bytes], Any], tc: Telecommand) -> Any:
    try:
        return unpack(tc.app_data)
    except ValueError as error:
        raise PacketError(FailureCode.BAD_ARGUMENTS, f"TC[11,{tc.subtype}]: {error}") from None
