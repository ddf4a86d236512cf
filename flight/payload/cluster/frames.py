"""The data the cluster's parts share: frames, redundancy modes, drop reasons, the probe marker.

A :class:`Frame` is one tile admitted to the cluster (flight.payload.cluster.engine), from its
admission until it is delivered or dropped. The scheduler queues and dispatches it, the card
supervisor collects each card's result into it (or gives it back to the queue when a card fails),
the voter concludes it from those results. They pass the same object around, so this module holds
only the data, and no part depends on another for it.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Mode(enum.IntEnum):
    """How many cards compute each frame: THROUGHPUT one, TMR three (outputs voted), DMR two (a
    third only when they disagree)."""

    THROUGHPUT = 0
    TMR = 1
    DMR = 2


MODE_COPIES = {Mode.THROUGHPUT: 1, Mode.TMR: 3, Mode.DMR: 2}  # cards that compute each frame


class DropReason(enum.IntEnum):
    """Why a submitted frame was not delivered (each counted in ``Cluster.dropped``)."""

    QUEUE_FULL = 0     # no free slot when it was submitted
    DEADLINE = 1       # waited in the queue past ``frame_deadline_s``
    UNCORRECTABLE = 2  # its results could not be voted into one output
    NO_CARD = 3        # every card is switched off
    SHUTDOWN = 4       # the cluster stopped first


@dataclass(eq=False, slots=True)
class Frame:
    """A frame in the cluster: its tile sits in shared-memory slot ``slot``; ``copies`` is how many
    cards must compute it (0: not decided yet), ``results`` their output records by card name,
    ``dispatched`` the cards computing it now."""

    seq: int
    frame_id: int
    priority: int
    slot: int
    admitted: float
    deadline: float | None
    copies: int = 0
    results: dict[str, bytes] = field(default_factory=dict)
    dispatched: set[str] = field(default_factory=set)
    queued: bool = False
    finished: bool = False
    model: int = 0  # the generation of the model that computes it (see ModelImage)

    @property
    def key(self) -> tuple[int, int]:
        """Queue order: higher priority first, then older first."""
        return (-self.priority, self.seq)


PROBE = "probe"  # stands for the probe tile in a request's frames (see CardSupervisor)


@dataclass(eq=False, slots=True)
class CanaryShot:
    """A copy of ``frame``'s tile in slot ``slot``, sent to the canary card (model update): its
    result is compared with the flying model's, never delivered."""

    frame: Frame
    slot: int
    dispatched: set[str] = field(default_factory=set)
    released: bool = False


@dataclass(frozen=True)
class FrameBuffer:
    """A free frame slot lent to a sensor, which writes its tile into ``pixels`` (a view of the
    shared-memory slot the cards will read): no copy between the sensor and the cards."""

    slot: int
    pixels: np.ndarray
