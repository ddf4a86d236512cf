"""``orbitfs-xtce``: the mission dictionary as an XTCE 1.2 document, for Yamcs and other XTCE grounds.

    orbitfs-xtce dictionary.json -o orbitfs.xml
    orbitfs-xtce --run-dir runs/flight -o orbitfs.xml     # the dictionary named in flight-ready.json

Built with yamcs-pymdb. One SpaceSystem named after the mission holds the packet headers; each
component is a child SpaceSystem (XTCE names may not contain ``.``: channel ``cluster.Mode`` is
``/MISSION/cluster/Mode``) holding its channels, its commands and its housekeeping container.

What it says, bit for bit as flight.wire encodes it:
- every channel: a parameter of its wire type (big-endian integers, IEEE-754 floats, BOOL as one
  byte 0/1, STRING as a one-byte length then UTF-8), its units, its description; limits as a
  threshold alarm (yellow = WARNING, red = CRITICAL, inclusive as flight.core.types.Limits); an
  enumeration's limits as the alarm level of each state, a BOOL channel with limits being the
  enumeration False/True (read back, only the boolean's give thresholds again);
  an enumeration as an XTCE EnumeratedParameterType over the channel's integer encoding;
- TM packets: the abstract container ``pus_tm`` (CCSDS primary header, the PUS-C TM secondary
  header of flight.wire.pus: version, time status, service, subtype, message counter,
  destination, CUC 4+2 time as coarse and fine counts); ``hk_report`` extends it, restricted to
  the mission's APID and TM[3,25], with the structure id; each component's ``HK`` extends that,
  restricted to its structure id, with its channels in report order and the packet CRC;
- events: ``event_report`` (TM[5,1..4]) with the event id; each event's container restricted to
  its id, its arguments as parameters ``EVENT_ARGUMENT`` of the component;
- commands: the abstract ``pus_tc`` (primary header with the APID, sequence flags unsegmented,
  the PUS-C TC secondary header with every acknowledgement flag asked for, source id 0),
  ``function`` (TC[8,1]) extends it, and each command extends that with its opcode (the function
  id, 16 bits) and its arguments (types, ranges, enumerations, descriptions); ``ping`` is TC[17,1].
The component index, channel id, command opcode and event id are also aliases in the namespace ``orbitfs``.

What XTCE/pymdb cannot say, and the ground must (the Yamcs configuration in the README does):
- the TC's sequence count, packet length and CRC-16/CCITT-FALSE are left 0 / absent: a TC
  post-processor fills them (Yamcs: PusCommandPostprocessor with errorDetection CRC-16-CCIIT);
- a STRING channel's units (pymdb writes none for a string type; no channel has any today);
- the TM CRC is a parameter, not checked (Yamcs: PusPacketPreprocessor with errorDetection);
- the event's message (its format string with the arguments) is the container's description:
  XTCE has no event type, turning a report into an event needs a Yamcs algorithm or plugin;
- ST[20] parameters, ST[11] schedules, file transfer (CFDP) and the link (TC/TM frames, COP-1,
  SDLS) are not exported: flight.wire.dictionary's ``link`` section and the ground simulator
  keep them. A command's ``test_equipment`` flag is the alias ``orbitfs-test-equipment``.

| requirement | verified by |
| the document validates against the XTCE 1.2 schema | tests/unit/ground/test_xtce.py |
| every command and channel round-trips (name, opcode, types, ranges, units, limits, enumerations) |   |
|   (also for generated dictionaries) | tests/unit/ground/test_xtce.py |
| the housekeeping containers decode a real HK packet to its values | tests/unit/ground/test_xtce.py |
| bad input: one line, exit 2 | tests/unit/ground/test_xtce.py |
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path
from typing import Any

try:
    from yamcs import pymdb as mdb
except ImportError:            # the ground extra is not installed: main says so in one line
    mdb = None

from flight.cli_common import add_common_options, configure_logging
from flight.core.catalog import ChannelDef
from flight.core.types import DataType, Field, Limits
from flight.wire import services as st
from flight.wire.dictionary import Dictionary
from flight.wire.pus import AckFlags, PUS_VERSION

ALIAS = "orbitfs"
BOOLEAN_STATES = ((0, "False"), (1, "True"))


def encoding(data_type: DataType) -> mdb.Encoding:
    """The XTCE data encoding of a flight.core.types wire type (big-endian, as DataType.encode)."""
    if data_type is DataType.STRING:   # a length octet, then UTF-8 (DataType.encode)
        return mdb.StringEncoding(length_bits=8, max_bits=8 * 255, charset=mdb.Charset.UTF_8, termination=None)
    bits = 8 * struct.calcsize(data_type.value)
    if data_type.is_float:
        return mdb.FloatEncoding(bits=bits)
    signed = data_type.value.islower()   # BOOL ("?"): one unsigned byte, 0 or 1
    return mdb.IntegerEncoding(bits=bits, scheme=mdb.IntegerEncodingScheme.TWOS_COMPLEMENT if signed
                               else mdb.IntegerEncodingScheme.UNSIGNED)


def _bits(data_type: DataType) -> int:
    return encoding(data_type).bits or 0


def _alarm(channel: ChannelDef) -> mdb.ThresholdAlarm | None:
    limits = channel.limits
    if limits is None or limits == Limits():
        return None
    return mdb.ThresholdAlarm(warning_low=limits.yellow_low, warning_high=limits.yellow_high,
                              critical_low=limits.red_low, critical_high=limits.red_high)


def _enumeration_alarm(channel: ChannelDef) -> mdb.EnumerationAlarm | None:
    """XTCE gives an enumeration (and a boolean) no thresholds: its limits become the level each state
    gets (a BOOL channel with limits is the enumeration False/True)."""
    if channel.limits is None:
        return None
    levels = {"red": mdb.AlarmLevel.CRITICAL, "yellow": mdb.AlarmLevel.WARNING}
    states = {label: levels[state] for value, label in channel.enumeration or BOOLEAN_STATES
              if (state := channel.limits.classify(value)) in levels}
    return mdb.EnumerationAlarm(states) if states else None   # XTCE: an alarm list is never empty


def _parameter(system: mdb.System, name: str, data_type: DataType, *, units: str = "", description: str = "",
               enumeration: tuple = (), alarm: mdb.ThresholdAlarm | mdb.EnumerationAlarm | None = None,
               aliases: dict[str, str] | None = None) -> mdb.Parameter:
    common: dict[str, Any] = {"system": system, "name": name, "units": units or None, "aliases": aliases,
                              "short_description": description or None, "encoding": encoding(data_type)}
    if enumeration or isinstance(alarm, mdb.EnumerationAlarm):
        return mdb.EnumeratedParameter(choices=list(enumeration or BOOLEAN_STATES), alarm=alarm, **common)
    if data_type is DataType.STRING:
        return mdb.StringParameter(**common)
    if data_type is DataType.BOOL:
        return mdb.BooleanParameter(**common)
    if data_type.is_float:
        return mdb.FloatParameter(bits=_bits(data_type), alarm=alarm, **common)
    return mdb.IntegerParameter(signed=data_type.value.islower(), bits=_bits(data_type), alarm=alarm, **common)


def _argument(field: Field) -> mdb.Argument:
    common: dict[str, Any] = {"name": field.name, "short_description": field.description or None,
                              "encoding": encoding(field.type)}
    data_type = field.type
    if field.enumeration:
        return mdb.EnumeratedArgument(choices=list(field.enumeration), **common)
    if data_type is DataType.STRING:
        return mdb.StringArgument(max_length=255, **common)
    if data_type is DataType.BOOL:
        return mdb.BooleanArgument(**common)
    if data_type.is_float:
        return mdb.FloatArgument(bits=_bits(data_type), minimum=field.low, maximum=field.high, **common)
    return mdb.IntegerArgument(signed=data_type.value.islower(), bits=_bits(data_type),
                               minimum=None if field.low is None else int(field.low),
                               maximum=None if field.high is None else int(field.high), **common)


class XtceExport:
    """Builds the pymdb system of one dictionary; :meth:`xml` renders it."""

    def __init__(self, dictionary: Dictionary) -> None:
        self.dictionary = dictionary
        self.root = mdb.System(dictionary.mission, short_description=f"orbitfs mission {dictionary.mission}, "
                               f"dictionary digest {dictionary.digest:08x}")
        self.subsystems = {name: mdb.Subsystem(self.root, name, aliases={ALIAS: str(index)})
                           for name, index in dictionary.components.items()}
        self.channels: dict[int, mdb.Parameter] = {}
        self._tm_headers()
        self._channels()
        self._housekeeping()
        self._events()
        self._commands()

    def xml(self) -> str:
        return self.root.dumps(format="xtce-1.2",
                               top_comment=f"XTCE of the orbitfs dictionary of {self.dictionary.mission}")

    def _subsystem(self, qualified: str) -> tuple[mdb.System, str]:
        component, _, name = qualified.partition(".")
        return self.subsystems[component], name

    # --- telemetry ----------------------------------------------------------------------------
    def _tm_headers(self) -> None:
        root = self.root
        fields = [("ccsds_version", 3), ("ccsds_type", 1), ("ccsds_secondary_header", 1), ("ccsds_apid", 11),
                  ("ccsds_sequence_flags", 2), ("ccsds_sequence_count", 14), ("ccsds_packet_length", 16),
                  ("pus_version", 4), ("pus_time_status", 4), ("pus_service", 8), ("pus_subtype", 8),
                  ("pus_message_counter", 16), ("pus_destination_id", 16), ("pus_time_coarse", 32),
                  ("pus_time_fine", 16)]
        self.header = {name: mdb.IntegerParameter(root, name, signed=False, bits=32,
                                                  encoding=mdb.IntegerEncoding(bits=bits))
                       for name, bits in fields}
        self.header["pus_time_fine"].units = "1/65536 s"
        self.header["pus_time_coarse"].units = "s since 1970-01-01T00:00:00Z"
        self.crc = mdb.IntegerParameter(root, "packet_crc", signed=False, bits=16, encoding=mdb.uint16_t,
                                        short_description="CRC-16/CCITT-FALSE over the packet before it")
        self.pus_tm = mdb.Container(root, "pus_tm", [mdb.ParameterEntry(p) for p in self.header.values()],
                                    abstract=True, short_description="CCSDS space packet with a PUS-C TM header")

    def _report(self, name: str, service: int, subtypes: tuple[int, ...], id_name: str,
                description: str) -> tuple[mdb.Container, mdb.Parameter]:
        """An abstract container of TM[service, subtypes] (a TM packet of the mission's APID), led by a U16 id."""
        identifier = mdb.IntegerParameter(self.root, id_name, signed=False, bits=16, encoding=mdb.uint16_t)
        header = self.header
        subtype = (mdb.eq(header["pus_subtype"], subtypes[0]) if len(subtypes) == 1 else
                   mdb.any_of(*(mdb.eq(header["pus_subtype"], s) for s in subtypes)))
        condition = mdb.all_of(mdb.eq(header["ccsds_type"], 0), mdb.eq(header["ccsds_apid"], self.dictionary.apid),
                               mdb.eq(header["pus_service"], service), subtype)
        container = mdb.Container(self.root, name, [mdb.ParameterEntry(identifier)], base=self.pus_tm,
                                  abstract=True, condition=condition, short_description=description)
        return container, identifier

    def _channels(self) -> None:
        for channel in self.dictionary.channels:
            system, name = self._subsystem(channel.name)
            self.channels[channel.id] = _parameter(system, name, channel.type, units=channel.units,
                                                   description=channel.description,
                                                   enumeration=channel.enumeration,
                                                   alarm=_enumeration_alarm(channel)
                                                   if channel.enumeration or channel.type is DataType.BOOL
                                                   else _alarm(channel),
                                                   aliases={ALIAS: str(channel.id)})

    def _housekeeping(self) -> None:
        report, structure = self._report("hk_report", st.HOUSEKEEPING, (st.HK_REPORT,), "hk_structure_id",
                                         "TM[3,25] housekeeping report")
        for hk in self.dictionary.housekeeping:
            entries = [mdb.ParameterEntry(self.channels[c]) for c in hk.channels] + [mdb.ParameterEntry(self.crc)]
            mdb.Container(self.subsystems[hk.component], "HK", entries, base=report,
                          condition=mdb.eq(structure, hk.structure_id), aliases={ALIAS: str(hk.structure_id)},
                          short_description=f"housekeeping structure {hk.structure_id}")

    def _events(self) -> None:
        report, event_id = self._report("event_report", st.EVENT, (1, 2, 3, 4), "event_id",
                                        "TM[5,1..4] event report (subtype: severity)")
        for event in self.dictionary.events:
            system, name = self._subsystem(event.name)
            entries = [mdb.ParameterEntry(_parameter(system, f"{name}_{a.name}", a.type, description=a.description,
                                                     enumeration=a.enumeration))
                       for a in event.args] + [mdb.ParameterEntry(self.crc)]
            mdb.Container(system, f"EVENT_{name}", entries, base=report, condition=mdb.eq(event_id, event.id),
                          aliases={ALIAS: str(event.id)},
                          short_description=f"{event.severity.name}: {event.format}")

    # --- commands -----------------------------------------------------------------------------
    def _commands(self) -> None:
        apid = self.dictionary.apid
        header = [mdb.FixedValueEntry(f"{0x1800 | apid:04x}", "ccsds_packet_id", bits=16,
                                      short_description="version 0, TC, secondary header, APID"),
                  mdb.FixedValueEntry("c000", "ccsds_sequence_control", bits=16,
                                      short_description="unsegmented; the count is set by the post-processor"),
                  mdb.FixedValueEntry("0000", "ccsds_packet_length", bits=16,
                                      short_description="set by the post-processor"),
                  mdb.FixedValueEntry(f"{(PUS_VERSION << 4) | int(AckFlags.ALL):02x}", "pus_version_ack", bits=8,
                                      short_description="PUS-C, every verification report asked for")]
        pus_tc = mdb.Command(self.root, "pus_tc", abstract=True, entries=header,
                             short_description="CCSDS space packet with a PUS-C TC header (CRC appended after)")
        function = self._service(pus_tc, "function", st.FUNCTION, st.PERFORM_FUNCTION, abstract=True)
        self._service(pus_tc, "ping", st.TEST, st.PING, abstract=False)
        for command in self.dictionary.commands:
            system, name = self._subsystem(command.name)
            arguments = [_argument(a) for a in command.args]
            entries = [mdb.FixedValueEntry(f"{command.opcode:04x}", "function_id", bits=16)]
            mdb.Command(system, name, base=function, arguments=arguments,
                        entries=entries + [mdb.ArgumentEntry(a) for a in arguments],
                        short_description=command.description or None,
                        aliases={ALIAS: str(command.opcode),
                                 f"{ALIAS}-test-equipment": str(command.test_equipment).lower()})

    def _service(self, base: mdb.Command, name: str, service: int, subtype: int, abstract: bool) -> mdb.Command:
        entries = [mdb.FixedValueEntry(f"{service:02x}", "pus_service", bits=8),
                   mdb.FixedValueEntry(f"{subtype:02x}", "pus_subtype", bits=8),
                   mdb.FixedValueEntry("0000", "pus_source_id", bits=16)]
        return mdb.Command(self.root, name, base=base, abstract=abstract, entries=entries,
                           short_description=f"TC[{service},{subtype}]")


def export(dictionary: Dictionary) -> str:
    """The XTCE 1.2 document of ``dictionary``."""
    return XtceExport(dictionary).xml()


def _dictionary_path(args: argparse.Namespace) -> Path:
    if args.run_dir is None:
        return args.dictionary
    ready = args.run_dir / "flight-ready.json"
    try:
        return Path(json.loads(ready.read_text())["dictionary"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{ready}: not a flight's ready file naming its dictionary ({error})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbitfs-xtce", description=__doc__.split("\n")[0])
    parser.add_argument("dictionary", nargs="?", type=Path, help="dictionary JSON (orbitfs-dict)")
    parser.add_argument("--run-dir", type=Path,
                        help="a flight run directory: its flight-ready.json names the dictionary")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the XTCE file to write")
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    if (args.dictionary is None) == (args.run_dir is None):
        parser.error("give either a DICTIONARY or --run-dir")
    if mdb is None:
        print("orbitfs-xtce: the XTCE export needs yamcs-pymdb: pip install 'orbitfs[ground]'", file=sys.stderr)
        return 2
    try:
        path = _dictionary_path(args)
        dictionary = Dictionary.load(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"orbitfs-xtce: cannot read the dictionary: {error}", file=sys.stderr)
        return 2
    try:
        args.output.write_text(export(dictionary))
    except OSError as error:
        print(f"orbitfs-xtce: cannot write {args.output}: {error}", file=sys.stderr)
        return 2
    print(f"{args.output}: {len(dictionary.channels)} parameters, {len(dictionary.commands)} commands, "
          f"{len(dictionary.housekeeping)} housekeeping containers, {len(dictionary.events)} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
