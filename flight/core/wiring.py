"""The wiring: which output port feeds which input port, checked before anything is built.

A topology's ``[wiring]`` table lists its connections as F Prime's topologies do,
``"source.output -> target.input"``. :func:`check_wiring` refuses, with one line naming the
culprit, a connection that names no such component or port, runs from an input or into an
output, joins ports of different message types, or is listed twice, and any port declared
``required`` that no connection reaches. :func:`connect` then joins the built components' ports.
:func:`describe` and :func:`mermaid` draw the wiring for people (``orbitfs-dict --wiring``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from flight.core.component import Component
    from flight.core.ports import PortSpec

_CONNECTION = re.compile(r"^\s*(\w+)\.(\w+)\s*->\s*(\w+)\.(\w+)\s*$")


class WiringError(ValueError):
    """A connection that cannot be made, or a required port left unconnected."""


@dataclass(frozen=True)
class Connection:
    source: str
    output: str
    target: str
    input: str

    def __str__(self) -> str:
        return f"{self.source}.{self.output} -> {self.target}.{self.input}"


def parse_connection(text: object) -> Connection:
    match = _CONNECTION.match(text) if isinstance(text, str) else None
    if match is None:
        raise WiringError(f"connection {text!r} is not \"component.output -> component.input\"")
    return Connection(*match.groups())


def _port(classes: Mapping[str, type["Component"]], component: str, port: str,
          text: Connection) -> "PortSpec":
    if component not in classes:
        raise WiringError(f"connection {text}: no component named {component!r}")
    spec = classes[component].ports().get(port)
    if spec is None:
        declared = ", ".join(classes[component].ports()) or "none"
        raise WiringError(f"connection {text}: {component} has no port {port!r} "
                          f"(its ports: {declared})")
    return spec


def check_wiring(classes: Mapping[str, type["Component"]], connections: Iterable[Connection],
                 *, require: bool = True) -> None:
    """Refuse a wiring that cannot fly (see the module docstring); ``require=False`` lets required
    ports stay open (a component tester connects them itself)."""
    connected: set[tuple[str, str]] = set()
    seen: set[Connection] = set()
    for c in connections:
        if c in seen:
            raise WiringError(f"connection {c} is listed twice")
        seen.add(c)
        out, into = _port(classes, c.source, c.output, c), _port(classes, c.target, c.input, c)
        if out.direction != "out":
            raise WiringError(f"connection {c}: {c.source}.{c.output} is an input port")
        if into.direction != "in":
            raise WiringError(f"connection {c}: {c.target}.{c.input} is an output port")
        if out.message is not into.message:
            raise WiringError(f"connection {c}: {c.source}.{c.output} carries "
                              f"{out.message.__name__}, {c.target}.{c.input} takes "
                              f"{into.message.__name__}")
        connected.update({(c.source, c.output), (c.target, c.input)})
    if not require:
        return
    for name, cls in classes.items():
        for spec in cls.ports().values():
            if spec.required and (name, spec.name) not in connected:
                way = "from" if spec.direction == "out" else "into"
                raise WiringError(f"{name}.{spec.name} ({spec.message.__name__}) is required but "
                                  f"not connected: add a connection {way} it to [wiring]")


def connect(components: Mapping[str, "Component"], connections: Iterable[Connection]) -> None:
    """Join the ports of built components (the wiring was checked when the topology loaded)."""
    for c in connections:
        components[c.source].outputs[c.output].connect(getattr(components[c.target], c.input))


def describe(classes: Mapping[str, type["Component"]], connections: Iterable[Connection],
             roles: Mapping[str, str]) -> str:
    """The wiring as text: one connection per line with its message type, then the roles."""
    rows = [(f"{c.source}.{c.output}", f"{c.target}.{c.input}",
             classes[c.source].ports()[c.output].message.__name__) for c in connections]
    left = max((len(r[0]) for r in rows), default=0)
    right = max((len(r[1]) for r in rows), default=0)
    lines = [f"{source:<{left}} -> {target:<{right}}  {message}" for source, target, message in rows]
    lines += [f"role {role}: {holder}" for role, holder in roles.items()]
    return "\n".join(lines)


def mermaid(classes: Mapping[str, type["Component"]], connections: Iterable[Connection]) -> str:
    """The wiring as a Mermaid flowchart: components are nodes, edges are labelled with the
    message type (parallel connections between two components share one edge)."""
    edges: dict[tuple[str, str], list[str]] = {}
    for c in connections:
        message = classes[c.source].ports()[c.output].message.__name__
        labels = edges.setdefault((c.source, c.target), [])
        if message not in labels:
            labels.append(message)
    lines = ["flowchart LR"]
    lines += [f"  {source} -- {', '.join(labels)} --> {target}"
              for (source, target), labels in edges.items()]
    return "\n".join(lines)
