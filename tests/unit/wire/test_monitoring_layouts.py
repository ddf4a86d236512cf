"""The ST[12] and ST[19] layouts (flight/wire/monitoring.py, flight/wire/event_action.py, read with
flight/wire/cursor.py): round trips over random values, refusals of every truncation and of bytes
left over, and the ground's decoding of each report (ground_sim/onboard_reports.py)."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from flight.wire import event_action as wa
from flight.wire import monitoring as wm
from flight.wire.event_action import Key
from flight.wire.failure import FailureCode, PacketError
from flight.wire.monitoring import CheckType, PmonDefinition, Status, Transition
from flight.wire.pus import AckFlags, Telecommand
from ground_sim.onboard_reports import decode_onboard

u16 = st.integers(0, 0xFFFF)
u64 = st.integers(0, (1 << 64) - 1)
floats = st.floats(allow_nan=False)


@st.composite
def definitions(draw) -> PmonDefinition:
    check = draw(st.sampled_from(CheckType))
    head = (draw(u16), draw(u16), draw(u16), draw(u16), check)
    if check is CheckType.EXPECTED_VALUE:
        return PmonDefinition(*head, mask=draw(u64), expected=draw(u64))
    return PmonDefinition(*head, draw(floats), draw(floats))


transitions = st.builds(Transition, u16, u16, st.sampled_from(CheckType), floats, floats, st.sampled_from(Status),
                        st.sampled_from(Status), st.integers(0, 2**32 - 1).map(lambda s: s / 1.0))
keys = st.builds(Key, u16, st.text(max_size=20))
requests = st.builds(lambda seq, data: Telecommand(1, seq, 8, 1, data, AckFlags.ALL).encode(),
                     st.integers(0, 0x3FFF), st.binary(max_size=40))


@given(st.lists(definitions(), max_size=5))
def test_definitions_round_trip(items):
    assert wm.unpack_definitions(wm.pack_definitions(items)) == items


@given(u16, st.lists(st.tuples(st.booleans(), definitions()), max_size=5))
def test_the_definition_report_round_trips(delay, items):
    assert wm.unpack_definition_report(wm.pack_definition_report(delay, items)) == (delay, items)


@given(st.lists(transitions, max_size=5))
def test_transitions_round_trip(items):
    assert wm.unpack_transitions(wm.pack_transitions(items)) == items


@given(st.lists(u16, max_size=8), st.lists(st.tuples(u16, st.booleans()), max_size=8))
def test_ids_and_statuses_round_trip(ids, statuses):
    assert wm.unpack_ids(wm.pack_ids(ids)) == ids
    assert wm.unpack_status_report(wm.pack_status_report(statuses)) == statuses


@given(st.lists(keys, max_size=5), st.lists(st.tuples(keys, requests), max_size=4),
       st.lists(st.tuples(keys, st.booleans()), max_size=4))
def test_event_action_layouts_round_trip(key_list, additions, statuses):
    assert wa.unpack_keys(wa.pack_keys(key_list)) == key_list
    assert wa.unpack_additions(wa.pack_additions(additions)) == additions
    assert wa.unpack_status_report(wa.pack_status_report(statuses)) == statuses
    report = [(k, e, r) for (k, r), (_, e) in zip(additions, statuses)]
    assert wa.unpack_definition_report(wa.pack_definition_report(report)) == report


@pytest.mark.parametrize("packed, unpack", [
    (wm.pack_definitions([PmonDefinition(1, 2, 3, 4, CheckType.LIMIT, -1.0, 1.0),
                          PmonDefinition(5, 6, 7, 8, CheckType.EXPECTED_VALUE, mask=3, expected=1)]),
     wm.unpack_definitions),
    (wm.pack_transitions([Transition(1, 2, CheckType.DELTA, 0.5, 1.0, Status.UNCHECKED, Status.WITHIN_THRESHOLD, 9.0)]),
     wm.unpack_transitions),
    (wa.pack_additions([(Key(0x0301, "card0"), Telecommand(1, 5, 8, 1, b"\x01\x02").encode())]), wa.unpack_additions),
    (wa.pack_keys([Key(7, "x"), Key(8)]), wa.unpack_keys),
])
def test_every_truncation_and_any_byte_left_over_is_refused(packed, unpack):
    for cut in range(len(packed)):
        with pytest.raises((PacketError, ValueError)):
            unpack(packed[:cut])
    with pytest.raises(PacketError) as refused:
        unpack(packed + b"\0")
    assert refused.value.code is FailureCode.BAD_ARGUMENTS


def test_the_ground_decodes_every_report_and_claims_no_other():
    definition = PmonDefinition(1, 0x0B0C, 1, 3, CheckType.LIMIT, -math.inf, 75.0)
    transition = Transition(1, 0x0B0C, CheckType.LIMIT, 80.0, 75.0, Status.WITHIN_LIMITS, Status.ABOVE_HIGH_LIMIT,
                            100.5)
    kind, value = decode_onboard(12, 12, wm.pack_transitions([transition]))
    assert kind == "check transitions" and value[0]["current"] == "ABOVE_HIGH_LIMIT" and value[0]["time"] == 100.5
    assert decode_onboard(12, 11, wm.pack_transitions([]))[0] == "out of limits"
    kind, value = decode_onboard(12, 9, wm.pack_definition_report(4, [(True, definition)]))
    assert value["max_reporting_delay"] == 4 and value["definitions"][0]["high"] == 75.0
    assert decode_onboard(12, 14, wm.pack_status_report([(1, True)]))[1] == [{"pmon": 1, "enabled": True}]
    assert decode_onboard(19, 7, wa.pack_status_report([(Key(3, "a"), False)]))[1] == [
        {"event_id": 3, "argument": "a", "enabled": False}]
    request = Telecommand(1, 0, 8, 1, b"\0\1").encode()
    (entry,) = decode_onboard(19, 11, wa.pack_definition_report([(Key(3), True, request)]))[1]
    assert entry["request"] == request.hex()
    assert decode_onboard(12, 5, b"") is None and decode_onboard(3, 25, b"") is None
