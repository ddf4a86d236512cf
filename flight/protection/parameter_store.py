"""ParameterStore: every component's parameter values in one TMR region, voted on every read.

Parameters are critical state: a threshold or a mode flipped by an upset changes what the
payload does. Values are encoded at fixed offsets (strings in 256-byte slots) in a
:class:`TmrRegion` named ``parameters``; ``get`` decodes from the voted bytes, so an upset in one
copy never reaches a reader, and the scrubber repairs it.

| requirement | verified by |
| get returns what set stored, for every parameter type | tests/unit/protection/test_protection_components.py |
| an upset in one copy of the region does not change any |   |
|   value read | tests/unit/protection/test_protection_components.py |
"""
from __future__ import annotations

import struct
from typing import Any, Sequence

from flight.core.catalog import ParameterDef
from flight.core.types import DataType, Field
from flight.protection.regions import TmrRegion

STRING_SLOT = 256


def _slot_size(field: Field) -> int:
    return STRING_SLOT if field.type is DataType.STRING else struct.calcsize(">" + field.type.value)


class ParameterStore:
    def __init__(self, parameters: Sequence[ParameterDef]) -> None:
        self._layout: dict[str, tuple[int, Field]] = {}
        offset = 0
        for definition in parameters:
            self._layout[definition.name] = (offset, definition.field)
            offset += _slot_size(definition.field)
        self.region = TmrRegion("parameters", max(offset, 1))
        self._defaults = {d.name: d.default for d in parameters}
        self.reset()

    def reset(self) -> None:
        """Every parameter to its default, in one write of the whole region (which also gives
        every chunk a fresh reference CRC: the recovery from an uncorrectable error)."""
        image = bytearray(self.region.size)
        for name, value in self._defaults.items():
            offset, field = self._layout[name]
            encoded = field.type.encode(value)
            image[offset:offset + len(encoded)] = encoded
        self.region.write(bytes(image))

    def get(self, name: str) -> Any:
        offset, field = self._layout[name]
        value, _ = field.type.decode(self.region.read()[offset:offset + _slot_size(field)])
        return value

    def set(self, name: str, value: Any) -> None:
        """Store an already checked value."""
        offset, field = self._layout[name]
        self.region.write(field.type.encode(value).ljust(_slot_size(field), b"\0"), offset)
