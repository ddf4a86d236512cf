"""XTCE export of the dictionary (ground_sim/xtce.py, read back by ground_sim/xtce_reader.py).

Verifies: the export of the real flight dictionary validates against the OMG XTCE 1.2 schema
(tests/data/xtce, no network); every command (name, opcode as encoded, every argument's name, type,
range, enumeration, description) and every channel (name, id, type, units, limits, enumeration,
description) and housekeeping structure reads back equal, also for generated dictionaries
(hypothesis); a small decoder driven only by the XTCE containers decodes a real HK packet
(flight.wire.pus, flight.services.housekeeping's encoding) to the values put in, its entries ending
exactly at the packet's end; the TC layout the XTCE gives for a command is the flight's bytes;
the CLI writes the file and refuses bad input in one line with exit 2.
"""
from __future__ import annotations

import json
import string
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree

from flight.app import load_flight_topology
from flight.core.catalog import ChannelDef, CommandDef, HousekeepingDef
from flight.core.types import DataType, Field, Limits
from flight.services.housekeeping import encode_channel
from flight.wire.dictionary import Dictionary, build_dictionary
from flight.wire.pus import TelemetryPacket
from ground_sim import xtce, xtce_reader
from ground_sim.commanding import CommandEncoder

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "data" / "xtce"
X = "{http://www.omg.org/spec/XTCE/20180204}"


class _LocalSchemas(etree.Resolver):
    """The XTCE schema imports the W3C xml.xsd by URL: use the copy beside it, never the network."""

    def resolve(self, url: str, pubid: Any, context: Any) -> Any:
        if url.endswith("/xml.xsd"):
            return self.resolve_filename(str(SCHEMA_DIR / "xml.xsd"), context)
        return None


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas())
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "SpaceSystem.xsd"), parser))


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return build_dictionary(load_flight_topology(None, []))


@pytest.fixture(scope="module")
def exported(dictionary: Dictionary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xtce") / "mission.xml"
    path.write_text(xtce.export(dictionary))
    return path


def _comparable_channel(channel: ChannelDef) -> tuple:
    """A BOOL channel's limits travel as the levels of False and True: compare what they classify."""
    limits: Any = channel.limits
    if channel.type is DataType.BOOL:
        limits = tuple(channel.limits.classify(v) for v in (0, 1)) if channel.limits else ("ok", "ok")
    return (channel.name, channel.id, channel.type, channel.units, limits, channel.description, channel.enumeration)


def assert_round_trip(original: Dictionary, read: Dictionary) -> None:
    assert (read.mission, read.apid, read.components) == (original.mission, original.apid, original.components)
    assert sorted(read.commands, key=lambda c: c.name) == sorted(original.commands, key=lambda c: c.name)
    assert sorted(map(_comparable_channel, read.channels)) == sorted(map(_comparable_channel, original.channels))
    assert (sorted(read.housekeeping, key=lambda h: h.structure_id)
            == sorted(original.housekeeping, key=lambda h: h.structure_id))


def test_the_flight_dictionary_validates_and_round_trips(schema: etree.XMLSchema, dictionary: Dictionary,
                                                        exported: Path) -> None:
    document = etree.parse(str(exported))
    assert schema.validate(document), schema.error_log
    assert_round_trip(dictionary, xtce_reader.read(exported))
    assert any(c.enumeration for c in dictionary.channels)   # the properties the test relies on exist
    assert any(a.enumeration for c in dictionary.commands for a in c.args)
    assert any(c.limits for c in dictionary.channels if c.type is DataType.BOOL)


# --- an XTCE-driven decoder of one packet, enough for the export's containers -----------------------------
class _Bits:
    def __init__(self, raw: bytes) -> None:
        self.value, self.size, self.position = int.from_bytes(raw, "big"), 8 * len(raw), 0

    def take(self, bits: int) -> int:
        self.position += bits
        assert self.position <= self.size, "the container runs past the packet"
        return (self.value >> (self.size - self.position)) & ((1 << bits) - 1)


def _resolve(system: etree._Element, reference: str) -> tuple[etree._Element, str]:
    *path, name = reference.split("/")
    for step in path:
        system = system.getparent() if step == ".." else system.find(f"{X}SpaceSystem[@name='{step}']")
    return system, name


def _decode_value(bits: _Bits, kind: etree._Element) -> Any:
    if (encoding := kind.find(f"{X}StringDataEncoding")) is not None:
        size = bits.take(int(encoding.find(f".//{X}LeadingSize").get("sizeInBitsOfSizeTag")))
        return bytes(bits.take(8) for _ in range(size)).decode("utf-8")
    if (encoding := kind.find(f"{X}FloatDataEncoding")) is not None:
        size = int(encoding.get("sizeInBits"))
        return struct.unpack(">f" if size == 32 else ">d", bits.take(size).to_bytes(size // 8, "big"))[0]
    encoding = kind.find(f"{X}IntegerDataEncoding")
    size = int(encoding.get("sizeInBits"))
    raw = bits.take(size)
    if encoding.get("encoding") == "twosComplement" and raw >> (size - 1):
        raw -= 1 << size
    return bool(raw) if kind.tag == f"{X}BooleanParameterType" else raw


def decode(root: etree._Element, system: etree._Element, container_name: str, raw: bytes) -> dict[str, Any]:
    """Values of ``raw`` by the container chain ending at ``container_name`` of ``system``; every
    restriction on the way must hold."""
    chain = []
    while True:
        container = system.find(f"{X}TelemetryMetaData/{X}ContainerSet/{X}SequenceContainer[@name='{container_name}']")
        chain.append((system, container))
        base = container.find(f"{X}BaseContainer")
        if base is None:
            break
        system, container_name = _resolve(system, base.get("containerRef"))
    bits, values, by_path = _Bits(raw), {}, {}
    for system, container in reversed(chain):
        for condition in container.iterfind(f"{X}BaseContainer/{X}RestrictionCriteria//{X}Condition"):
            owner, name = _resolve(system, condition.find(f"{X}ParameterInstanceRef").get("parameterRef"))
            assert by_path[(id(owner), name)] == int(condition.find(f"{X}Value").text), name
        for entry in container.iterfind(f"{X}EntryList/{X}ParameterRefEntry"):
            owner, name = _resolve(system, entry.get("parameterRef"))
            parameter = owner.find(f"{X}TelemetryMetaData/{X}ParameterSet/{X}Parameter[@name='{name}']")
            type_name = parameter.get("parameterTypeRef")
            kind = owner.find(f"{X}TelemetryMetaData/{X}ParameterTypeSet/*[@name='{type_name}']")
            value = _decode_value(bits, kind)
            by_path[(id(owner), name)] = value
            values[f"{owner.get('name')}.{name}" if owner is not root else name] = value
    assert bits.position == bits.size, "the container ends before the packet"
    return values


def _sample(channel: ChannelDef, index: int) -> Any:
    if channel.enumeration:
        return channel.enumeration[index % len(channel.enumeration)][0]
    if channel.type is DataType.STRING:
        return f"s{index}é"
    if channel.type is DataType.BOOL:
        return index % 2 == 1
    if channel.type.is_float:
        return struct.unpack(">f", struct.pack(">f", index + 0.25))[0]
    low, high = channel.type.bounds
    return int(min(max(index * 7 + (low if low < 0 else 0), low), high))


def test_a_real_housekeeping_packet_decodes_by_the_xtce_alone(dictionary: Dictionary, exported: Path) -> None:
    root = etree.parse(str(exported)).getroot()
    for structure in dictionary.housekeeping:
        values = {dictionary.channel_by_id[c].name: _sample(dictionary.channel_by_id[c], i)
                  for i, c in enumerate(structure.channels)}
        body = struct.pack(">H", structure.structure_id) + b"".join(
            encode_channel(dictionary.channel_by_name[name].type, value) for name, value in values.items())
        raw = TelemetryPacket(dictionary.apid, 77, 3, 25, body, 1_700_000_000.5, 9, 0).encode()
        system = root.find(f"{X}SpaceSystem[@name='{structure.component}']")
        decoded = decode(root, system, "HK", raw)
        assert {name: decoded[name] for name in values} == values
        assert (decoded["ccsds_apid"], decoded["ccsds_sequence_count"], decoded["pus_service"],
                decoded["pus_subtype"], decoded["hk_structure_id"]) == (dictionary.apid, 77, 3, 25,
                                                                        structure.structure_id)
        assert (decoded["pus_time_coarse"], decoded["pus_time_fine"]) == (1_700_000_000, 32768)
        assert decoded["packet_crc"] == int.from_bytes(raw[-2:], "big")


def test_the_tc_layout_is_the_flights(dictionary: Dictionary, exported: Path) -> None:
    """The fixed entries of pus_tc, function and a command, then its arguments, are the bytes
    CommandEncoder sends (sequence count 0, before the CRC the post-processor appends)."""
    root = etree.parse(str(exported)).getroot()
    command = dictionary.command_by_name["cluster.SET_MODE"]
    fixed = b""
    for system, name in ((root, "pus_tc"), (root, "function"), (root.find(f"{X}SpaceSystem[@name='cluster']"),
                                                                 "SET_MODE")):
        meta = system.find(f"{X}CommandMetaData/{X}MetaCommandSet/{X}MetaCommand[@name='{name}']")
        for entry in meta.iterfind(f"{X}CommandContainer/{X}EntryList/*"):
            if entry.tag == f"{X}FixedValueEntry":
                fixed += bytes.fromhex(entry.get("binaryValue")).rjust(int(entry.get("sizeInBits")) // 8, b"\0")
    argument = command.args[0]
    raw = CommandEncoder(dictionary).command("cluster.SET_MODE", [1]).encode()
    assert fixed + argument.type.encode(1) == raw[:4] + b"\0\0" + raw[6:-2]


# --- generated dictionaries -----------------------------------------------------------------------------
NAMES = st.text(string.ascii_letters, min_size=1, max_size=8).map(lambda s: "n" + s)
TEXT = st.text(string.ascii_letters + string.digits + " ,;()%+-", max_size=20).map(str.strip)
INTEGER_TYPES = [t for t in DataType if t.is_integer]


@st.composite
def enumerations(draw: st.DrawFn) -> tuple[tuple[int, str], ...]:
    values = draw(st.lists(st.integers(0, 255), min_size=1, max_size=4, unique=True))
    labels = draw(st.lists(NAMES, min_size=len(values), max_size=len(values), unique=True))
    return tuple(zip(sorted(values), labels))


@st.composite
def limits(draw: st.DrawFn) -> Limits | None:
    bounds = draw(st.lists(st.one_of(st.none(), st.integers(-1000, 1000), st.floats(-1e6, 1e6)),
                           min_size=4, max_size=4))
    return None if all(b is None for b in bounds) else Limits(*bounds)


@st.composite
def fields(draw: st.DrawFn, name: str) -> Field:
    data_type = draw(st.sampled_from(list(DataType)))
    description = draw(TEXT)
    if data_type in (DataType.U8, DataType.U16) and draw(st.booleans()):
        return Field(name, data_type, description=description, enumeration=draw(enumerations()))
    if data_type.is_integer:
        low, high = data_type.bounds
        pair = sorted(draw(st.lists(st.integers(int(max(low, -2**62)), int(min(high, 2**62))), min_size=2, max_size=2)))
        return Field(name, data_type, *draw(st.sampled_from([pair, [None, None], [pair[0], None]])), description)
    if data_type.is_float:
        pair = sorted(draw(st.lists(st.floats(-1e9, 1e9), min_size=2, max_size=2)))
        return Field(name, data_type, *pair, description)
    return Field(name, data_type, description=description)


@st.composite
def dictionaries(draw: st.DrawFn) -> Dictionary:
    dictionary = Dictionary(draw(NAMES), draw(st.integers(0, 0x7FF)))
    for index, component in enumerate(draw(st.lists(NAMES, min_size=1, max_size=3, unique=True)), start=1):
        dictionary.components[component] = index
        channel_ids = []
        for i, name in enumerate(draw(st.lists(NAMES, max_size=4, unique=True)), start=1):
            field = draw(fields(name))
            units = "" if field.type is DataType.STRING else draw(TEXT)  # pymdb writes no units for strings
            channel = ChannelDef((index << 8) | i, f"{component}.{name}", field.type, units,
                                 None if field.type is DataType.STRING or field.enumeration else draw(limits()),
                                 draw(TEXT), field.enumeration)
            dictionary.channels.append(channel)
            channel_ids.append(channel.id)
        for i, name in enumerate(draw(st.lists(NAMES.map(str.upper), max_size=3, unique=True)), start=1):
            arguments = tuple(draw(fields(a)) for a in draw(st.lists(NAMES, max_size=3, unique=True)))
            dictionary.commands.append(CommandDef((index << 8) | i, f"{component}.{name}", arguments,
                                                  draw(TEXT), draw(st.booleans())))
        if channel_ids:
            dictionary.housekeeping.append(HousekeepingDef(index, component, tuple(channel_ids)))
    dictionary.reindex()
    return dictionary


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])  # the explain phase: minutes
@given(dictionaries())
def test_generated_dictionaries_validate_and_round_trip(schema: etree.XMLSchema,
                                                        tmp_path_factory: pytest.TempPathFactory,
                                                        generated: Dictionary) -> None:
    path = tmp_path_factory.mktemp("generated") / "mission.xml"
    path.write_text(xtce.export(generated))
    assert schema.validate(etree.parse(str(path))), schema.error_log
    assert_round_trip(generated, xtce_reader.read(path))


# --- CLI ------------------------------------------------------------------------------------------------
def test_cli_writes_the_document(dictionary: Dictionary, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = dictionary.write(tmp_path / "dictionary.json")
    assert xtce.main([str(source), "-o", str(tmp_path / "a.xml")]) == 0
    (tmp_path / "flight-ready.json").write_text(json.dumps({"dictionary": str(source)}))
    assert xtce.main(["--run-dir", str(tmp_path), "-o", str(tmp_path / "b.xml")]) == 0
    assert (tmp_path / "a.xml").read_text() == (tmp_path / "b.xml").read_text()
    assert f"{len(dictionary.channels)} parameters" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "not json", "no ready file", "output dir missing", "no pymdb"])
def test_cli_bad_input_is_one_line_exit_2(case: str, dictionary: Dictionary, tmp_path: Path,
                                          capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    source, output = tmp_path / "dictionary.json", tmp_path / "out.xml"
    if case == "no pymdb":                     # the ground extra not installed
        dictionary.write(source)
        monkeypatch.setattr(xtce, "mdb", None)
    if case == "not json":
        source.write_text("{not json")
    elif case == "output dir missing":
        dictionary.write(source)
        output = tmp_path / "nowhere" / "out.xml"
    argv = ["--run-dir", str(tmp_path)] if case == "no ready file" else [str(source)]
    assert xtce.main(argv + ["-o", str(output)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("orbitfs-xtce: ") and error.count("\n") == 1 and "Traceback" not in error


def test_the_cli_without_yamcs_pymdb_installed_is_one_line_exit_2(dictionary: Dictionary, tmp_path: Path) -> None:
    """In a process that cannot import yamcs-pymdb at all (the module is imported without it)."""
    source = dictionary.write(tmp_path / "dictionary.json")
    hide = ("import sys; sys.modules['yamcs'] = None\n"
            "from ground_sim.xtce import main\nsys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", hide, str(source), "-o", str(tmp_path / "out.xml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == "orbitfs-xtce: the XTCE export needs yamcs-pymdb: pip install 'orbitfs[ground]'\n"
    assert not (tmp_path / "out.xml").exists()

