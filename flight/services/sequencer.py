"""Sequencer: PUS-C ST[21] request sequencing. Named sequences of telecommands stored on board, each
step released after its delay into the dispatcher, exactly as if it had come from the ground (cFS
RTS, F Prime's CmdSequencer).

A sequence is an id (a name) and a list of steps, each a delay (ms) and a whole PUS-C TC packet
with its own request id; layouts in flight.wire.sequencing. The dispatcher routes every TC[21,x]
here (this is a :class:`~flight.services.dispatcher.ServiceProvider`) and reports ST[1] for it:
TC[21,1] direct-load, TC[21,3] unload, TC[21,4] activate, TC[21,5] abort, TC[21,6] status report
(TM[21,7] out of the ``tm`` port). An activation may come from the ground, from the ST[11]
schedule (an activity) or from an ST[19] event-action (its action): all three are the same TC.

Acceptance refuses a request whole, before anything changes, with its own code: malformed
BAD_ARGUMENTS (an empty sequence too); an id loaded already DUPLICATE_SEQUENCE; one not loaded
UNKNOWN_SEQUENCE; more than ``max_sequences`` loaded, more than ``max_steps`` steps, or more
than the store holds SEQUENCES_FULL; unloading or activating a running sequence SEQUENCE_ACTIVE;
aborting one that is not running INVALID_STATE; more than ``max_running`` at once BUSY. Each
step's request is vetted by the dispatcher's own acceptance: malformed, or itself an ST[21]
request (a sequence does not start or change sequences), BAD_STEP; any other refusal keeps its
code, the detail naming the step.

Release: each tick of its rate group, for each running sequence, every step whose time has come
is sent out of the ``tc`` port (wired into the dispatcher's) with a ``StepReleased`` event first.
A step's time is the previous step's (the activation's for the first) plus its delay, so a step is
released at the first tick at or after it and tick jitter does not add up along a sequence. The
sequence ends (``SequenceCompleted``) when its last step is released.

Failure rule (as cFS RTS): the dispatcher's ST[1] reports come in on ``verification``; a failure
report (acceptance, start or completion) for a step of a running sequence aborts that sequence:
its remaining steps are not released (``StepFailed`` then ``SequenceAborted``, ``Aborted``
counted). A failure reported after the sequence ended changes nothing here (the dispatcher has
reported it).

Durability (flight.services.sequence_store): loaded sequences survive a restart; a sequence
running when the flight stopped is not resumed (at most once for its steps, as the ST[11]
schedule) and is reported by ``SequenceInterrupted`` at start.

| requirement | verified by |
|---|---|
| load, unload, activate, abort and the status report do what ST[21] says | tests/unit/services/test_sequencer.py |
| each refusal has its own code and changes nothing | tests/unit/services/test_sequencer.py |
| each step is released within one tick of its time, with its own ST[1] reports |   |
|   | tests/unit/services/test_sequencer.py |
| a failing step aborts its sequence with an event | tests/unit/services/test_sequencer.py |
| loaded sequences survive a restart; a running one is reported, never resumed | tests/unit/services/test_sequencer.py |
| an event-action and the ST[11] schedule activate a sequence | tests/unit/services/test_sequencer.py |
| a sequence uploaded from a file runs in the real flight | tests/system/test_stored_sequences.py |
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from flight.core.component import Channel, Component, Event
from flight.core.context import Context
from flight.core.ports import OutputPort, input_port
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Limits, Severity
from flight.messages import RawTelecommand, TmPacket
from flight.services.dispatcher import Route, ServiceProvider, vet_embedded
from flight.services.sequence_store import SequenceStore
from flight.services.service_requests import Acceptance, Action, no_data, service_routes
from flight.wire import sequencing as sq
from flight.wire import services as st
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import Telecommand
from flight.wire.sequencing import Step

_NAME = Field("sequence", DataType.STRING)
_STEP = Field("step", DataType.U16, description="the step's index, from 0")
_REQUEST = Field("request", DataType.U32, description="the ST[1] request id of the step's TC")


@dataclass
class Run:
    """A running sequence: the next step to release and its time (s, mission time)."""

    steps: list[Step]
    due: float
    index: int = 0
    sent: frozenset[bytes] = frozenset()   # the request ids of the steps released


class Sequencer(Component, ServiceProvider):
    CHANNELS = {
        "Loaded": Channel(DataType.U16, "sequences", description="loaded on board"),
        "Running": Channel(DataType.U16, "sequences"),
        "StepsReleased": Channel(DataType.U32, "steps", description="handed to the dispatcher"),
        "Completed": Channel(DataType.U32, "sequences", description="ended with their last step"),
        "Aborted": Channel(DataType.U32, "sequences", Limits(yellow_high=0),
                           description="by TC[21,5], a failing step or a step that could not be sent"),
        "Interrupted": Channel(DataType.U32, "sequences", description="running when the flight stopped"),
        "Refused": Channel(DataType.U32, "requests", description="ST[21] requests refused at acceptance"),
    }
    EVENTS = {
        "SequenceLoaded": Event(Severity.ACTIVITY, "Sequence {sequence} loaded: {steps} steps",
                                (_NAME, Field("steps", DataType.U16))),
        "SequenceUnloaded": Event(Severity.ACTIVITY, "Sequence {sequence} unloaded", (_NAME,)),
        "SequenceStarted": Event(Severity.ACTIVITY, "Sequence {sequence} started", (_NAME,)),
        "StepReleased": Event(Severity.ACTIVITY, "{sequence} step {step}: {request:08x} released, {late:.3f} s late",
                              (_NAME, _STEP, _REQUEST, Field("late", DataType.F32))),
        "SequenceCompleted": Event(Severity.ACTIVITY, "Sequence {sequence} completed", (_NAME,)),
        "StepFailed": Event(Severity.WARNING_HI, "{sequence} step {step}: {request:08x} failed, code {code}",
                            (_NAME, _STEP, _REQUEST, Field("code", DataType.U16))),
        "SequenceAborted": Event(Severity.WARNING_LO, "Sequence {sequence} aborted at step {step}: {reason}",
                                 (_NAME, _STEP, Field("reason", DataType.STRING))),
        "SequenceInterrupted": Event(Severity.WARNING_HI, "Sequence {sequence} was running as the flight stopped: "
                                                          "not resumed", (_NAME,)),
        "SequencesLost": Event(Severity.WARNING_HI, "{detail}", (Field("detail", DataType.STRING),)),
    }
    SETTINGS = {
        "file": Setting(str, "sequences.rec", description="the loaded sequences on disk, in the run directory"),
        "store_octets": Setting(int, 262144, 4096, 1 << 24, description="what the record on disk holds: "
                                                                        "a load beyond is refused"),
        "max_sequences": Setting(int, 16, 1, 1024, description="sequences loaded at once"),
        "max_steps": Setting(int, 64, 1, 65535, description="steps in one sequence"),
        "max_running": Setting(int, 4, 1, 1024, description="sequences running at once"),
    }
    tc = OutputPort(RawTelecommand, "released steps, into the dispatcher", required=True)
    tm = OutputPort(TmPacket, "TM[21,7] status reports", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.store: SequenceStore | None = None
        self.runs: dict[str, Run] = {}
        self._vet: Callable[[bytes], Telecommand] | None = None
        self._lock = threading.Lock()
        self._failures: list[tuple[bytes, int]] = []   # (request id, code), from any thread

    # --- life -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.store = store = SequenceStore(self.context.run_file(self.config["file"]), self.config["store_octets"])
        if store.recovered:
            self.event("SequencesLost", detail=store.recovered)
        for name in store.interrupted:
            self.event("SequenceInterrupted", sequence=name)
            self.increment("Interrupted")
        self._update()

    def stop(self) -> None:
        if self.store is not None:
            self.store.close()

    def _update(self) -> None:
        self.tlm("Loaded", len(self.store.sequences) if self.store else 0)
        self.tlm("Running", len(self.runs))

    # --- release ----------------------------------------------------------------------------------
    @input_port(TmPacket, "the dispatcher's ST[1] reports: a failed step aborts its sequence")
    def verification(self, packet: TmPacket) -> None:
        if packet.service != st.VERIFICATION or packet.subtype % 2 == 1:
            return
        try:
            report = st.VerificationReport.unpack(packet.subtype, packet.app_data)
        except ValueError:
            return
        with self._lock:
            self._failures.append((report.request_id, report.code))

    def tick(self, tick: int, now: float) -> None:
        self._take_failures()
        for name in list(self.runs):
            self._advance(name, now)

    def _advance(self, name: str, now: float) -> None:
        run = self.runs[name]
        while name in self.runs and run.index < len(run.steps) and run.due <= now:
            step, index = run.steps[run.index], run.index
            run.index += 1
            run.sent |= {step.request[:4]}
            self.event("StepReleased", sequence=name, step=index, request=int.from_bytes(step.request[:4], "big"),
                       late=now - run.due)
            self.increment("StepsReleased")
            try:
                self.tc.send(RawTelecommand((step.request,)))
            except Exception as error:   # the dispatcher contains its handlers' faults: this is the last guard
                self.log.exception("handing over %s step %d", name, index)
                self._end(name, "aborted", f"the step could not be sent: {error!r}")
                return
            self._take_failures()   # a refusal at acceptance is reported at once
            if run.index < len(run.steps):
                run.due += run.steps[run.index].delay_ms / 1000
        if name in self.runs and run.index == len(run.steps):
            self._end(name, "completed")

    def _take_failures(self) -> None:
        with self._lock:
            failures, self._failures = self._failures, []
        for request_id, code in failures:
            for name, run in list(self.runs.items()):
                if request_id in run.sent:
                    step = next(i for i in range(run.index - 1, -1, -1) if run.steps[i].request[:4] == request_id)
                    self.event("StepFailed", sequence=name, step=step, request=int.from_bytes(request_id, "big"),
                               code=code)
                    self._end(name, "aborted", f"step {step} failed ({_code_name(code)})")

    def _end(self, name: str, how: str, reason: str = "") -> None:
        run = self.runs.pop(name)
        assert self.store is not None
        self.store.set_running(name, False)
        if how == "completed":
            self.event("SequenceCompleted", sequence=name)
            self.increment("Completed")
        else:
            self.event("SequenceAborted", sequence=name, step=max(run.index - 1, 0), reason=reason)
            self.increment("Aborted")
        self._update()

    # --- requests: acceptance (changes nothing) returns the action --------------------------------
    def service_routes(self, vet: Callable[[bytes], Telecommand]) -> Mapping[tuple[int, int], Route]:
        self._vet = vet
        requests: dict[int, tuple[str, Acceptance]] = {
            sq.DIRECT_LOAD: ("load sequence", self._accept_load),
            sq.UNLOAD: ("unload sequence", self._accept_unload),
            sq.ACTIVATE: ("activate sequence", self._accept_activate),
            sq.ABORT: ("abort sequence", self._accept_abort),
            sq.REPORT_STATUS: ("report sequences", self._accept_report)}
        return service_routes(sq.SERVICE, {subtype: (label, self._counted(accept))
                                           for subtype, (label, accept) in requests.items()}, self._update)

    def _counted(self, accept: Acceptance) -> Acceptance:
        def counted(data: bytes) -> Action:
            try:
                return accept(data)
            except PacketError:
                self.increment("Refused")
                raise
        return counted

    @property
    def _store(self) -> SequenceStore:
        if self.store is None:
            raise PacketError(FailureCode.INVALID_STATE, "the sequencer has not started")
        return self.store

    def _loaded(self, data: bytes, what: str) -> str:
        name = sq.unpack_name(data, what)
        if name not in self._store.sequences:
            raise PacketError(FailureCode.UNKNOWN_SEQUENCE, f"no sequence {name!r} is loaded")
        return name

    def _accept_load(self, data: bytes) -> Action:
        store = self._store
        name, steps = sq.unpack_load(data)
        if not steps:
            raise PacketError(FailureCode.BAD_ARGUMENTS, f"sequence {name!r} has no step")
        if name in store.sequences:
            raise PacketError(FailureCode.DUPLICATE_SEQUENCE, f"sequence {name!r} is loaded already")
        if len(store.sequences) >= self.config["max_sequences"]:
            raise PacketError(FailureCode.SEQUENCES_FULL, f"{len(store.sequences)} sequences loaded already")
        if len(steps) > self.config["max_steps"]:
            raise PacketError(FailureCode.SEQUENCES_FULL, f"{len(steps)} steps, at most {self.config['max_steps']}")
        for index, step in enumerate(steps):
            self._vet_step(index, step)
        if not store.fits({**store.sequences, name: steps}):
            raise PacketError(FailureCode.SEQUENCES_FULL, f"sequence {name!r} would not fit the store")

        def load() -> None:
            store.load(name, steps)
            self.event("SequenceLoaded", sequence=name, steps=len(steps))
        return load

    def _vet_step(self, index: int, step: Step) -> None:
        """The dispatcher's acceptance of the step's request, its refusal named for the step."""
        vet_embedded(self._vet, step.request, sq.SERVICE, FailureCode.BAD_STEP, f"step {index}")

    def _accept_unload(self, data: bytes) -> Action:
        name = self._loaded(data, "TC[21,3]")
        if name in self.runs:
            raise PacketError(FailureCode.SEQUENCE_ACTIVE, f"sequence {name!r} is running: abort it first")

        def unload() -> None:
            self._store.unload(name)
            self.event("SequenceUnloaded", sequence=name)
        return unload

    def _accept_activate(self, data: bytes) -> Action:
        name = self._loaded(data, "TC[21,4]")
        if name in self.runs:
            raise PacketError(FailureCode.SEQUENCE_ACTIVE, f"sequence {name!r} is running already")
        if len(self.runs) >= self.config["max_running"]:
            raise PacketError(FailureCode.BUSY, f"{len(self.runs)} sequences running, at most "
                                                f"{self.config['max_running']}")

        def activate() -> None:
            steps = self._store.sequences[name]
            self._store.set_running(name, True)
            self.runs[name] = Run(steps, self.context.now() + steps[0].delay_ms / 1000)
            self.event("SequenceStarted", sequence=name)
        return activate

    def _accept_abort(self, data: bytes) -> Action:
        name = self._loaded(data, "TC[21,5]")
        if name not in self.runs:
            raise PacketError(FailureCode.INVALID_STATE, f"sequence {name!r} is not running")
        return lambda: self._end(name, "aborted", "TC[21,5]")

    def _accept_report(self, data: bytes) -> Action:
        no_data(data, "TC[21,6]")
        store = self._store
        return lambda: self.tm.send(TmPacket(sq.SERVICE, sq.STATUS_REPORT, sq.pack_status(
            [(name, name in self.runs) for name in sorted(store.sequences)])))


def _code_name(code: int) -> str:
    try:
        return FailureCode(code).name
    except ValueError:
        return str(code)
