"""The messages between the cluster (flight process) and a card worker.

Each message is one datagram on the card's link (flight.payload.cluster.card_link): a one-byte kind,
then its body.

| kind | name      | direction      | body                                                          |
| H    | HELLO     | card -> flight | JSON: name, pid, model_crc32c, providers, threads             |
| I    | INFER     | flight -> card | >QI request id, frame count; then >nI slot numbers            |
| R    | RESULT    | card -> flight | >QQ request id, compute nanoseconds; then the outputs, one    |
|      |           |                | record per frame, each output's float32 bytes in model order  |
| E    | ERROR     | card -> flight | >Q request id (0: not a request); UTF-8 text                  |
| B    | HEARTBEAT | card -> flight | >Qf count, the board's supply reading above its load in W     |
|      |           |                | (a latch-up; 0 normally); sent by the heartbeat thread       |
| F    | FAULT     | flight -> card | JSON: kind (slow, hang, crash, wrong, latchup, sefi, tid,     |
|      |           |                | clear), factor                                                |
| U    | REFRESH   | flight -> card | (none): rebuild the session from the model file (optimized)   |
| S    | STOP      | flight -> card | (none)                                                        |
"""
from __future__ import annotations

import json
import struct
from typing import Any

HELLO, INFER, RESULT, ERROR, HEARTBEAT, FAULT, REFRESH, STOP = (
    b"H", b"I", b"R", b"E", b"B", b"F", b"U", b"S")

_INFER = struct.Struct(">QI")
_RESULT = struct.Struct(">QQ")
_HEARTBEAT = struct.Struct(">Qf")


def split(message: bytes) -> tuple[bytes, bytes]:
    """(kind, body) of a message."""
    return message[:1], message[1:]


def pack_json(kind: bytes, document: dict[str, Any]) -> bytes:
    return kind + json.dumps(document).encode()


def pack_infer(request_id: int, slots: list[int]) -> bytes:
    return INFER + _INFER.pack(request_id, len(slots)) + struct.pack(f">{len(slots)}I", *slots)


def unpack_infer(body: bytes) -> tuple[int, list[int]]:
    request_id, count = _INFER.unpack_from(body)
    return request_id, list(struct.unpack_from(f">{count}I", body, _INFER.size))


def pack_result(request_id: int, compute_ns: int, outputs: bytes) -> bytes:
    return RESULT + _RESULT.pack(request_id, compute_ns) + outputs


def unpack_result(body: bytes) -> tuple[int, int, bytes]:
    request_id, compute_ns = _RESULT.unpack_from(body)
    return request_id, compute_ns, body[_RESULT.size:]


def pack_heartbeat(count: int, excess_w: float) -> bytes:
    return HEARTBEAT + _HEARTBEAT.pack(count, excess_w)


def unpack_heartbeat(body: bytes) -> tuple[int, float]:
    """(count, excess power in W)."""
    return _HEARTBEAT.unpack_from(body)


def pack_error(request_id: int, text: str) -> bytes:
    return ERROR + request_id.to_bytes(8, "big") + text.encode()[:500]


def unpack_error(body: bytes) -> tuple[int, str]:
    return int.from_bytes(body[:8], "big"), body[8:].decode(errors="replace")
