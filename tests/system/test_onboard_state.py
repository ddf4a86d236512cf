"""What the on-board autonomy keeps across a SIGKILL, through the real SIL flight over real sockets
(flight.services.saved_state; the ground's side: ground_sim.onboard).

The ground adds a monitoring definition by channel name (PMON 9: ``monitor.Definitions``, the
monitor's own count of PMONs, above a high limit of 1, so it is violated as soon as it is
enabled) and an event-action by event and command names (PMON 9 above its limit -> SAFE). The
PMON fires, the action puts the flight in SAFE; the flight is killed with SIGKILL and started
again in the same run directory. Oracles: after the restart the flight is in SAFE (housekeeping),
says it resumed SAFE and why, reports both definitions (by name, enabled), the PMON fires again,
and after the ground takes the flight back to NOMINAL and re-arms the PMON, its action puts the
flight in SAFE again.
"""
from __future__ import annotations

import signal
import time

import pytest

from ground_sim.api import IntegrationApi
from ground_sim.console import Console
from ground_sim.flight_process import FlightProcess

SAFE_REASON = "PMON 9: too many PMONs"


def start(run_dir, archive, demo_model) -> tuple[FlightProcess, IntegrationApi]:
    flight = FlightProcess(run_dir, None, [f'cluster.model="{demo_model}"'])
    flight.start()
    return flight, IntegrationApi(flight.connect(archive), default_timeout=20, process=flight)


def mine(report: list[dict]) -> list[tuple]:
    """PMON 9's or the action on it, as (what, enabled)."""
    return [(d.get("channel") or (d["event"], d["argument"], d["command"]), d["enabled"]) for d in report
            if d.get("pmon") == 9 or d.get("argument") == "9"]


@pytest.mark.slow
def test_definitions_added_from_the_ground_and_the_mode_survive_a_sigkill(tmp_path, demo_model):
    began = time.monotonic()
    run_dir, archive = tmp_path / "flight", tmp_path / "archive.sqlite"
    flight, api = start(run_dir, archive, demo_model)
    try:
        api.onboard.add_event_action("monitor.AboveHighLimit", "modes.ENTER_SAFE", [SAFE_REASON], argument="9")
        mark = api.event_mark()
        api.onboard.add_monitor(9, "monitor.Definitions", high=1.0)
        api.await_event("monitor.AboveHighLimit", lambda args: args["pmon"] == 9, start=mark)
        api.await_event("modes.SafeModeEntered", {"reason": SAFE_REASON}, start=mark)
        flight.process.send_signal(signal.SIGKILL)
        flight.wait(10)
        api.station.close()
        restarted = time.monotonic()
        flight, api = start(run_dir, archive, demo_model)
        mark = api.event_mark()
        assert api.await_telemetry("modes.Mode", start=api.telemetry_mark("modes.Mode")) == 1
        api.await_event("modes.SafeModeResumed", {"reason": SAFE_REASON})
        api.await_event("monitor.AboveHighLimit", lambda args: args["pmon"] == 9)    # fires again
        assert mine(api.onboard.monitor_report()) == [("monitor.Definitions", True)]
        assert mine(api.onboard.event_action_report()) == [
            (("monitor.AboveHighLimit", "9", "modes.ENTER_SAFE"), True)]
        api.assert_event_count("monitor.SavedStateLost", 0)
        api.assert_event_count("eventAction.SavedStateLost", 0)
        api.onboard.exit_safe()
        mark = api.event_mark()
        api.onboard.disable_monitors(9)
        api.onboard.enable_monitors(9)                                           # re-armed: UNCHECKED
        api.await_event("eventAction.ActionTriggered", {"event": "monitor.AboveHighLimit", "argument": "9",
                                                        "request": "modes.ENTER_SAFE"},
                        start=mark)
        api.await_event("modes.SafeModeEntered", {"reason": SAFE_REASON}, start=mark)
        api.onboard.exit_safe()
        api.onboard.delete_monitors(9)
        api.onboard.delete_event_actions(("monitor.AboveHighLimit", "9"))
        assert mine(api.onboard.monitor_report()) == [] and mine(api.onboard.event_action_report()) == []
        api.send_and_assert_command("executive.SHUTDOWN")
        assert flight.wait(30) == 0
        print(f"\nrestart to SAFE resumed and definitions reported: {time.monotonic() - restarted:.1f} s; "
              f"{time.monotonic() - began:.1f} s in all")
    finally:
        api.station.close()
        flight.kill()


def test_the_console_defines_reports_and_deletes_by_names_and_switches_modes(flight, capsys):
    console = Console(flight)

    def run(line: str) -> str:
        console.onecmd(line)
        return capsys.readouterr().out

    try:
        assert "completed" in run("mon add 12 cluster.BatteryCharge 0.1 1.5 2")
        assert "completed" in run("ea add monitor.BelowLowLimit:12 dispatcher.NO_OP_STRING 'battery at 12'")
        assert any(line.split()[:4] == ["PMON", "12", "on", "cluster.BatteryCharge"]
                   for line in run("mon report").splitlines())
        assert "  on  monitor.BelowLowLimit:12 -> dispatcher.NO_OP_STRING" in run("ea report").splitlines()
        assert "completed" in run("safe from the console")
        flight.await_telemetry("modes.Mode", 1, start=flight.telemetry_mark("modes.Mode"))
        assert "completed" in run("nominal")
        assert "completed" in run("mon delete 12") and "completed" in run("ea delete monitor.BelowLowLimit:12")
        assert "PMON  12" not in run("mon report") and ":12 ->" not in run("ea report")
        assert "refused" in run("mon add 13 no.SUCH 0 1") and "usage" in run("ea nonsense")
        assert "refused" in run("nominal")                                   # NOMINAL already: INVALID_STATE
        assert "restored" in run("defaults")
    finally:
        console.onecmd("quit")


def test_the_readme_example_works_as_written(flight, readme_example):
    readme_example("flight.onboard.")(flight)
    assert 9 not in [d["pmon"] for d in flight.onboard.monitor_report()]
