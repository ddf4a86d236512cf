"""Typed ports: how one component sends messages to another (F Prime's ports, in Python).

A component class declares its ports with the message type each carries::

    class Camera(Component):
        captures = OutputPort(Capture, "one per tile taken")

        @input_port(Backpressure, "the payload asks to wait", required=False)
        def backpressure(self, message: Backpressure) -> None: ...

An input port is the method that handles its messages; its name is the method's. An output
port, read on an instance, is an :class:`Output`: ``self.captures.send(capture)`` calls every
input port connected to it, in the sender's thread, in connection order (an active component's
handler only queues the work), and returns how many received it; ``call`` delivers to the one
connected input and returns its answer. The topology lists the
connections; :mod:`flight.core.wiring` checks and makes them. A component never holds a
reference to another: what it sends goes where the topology says.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

M = TypeVar("M")


@dataclass(frozen=True)
class PortSpec:
    """A declared port: its name, direction (``"in"`` or ``"out"``), message type and whether the
    topology must connect it."""

    name: str
    direction: str
    message: type
    required: bool
    description: str = ""


class Output(Generic[M]):
    """One component instance's output port: the input handlers connected to it."""

    __slots__ = ("owner", "spec", "_receivers")

    def __init__(self, owner: str, spec: PortSpec) -> None:
        self.owner = owner
        self.spec = spec
        self._receivers: tuple[Callable[[M], Any], ...] = ()

    def connect(self, receiver: Callable[[M], Any]) -> None:
        self._receivers = (*self._receivers, receiver)

    @property
    def connections(self) -> int:
        return len(self._receivers)

    def send(self, message: M) -> int:
        """Deliver ``message`` to every connected input; return how many received it."""
        receivers = self._receivers
        for receiver in receivers:
            receiver(message)
        return len(receivers)

    def call(self, message: M) -> Any:
        """Deliver ``message`` to the one connected input and return what it returns (F Prime's
        synchronous port with a return value: e.g. the completion of the work it starts).
        LookupError if the port is not connected to exactly one input."""
        if len(self._receivers) != 1:
            raise LookupError(f"{self.owner}.{self.spec.name} has {len(self._receivers)} connections, "
                              "not one")
        return self._receivers[0](message)


class OutputPort(Generic[M]):
    """Declares an output port on a component class; on an instance it reads as its :class:`Output`."""

    def __init__(self, message: type[M], description: str = "", *, required: bool = False) -> None:
        self._message = message
        self._description = description
        self._required = required
        self.spec: PortSpec | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.spec = PortSpec(name, "out", self._message, self._required, self._description)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance.outputs[self.spec.name]  # type: ignore[union-attr]


def input_port(message: type, description: str = "", *,
               required: bool = True) -> Callable[[Callable], Callable]:
    """Mark a method as the input port of its name, taking messages of type ``message``."""

    def mark(handler: Callable) -> Callable:
        handler._input_port = PortSpec(handler.__name__, "in", message, required, description)
        return handler

    return mark


def port_specs(cls: type) -> dict[str, PortSpec]:
    """The ports a component class declares, inputs and outputs, base classes first."""
    specs: dict[str, PortSpec] = {}
    for klass in reversed(cls.__mro__):
        for value in vars(klass).values():
            if isinstance(value, OutputPort) and value.spec is not None:
                specs[value.spec.name] = value.spec
            spec = getattr(value, "_input_port", None)
            if isinstance(spec, PortSpec):
                specs[spec.name] = spec
    return specs
