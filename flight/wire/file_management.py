"""PUS-C ST[23] file management: the subset this mission serves, and its layouts.

Subtypes (ECSS-E-ST-70-41C, 6.23 and 8.23): TC[23,2] delete a file; TC[23,12] summary-report the
content of a repository, answered by TM[23,13] repository content summary report. TC[23,128] is
this mission's own (ECSS leaves 128 and above to missions): start sending an on-board file to the
ground over CFDP (flight.services.file_transfer). ECSS's TC[23,14] "copy a file" copies between
on-board repositories, which this is not, hence a mission subtype.

Strings (repository paths, file names) are an octet of length then that many octets of UTF-8.
TC[23,2]: repository path, file name. TC[23,12]: repository path. TM[23,13]: repository path, a
16-bit count of objects, then per object its type (0 file, 1 directory), its name and (ours: not
in ECSS's report) its size in octets, 64 bits. TC[23,128]: the source path (relative to the run
directory), the name the ground gives the file.

| requirement | verified by |
|---|---|
| every layout round-trips; a truncated or overlong request is refused with ValueError |   |
|   (hypothesis) | tests/unit/services/test_file_component.py |
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

SERVICE = 23
DELETE_FILE = 2
SUMMARY_REPORT = 12
CONTENT_REPORT = 13
DOWNLINK_FILE = 128


@dataclass(frozen=True)
class Entry:
    """One object of a repository: its name, its size in octets, whether it is a directory."""

    name: str
    size: int
    directory: bool = False


def pack_strings(*values: str) -> bytes:
    out = b""
    for value in values:
        raw = value.encode("utf-8")
        if len(raw) > 255:
            raise ValueError(f"{value[:40]!r}...: longer than 255 octets")
        out += bytes([len(raw)]) + raw
    return out


def _string(data: bytes, offset: int) -> tuple[str, int]:
    if offset >= len(data) or offset + 1 + data[offset] > len(data):
        raise ValueError("a string runs past the end of the data")
    end = offset + 1 + data[offset]
    try:
        return data[offset + 1:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise ValueError("a string is not UTF-8") from None


def unpack_strings(data: bytes, count: int) -> list[str]:
    """Exactly ``count`` strings, nothing after them (ValueError otherwise)."""
    values, offset = [], 0
    for _ in range(count):
        value, offset = _string(data, offset)
        values.append(value)
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} octets after the last string")
    return values


def pack_content_report(repository: str, entries: list[Entry]) -> bytes:
    out = pack_strings(repository) + struct.pack(">H", len(entries))
    for entry in entries:
        out += bytes([int(entry.directory)]) + pack_strings(entry.name) + struct.pack(">Q", entry.size)
    return out


def unpack_content_report(data: bytes) -> tuple[str, list[Entry]]:
    repository, offset = _string(data, 0)
    if offset + 2 > len(data):
        raise ValueError("TM[23,13] without its count")
    (count,), offset = struct.unpack_from(">H", data, offset), offset + 2
    entries = []
    for _ in range(count):
        if offset >= len(data):
            raise ValueError("TM[23,13] shorter than its count")
        directory = bool(data[offset])
        name, offset = _string(data, offset + 1)
        if offset + 8 > len(data):
            raise ValueError("TM[23,13] shorter than its count")
        entries.append(Entry(name, struct.unpack_from(">Q", data, offset)[0], directory))
        offset += 8
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} octets after the last object")
    return repository, entries
