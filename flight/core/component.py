"""The component model: what a component declares and how it talks to the rest of the flight.

A component class declares, as class attributes, its telemetry ``CHANNELS``, its ``EVENTS``
(severity, format, typed arguments, optional throttle), its ``PARAMETERS`` (type, default,
range) and its ports (flight.core.ports: typed inputs and outputs), and marks command handlers
with :func:`command` (typed, range-checked arguments). The catalog is generated from these
declarations; a component never reaches into another one: it sends messages out of its output
ports as the topology wires them, emits events, writes its own channels, and answers commands
and pings.

A passive component runs in the thread that calls it (its ``tick`` is called by a rate group, its
input ports by the sender). An :class:`ActiveComponent` owns a thread and a bounded queue; work
and pings go through the queue, so a hung thread stops answering pings and the health component
reports it.

Requirements (verified in tests/unit/core/test_component.py):
- undeclared channels, events or parameters are refused (KeyError), never created on the fly;
- parameter values are range-checked before they are applied; ``on_parameter`` sees each change;
- an event with ``throttle = n`` is emitted at most n times until its throttle is reset;
- an active component answers pings through its queue and stops answering when its thread hangs;
- an active component runs its commands on its thread: a command completes when its work has
  run, fails with its error, or is refused at once (busy) when the queue is full; a work item
  that raises is counted and the thread goes on.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import zmq

from flight.core.completion import Pending
from flight.core.context import Context
from flight.core.ports import Output, PortSpec, port_specs
from flight.core.settings import Setting
from flight.core.types import DataType, Enumeration, Field, Limits, Severity, clip_utf8


@dataclass(frozen=True)
class Channel:
    type: DataType
    units: str = ""
    limits: Limits | None = None
    description: str = ""
    every_report: bool = False  # reported in every housekeeping structure (e.g. the flight's mode)
    enumeration: Enumeration = ()  # the names of an integer channel's values


@dataclass(frozen=True)
class Event:
    severity: Severity
    format: str
    args: tuple[Field, ...] = ()
    throttle: int = 0  # 0: never throttled


@dataclass(frozen=True)
class Parameter:
    type: DataType
    default: Any
    low: float | None = None
    high: float | None = None
    description: str = ""

    def field(self, name: str) -> Field:
        return Field(name, self.type, self.low, self.high, self.description)


@dataclass(frozen=True)
class CommandSpec:
    args: tuple[Field, ...]
    description: str
    test_equipment: bool = False  # fault injection: refused unless the mission enables it


class CommandError(Exception):
    """Raised by a command handler to fail the command with a reason (ST[1] completion failure);
    ``failure``: the name of the failure code to report (the dispatcher's choice when empty)."""

    def __init__(self, *args: Any, failure: str = "") -> None:
        super().__init__(*args)
        self.failure = failure


class CommandRefused(CommandError):
    """The command does not apply to the state it finds (e.g. powering off a card that is off)."""


class CommandBusy(CommandError):
    """The component cannot take the work now (its queue is full); the command may be sent again."""


class CommandDisabled(CommandError):
    """The command is test equipment and this configuration does not enable it."""


class StartError(Exception):
    """Raised by ``start`` when a component cannot fly as configured; the message says why."""


def command(*args: Field, description: str = "",
            test_equipment: bool = False) -> Callable[[Callable], Callable]:
    """Mark a method as a command handler taking ``args`` in order. A ``test_equipment`` command
    (fault injection) is refused unless the topology's ``[mission] fault_injection`` is true, and
    the dictionary marks it."""

    def mark(handler: Callable) -> Callable:
        doc = (handler.__doc__ or "").strip().splitlines()
        handler._command = CommandSpec(tuple(args), description or (doc[0] if doc else ""),
                                       test_equipment)
        return handler

    return mark


def zero_of(data_type: DataType) -> Any:
    if data_type is DataType.STRING:
        return ""
    if data_type is DataType.BOOL:
        return False
    return 0.0 if data_type.is_float else 0


class Component:
    """A passive component. Subclasses declare CHANNELS, EVENTS, PARAMETERS and commands."""

    CHANNELS: ClassVar[dict[str, Channel]] = {}
    EVENTS: ClassVar[dict[str, Event]] = {}
    PARAMETERS: ClassVar[dict[str, Parameter]] = {}
    SETTINGS: ClassVar[dict[str, Setting] | None] = None  # None: not declared, not checked

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.context = context
        declared = type(self).settings() or {}
        self.config = {**{key: s.default for key, s in declared.items()}, **(config or {})}
        self.outputs: dict[str, Output] = {
            spec.name: Output(name, spec) for spec in type(self).ports().values()
            if spec.direction == "out"}
        self.log = logging.getLogger(f"flight.{name}")
        self.channels = type(self).channels_for(self.config)
        self.telemetry: dict[str, Any] = {n: zero_of(c.type) for n, c in self.channels.items()}
        self._event_counts: dict[str, int] = {}
        self.last_pong = -1

    # --- declarations -------------------------------------------------------------------------
    @classmethod
    def channels_for(cls, config: dict[str, Any]) -> dict[str, Channel]:
        """The channels of an instance with this configuration: ``CHANNELS``, unless a class
        declares some per configured item (e.g. one set of counters per protected region)."""
        return cls.CHANNELS

    @classmethod
    def settings(cls) -> dict[str, Setting] | None:
        """The settings this class and its bases declare (None if none of them declares any)."""
        declared = [vars(k)["SETTINGS"] for k in reversed(cls.__mro__)
                    if vars(k).get("SETTINGS") is not None]
        return {key: s for table in declared for key, s in table.items()} if declared else None

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> str | None:
        """What is wrong with a whole checked configuration (settings that must agree with each
        other), as ``key = value: reason``; None when it can fly."""
        return None

    @classmethod
    def ports(cls) -> dict[str, PortSpec]:
        """The input and output ports this class declares."""
        return port_specs(cls)

    @classmethod
    def command_specs(cls) -> dict[str, CommandSpec]:
        """Command handlers in declaration order, base classes first."""
        specs: dict[str, CommandSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                spec = getattr(value, "_command", None)
                if isinstance(spec, CommandSpec):
                    specs[attr] = spec
        return specs

    # --- what a component does ----------------------------------------------------------------
    def tlm(self, channel: str, value: Any) -> None:
        """Write one of this component's telemetry channels."""
        if channel not in self.channels:
            raise KeyError(f"{self.name} declares no channel {channel!r}")
        self.telemetry[channel] = value

    def increment(self, channel: str, n: int = 1) -> None:
        """Add ``n`` to one of this component's counter channels (U32: it wraps at 2**32)."""
        self.tlm(channel, (self.telemetry[channel] + n) & 0xFFFFFFFF)

    def event(self, name: str, /, **values: Any) -> bool:
        """Emit a declared event; return False if its throttle suppressed it. String arguments
        longer than the wire allows are clipped, so no text can make an event unencodable."""
        declared = self.EVENTS[name]
        count = self._event_counts.get(name, 0)
        if declared.throttle and count >= declared.throttle:
            return False
        self._event_counts[name] = count + 1
        self.context.emit_event(self.name, name, [
            clip_utf8(str(values[a.name])) if a.type is DataType.STRING else values[a.name]
            for a in declared.args])
        return True

    def reset_throttle(self, name: str) -> None:
        self._event_counts.pop(name, None)

    def param(self, name: str) -> Any:
        """The parameter's value, read through the TMR parameter store (voted)."""
        if name not in self.PARAMETERS:
            raise KeyError(f"{self.name} declares no parameter {name!r}")
        return self.context.parameters.get(f"{self.name}.{name}")

    def apply_parameter(self, name: str, value: Any) -> Any:
        """Check ``value`` against the declaration, apply it, and tell ``on_parameter``."""
        value = self.PARAMETERS[name].field(name).check(value)
        self.context.parameters.set(f"{self.name}.{name}", value)
        self.on_parameter(name, value)
        return value

    def run_command(self, name: str, args: list[Any]) -> Any:
        """Run a command handler; what it returns (a :class:`Pending` if its work runs on another
        thread: the command completes when that work has run)."""
        return getattr(self, name)(*args)

    # --- hooks --------------------------------------------------------------------------------
    def on_parameter(self, name: str, value: Any) -> None:
        """Called after a parameter changed (loaded at start or set by command)."""

    def preflight(self) -> str | None:
        """Why this component could not start as configured (a file it names is missing or
        unusable, ...), checked for every component before any starts; None when it can."""
        return None

    def start(self) -> None:
        """Called once, in topology order, before the first tick."""

    def stop(self) -> None:
        """Called once, in reverse topology order, at shutdown."""

    def tick(self, tick: int, now: float) -> None:
        """Called by the component's rate group each cycle; ``now`` is mission time."""

    def ready(self) -> bool:
        """Whether the component has finished starting (the clock waits for all, see Executive)."""
        return True

    def ready_info(self) -> dict[str, Any]:
        """What this component adds to the flight's ready file once started (e.g. endpoints)."""
        return {}

    def poll_sockets(self) -> list[tuple[zmq.Socket, Callable[[], None]]]:
        """Sockets the executive serves between ticks, with what to call when one is readable."""
        return []

    # --- liveness -----------------------------------------------------------------------------
    def restart(self) -> bool:
        """Restart this component's own thread if it has died (the health monitor asks when the
        component stops answering pings); True if a thread was restarted."""
        return False

    def request_ping(self, key: int) -> bool:
        """Ask for a ping answer; a passive component answers at once. False: not delivered."""
        self.last_pong = key
        return True


class ActiveComponent(Component):
    """A component with its own thread and a bounded work queue (F Prime's active component)."""

    QUEUE_DEPTH: ClassVar[int] = 16
    SETTINGS = {"queue_depth": Setting(int, None, 1, 1 << 16,
                                       description="work items the thread's queue holds "
                                                   "(default: the class's QUEUE_DEPTH)")}
    _STOP = object()

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.work_failures = 0  # work items that raised (contained: the thread went on)
        self._stopped = False
        depth = self.config.get("queue_depth")
        self._queue: queue.Queue = queue.Queue(maxsize=int(depth or self.QUEUE_DEPTH))
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def restart(self) -> bool:
        if self._thread.is_alive() or self._stopped:
            return False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stopped = True
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join(timeout=5.0)

    def post(self, work: Callable[..., None], *args: Any) -> bool:
        """Queue ``work(*args)`` for this component's thread; False if the queue is full."""
        try:
            self._queue.put_nowait((work, args))
            return True
        except queue.Full:
            return False

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def run_command(self, name: str, args: list[Any]) -> Pending:
        """Commands run on this component's thread; the command completes when the work has run
        (CommandBusy at once if the queue is full)."""
        pending = Pending()
        if not self.post(self._run_command, pending, name, args):
            raise CommandBusy(f"{self.name}'s queue is full ({self._queue.maxsize} items): send it again")
        return pending

    def _run_command(self, pending: Pending, name: str, args: list[Any]) -> None:
        try:
            outcome = super().run_command(name, args)
        except Exception as error:
            pending.finish(error)
            return
        if isinstance(outcome, Pending):  # handed on again: done when that is
            outcome.when_done(pending.finish)
        else:
            pending.finish()

    def request_ping(self, key: int) -> bool:
        return self.post(self._answer_ping, key)

    def _answer_ping(self, key: int) -> None:
        self.last_pong = key

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._STOP:
                return
            work, args = item
            try:
                work(*args)
            except Exception:  # a failing work item must not kill the thread: count, log, go on
                self.work_failures += 1
                self.log.exception("%s: work item %s failed (contained)", self.name, work)
