"""Tests of the ModeManager (flight/services/modes.py) in process, with the camera and a stand-in
for the cluster on its ``flight_mode`` port, the dispatcher (for the ST[1] codes) and housekeeping
(the mode in every report)."""
from __future__ import annotations

import struct

import pytest

from flight.core.component import Channel, CommandRefused, Component
from flight.core.durable import DurableRecord
from flight.core.ports import input_port
from flight.core.types import DataType
from flight.messages import FlightMode, RawTelecommand, TmPacket
from flight.testing import ComponentTester, kind_of
from flight.wire.failure import FailureCode
from flight.wire.pus import AckFlags, Telecommand


class Payload(Component):
    """Stands for the cluster: remembers the modes it was told."""

    CHANNELS = {"Parked": Channel(DataType.BOOL)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.told: list[FlightMode] = []

    @input_port(FlightMode, "the flight's mode")
    def flight_mode(self, mode: FlightMode) -> None:
        self.told.append(mode)
        self.tlm("Parked", mode.safe)


@pytest.fixture
def h(tmp_path):
    h = ComponentTester.build(tmp_path, [
        {"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
        {"name": "hk", "kind": "flight.services.housekeeping:Housekeeping"},
        {"name": "camera", "kind": "flight.payload.camera:Camera"},
        {"name": "payload", "kind": kind_of(Payload)},
        {"name": "modes", "kind": "flight.services.modes:ModeManager"}],
        connections=["modes.flight_mode -> payload.flight_mode", "modes.flight_mode -> camera.flight_mode"],
        mission={"apid": 1})
    h.start("camera", "modes")
    return h


def command(h, name, args=b"") -> int | None:
    """Send ``name`` as TC[8,1]; its ST[1] failure code, or None."""
    opcode = h.dictionary.command_by_name[name].opcode
    h.clear()
    h.send("dispatcher.tc", RawTelecommand((Telecommand(1, 9, 8, 1, struct.pack(">H", opcode) + args,
                                                         AckFlags.ALL).encode(),)))
    codes = [struct.unpack(">H", d[4:6])[0] for s, t, d in h.downlinks if s == 1 and t % 2 == 0]
    return codes[0] if codes else None


def test_enter_safe_tells_the_payload_and_stops_imaging_and_nominal_undoes_it(h):
    camera, payload, modes = h.components["camera"], h.components["payload"], h.components["modes"]
    camera.START_IMAGING(50, 0)
    assert command(h, "modes.ENTER_SAFE", b"\x0bbattery low") is None
    assert payload.told == [FlightMode(True, "battery low")] and modes.telemetry["Mode"] == 1
    assert camera.telemetry["FramesRemaining"] == 0
    assert h.events_named("SafeModeEntered") == [("modes", "SafeModeEntered", ["battery low"])]
    with pytest.raises(CommandRefused):
        camera.START_IMAGING(1, 0)
    assert command(h, "modes.ENTER_NOMINAL") is None
    assert payload.told[-1] == FlightMode(False, "commanded") and modes.telemetry["Mode"] == 0
    camera.START_IMAGING(1, 0)


def test_asking_for_the_current_mode_is_refused_with_invalid_state(h):
    assert command(h, "modes.ENTER_NOMINAL") == FailureCode.INVALID_STATE
    assert command(h, "modes.ENTER_SAFE", b"\x00") is None
    assert command(h, "modes.ENTER_SAFE", b"\x00") == FailureCode.INVALID_STATE
    assert h.components["payload"].told == [FlightMode(True, "commanded")]  # told once


def test_the_mode_leads_every_housekeeping_report(h):
    command(h, "modes.ENTER_SAFE", b"\x00")
    h.clear()
    h.components["hk"].tick(0, 0.0)
    reports = [d for s, t, d in h.downlinks if (s, t) == (3, 25)]
    mode_id = h.dictionary.channel_by_name["modes.Mode"].id
    assert len(reports) == len(h.dictionary.housekeeping) >= 4
    for structure in h.dictionary.housekeeping:
        assert structure.channels[0] == mode_id and list(structure.channels).count(mode_id) == 1
    assert all(report[2] == 1 for report in reports)  # U8 right after the structure id: SAFE


def test_a_flight_started_in_safe_tells_its_followers_at_start(tmp_path):
    h = ComponentTester.build(tmp_path, [{"name": "payload", "kind": kind_of(Payload)},
                                         {"name": "modes", "kind": "flight.services.modes:ModeManager",
                                          "mode": "SAFE"}],
                              connections=["modes.flight_mode -> payload.flight_mode"])
    h.start()
    assert h.components["payload"].told == [FlightMode(True, "started in SAFE")]
    assert h.components["modes"].telemetry["Mode"] == 1


def restarted(run_dir, mode="NOMINAL"):
    """A mode manager built and started in ``run_dir`` (a restart, when one ran there before)."""
    h = ComponentTester.build(run_dir, [{"name": "dispatcher", "kind": "flight.services.dispatcher:CommandDispatcher"},
                                        {"name": "payload", "kind": kind_of(Payload)},
                                        {"name": "modes", "kind": "flight.services.modes:ModeManager", "mode": mode}],
                              connections=["modes.flight_mode -> payload.flight_mode"], mission={"apid": 1})
    h.start("modes")
    return h


def test_a_flight_killed_in_safe_resumes_safe_with_the_reason_saved_until_nominal(tmp_path):
    h = restarted(tmp_path)
    assert command(h, "modes.ENTER_SAFE", b"\x0bbattery low") is None   # the first is left as a SIGKILL leaves it
    again = restarted(tmp_path)
    assert again.components["modes"].telemetry["Mode"] == 1
    assert again.components["payload"].told == [FlightMode(True, "battery low")]
    assert again.events_named("SafeModeResumed") == [("modes", "SafeModeResumed", ["battery low"])]
    assert command(again, "modes.ENTER_NOMINAL") is None
    third = restarted(tmp_path, mode="SAFE")   # a saved NOMINAL wins over the setting
    assert third.components["modes"].telemetry["Mode"] == 0 and third.components["payload"].told == []
    assert third.events_named("SafeModeResumed") == []


def test_the_mode_is_on_disk_before_the_command_completes(tmp_path):
    h = restarted(tmp_path)
    seen = []

    class Watch(list):   # reads the file at the instant TM[1,7] goes out
        def append(self, message) -> None:
            if isinstance(message, TmPacket) and (message.service, message.subtype) == (1, 7):
                seen.append(DurableRecord(tmp_path / "mode.state", 1024).load())
            super().append(message)

    h._sent_in_order = Watch()
    assert command(h, "modes.ENTER_SAFE", b"\x03hot") is None
    assert seen == [{"ids": 0, "state": {"mode": "SAFE", "reason": "hot"}}]


def test_an_unreadable_mode_file_is_moved_aside_and_the_setting_used(tmp_path):
    (tmp_path / "mode.state").write_bytes(b"\x01" * 2048)
    h = restarted(tmp_path, mode="SAFE")
    assert h.components["modes"].telemetry["Mode"] == 1
    assert (tmp_path / "mode.state.corrupt-1").exists()
    [(_, _, [detail])] = h.events_named("ModeStateLost")
    assert "no valid copy" in detail
