"""PUS service numbers and the application-data layouts of the services this mission uses.

- ST[1] request verification: TM[1,1|3|7] success, TM[1,2|4|8] failure with a 16-bit code;
- ST[3] housekeeping: TM[3,25] = structure id (U16) + the structure's channel values (those
  declared every_report first: the flight's mode);
- ST[5] event reporting: TM[5,1..4] by severity = event id (U16) + the event's arguments;
- ST[8] function management: TC[8,1] = function id (U16, the command opcode) + arguments;
- ST[9] time management (TC[9,1], TM[9,2]): in flight.wire.time_management;
- ST[11] time-based scheduling: its numbers and layouts are in flight.wire.scheduling;
- ST[12] on-board monitoring and ST[19] event-action: in flight.wire.monitoring and
  flight.wire.event_action;
- ST[17] test: TC[17,1] are-you-alive, TM[17,2] the answer;
- ST[20] parameters: TC[20,1] = N (U16) + N ids; TM[20,2] and TC[20,3] = N + N (id, value);
- ST[200] (mission): TM[200,1] one inference product per frame.

Requirements (verified in tests/unit/wire/test_wire.py): every layout round-trips (property tests).
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

from flight.messages import Product

VERIFICATION = 1
HOUSEKEEPING = 3
EVENT = 5
FUNCTION = 8
TEST = 17
PARAMETER = 20
PRODUCT = 200

HK_REPORT = 25
PERFORM_FUNCTION = 1
PING = 1
PING_REPLY = 2
PARAMETER_REPORT_REQUEST = 1
PARAMETER_REPORT = 2
PARAMETER_SET = 3
INFERENCE_PRODUCT = 1


class Stage(enum.IntEnum):
    """Verification stage; the TM[1] subtype is 2*stage-1 on success and 2*stage on failure."""

    ACCEPTANCE = 1
    START = 2
    PROGRESS = 3
    COMPLETION = 4


@dataclass(frozen=True)
class VerificationReport:
    stage: Stage
    success: bool
    request_id: bytes
    code: int = 0

    @property
    def subtype(self) -> int:
        return 2 * int(self.stage) - (1 if self.success else 0)

    def pack(self) -> bytes:
        return self.request_id + (b"" if self.success else struct.pack(">H", self.code))

    @classmethod
    def unpack(cls, subtype: int, data: bytes) -> "VerificationReport":
        if not 1 <= subtype <= 8:
            raise ValueError(f"no verification subtype {subtype}")
        success = subtype % 2 == 1
        stage = Stage((subtype + 1) // 2)
        if len(data) != (4 if success else 6):
            raise ValueError(f"TM[1,{subtype}] needs {4 if success else 6} bytes, got {len(data)}")
        code = 0 if success else struct.unpack_from(">H", data, 4)[0]
        return cls(stage, success, bytes(data[:4]), code)


def pack_ids(ids: list[int]) -> bytes:
    return struct.pack(f">H{len(ids)}H", len(ids), *ids)


def unpack_ids(data: bytes) -> list[int]:
    if len(data) < 2:
        raise ValueError("missing the count of ids")
    (count,) = struct.unpack_from(">H", data)
    if len(data) != 2 + 2 * count:
        raise ValueError(f"{count} ids need {2 + 2 * count} bytes, got {len(data)}")
    return list(struct.unpack_from(f">{count}H", data, 2))


_PRODUCT_HEAD = struct.Struct(">IBffIBB")


def pack_product(product: Product) -> bytes:
    """TM[200,1]: frame id (U32), class (U8), confidence and cloud fraction (F32), latency in us
    (U32, clamped), card (U8), grid side (U8), then the fire cells as bits, row-major."""
    grid = product.fire_cells.shape[0]
    bits = np.packbits(np.asarray(product.fire_cells, dtype=bool).ravel()).tobytes()
    return _PRODUCT_HEAD.pack(product.frame_id, product.tile_class, product.confidence,
                              product.cloud_fraction, min(product.latency_us, 0xFFFFFFFF),
                              product.card, grid) + bits


def unpack_product(data: bytes) -> Product:
    head = _PRODUCT_HEAD
    if len(data) < head.size:
        raise ValueError(f"product needs at least {head.size} bytes, got {len(data)}")
    frame, tile_class, confidence, cloud, latency, card, grid = head.unpack_from(data)
    cells = grid * grid
    if len(data) != head.size + (cells + 7) // 8:
        raise ValueError(f"a {grid}x{grid} product needs {head.size + (cells + 7) // 8} bytes")
    bits = np.unpackbits(np.frombuffer(data, np.uint8, offset=head.size))[:cells]
    return Product(frame, tile_class, confidence, cloud, bits.astype(bool).reshape(grid, grid),
                   latency, card)
