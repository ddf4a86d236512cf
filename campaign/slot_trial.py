"""Frame-slot upset trials, in process, on the flight's own classes: a bit flips in the shared-memory
slot that holds an input tile, and every card computes from that slot.

The cluster admits a frame by writing its pixels into a free slot of its
:class:`~flight.payload.cluster.slots.SlotPool` (shape and dtype: the cluster's ``tile_shape`` and
``tile_dtype``), and each card computes from a view of the slot, with no copy. The slots are
unprotected buffers (flight.protection.buffers): no CRC, no scrub, offered to the SEU injector as
the ``frame_slots`` :class:`~flight.protection.buffers.ByteBuffer` over the pool's array, through
which the upset is made here too. In TMR the three cards read the same slot, so they compute the
same wrong output and the vote agrees with them: TMR cannot correct an upset in the input, and the
campaign shows it (campaigns/slots.toml: the SDC rate of TMR is that of THROUGHPUT).

A trial (:func:`run_slot_trial`) is one planned upset (:class:`SlotUpset`: byte of the slot, bit
mask, the frame in the slot when it lands) drawn from the trial's seed alone (the kinds of
campaign.weights_trial.draw_mask), then ``frames`` frames over the fixed inputs (scene tiles of
``inputs_seed``): each written into a slot, the upset applied to frame ``at``'s slot, computed from
the slot's view by the three cards' sessions voted with the flight's ``vote_bitwise`` (mode TMR) or
by card ``f % 3`` alone (THROUGHPUT), compared with the golden output. The sessions are those of the
process's :class:`~campaign.weights_trial.WeightBench` (pristine weights, never upset here); the
pool is made for the trial and closed (its shared memory unlinked) after it, whatever happened.

Outcomes: ``sdc`` when a delivered output differs from the golden one (``critical`` when its
decisions, tile class or fire cells, differ too: flight.payload.cluster.voter.decisions); ``due``
when a vote withholds a frame; ``corrected`` when a vote outvoted a card; else ``masked``. (Every
card reads the same slot: the last two would need a card that computes differently from the same
input.) Each result names the byte, mask and kind, and the pixel it hit: its band (channel), index
in the band (row * width + column) and the bit position in the uint16 pixel (0 the lowest).

| requirement | verified by |
|---|---|
| an upset the model masks (a pixel's lowest bit) and one that changes the output (a pixel's |   |
|   highest bit) are classified so, in THROUGHPUT and in TMR alike | tests/unit/campaign/test_slot_trial.py |
| a trial depends only on its configuration and seed: replayed alone, the same result |   |
|   | tests/unit/campaign/test_slot_trial.py |
| the bench is clean after every trial (weights pristine, no shared memory left) |   |
|   | tests/unit/campaign/test_slot_trial.py |
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from campaign.weights_trial import CARDS, WeightBench, bench_for, draw_mask
from flight.payload.cluster.engine import ClusterConfig
from flight.payload.cluster.slots import SlotPool
from flight.payload.cluster.voter import decisions, vote_bitwise
from flight.protection.buffers import ByteBuffer

SLOT_SHAPE = ClusterConfig.tile_shape
SLOT_DTYPE = np.dtype(ClusterConfig.tile_dtype)
SLOT_BYTES = int(np.prod(SLOT_SHAPE)) * SLOT_DTYPE.itemsize
SLOTS = 2   # frames go into slots in ring order, as the cluster hands them out


@dataclass(frozen=True)
class SlotUpset:
    """One upset: which byte of the slot, which bits (``mask``), and the frame in the slot when it lands."""

    offset: int
    mask: int
    kind: str
    at: int


def fault_space_bits(frames: int) -> int:
    """Bits a slot upset can hit: every frame's slot, every byte, every bit."""
    return frames * SLOT_BYTES * 8


def plan_slot_upset(frames: int, seed: int, kinds: tuple[str, ...] = ("single",)) -> SlotUpset:
    """The upset of a trial, from its seed alone."""
    rng = random.Random(seed)
    kind, mask = draw_mask(rng, kinds)
    return SlotUpset(rng.randrange(SLOT_BYTES), mask, kind, rng.randrange(frames))


def _delivered(bench: WeightBench, tiles: np.ndarray, frame: int, mode: str) -> tuple[bytes | None, bool]:
    """The output delivered for a frame computed from ``tiles`` (the slot's view), or None when the
    vote withholds it; and whether a card was outvoted."""
    if mode != "TMR":
        return bench.compute(frame % CARDS, tiles), False
    outcome = vote_bitwise({str(card): bench.compute(card, tiles) for card in range(CARDS)})
    return outcome.output, bool(outcome.disagreeing)


def execute(bench: WeightBench, plan: SlotUpset, mode: str) -> dict[str, Any]:
    """Run the frames through a fresh slot pool with the planned upset; the trial's outcome."""
    pool = SlotPool(SLOTS, SLOT_SHAPE, SLOT_DTYPE.name)
    try:
        injector_view = ByteBuffer("frame_slots", pool.array)
        wrong = critical = withheld = outvoted = 0
        for frame, tile in enumerate(bench.inputs):
            slot = pool.acquire()
            pool.write(slot, tile[0])
            if frame == plan.at:
                for bit in range(8):
                    if plan.mask >> bit & 1:
                        injector_view.flip(slot * pool.slot_bytes + plan.offset, bit)
            output, disagreed = _delivered(bench, pool.batch([slot]), frame, mode)
            pool.release(slot)
            outvoted += disagreed
            if output is None:
                withheld += 1
            elif output != bench.golden[frame]:
                wrong += 1
                critical += decisions(bench.split(output)) != decisions(bench.split(bench.golden[frame]))
    finally:
        pool.close()
    outcome = "sdc" if wrong else "due" if withheld else "corrected" if outvoted else "masked"
    return {"outcome": outcome, "wrong_products": wrong, "critical": critical, "withheld": withheld}


def describe(plan: SlotUpset) -> dict[str, Any]:
    """Where the upset landed: byte, mask, kind, frame; the pixel's band, index in the band and bit
    positions in the pixel (``bit`` when a single bit flipped, else None)."""
    element, byte = divmod(plan.offset, SLOT_DTYPE.itemsize)
    band, pixel = divmod(element, int(np.prod(SLOT_SHAPE[1:])))
    significance = byte if sys.byteorder == "little" else SLOT_DTYPE.itemsize - 1 - byte
    bits = [8 * significance + b for b in range(8) if plan.mask >> b & 1]
    return {"region": "frame_slots", "offset": plan.offset, "mask": plan.mask, "kind": plan.kind, "at": plan.at,
            "band": band, "pixel": pixel, "bits": bits, "bit": bits[0] if len(bits) == 1 else None}


def run_slot_trial(config: dict[str, Any], index: int) -> dict[str, Any]:
    """Trial ``index`` of a slot-upset campaign: its plan from (master seed, index) alone, run,
    classified (the bench's sessions are only read: nothing to reset but the pool, closed by the run)."""
    from campaign.executor import trial_seed

    bench = bench_for(config)
    seed = trial_seed(config["seed"], index)
    plan = plan_slot_upset(len(bench.inputs), seed, tuple(config["kinds"]))
    return {**describe(plan), **execute(bench, plan, config["mode"]), "seed": seed}
