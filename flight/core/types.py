"""Typed values: the data types of command arguments, telemetry, events and parameters; event
severities; telemetry limits.

Every encoded value is big-endian (network order). Strings are UTF-8 with a one-byte length prefix.

Requirements (verified in tests/unit/core/test_types.py):
- encode then decode returns the value (property test over every type);
- a value outside a type's natural range, of the wrong Python type, or a non-finite float where
  a range is declared, is refused with :class:`ValueRejected` naming the reason;
- decoding from too few bytes raises :class:`ValueRejected`, never IndexError or struct.error.
"""
from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


class Severity(enum.IntEnum):
    """Event severity; the value is the ST[5] report subtype."""

    ACTIVITY = 1    # TM[5,1] informative
    WARNING_LO = 2  # TM[5,2] low-severity anomaly
    WARNING_HI = 3  # TM[5,3] medium-severity anomaly
    FATAL = 4       # TM[5,4] high-severity anomaly


@dataclass(frozen=True)
class Limits:
    """Inclusive operating limits of a telemetry channel; a value beyond red is an alarm."""

    red_low: float | None = None
    yellow_low: float | None = None
    yellow_high: float | None = None
    red_high: float | None = None

    def classify(self, value: float) -> str:
        """'red', 'yellow' or 'ok'."""
        if (self.red_low is not None and value < self.red_low) or (
                self.red_high is not None and value > self.red_high):
            return "red"
        if (self.yellow_low is not None and value < self.yellow_low) or (
                self.yellow_high is not None and value > self.yellow_high):
            return "yellow"
        return "ok"


class ValueRejected(ValueError):
    """A value that does not fit its declared type or range."""

    def __init__(self, message: str, *, out_of_range: bool = False) -> None:
        super().__init__(message)
        self.out_of_range = out_of_range


class DataType(enum.Enum):
    """A wire type: its name is what the dictionary carries."""

    U8 = "B"
    U16 = "H"
    U32 = "I"
    U64 = "Q"
    I8 = "b"
    I16 = "h"
    I32 = "i"
    I64 = "q"
    F32 = "f"
    F64 = "d"
    BOOL = "?"
    STRING = "s"

    @property
    def is_integer(self) -> bool:
        return self.value in "BHIQbhiq"

    @property
    def is_float(self) -> bool:
        return self.value in "fd"

    @property
    def bounds(self) -> tuple[float, float] | None:
        """Natural (low, high) of an integer type; None for the others."""
        if not self.is_integer:
            return None
        bits = 8 * struct.calcsize(self.value)
        if self.value.isupper():
            return 0, 2**bits - 1
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(self, value: Any) -> Any:
        """Return ``value`` coerced to this type's Python type, or raise ValueRejected."""
        if self is DataType.STRING:
            if not isinstance(value, str):
                raise ValueRejected(f"expected a string, got {type(value).__name__}")
            if len(value.encode("utf-8")) > 255:
                raise ValueRejected("string longer than 255 bytes", out_of_range=True)
            return value
        if self is DataType.BOOL:
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise ValueRejected(f"expected a bool, got {value!r}")
            return bool(value)
        if self.is_integer:
            if isinstance(value, (bool, np.bool_)):
                raise ValueRejected(f"expected an integer, got the bool {value!r}")
            if not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                elif hasattr(value, "__index__"):
                    value = int(value)
                else:
                    raise ValueRejected(f"expected an integer, got {value!r}")
            low, high = self.bounds  # type: ignore[misc]
            if not low <= value <= high:
                raise ValueRejected(f"{value} outside {self.name} [{low}, {high}]", out_of_range=True)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueRejected(f"expected a number, got {value!r}")
        value = float(value)
        if self is DataType.F32 and math.isfinite(value) and abs(value) > 3.4028234663852886e38:
            raise ValueRejected(f"{value} does not fit F32", out_of_range=True)
        return value

    def encode(self, value: Any) -> bytes:
        value = self.check(value)
        if self is DataType.STRING:
            raw = value.encode("utf-8")
            return bytes([len(raw)]) + raw
        return struct.pack(">" + self.value, value)

    def decode(self, data: bytes | memoryview, offset: int = 0) -> tuple[Any, int]:
        """Decode one value at ``offset``; return (value, offset after it)."""
        if self is DataType.STRING:
            if offset >= len(data):
                raise ValueRejected("string length byte missing")
            end = offset + 1 + data[offset]
            if end > len(data):
                raise ValueRejected("string runs past the end of the data")
            try:
                return bytes(data[offset + 1 : end]).decode("utf-8"), end
            except UnicodeDecodeError as error:
                raise ValueRejected(f"string is not UTF-8: {error}") from None
        size = struct.calcsize(self.value)
        if offset + size > len(data):
            raise ValueRejected(f"{self.name} needs {size} bytes, {len(data) - offset} left")
        (value,) = struct.unpack_from(">" + self.value, data, offset)
        if self is DataType.BOOL and data[offset] > 1:
            raise ValueRejected(f"bool byte is {data[offset]}, not 0 or 1")
        return value, offset + size


def clip_utf8(text: str, max_bytes: int = 255) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    raw = text.encode("utf-8")
    return text if len(raw) <= max_bytes else raw[:max_bytes].decode("utf-8", "ignore")


Enumeration = tuple[tuple[int, str], ...]
"""The named values of an integer channel or field, as (value, name) pairs; empty: not an enumeration."""


def enumeration_of(enum_class: type[enum.IntEnum]) -> Enumeration:
    """The enumeration of an IntEnum's members, in value order."""
    return tuple(sorted((int(member), member.name) for member in enum_class))


def enum_label(enumeration: Enumeration, value: Any) -> str:
    """The name of ``value`` in ``enumeration``, else the value as text."""
    return next((name for number, name in enumeration if number == value), str(value))


@dataclass(frozen=True)
class Field:
    """A named, typed value with an optional inclusive range: a command argument or event arg.

    A field with an ``enumeration`` takes only the enumeration's values (out of range otherwise)."""

    name: str
    type: DataType
    low: float | None = None
    high: float | None = None
    description: str = ""
    enumeration: Enumeration = ()

    def check(self, value: Any) -> Any:
        value = self.type.check(value)
        if self.enumeration and value not in {number for number, _ in self.enumeration}:
            allowed = ", ".join(f"{number} {name}" for number, name in self.enumeration)
            raise ValueRejected(f"{self.name}={value} is not one of {allowed}", out_of_range=True)
        if self.low is not None or self.high is not None:
            if self.type.is_float and not math.isfinite(value):
                raise ValueRejected(f"{self.name}={value} is not finite", out_of_range=True)
            if self.low is not None and value < self.low:
                raise ValueRejected(f"{self.name}={value} below {self.low}", out_of_range=True)
            if self.high is not None and value > self.high:
                raise ValueRejected(f"{self.name}={value} above {self.high}", out_of_range=True)
        return value

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "type": self.type.name}
        if self.low is not None:
            entry["low"] = self.low
        if self.high is not None:
            entry["high"] = self.high
        if self.description:
            entry["description"] = self.description
        if self.enumeration:
            entry["enumeration"] = [list(pair) for pair in self.enumeration]
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "Field":
        return cls(entry["name"], DataType[entry["type"]], entry.get("low"), entry.get("high"),
                   entry.get("description", ""), enumeration_from_json(entry.get("enumeration")))


def enumeration_from_json(pairs: list[list[Any]] | None) -> Enumeration:
    """An enumeration from its JSON form, ``[[value, name], ...]`` (None or absent: none)."""
    return tuple((int(number), str(name)) for number, name in pairs or ())


def encode_fields(fields: Sequence[Field], values: Sequence[Any]) -> bytes:
    """Check and encode ``values`` in the order of ``fields``."""
    if len(values) != len(fields):
        raise ValueRejected(f"expected {len(fields)} values, got {len(values)}")
    return b"".join(f.type.encode(f.check(v)) for f, v in zip(fields, values))


def decode_fields(fields: Sequence[Field], data: bytes | memoryview, offset: int = 0,
                  *, exact: bool = True) -> tuple[list[Any], int]:
    """Decode and range-check ``fields`` from ``data``; with ``exact`` no byte may be left over."""
    values = []
    for f in fields:
        value, offset = f.type.decode(data, offset)
        values.append(f.check(value))
    if exact and offset != len(data):
        raise ValueRejected(f"{len(data) - offset} bytes left over after the last field")
    return values, offset
