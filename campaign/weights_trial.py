"""Weight-upset trials, in process, on the flight's own classes.

A :class:`WeightBench` holds what a card computes with, as the flight does: the model's weights
packed by the flight's layout (flight.payload.cluster.weights), one live copy per card with its
golden copy and reference CRCs in a :class:`~flight.protection.regions.LiveGoldenRegion` (chunks of
``chunk`` bytes, the topology's ``weights_chunk``), and one ONNX Runtime session per card computing
in place from its live copy (``live_options``, as a card worker does). It is built once per worker
process and reset between trials (every copy reloaded from the model's weights).

A trial (:func:`run_weight_trial`) is one planned upset (:class:`UpsetPlan`: card, copy, byte,
bit mask) drawn from the trial's seed alone, then ``frames`` frames over a fixed input set:

- mode ``"TMR"``: every frame computed by the three cards and voted with the flight's
  ``vote_bitwise``; ``"THROUGHPUT"``: frame ``f`` on card ``f % 3`` alone;
- ``scrub_every`` N: the scrubber's pass over every card's region after every N-th frame (the
  flight scrubs every tick and computes a frame per tick: N = 1); 0: never;
- ``guarded`` tensors: checked and repaired on every card before every frame reads them, as
  memory in TMR is voted on every read (a mixed configuration: the tensors where the model is
  fragile guarded so, the rest scrubbed).
The upset lands before frame ``at``, so that frame is computed with it. Protection "on" is TMR
with a scrub after every frame; "off" is THROUGHPUT without scrubbing, where the upset stays.

The delivered outputs are compared with a fault-free golden run (the same inputs on pristine
weights). Outcome classes (NVBitFI's, for a payload that can withhold a product):

- ``sdc``: a product delivered unflagged whose output differs from the golden one (``critical``
  when its decisions, tile class or fire cells, differ too);
- ``due``: detected and not correctable: a vote without a majority (the frame is withheld) or a
  scrub finding both copies bad (recovery reloads the weights);
- ``corrected``: detected (a vote outvoted a card, or the scrubber repaired a copy) and every
  product equal to the golden one;
- ``masked``: nothing detected and every product equal to the golden one (``latent`` when the
  upset is still in memory at the end: unprotected golden copies, unused padding).

Each result names the region, copy, byte, the weight tensor the byte belongs to (or
``padding``), its float32 bit position (0-22 mantissa, 23-30 exponent, 31 sign), and the kind.

| requirement | verified by |
|---|---|
| hand-built plans of each class are classified so (an upset in padding, a golden copy, a live |   |
|   copy with and without protection, both copies of a chunk) | tests/unit/campaign/test_weights_trial.py |
| a trial depends only on its configuration and seed: replayed alone, the same result |   |
|   | tests/unit/campaign/test_weights_trial.py |
| the bench is clean again after every trial | tests/unit/campaign/test_weights_trial.py |
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from flight.payload.cluster.voter import decisions, vote_bitwise
from flight.payload.cluster.weights import live_options, weight_layout, weight_views
from flight.payload.scene import SceneGenerator
from flight.protection.regions import LiveGoldenRegion

CARDS = 3
KINDS = ("single", "multi", "byte")
COPIES = ("live", "golden")


@dataclass(frozen=True)
class UpsetPlan:
    """One upset: which card's region, which copy, which byte, which bits (``mask``), and the
    frame it lands before."""

    card: int
    copy: str
    offset: int
    mask: int
    kind: str
    at: int


class WeightBench:
    """Three cards' weights, regions and live sessions, and the golden outputs of the inputs."""

    def __init__(self, model: Path, frames: int, chunk: int = 64, seed: int = 7) -> None:
        model_bytes = Path(model).read_bytes()
        self.layout, self.pristine = weight_layout(model_bytes)
        self.size = self.pristine.size
        self.regions: list[LiveGoldenRegion] = []
        self.sessions: list[ort.InferenceSession] = []
        self._keep: list[Any] = []
        for card in range(CARDS):
            live = self.pristine.copy()
            values = {name: ort.OrtValue.ortvalue_from_numpy(view)
                      for name, view in weight_views(live.data, self.layout).items()}
            self._keep += [live, values]
            self.regions.append(LiveGoldenRegion(f"card{card}_weights", live, chunk_size=chunk))
            self.sessions.append(ort.InferenceSession(model_bytes, live_options(values),
                                                      providers=["CPUExecutionProvider"]))
        scene = SceneGenerator(seed)
        self.inputs = [scene.tile(i).pixels[None] for i in range(frames)]
        self.input_name = self.sessions[0].get_inputs()[0].name
        sizes = [o.size for o in self.sessions[0].run(None, {self.input_name: self.inputs[0]})]
        ends = np.cumsum(sizes).tolist()
        self._bounds = list(zip([0, *ends[:-1]], ends))
        self.golden = [self.infer(0, i) for i in range(frames)]
        self._tensors = tensor_table(self.layout)

    def infer(self, card: int, frame: int) -> bytes:
        return self.compute(card, self.inputs[frame])

    def compute(self, card: int, tiles: np.ndarray) -> bytes:
        """Card ``card``'s output record for ``tiles`` ([1, ...] as a card reads a slot): its outputs' float32 bytes."""
        outputs = self.sessions[card].run(None, {self.input_name: tiles})
        return b"".join(np.ascontiguousarray(o, np.float32).tobytes() for o in outputs)

    def split(self, record: bytes) -> list[np.ndarray]:
        """An output record as the model's output arrays (flat float32)."""
        values = np.frombuffer(record, np.float32)
        return [values[a:b] for a, b in self._bounds]

    def reset(self) -> None:
        for region in self.regions:
            region.reload(self.pristine)

    def clean(self) -> bool:
        return all(np.array_equal(r.live, self.pristine) and np.array_equal(r.golden, self.pristine)
                   for r in self.regions)

    def tensor_at(self, offset: int) -> str:
        return tensor_at(self._tensors, offset)

    def spans(self, tensors: tuple[str, ...]) -> list[tuple[int, int]]:
        """(start, stop) of each named tensor in the packed weights (KeyError for an unknown name)."""
        known = {name: (start, stop) for start, stop, name in self._tensors}
        return [known[name] for name in tensors]

    def fault_space_bits(self) -> int:
        """Bits a weight upset can hit: every card's live and golden copies."""
        return CARDS * len(COPIES) * self.size * 8


def tensor_table(layout: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(start, stop, name) of each weight tensor of ``layout`` in the packed weights, by offset."""
    return sorted((w["offset"], w["offset"] + 4 * int(np.prod(w["shape"])), w["name"]) for w in layout)


def tensor_at(table: list[tuple[int, int, str]], offset: int) -> str:
    """The tensor of ``table`` that holds byte ``offset`` of the packed weights, or ``padding``."""
    for start, stop, name in table:
        if start <= offset < stop:
            return name
    return "padding"


def draw_mask(rng: random.Random, kinds: tuple[str, ...]) -> tuple[str, int]:
    """A kind of upset from ``kinds`` and its bit mask within one byte (the SEU injector's kinds: one
    bit; 2 to 4 adjacent bits; a random byte), drawn from ``rng``: what every in-process trial plans with."""
    kind = kinds[rng.randrange(len(kinds))]
    if kind == "single":
        mask = 1 << rng.randrange(8)
    elif kind == "multi":
        width = rng.randint(2, 4)
        mask = ((1 << width) - 1) << rng.randrange(9 - width)
    else:
        mask = rng.randrange(1, 256)
    return kind, mask


def plan_upset(bench: WeightBench, seed: int, kinds: tuple[str, ...] = ("single",),
               copies: tuple[str, ...] = COPIES) -> UpsetPlan:
    """The upset of a trial, from its seed alone (the SEU injector's kinds: one bit; 2 to 4
    adjacent bits of a byte; a random byte)."""
    rng = random.Random(seed)
    kind, mask = draw_mask(rng, kinds)
    return UpsetPlan(rng.randrange(CARDS), copies[rng.randrange(len(copies))], rng.randrange(bench.size), mask,
                     kind, rng.randrange(len(bench.inputs)))


def apply_upset(bench: WeightBench, plan: UpsetPlan) -> None:
    region = bench.regions[plan.card]
    for bit in range(8):
        if plan.mask >> bit & 1:
            region.flip(plan.offset, bit, plan.copy)


def _frame_on(bench: WeightBench, frame: int) -> tuple[bytes | None, bool]:
    """TMR: (the voted output or None when withheld, whether a card was outvoted)."""
    outcome = vote_bitwise({str(card): bench.infer(card, frame) for card in range(CARDS)})
    return outcome.output, bool(outcome.disagreeing)


def _scrub(bench: WeightBench) -> tuple[bool, bool]:
    """One pass over every card's region: (found anything, found something uncorrectable)."""
    findings = [f for r in bench.regions for f in r.scrub(0, r.size).findings]
    return bool(findings), any(f.uncorrectable for f in findings)


def _check_before_read(bench: WeightBench, tensors: tuple[str, ...]) -> tuple[bool, bool]:
    """The chunks of ``tensors`` checked and repaired on every card (as TMR memory is voted on every
    read): (found anything, found something uncorrectable)."""
    findings = [f for region in bench.regions for start, stop in bench.spans(tensors)
                for f in region.scrub(start, stop - start).findings]
    return bool(findings), any(f.uncorrectable for f in findings)


def execute(bench: WeightBench, plan: UpsetPlan, mode: str, scrub_every: int,
            guarded: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the frames with the planned upset; the trial's outcome and what it is based on.
    ``guarded``: tensors checked before every frame reads them (a mixed configuration)."""
    detected = withheld = uncorrectable = False
    wrong = critical = 0
    for frame in range(len(bench.inputs)):
        if frame == plan.at:
            apply_upset(bench, plan)
        if guarded:
            found, bad = _check_before_read(bench, guarded)
            detected, uncorrectable = detected or found, uncorrectable or bad
        if mode == "TMR":
            output, outvoted = _frame_on(bench, frame)
            detected |= outvoted
        else:
            output = bench.infer(frame % CARDS, frame)
        if scrub_every and (frame + 1) % scrub_every == 0:
            found, bad = _scrub(bench)
            detected |= found
            uncorrectable |= bad
        if output is None:
            withheld = detected = True
        elif output != bench.golden[frame]:
            wrong += 1
            critical += decisions(bench.split(output)) != decisions(bench.split(bench.golden[frame]))
    if wrong:
        outcome = "sdc"
    elif withheld or uncorrectable:
        outcome = "due"
    else:
        outcome = "corrected" if detected else "masked"
    return {"outcome": outcome, "wrong_products": wrong, "critical": critical, "withheld": withheld,
            "latent": not bench.clean()}


def describe(bench: WeightBench, plan: UpsetPlan) -> dict[str, Any]:
    """Where the upset landed: region, copy, byte, tensor, float32 bit positions, kind."""
    return {"region": f"card{plan.card}_weights", "copy": plan.copy, "offset": plan.offset, "mask": plan.mask,
            "kind": plan.kind, "at": plan.at, **weight_bits(bench.tensor_at(plan.offset), plan.offset, plan.mask)}


def weight_bits(tensor: str, offset: int, mask: int) -> dict[str, Any]:
    """An upset of ``mask`` at byte ``offset`` of the packed weights, in ``tensor``: the tensor, its
    float32 bit position when one bit (0-22 mantissa, 23-30 exponent, 31 sign) and the field."""
    bits = [8 * (offset % 4) + b for b in range(8) if mask >> b & 1]
    return {"tensor": tensor, "bit": bits[0] if len(bits) == 1 else None,
            "field": _field(bits) if tensor != "padding" else "padding"}


def _field(bits: list[int]) -> str:
    names = {"sign" if b == 31 else "exponent" if b >= 23 else "mantissa" for b in bits}
    return names.pop() if len(names) == 1 else "+".join(sorted(names))


_BENCHES: dict[tuple, WeightBench] = {}


def bench_for(config: dict[str, Any]) -> WeightBench:
    """This process's bench for the configuration (built on first use, kept for the next trials)."""
    key = (config["model"], config["frames"], config["chunk"], config["inputs_seed"])
    if key not in _BENCHES:
        _BENCHES[key] = WeightBench(Path(config["model"]), config["frames"], config["chunk"], config["inputs_seed"])
    return _BENCHES[key]


def run_weight_trial(config: dict[str, Any], index: int) -> dict[str, Any]:
    """Trial ``index`` of a weight-upset campaign: its plan from (master seed, index) alone, run,
    classified; the bench reset afterwards whatever happened."""
    from campaign.executor import trial_seed

    bench = bench_for(config)
    seed = trial_seed(config["seed"], index)
    plan = plan_upset(bench, seed, tuple(config["kinds"]), tuple(config["copies"]))
    try:
        result = execute(bench, plan, config["mode"], config["scrub_every"], tuple(config.get("guarded", ())))
    finally:
        bench.reset()
    return {**describe(bench, plan), **result, "seed": seed}
