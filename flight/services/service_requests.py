"""The requests of a PUS service a component owns (flight.services.dispatcher.ServiceProvider),
as the dispatcher routes them: for each subtype a label and an acceptance that reads the
request's application data (PacketError with the code, before any effect) and returns the action;
after each action, what the service does after every change (e.g. refresh its telemetry).
"""
from __future__ import annotations

from typing import Callable, Mapping

from flight.services.dispatcher import Route
from flight.wire.failure import FailureCode, PacketError
from flight.wire.pus import Telecommand

Action = Callable[[], None]
Acceptance = Callable[[bytes], Action]


def service_routes(service: int, requests: Mapping[int, tuple[str, Acceptance]],
                   after: Action) -> dict[tuple[int, int], Route]:
    """The dispatcher's routes for ``requests`` (subtype -> (label, acceptance))."""
    return {(service, subtype): _route(f"TC[{service},{subtype}] {label}", accept, after)
            for subtype, (label, accept) in requests.items()}


def _route(label: str, accept: Acceptance, after: Action) -> Route:
    def route(tc: Telecommand) -> tuple[str, Action]:
        action = accept(tc.app_data)

        def run() -> None:
            action()
            after()

        return label, run

    return route


def no_data(data: bytes, what: str) -> None:
    """Refuse application data on a request that carries none."""
    if data:
        raise PacketError(FailureCode.BAD_ARGUMENTS, f"{what} carries no data")
