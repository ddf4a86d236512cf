"""The messages components send each other through their ports (flight.core.ports).

One module, so the data flow can be read in one place; the topology's ``[wiring]`` says who
sends what to whom. Messages are frozen dataclasses; a message crossing threads is never changed
after it is sent.

| message | from | to |
| :class:`RawTelecommand` | comms (uplink): a frame; TC link: a packet | TC link; dispatcher |
| :class:`LinkStatus` | TC link | comms (the CLCW in every TM frame) |
| :class:`TmPacket` | dispatcher, housekeeping, event log | comms (downlink) |
| :class:`TransmitterState` | transmitter | comms (the downlink sends only while it is on) |
| :class:`Capture` | camera | inference cluster |
| :class:`Backpressure` | inference cluster | camera |
| :class:`Product` | inference cluster | comms (downlink) |
| :class:`CardFault` | SEU injector | inference cluster |
| :class:`RegionChange` | owners of memory: parameters, cluster, comms | scrubber, SEU injector |
| :class:`EventReport` | event log (every event) | event-action |
| :class:`FlightMode` | mode manager | inference cluster, camera |
| :class:`FileSave` | camera (a product's image on request) | file store |
| :class:`FilePdu` | TC link (packets of the file APID); file transfer | file transfer; comms (downlink) |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np


@dataclass(frozen=True)
class RawTelecommand:
    """One message from the ground as it arrived: its frames (a well-formed TC has exactly one)."""

    frames: tuple[bytes, ...]


@dataclass(frozen=True)
class FilePdu:
    """One CFDP PDU (flight.services.file_transfer), without the space packet that carries it over
    the link. Sent to comms, an empty one asks only how many more its queue takes."""

    pdu: bytes


@dataclass(frozen=True)
class FileSave:
    """A file a component asks the on-board file store to keep under ``name`` (a path relative to
    the store). The store writes it whole or refuses it (raises), within its bounds."""

    name: str
    data: bytes


@dataclass(frozen=True)
class LinkStatus:
    """The uplink's state for the ground: the 4 octets of the CLCW (flight.wire.clcw)."""

    clcw: bytes


@dataclass(frozen=True)
class TransmitterState:
    """Whether the downlink may send now (a pass is on, or the schedule says always), and the
    station in view ("" when none)."""

    on: bool
    station: str


@dataclass(frozen=True)
class EventReport:
    """An event as it was emitted: the component, the event's name and catalog id, and its
    arguments' values in declared order."""

    component: str
    name: str
    event_id: int
    values: tuple[Any, ...]


@dataclass(frozen=True)
class FlightMode:
    """The flight's mode: NOMINAL, or SAFE (payload parked, imaging stopped), and why."""

    safe: bool
    reason: str


@dataclass(frozen=True)
class TmPacket:
    """What a TM packet says, before comms gives it its header, counters and time."""

    service: int
    subtype: int
    app_data: bytes


@dataclass(frozen=True)
class Capture:
    """A tile from the imager: its frame id, pixels (bands x rows x columns) and priority (0 bulk
    ... 7 most urgent; urgent frames overtake bulk ones downstream)."""

    frame_id: int
    pixels: np.ndarray
    priority: int = 0


@dataclass(frozen=True)
class Backpressure:
    """Whether the payload can take no more frames for now (the sensor waits, nothing is lost)."""

    held: bool


@dataclass(frozen=True)
class Product:
    """What the payload concluded about one frame: the result that goes down instead of the tile."""

    frame_id: int
    tile_class: int
    confidence: float
    cloud_fraction: float
    fire_cells: np.ndarray      # bool, grid x grid
    latency_us: int             # from admission to the voted result
    card: int                   # index of the card that computed it; 0xFF: voted over several


@dataclass(frozen=True)
class CardFault:
    """A card fault to inject: ``kind`` is hang, crash, slow (by ``factor``), wrong or clear."""

    card: str
    kind: str
    factor: float = 1.0


class MemoryArea(Protocol):
    """A named run of memory the SEU injector can upset (flight.protection: regions and buffers)."""

    name: str
    size: int
    recover: Callable[[], None] | None

    def targets(self) -> tuple[str, ...]: ...

    def flip(self, offset: int, bit: int, target: str = "") -> tuple[int, int]: ...


@dataclass(frozen=True)
class RegionChange:
    """Memory its owner adds (``added``) or withdraws: a protected region to scrub, or an
    unprotected buffer to upset on purpose, depending on the port it goes out of."""

    area: MemoryArea
    added: bool = True
