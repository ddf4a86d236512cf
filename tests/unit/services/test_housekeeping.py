"""Tests of Housekeeping (the telemetry role): one TM[3,25] per component with channels, each
channel encoded as the dictionary declares, in order; a counter past its width is clamped."""
from __future__ import annotations

import struct

from flight.core.component import Channel, Component
from flight.core.types import DataType
from flight.testing import ComponentTester, kind_of

HK = {"name": "hk", "kind": "flight.services.housekeeping:Housekeeping"}


class Gauges(Component):
    CHANNELS = {"Count": Channel(DataType.U16), "Level": Channel(DataType.F32),
                "Name": Channel(DataType.STRING)}


class Quiet(Component):
    """No channels: no structure."""


def test_each_structure_is_reported_with_the_current_values(tmp_path):
    h = ComponentTester.build(tmp_path, [HK, {"name": "gauges", "kind": kind_of(Gauges)},
                                         {"name": "quiet", "kind": kind_of(Quiet)}])
    gauges = h.components["gauges"]
    gauges.tlm("Count", 70000)  # past U16: clamped to 65535, never a failed report
    gauges.tlm("Level", 2.5)
    gauges.tlm("Name", "kettle")
    h.components["hk"].tick(0, 0.0)
    reports = {struct.unpack_from(">H", data)[0]: data for service, subtype, data in h.downlinks
               if (service, subtype) == (3, 25)}
    structures = {s.component: s.structure_id for s in h.dictionary.housekeeping}
    assert set(structures) == {"hk", "gauges", "rgTest"}  # quiet has no channels
    assert reports.keys() == set(structures.values())
    body = reports[structures["gauges"]][2:]
    count, level, length = struct.unpack_from(">HfB", body)
    assert (count, level, body[7:7 + length].decode()) == (65535, 2.5, "kettle")
    assert len(body) == 7 + length
    assert h.components["hk"].telemetry["ReportsSent"] == 3


class Mode(Component):
    CHANNELS = {"Other": Channel(DataType.U16), "Mode": Channel(DataType.U8, every_report=True)}


def test_a_channel_declared_every_report_leads_every_structure_once(tmp_path):
    h = ComponentTester.build(tmp_path, [HK, {"name": "gauges", "kind": kind_of(Gauges)},
                                         {"name": "mode", "kind": kind_of(Mode)}])
    h.components["mode"].tlm("Mode", 1)
    h.components["mode"].tlm("Other", 7)
    h.components["gauges"].tlm("Count", 3)
    h.components["hk"].tick(0, 0.0)
    reports = {struct.unpack_from(">H", data)[0]: data[2:] for service, subtype, data in h.downlinks
               if (service, subtype) == (3, 25)}
    structures = {s.component: s for s in h.dictionary.housekeeping}
    assert set(structures) == {"hk", "gauges", "mode", "rgTest"}
    mode_id = h.dictionary.channel_by_name["mode.Mode"].id
    assert all(s.channels[0] == mode_id and s.channels.count(mode_id) == 1 for s in structures.values())
    assert struct.unpack_from(">BH", reports[structures["gauges"].structure_id]) == (1, 3)
    assert reports[structures["mode"].structure_id] == struct.pack(">BH", 1, 7)
