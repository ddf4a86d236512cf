"""pytest plugin (entry point ``orbitfs``): fixtures that fly a real flight process.

- ``demo_model``: the demo ONNX model, built once per test session by ``flight.payload.demo_model``.
- ``flight_factory``: ``flight_factory(overrides=[...], topology=None)`` starts a flight process
  in its own run directory and returns an :class:`IntegrationApi` connected to it over ZeroMQ;
  everything started is stopped at the end of the test. Test equipment is on
  (``mission.fault_injection=true``): tests inject faults; pass the override ``false`` to fly as
  in flight.
- ``flight``: ``flight_factory()`` with the default topology.

Example::

    def test_ping(flight):
        flight.ping()
        flight.send_and_assert_command("dispatcher.NO_OP")
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

from ground_sim.api import IntegrationApi
from ground_sim.flight_process import FlightProcess


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from flight.payload.demo_model import write_demo_model

    return write_demo_model(tmp_path_factory.mktemp("model") / "demo_model.onnx")


@pytest.fixture
def flight_factory(tmp_path: Path, demo_model: Path) -> Iterator[Callable[..., IntegrationApi]]:
    started: list[tuple[FlightProcess, IntegrationApi]] = []

    def start(overrides: Sequence[str] = (), topology: str | Path | None = None,
              run_dir: Path | None = None) -> IntegrationApi:
        run_dir = run_dir or tmp_path / f"flight{len(started)}"
        process = FlightProcess(run_dir, topology, [f"cluster.model=\"{demo_model}\"",
                                                    "mission.fault_injection=true", *overrides])
        process.start()
        try:
            api = IntegrationApi(process.connect(), process=process)
        except BaseException:      # a flight the test never gets must not outlive it
            process.kill()
            raise
        started.append((process, api))
        return api

    yield start
    for process, api in started:
        try:
            api.station.close()
        finally:
            process.kill()


@pytest.fixture
def flight(flight_factory: Callable[..., IntegrationApi]) -> IntegrationApi:
    return flight_factory()
