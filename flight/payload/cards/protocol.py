"""The messages between the cluster (flight process, ROUTER) and a card worker (DEALER).

Each message is a ZeroMQ multipart message whose first frame is its kind:

| kind      | direction     | frames after the kind                                         |
| HELLO     | card -> flight | JSON: name, pid, model_crc32c, providers, threads             |
| INFER     | flight -> card | >QI request id, frame count; then >nI slot numbers            |
| RESULT    | card -> flight | >QQ request id, compute nanoseconds; then the outputs, one    |
|           |               | record per frame, each output's float32 bytes in model order  |
| ERROR     | card -> flight | >Q request id; UTF-8 text                                     |
| HEARTBEAT | card -> flight | >Q count (sent by the card's heartbeat thread, own socket)    |
| FAULT     | flight -> card | JSON: kind (slow, hang, crash, wrong, clear), factor          |
| REFRESH   | flight -> card | (none): rebuild the session from the model file (optimized)   |
| STOP      | flight -> card | (none)                                                        |
"""
from __future__ import annotations

import struct

HELLO, INFER, RESULT, ERROR, HEARTBEAT, FAULT, REFRESH, STOP = (
    b"HELLO", b"INFER", b"RESULT", b"ERROR", b"HEARTBEAT", b"FAULT", b"REFRESH", b"STOP")

FAULT_KINDS = ("clear", "slow", "hang", "crash", "wrong")


def pack_infer(request_id: int, slots: list[int]) -> list[bytes]:
    return [INFER, struct.pack(">QI", request_id, len(slots)), struct.pack(f">{len(slots)}I", *slots)]


def unpack_infer(frames: list[bytes]) -> tuple[int, list[int]]:
    request_id, count = struct.unpack(">QI", frames[1])
    return request_id, list(struct.unpack(f">{count}I", frames[2]))


def pack_result(request_id: int, compute_ns: int, outputs: bytes) -> list[bytes]:
    return [RESULT, struct.pack(">QQ", request_id, compute_ns), outputs]


def unpack_result(frames: list[bytes]) -> tuple[int, int, bytes]:
    request_id, compute_ns = struct.unpack(">QQ", frames[1])
    return request_id, compute_ns, frames[2]
