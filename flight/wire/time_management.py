"""PUS-C ST[9] time management: its numbers and application-data layouts.

- TC[9,1] set the time report generation rate: the rate exponential value, one octet, 0 to
  ``MAX_EXPONENT``; the reports come every 2^value units (ECSS-E-ST-70-41C: 2^value TM frames;
  here seconds of mission time, flight.services.time_management says why).
- TM[9,2] CUC time report: the rate exponential value (one octet), then the on-board time as an
  explicit CUC: its P-field (one octet, ``P_FIELD``: no extension, time code 010 = agency-defined
  epoch, here 1970-01-01 UTC as in every TM header, 4 octets of coarse and 2 of fine time), then
  the 6-octet T-field of flight.wire.pus.
- TM[9,3] (CDS time report) is not used.

Requirements (verified in tests/unit/wire/test_time_reports.py): the layouts round-trip
(property test); an exponent beyond ``MAX_EXPONENT``, a wrong P-field or a wrong length is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

from flight.wire.pus import TIME_SIZE, decode_cuc, encode_cuc

TIME_MANAGEMENT = 9
SET_REPORT_RATE = 1
CUC_TIME_REPORT = 2
MAX_EXPONENT = 8          # PUS-C: a rate of 2^0 to 2^8
P_FIELD = 0b0_010_11_10   # extension 0, agency-defined epoch, 4 coarse octets, 2 fine octets
TIME_REPORT_SIZE = 2 + TIME_SIZE


def pack_rate(exponent: int) -> bytes:
    """TC[9,1]'s application data."""
    if not 0 <= exponent <= MAX_EXPONENT:
        raise ValueError(f"rate exponential value {exponent}: 0 to {MAX_EXPONENT}")
    return bytes((exponent,))


def unpack_rate(data: bytes) -> int:
    """The rate exponential value of a TC[9,1] (ValueError if malformed or beyond ``MAX_EXPONENT``)."""
    if len(data) != 1:
        raise ValueError(f"{len(data)} octets, a rate exponential value is 1")
    return ord(pack_rate(data[0]))


@dataclass(frozen=True)
class TimeReport:
    """TM[9,2]: the rate in force and the on-board time when the report was made."""

    exponent: int
    time: float

    def pack(self) -> bytes:
        return pack_rate(self.exponent) + bytes((P_FIELD,)) + encode_cuc(self.time)

    @classmethod
    def unpack(cls, data: bytes) -> "TimeReport":
        if len(data) != TIME_REPORT_SIZE:
            raise ValueError(f"TM[9,2] of {len(data)} octets, expected {TIME_REPORT_SIZE}")
        if data[1] != P_FIELD:
            raise ValueError(f"TM[9,2] P-field 0x{data[1]:02x}, expected 0x{P_FIELD:02x} (CUC 4+2)")
        return cls(unpack_rate(data[:1]), decode_cuc(data[2:]))
