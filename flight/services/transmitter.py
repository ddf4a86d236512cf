"""Transmitter: when the downlink may go, from the one propagated orbit (flight.environment.orbit).

Each cycle it asks the orbit whether a ground station sees the satellite (at or above the station's
minimum elevation). A pass beginning and ending are events (``PassStarted``, ``PassEnded``) naming
the station and the time the elevation crossed its minimum (found by bisection between the two
cycles, to a millisecond, so the report does not depend on the tick rate), and telemetry
(``InPass``, ``PassCount``); it tells comms on its ``state`` port. With ``schedule = "passes"`` the
transmitter is on only during a pass, as a LEO satellite's radio is: comms frames nothing outside
one, and what waits stays in the durable store to go first when the next pass opens (alerts first).
With ``schedule = "always"`` (the default, for a loopback ground that is always there) it is always
on, and passes are only reported.

| requirement | verified by |
|---|---|
| a pass begins and ends with an event and telemetry at the ticks the orbit says, the crossing |   |
|   time in the event within a millisecond of the orbit's |   |
|   | tests/unit/services/test_transmitter.py |
| with schedule "passes" the transmitter is on exactly during passes; with "always", always |   |
|   | tests/unit/services/test_transmitter.py |
| comms frames nothing while the transmitter is off, and sends what waits once it is on |   |
|   | tests/unit/services/test_comms.py |
"""
from __future__ import annotations

from typing import Any

from flight.core.component import Channel, Component, Event
from flight.core.context import Context
from flight.core.ports import OutputPort
from flight.core.settings import Setting
from flight.core.types import DataType, Field, Severity
from flight.environment.orbit import Station, mission_orbit
from flight.environment.passes import crossing
from flight.messages import TransmitterState

CROSSING_TOLERANCE_S = 0.001


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
        "PassStarted": Event(Severity.ACTIVITY, "Pass over {station} began at {at} (above {elevation} deg)",
                             (Field("station", DataType.STRING), Field("at", DataType.F64),
                              Field("elevation", DataType.F32))),
        "PassEnded": Event(Severity.ACTIVITY, "Pass over {station} ended at {at} after {duration} s",
                           (Field("station", DataType.STRING), Field("at", DataType.F64),
                            Field("duration", DataType.F32))),
    }
    state = OutputPort(TransmitterState, "whether the downlink may send, and the station in view", required=True)

    def __init__(self, name: str, context: Context, config: dict[str, Any] | None = None) -> None:
        super().__init__(name, context, config)
        self.orbit = mission_orbit(context.mission)
        self.always = self.config["schedule"] == "always"
        self._station: Station | None = None   # the station of the pass in progress
        self._began = 0.0
        self._on: bool | None = None
        self._last: float | None = None         # the mission time of the last cycle

    def tick(self, tick: int, now: float) -> None:
        station = self.orbit.visible_station(now)
        name = station.name if station is not None else None
        if station != self._station:
            before = self._last if self._last is not None else now
            if self._station is not None:
                at = crossing(self.orbit, self._station, before, now, False, CROSSING_TOLERANCE_S)
                self.event("PassEnded", station=self._station.name, at=at, duration=at - self._began)
            if station is not None:
                self._began = crossing(self.orbit, station, before, now, True, CROSSING_TOLERANCE_S)
                self.tlm("PassCount", self.telemetry["PassCount"] + 1)
                self.event("PassStarted", station=name, at=self._began, elevation=station.min_elevation_deg)
            self._station = station
        self._last = now
        self.tlm("InPass", station is not None)
        on = self.always or station is not None
        if on != self._on:
            self._on = on
            self.tlm("TransmitterOn", on)
            self.state.send(TransmitterState(on, name or ""))
