"""The Communications Link Control Word (CLCW): COP-1's report from the flight's FARM-1 to the ground's FOP-1.

The flight sends it in the 4-octet Operational Control Field of its TM frames (CCSDS 232.0-B, TC
Space Data Link Protocol, §4.2; CCSDS 232.1-B-2, COP-1, §6.1.7 for what FARM-1 reports in it). It
is the only way the ground learns which TC frames were accepted: the Report Value is V(R), the
sequence number the flight expects next, so every frame numbered below it is acknowledged.

Layout, from the most significant bit of the 32-bit word (bit 0) to the least (bit 31):

    bit  0      Control Word Type            0 (a CLCW; 1 would be another kind of report)
    bits 1-2    CLCW Version Number          00
    bits 3-5    Status Field                 mission-specific
    bits 6-7    COP in Effect                01 = COP-1
    bits 8-13   Virtual Channel Identifier   the TC virtual channel reported on
    bits 14-15  Reserved Spare               00
    bit  16     No RF Available flag
    bit  17     No Bit Lock flag
    bit  18     Lockout flag                 FARM-1 is in Lockout
    bit  19     Wait flag                    FARM-1 cannot take data now
    bit  20     Retransmit flag              a frame is missing: retransmit from V(R)
    bits 21-22  FARM-B Counter               two low bits of the count of accepted Type-B frames
    bit  23     Reserved Spare               0
    bits 24-31  Report Value                 V(R)

``decode`` refuses a word that is not a COP-1 CLCW (type bit 1, a version other than 00, a COP in
effect other than 01, or not 4 octets) with a ClcwError; it ignores the spare bits, which a sender
sets to zero (a receiver has no use for them). ``encode`` always writes them as zero.

| requirement | verified by |
| every field round-trips through encode/decode (property test over all field values) | tests/unit/wire/test_clcw.py |
| the encoding matches a word built bit by bit from the layout, and CryptoLib's initial CLCW |   |
|   | tests/unit/wire/test_clcw.py |
| a word that is not a COP-1 CLCW (type 1, version not 00, COP not 01, not 4 octets) is refused |   |
|   | tests/unit/wire/test_clcw.py |
| a field value outside its width is refused when the CLCW is built | tests/unit/wire/test_clcw.py |
"""
from __future__ import annotations

from dataclasses import dataclass

CLCW_SIZE = 4
COP_1 = 0b01
MAX_VCID = 0x3F
MAX_STATUS = 0b111
MAX_FARM_B = 0b11
MAX_REPORT_VALUE = 0xFF


class ClcwError(ValueError):
    """Four octets that are not a COP-1 CLCW."""


@dataclass(frozen=True)
class Clcw:
    """One CLCW. ``report_value`` is FARM-1's V(R); ``farm_b_counter`` its two low bits."""

    vcid: int
    report_value: int
    lockout: bool = False
    wait: bool = False
    retransmit: bool = False
    farm_b_counter: int = 0
    no_rf_available: bool = False
    no_bit_lock: bool = False
    status: int = 0

    def __post_init__(self) -> None:
        for name, top in (("vcid", MAX_VCID), ("report_value", MAX_REPORT_VALUE),
                          ("farm_b_counter", MAX_FARM_B), ("status", MAX_STATUS)):
            value = getattr(self, name)
            if not 0 <= value <= top:
                raise ValueError(f"CLCW {name} {value} outside 0..{top}")

    def encode(self) -> bytes:
        """The four octets, most significant first; the spare bits are zero."""
        word = ((self.status << 26) | (COP_1 << 24) | (self.vcid << 18)
                | (int(self.no_rf_available) << 15) | (int(self.no_bit_lock) << 14)
                | (int(self.lockout) << 13) | (int(self.wait) << 12) | (int(self.retransmit) << 11)
                | (self.farm_b_counter << 9) | self.report_value)
        return word.to_bytes(CLCW_SIZE, "big")

    @classmethod
    def decode(cls, raw: bytes | bytearray | memoryview) -> "Clcw":
        """The CLCW in ``raw`` (exactly 4 octets); ClcwError if it is not a COP-1 CLCW."""
        if len(raw) != CLCW_SIZE:
            raise ClcwError(f"{len(raw)} octets, a CLCW has {CLCW_SIZE}")
        word = int.from_bytes(bytes(raw), "big")
        if word >> 31:
            raise ClcwError("control word type 1: not a CLCW")
        if (word >> 29) & 0b11:
            raise ClcwError(f"CLCW version {(word >> 29) & 0b11}, expected 0")
        if (word >> 24) & 0b11 != COP_1:
            raise ClcwError(f"COP in effect {(word >> 24) & 0b11:02b}, expected 01 (COP-1)")
        return cls(vcid=(word >> 18) & MAX_VCID, report_value=word & MAX_REPORT_VALUE,
                   lockout=bool(word >> 13 & 1), wait=bool(word >> 12 & 1), retransmit=bool(word >> 11 & 1),
                   farm_b_counter=(word >> 9) & MAX_FARM_B, no_rf_available=bool(word >> 15 & 1),
                   no_bit_lock=bool(word >> 14 & 1), status=(word >> 26) & MAX_STATUS)
