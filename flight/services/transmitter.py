"""Transmitter: when the downlink may go, from the one propagated orbit (flight.environment.orbit).

Each cycle it asks the orbit whether a ground station sees the satellite (at or above the
station's minimum elevation). A pass beginning and ending are events (``PassStarted``,
``PassEnded``, naming the station) and telemetry (``InPass``, ``PassCount``); it tells comms on its
``state`` port. With ``schedule = "passes"`` the transmitter is on only during a pass, as a LEO
satellite's radio is: comms frames nothing outside one, and what waits stays in the durable store
to go first when the next pass opens (alerts first). With ``schedule = "always"`` (the default,
for a loopback ground that is always there) it is always on, and passes are only reported.

| requirement | verified by |
|---|---|
| a pass begins and ends with an event and telemetry at the ticks the orbit says | tests/unit/services/test_transmitter.py |
| with schedule "passes" the transmitter is on exactly during passes; with "always", always |   |
|   | tests/unit/services/test_transmitter.py |
| comms frames nothing while the transmitter is off, and sends what waits once it is on | tests/unit/services/test_comms.py |
"""
from __future__ import annotations

from typing import Any

from flight.core.component import Channel, Component, Event
from flight.core.context import Context
from flight.core.ports import OutputPort
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.environment.orbit import mission_orbit
from flight.messages import TransmitterState


class Transmitter(Component):
    SETTINGS = {
        "schedule": Setting(str, "always", choices=("always", "passes"),
                            description="passes: the downlink transmits only while a station sees the satellite; "
                                        "always: at any time (a loopback ground)"),
    }
    CHANNELS = {
        "InPass": Channel(DataType.BOOL, description="a ground station sees the satellite"),
        "PassCount": Channel(DataType.U32, "passes", description="passes begun since start"),
        "TransmitterOn": Channel(DataType.BOOL, description="the downlink may send"),
    }
    EVENTS = {
        "PassStarted": Event(Severity.ACTIVITY, "Pass over {station} began: elevation above {elevation} deg",
                             (Field("station", DataType.STRING), Field("elevation", DataType.F32))),
        "PassEnded": Event(Severity.ACTIVITY, "Pass over {station} ended after {duration} s",
                           (Field("station", DataType.STRING), Field("duration", DataType.F32))),
    }
    state = OutputPort(TransmitterState, "whether the downlink may send, and the station in view", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.orbit = mission_orbit(context.mission)
        self.always = self.config["schedule"] == "always"
        self._station: str | None = None       # the station of the pass in progress
        self._began = 0.0
        self._on: bool | None = None

    def tick(self, tick: int, now: float) -> None:
        station = self.orbit.visible_station(now)
        name = station.name if station is not None else None
        if name != self._station:
            if self._station is not None:
                self.event("PassEnded", station=self._station, duration=now - self._began)
            if station is not None:
                self._began = now
                self.tlm("PassCount", self.telemetry["PassCount"] + 1)
                self.event("PassStarted", station=name, elevation=station.min_elevation_deg)
            self._station = name
        self.tlm("InPass", station is not None)
        on = self.always or station is not None
        if on != self._on:
            self._on = on
            self.tlm("TransmitterOn", on)
            self.state.send(TransmitterState(on, name or ""))
