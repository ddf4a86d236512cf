"""Tests of the EventLog (the events role): every component's events become ST[5] reports with
their catalog id and arguments, and lines in the flight log."""
from __future__ import annotations

import struct

from flight.core.component import Component, Event
from flight.core.types import DataType, Field, Severity
from flight.testing import ComponentTester, kind_of

EVENT_LOG = {"name": "eventLog", "kind": "flight.services.event_log:EventLog"}


class Talker(Component):
    EVENTS = {
        "Said": Event(Severity.WARNING_HI, "{text} at {tick} ({value})",
                      (Field("text", DataType.STRING), Field("tick", DataType.U32),
                       Field("value", DataType.F64), Field("flag", DataType.BOOL))),
        "Hello": Event(Severity.ACTIVITY, "hello"),
    }


def test_events_become_st5_reports_and_log_lines(tmp_path, caplog):
    h = ComponentTester.build(tmp_path, [EVENT_LOG, {"name": "talker", "kind": kind_of(Talker)}])
    talker = h.components["talker"]
    with caplog.at_level("INFO", logger="flight.events"):
        talker.event("Hello")
        talker.event("Said", text="héllo", tick=2, value=1.5, flag=True)
    reports = h.sent["eventLog.tm"]
    assert [(r.service, r.subtype) for r in reports] == [(5, 1), (5, 3)]
    hello, said = reports[0].app_data, reports[1].app_data
    # talker is component 2: Said is its event 1 (0x0201), Hello its event 2 (0x0202)
    assert hello == struct.pack(">H", 0x0202)
    event_id, length = struct.unpack_from(">HB", said)
    text = said[3:3 + length].decode("utf-8")
    tick, value, flag = struct.unpack_from(">Id?", said, 3 + length)
    assert (event_id, text, tick, value, flag) == (0x0201, "héllo", 2, 1.5, True)
    assert len(said) == 3 + length + 4 + 8 + 1
    assert h.dictionary.event_by_id[event_id].name == "talker.Said"
    assert "EVENT WARNING_HI talker.Said: héllo at 2 (1.5)" in caplog.text
    assert "EVENT ACTIVITY talker.Hello: hello" in caplog.text
    assert h.components["eventLog"].telemetry["EventsReported"] == 2


def test_a_string_from_the_ground_cannot_forge_a_log_line(tmp_path, caplog):
    h = ComponentTester.build(tmp_path, [EVENT_LOG, {"name": "talker", "kind": kind_of(Talker)}])
    forged = "ok\n2026-12-02 00:00:00,000 INFO flight.executive: \x1b[2Jall clear\r"
    with caplog.at_level("INFO", logger="flight.events"):
        h.components["talker"].event("Said", text=forged, tick=1, value=0.0, flag=False)
    [line] = [r.getMessage() for r in caplog.records]
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "ok\\n2026-12-02 00:00:00,000 INFO flight.executive: \\x1b[2Jall clear\\r" in line
    assert forged.encode() in h.sent["eventLog.tm"][0].app_data  # the ST[5] report carries it as sent
