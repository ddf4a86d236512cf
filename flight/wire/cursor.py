"""Reading a TC's application data field by field: every shortfall or malformed field is a
:class:`PacketError` with BAD_ARGUMENTS, never an IndexError or struct.error, so a request whose
layout is wrong is refused at acceptance with its reason.

Requirements (verified in tests/unit/wire/test_monitoring_layouts.py): every layout read with a
cursor refuses any truncation and any byte left over.
"""
from __future__ import annotations

import struct

from flight.wire.failure import FailureCode, PacketError


class Cursor:
    """The application data of one request, read from the front."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = bytes(data)
        self.offset = 0
        self.what = what

    def _take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise PacketError(FailureCode.BAD_ARGUMENTS,
                              f"{self.what}: ends at byte {len(self.data)}, a field needs {size} more "
                              f"from byte {self.offset}")
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return values

    def u8(self) -> int:
        return self._take(">B")[0]

    def u16(self) -> int:
        return self._take(">H")[0]

    def u64(self) -> int:
        return self._take(">Q")[0]

    def f64(self) -> float:
        return self._take(">d")[0]

    def string(self) -> str:
        """A U8 length then UTF-8 (the mission's string encoding)."""
        raw = self.octets(self.u8())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PacketError(FailureCode.BAD_ARGUMENTS, f"{self.what}: a string is not UTF-8") from None

    def octets(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise PacketError(FailureCode.BAD_ARGUMENTS,
                              f"{self.what}: {size} octets announced, {len(self.data) - self.offset} left")
        raw = self.data[self.offset:self.offset + size]
        self.offset += size
        return raw

    def request(self) -> bytes:
        """A whole TC packet, as long as its own primary header says (the PUS way to embed one)."""
        if self.offset + 6 > len(self.data):
            raise PacketError(FailureCode.BAD_ARGUMENTS, f"{self.what}: a request is cut short")
        (length,) = struct.unpack_from(">H", self.data, self.offset + 4)
        return self.octets(6 + length + 1)

    def end(self) -> None:
        """Refuse bytes left over."""
        if self.offset != len(self.data):
            raise PacketError(FailureCode.BAD_ARGUMENTS,
                              f"{self.what}: {len(self.data) - self.offset} bytes left over")


def pack_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"{len(raw)} bytes: a string holds at most 255")
    return bytes([len(raw)]) + raw
