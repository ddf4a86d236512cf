"""IntegrationApi: the scenario API for tests and scripts, in the spirit of fprime-gds's.

Verbs: ``send_*`` sends; ``send_and_assert_*`` sends and asserts the ST[1] outcome; ``await_*``
waits for something to come down and returns it; ``assert_*`` checks what came down already.
Predicates may be a value (equality) or a callable. Searches start at index ``start`` of the
history (default: its beginning); take ``mark = api.event_mark()`` before an action to see only
what follows it. A timeout raises AssertionError naming what was awaited and what was seen.
``api.onboard`` (ground_sim.onboard) defines and reports the on-board monitoring and event-actions
by names, and enters and leaves SAFE; files and the model update are ground_sim.file_api's.
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from flight.core.clock import BEACON_FILE, BeaconReader
from flight.messages import Product
from flight.wire import scheduling as sched
from flight.wire import sequencing as sq
from flight.wire import services as st
from flight.wire.failure import FailureCode
from flight.wire.pus import TC_OVERHEAD
from ground_sim.decoder import EventRecord
from ground_sim.file_api import OnboardFilesApi
from ground_sim.flight_process import FlightProcess
from ground_sim.onboard import OnboardAutonomy
from ground_sim.sequences import read_sequence
from ground_sim.station import CommandRecord, GroundStation
from ground_sim.time_correlation import Correlation, TimeCorrelator

Predicate = Callable[[Any], bool] | Any


def _matches(predicate: Predicate, value: Any) -> bool:
    if predicate is None:
        return True
    if callable(predicate):
        return bool(predicate(value))
    return value == predicate


class IntegrationApi(OnboardFilesApi):
    def __init__(self, station: GroundStation, default_timeout: float = 10.0,
                 process: FlightProcess | None = None) -> None:
        self.station = station
        self.default_timeout = default_timeout
        self.process = process  # the flight process, when this API started it
        self.time_correlator = TimeCorrelator(station)   # its samples accumulate over calls (passes)
        self.onboard = OnboardAutonomy(self)   # ST[12], ST[19] and modes by names
        self._downloads = itertools.count(1)   # names the flight sends downloads as

    # --- waiting --------------------------------------------------------------------------------
    def _wait_for(self, find: Callable[[], Any], timeout: float | None, what: Callable[[], str]) -> Any:
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        with self.station.changed:
            while True:
                found = find()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out awaiting {what()}")
                self.station.changed.wait(remaining)

    # --- commands -------------------------------------------------------------------------------
    def send_command(self, name: str, args: Sequence[Any] | Mapping[str, Any] | None = None,
                     **kwargs: Any) -> CommandRecord:
        return self.station.send_command(name, args, **kwargs)

    def rotate_key(self, key_id: int, timeout: float | None = None) -> None:
        """Put a new key ``key_id`` on the TC SA, the way flight.services.tc_link takes it: a fresh key
        wrapped with the KEK goes up (KEY_LOAD), is activated, the SA is rekeyed to it, and the old
        key is deactivated; the ground's key ring follows each step and its key file is saved."""
        station, spi = self.station, self.station.dictionary.link_parameters.spi
        keys = station.uplink.keys
        if keys is None:
            raise ValueError("this ground has no key file: it cannot rotate keys")
        old = keys.key_id_of(spi)
        wrapped: list[bytes] = []
        station.uplink.change_keys(lambda ring: wrapped.append(ring.new_key(key_id)))
        self.send_and_assert_command("link.KEY_LOAD", [key_id, wrapped[0].hex()], timeout=timeout)
        self.send_and_assert_command("link.KEY_ACTIVATE", [key_id], timeout=timeout)
        station.uplink.change_keys(lambda ring: ring.activate(key_id))
        self.send_and_assert_command("link.SA_REKEY", [spi, key_id], timeout=timeout)
        station.uplink.change_keys(lambda ring: None, key_id)  # the flight uses it from the next frame
        self.send_and_assert_command("link.KEY_DEACTIVATE", [old], timeout=timeout)
        station.uplink.change_keys(lambda ring: ring.deactivate(old))
        if station.key_file is not None:
            keys.save(station.key_file)

    def await_received(self, record: CommandRecord, timeout: float | None = None) -> CommandRecord:
        """Wait until the flight received ``record``'s frame in sequence (COP-1: its FARM accepted
        it), which comes before any verification report."""
        if not self.station.wait_received([record], timeout or self.default_timeout):
            raise AssertionError(f"timed out awaiting COP-1 acknowledgement of {record}")
        return record

    def await_verification(self, record: CommandRecord, timeout: float | None = None) -> CommandRecord:
        return self._wait_for(lambda: record if record.done else None, timeout,
                              lambda: f"verification of {record}")

    def send_and_assert_command(self, name: str, args: Sequence[Any] | Mapping[str, Any] | None = None,
                                timeout: float | None = None) -> CommandRecord:
        """Send a command and assert it was accepted and completed successfully."""
        record = self.await_verification(self.send_command(name, args), timeout)
        assert record.failure is None and record.completed, f"{record}"
        return record

    def send_and_assert_failure(self, name: str, args: Sequence[Any] | Mapping[str, Any] | None,
                                code: FailureCode, stage: st.Stage = st.Stage.ACCEPTANCE,
                                timeout: float | None = None, **kwargs: Any) -> CommandRecord:
        """Send a command that must fail at ``stage`` with ``code``."""
        record = self.await_verification(self.send_command(name, args, **kwargs), timeout)
        assert record.failure == (stage, int(code)), (
            f"{record}: expected failure at {stage.name} {code.name}")
        return record

    def send_raw_and_assert_failure(self, raw: bytes, code: FailureCode,
                                    timeout: float | None = None) -> CommandRecord:
        record = self.await_verification(self.station.send_raw(raw), timeout)
        assert record.failure == (st.Stage.ACCEPTANCE, int(code)), (
            f"{record}: expected acceptance failure {code.name}")
        return record

    def ping(self, timeout: float | None = None) -> CommandRecord:
        """TC[17,1]; assert the TM[17,2] answer and a successful completion."""
        before = self.station.pings
        record = self.await_verification(self.station.send(self.station.encoder.ping(), "ping"),
                                         timeout)
        assert record.completed, f"{record}"
        self._wait_for(lambda: True if self.station.pings > before else None, timeout,
                       lambda: "TM[17,2]")
        return record

    def set_parameters(self, values: Mapping[str, Any], timeout: float | None = None,
                       check: bool = True) -> CommandRecord:
        tc = self.station.encoder.set_parameters(values, check)
        return self.await_verification(self.station.send(tc, "set parameters"), timeout)

    def get_parameters(self, names: Sequence[str], timeout: float | None = None) -> dict[str, Any]:
        """TC[20,1]; return the values of the TM[20,2] that answers."""
        before = len(self.station.parameter_reports)
        tc = self.station.encoder.report_parameters(names)
        record = self.await_verification(self.station.send(tc, "report parameters"), timeout)
        assert record.completed, f"{record}"
        return self._wait_for(
            lambda: next((r for r in self.station.parameter_reports[before:]
                          if set(names) <= set(r)), None), timeout,
            lambda: f"TM[20,2] with {list(names)}")

    # --- the time-based schedule (ST[11], flight.services.time_schedule) ---------------------------
    def mission_time(self, timeout: float | None = None) -> float:
        """The flight's mission time now: its beacon if this API started the flight, else the time
        of the latest TM packet that came down; waits until its clock runs (or one came down)."""
        def now() -> float | None:
            if self.process is not None:
                reader = BeaconReader(self.process.run_dir / BEACON_FILE)
                beacon = reader.read()
                reader.close()
                if beacon is not None:
                    return beacon
            return max((history[-1][0] for history in self.station.telemetry.values() if history), default=None)

        return self._wait_for(now, timeout, lambda: "the flight's mission time")

    def schedule(self, at: float, command: str, args: Sequence[Any] | Mapping[str, Any] | None = None,
                 timeout: float | None = None) -> CommandRecord:
        """Insert one activity: ``command`` (TC[8,1]) released at mission time ``at``; assert the
        TC[11,4] completed. Returns the record of the command itself, whose ST[1] reports come when
        the flight releases it."""
        return self.schedule_many([(at, command, args)], timeout)[0]

    def schedule_many(self, activities: Sequence[tuple[float, str, Any]], timeout: float | None = None,
                      max_tc_size: int = 1024) -> list[CommandRecord]:
        """Insert activities (time, command, arguments) in as few TC[11,4] as fit ``max_tc_size``
        (the flight's ``dispatcher.max_tc_size``) and a TC frame, all sent before any is awaited;
        assert each completed. Returns a record per activity, in order (see :meth:`schedule`)."""
        station, records, batches = self.station, [], [[]]
        size, limit = TC_OVERHEAD + 2, min(max_tc_size, station.uplink.capacity)
        for at, command, args in activities:
            tc = station.encoder.command(command, args)
            octets = sched.TIME_SIZE + len(tc.encode())
            if batches[-1] and size + octets > limit:
                batches.append([])
                size = TC_OVERHEAD + 2
            batches[-1].append((at, tc))
            size += octets
            records.append(station.expect(tc, command))
        sent = [station.send(station.encoder.insert_activities(batch), f"insert {len(batch)} activities")
                for batch in batches if batch]
        for record in sent:
            self.await_verification(record, timeout)
            assert record.completed and record.failure is None, f"{record}"
        return records

    def schedule_control(self, action: str, offset: float = 0.0, records: Sequence[CommandRecord] = (),
                         timeout: float | None = None) -> CommandRecord:
        """TC[11,x] by name, asserting it completed: ``enable`` or ``disable`` the release function,
        ``reset`` the schedule, ``delete`` the activities of ``records``, ``shift`` them by
        ``offset`` seconds (every activity if no records)."""
        apid, source = self.station.dictionary.apid, self.station.encoder.source_id
        ids = [sched.RequestId(source, apid, int.from_bytes(r.request_id[2:], "big") & 0x3FFF) for r in records]
        subtype, data = {
            "enable": (sched.ENABLE, b""), "disable": (sched.DISABLE, b""), "reset": (sched.RESET, b""),
            "delete": (sched.DELETE, sched.pack_ids(ids)),
            "shift": (sched.TIME_SHIFT, sched.pack_shift(sched.ticks(offset), ids)) if ids else
                     (sched.TIME_SHIFT_ALL, sched.pack_offset(sched.ticks(offset)))}[action]
        record = self.await_verification(self.station.send(self.station.encoder.schedule(subtype, data),
                                                           f"schedule {action}"), timeout)
        assert record.completed and record.failure is None, f"{record}"
        return record

    def schedule_report(self, timeout: float | None = None) -> list[sched.Activity]:
        """TC[11,16]: every activity on board, in release order, from the TM[11,10] reports that
        came before its completion (they go down in order, ahead of it)."""
        with self.station.changed:
            mark = len(self.station.schedule_reports)
        record = self.await_verification(self.station.send(self.station.encoder.schedule(sched.DETAIL_REPORT_ALL),
                                                           "schedule report"), timeout)
        assert record.completed and record.failure is None, f"{record}"
        with self.station.changed:
            return [a for report in self.station.schedule_reports[mark:] for a in report]

    # --- time (ST[9], flight.services.time_management; ground_sim.time_correlation) --------------
    def correlate(self, samples: int = 20, apply: bool = False, interval: float = 0.2,
                  timeout: float | None = None) -> Correlation:
        """Take ``samples`` more round trips and fit the on-board clock's offset and drift (with
        their uncertainties) from every sample since the last correction; ``apply``: then take them
        out with ``timeManagement.ADJUST_TIME`` (asserted completed), wait until a step back has
        been slewed (a ``timeManagement.Slewing`` of 0 in housekeeping made after it) and start afresh."""
        result = self.time_correlator.correlate(samples, interval, timeout or self.default_timeout)
        if apply:
            offset, rate = result.adjustment(time.time())
            record = self.send_and_assert_command("timeManagement.ADJUST_TIME", [offset, rate], timeout)
            assert record.accepted_at is not None
            after = record.accepted_at[0]
            self._wait_for(lambda: True if any(t > after and v == 0.0 for t, v in self.station.telemetry.get(
                "timeManagement.Slewing", [])) else None, (timeout or self.default_timeout) + 10 * max(-offset, 0.0),
                lambda: "the end of the time correction's slew")   # 10 s a second: the default slew_ppm
            self.time_correlator.forget()
        return result

    def set_time_report_rate(self, exponent: int, timeout: float | None = None) -> CommandRecord:
        """TC[9,1]: a TM[9,2] every 2^exponent s (in ``station.time_reports``); asserted completed."""
        record = self.await_verification(self.station.send(self.station.encoder.time_report_rate(exponent),
                                                           f"time report rate {exponent}"), timeout)
        assert record.completed and record.failure is None, f"{record}"
        return record

    def upload_sequence(self, path: str | Path, activate: bool = True,
                        timeout: float | None = None) -> list[CommandRecord]:
        """Load the sequence file at ``path`` (ground_sim.sequences; checked first, SequenceFileError)
        with TC[21,1], then activate it with TC[21,4] if ``activate``; assert each completed. Returns
        a record per step, in order, whose ST[1] reports come as the flight releases the steps."""
        sequence = read_sequence(path, self.station.dictionary)
        data, tcs = sequence.load_request(self.station.encoder)
        records = [self.station.expect(tc, command) for tc, (_, command, _) in zip(tcs, sequence.steps)]
        self._sequencing(sq.DIRECT_LOAD, data, f"load sequence {sequence.name}", timeout)
        if activate:
            self.sequence_control("activate", sequence.name, timeout)
        return records

    def sequence_control(self, action: str, name: str, timeout: float | None = None) -> CommandRecord:
        """TC[21,x] by name, asserting it completed: ``activate``, ``abort`` or ``unload`` the
        sequence ``name``."""
        subtype = {"activate": sq.ACTIVATE, "abort": sq.ABORT, "unload": sq.UNLOAD}[action]
        return self._sequencing(subtype, sq.pack_name(name), f"{action} sequence {name}", timeout)

    def _sequencing(self, subtype: int, data: bytes, label: str, timeout: float | None) -> CommandRecord:
        record = self.await_verification(self.station.send(self.station.encoder.sequencing(subtype, data), label),
                                         timeout)
        assert record.completed and record.failure is None, f"{record}"
        return record

    # --- events ---------------------------------------------------------------------------------
    def event_mark(self) -> int:
        return len(self.station.events)

    def await_event(self, name: str, predicate: Predicate = None, timeout: float | None = None,
                    start: int = 0) -> EventRecord:
        """First event called ``name`` (full dictionary name) at or after ``start`` whose args
        satisfy ``predicate``."""
        if name not in self.station.dictionary.event_by_name:
            raise KeyError(f"no event {name!r} in the dictionary")

        def find() -> EventRecord | None:
            return next((e for e in self.station.events[start:]
                         if e.name == name and _matches(predicate, e.args)), None)

        return self._wait_for(find, timeout, lambda: f"event {name} (seen: " + ", ".join(
            e.text for e in self.station.events[start:][-5:]) + ")")

    def assert_event_count(self, name: str, count: int, start: int = 0) -> None:
        with self.station.changed:
            seen = sum(1 for e in self.station.events[start:] if e.name == name)
        assert seen == count, f"{name}: {seen} events, expected {count}"

    # --- telemetry ------------------------------------------------------------------------------
    def telemetry_mark(self, channel: str) -> int:
        return len(self.station.telemetry.get(channel, []))

    def await_telemetry(self, channel: str, predicate: Predicate = None,
                        timeout: float | None = None, start: int = 0, since: float | None = None) -> Any:
        """First value of ``channel`` at or after index ``start`` that satisfies ``predicate``; with
        ``since``, only one sampled on board after that mission time (after a flight's restart, what its
        TM store sends again from before is older)."""
        if channel not in self.station.dictionary.channel_by_name:
            raise KeyError(f"no channel {channel!r} in the dictionary")

        def find() -> Any:
            for sampled, value in self.station.telemetry.get(channel, [])[start:]:
                if (since is None or sampled > since) and _matches(predicate, value):
                    return (value,)
            return None

        return self._wait_for(find, timeout, lambda: f"telemetry {channel} (last: "
                              f"{self.station.telemetry.get(channel, [])[-3:]})")[0]

    # --- products -------------------------------------------------------------------------------
    def await_products(self, count: int, timeout: float | None = None) -> list[Product]:
        return self._wait_for(
            lambda: list(self.station.products) if len(self.station.products) >= count else None,
            timeout, lambda: f"{count} products (have {len(self.station.products)})")
