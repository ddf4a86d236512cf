"""Read an XTCE document written by ground_sim.xtce back into a Dictionary: what the export says.

It reads what an XTCE ground reads (an enumeration exactly False/True is the export's BOOL channel
with limits): types from the data encodings, opcodes from the command's
fixed function-id entry, ranges, units, alarms and enumerations from the types, housekeeping from
the ``HK`` containers' restrictions and entries. Events and the link are not read back (the
export documents how they are carried). Used by tests to show the export loses nothing.

| requirement | verified by |
| an exported dictionary reads back with equal commands, channels and housekeeping | tests/unit/ground/test_xtce.py |
"""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from flight.core.catalog import ChannelDef, CommandDef, HousekeepingDef
from flight.core.types import DataType, Field, Limits
from flight.wire.dictionary import Dictionary

NS = {"x": "http://www.omg.org/spec/XTCE/20180204"}
ALIAS = "orbitfs"
BOOLEAN_STATES = ((0, "False"), (1, "True"))  # ground_sim.xtce: a BOOL channel with limits
_INTEGERS = {(8, False): DataType.U8, (16, False): DataType.U16, (32, False): DataType.U32,
             (64, False): DataType.U64, (8, True): DataType.I8, (16, True): DataType.I16,
             (32, True): DataType.I32, (64, True): DataType.I64}


def data_type(type_element: etree._Element) -> DataType:
    """The wire type an XTCE parameter or argument type encodes."""
    kind = etree.QName(type_element).localname
    if kind.startswith("Boolean"):
        return DataType.BOOL
    if kind.startswith("String"):
        return DataType.STRING
    if kind.startswith("Float"):
        bits = int(type_element.find("x:FloatDataEncoding", NS).get("sizeInBits"))
        return {32: DataType.F32, 64: DataType.F64}[bits]
    encoding = type_element.find("x:IntegerDataEncoding", NS)
    return _INTEGERS[int(encoding.get("sizeInBits")), encoding.get("encoding") == "twosComplement"]


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return int(text)  # exactly: a 64-bit range is past a float's precision
    except ValueError:
        return float(text)


def _enumeration(type_element: etree._Element) -> tuple[tuple[int, str], ...]:
    return tuple((int(e.get("value")), e.get("label"))
                 for e in type_element.iterfind("x:EnumerationList/x:Enumeration", NS))


def _alias(element: etree._Element, namespace: str = ALIAS) -> str | None:
    found = element.find(f"x:AliasSet/x:Alias[@nameSpace='{namespace}']", NS)
    return None if found is None else found.get("alias")


def _limits(type_element: etree._Element) -> Limits | None:
    ranges = type_element.find("x:DefaultAlarm/x:StaticAlarmRanges", NS)
    if ranges is None:
        return None
    warning, critical = ranges.find("x:WarningRange", NS), ranges.find("x:CriticalRange", NS)

    def bound(element: etree._Element | None, key: str) -> float | None:
        return None if element is None else _number(element.get(key))
    return Limits(red_low=bound(critical, "minInclusive"), yellow_low=bound(warning, "minInclusive"),
                  yellow_high=bound(warning, "maxInclusive"), red_high=bound(critical, "maxInclusive"))


def _boolean_limits(type_element: etree._Element) -> Limits:
    """The limits that give False and True the levels of the export's boolean enumeration alarm."""
    levels = {a.get("enumerationLabel"): a.get("alarmLevel")
              for a in type_element.iterfind("x:DefaultAlarm/x:EnumerationAlarmList/x:EnumerationAlarm", NS)}
    return Limits(red_low=1 if levels.get("False") == "critical" else None,
                  yellow_low=1 if levels.get("False") == "warning" else None,
                  yellow_high=0 if levels.get("True") == "warning" else None,
                  red_high=0 if levels.get("True") == "critical" else None)


def _channel(parameter: etree._Element, kind: etree._Element, name: str) -> ChannelDef:
    unit = kind.find("x:UnitSet/x:Unit", NS)
    units, description = "" if unit is None else unit.text, parameter.get("shortDescription", "")
    enumeration = _enumeration(kind)
    if enumeration == BOOLEAN_STATES:
        return ChannelDef(int(_alias(parameter) or 0), name, DataType.BOOL, units, _boolean_limits(kind), description)
    return ChannelDef(int(_alias(parameter) or 0), name, data_type(kind), units, _limits(kind), description,
                      enumeration)


def _channels(system: etree._Element, component: str) -> list[ChannelDef]:
    types = {t.get("name"): t for t in system.iterfind("x:TelemetryMetaData/x:ParameterTypeSet/*", NS)}
    channels = []
    for parameter in system.iterfind("x:TelemetryMetaData/x:ParameterSet/x:Parameter", NS):
        if _alias(parameter) is not None:  # else an event's argument
            channels.append(_channel(parameter, types[parameter.get("parameterTypeRef")],
                                     f"{component}.{parameter.get('name')}"))
    return channels


def _argument(argument: etree._Element, kind: etree._Element) -> Field:
    valid = kind.find("x:ValidRangeSet/x:ValidRange", NS)
    low = None if valid is None else _number(valid.get("minInclusive"))
    high = None if valid is None else _number(valid.get("maxInclusive"))
    return Field(argument.get("name"), data_type(kind), low, high, argument.get("shortDescription", ""),
                 _enumeration(kind))


def _commands(system: etree._Element, component: str) -> list[CommandDef]:
    types = {t.get("name"): t for t in system.iterfind("x:CommandMetaData/x:ArgumentTypeSet/*", NS)}
    commands = []
    for command in system.iterfind("x:CommandMetaData/x:MetaCommandSet/x:MetaCommand", NS):
        function_id = command.find("x:CommandContainer/x:EntryList/x:FixedValueEntry[@name='function_id']", NS)
        arguments = tuple(_argument(a, types[a.get("argumentTypeRef")])
                          for a in command.iterfind("x:ArgumentList/x:Argument", NS))
        commands.append(CommandDef(int(function_id.get("binaryValue"), 16), f"{component}.{command.get('name')}",
                                   arguments, command.get("shortDescription", ""),
                                   _alias(command, f"{ALIAS}-test-equipment") == "true"))
    return commands


def _housekeeping(system: etree._Element, component: str, ids: dict[str, int]) -> HousekeepingDef | None:
    container = system.find("x:TelemetryMetaData/x:ContainerSet/x:SequenceContainer[@name='HK']", NS)
    if container is None:
        return None
    value = container.find("x:BaseContainer/x:RestrictionCriteria/x:BooleanExpression/x:Condition/x:Value", NS)
    channels = []
    for entry in container.iterfind("x:EntryList/x:ParameterRefEntry", NS):
        reference = entry.get("parameterRef")
        if reference != "../packet_crc":
            owner, _, name = reference.rpartition("/")
            channels.append(ids[f"{owner.rpartition('/')[2] or component}.{name}"])
    return HousekeepingDef(int(value.text), component, tuple(channels))


def read(path: str | Path) -> Dictionary:
    """The dictionary (mission, APID, components, commands, channels, housekeeping) an XTCE file says."""
    root = etree.parse(str(path)).getroot()
    packet_id = root.find("x:CommandMetaData/x:MetaCommandSet/x:MetaCommand[@name='pus_tc']"
                          "/x:CommandContainer/x:EntryList/x:FixedValueEntry[@name='ccsds_packet_id']", NS)
    systems = [(s.get("name"), s) for s in root.iterfind("x:SpaceSystem", NS)]
    channels = [c for name, s in systems for c in _channels(s, name)]
    ids = {c.name: c.id for c in channels}
    housekeeping = [h for name, s in systems if (h := _housekeeping(s, name, ids)) is not None]
    return Dictionary(root.get("name"), int(packet_id.get("binaryValue"), 16) & 0x7FF,
                      components={name: int(_alias(s) or 0) for name, s in systems},
                      commands=[c for name, s in systems for c in _commands(s, name)],
                      channels=channels, housekeeping=housekeeping)
