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
