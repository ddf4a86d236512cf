"""Voting over the outputs of redundant inferences (TMR, DMR).

- ``bitwise`` (identical deterministic cards): word-level majority of the raw float32 outputs with
  the native vote (4-byte words: a float is right or wrong as a whole). A card whose output
  differs from the voted one disagrees; a word on which all three differ is uncorrectable and the
  frame is not delivered.
- ``tolerance`` (mixed providers, whose floats may differ in the last bits): cards agree when
  their decisions agree (tile class and fire cells) and their floats are within ``rtol``/``atol``;
  the output of the majority is delivered.
Two outputs (DMR, or TMR degraded to two cards) agree or not; on disagreement nobody knows which
is wrong, so the caller asks a third card.

| requirement | verified by |
| any corruption confined to one card's output is voted away, and that card named | tests/test_voting.py (hypothesis) |
| three pairwise-different outputs are uncorrectable | tests/test_voting.py |
| tolerance voting ignores float noise but not a changed decision | tests/test_voting.py |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import native


@dataclass(frozen=True)
class VoteOutcome:
    output: bytes | None          # None: no majority (uncorrectable, or two that disagree)
    disagreeing: frozenset[str]   # cards whose output was outvoted


def vote_bitwise(outputs: dict[str, bytes]) -> VoteOutcome:
    names = list(outputs)
    if len(names) == 1:
        return VoteOutcome(outputs[names[0]], frozenset())
    if len(names) == 2:
        a, b = (outputs[n] for n in names)
        return VoteOutcome(a, frozenset()) if a == b else VoteOutcome(None, frozenset())
    if len(names) != 3:
        raise ValueError(f"vote over {len(names)} outputs")
    result = native.vote3(*(outputs[n] for n in names), mode="word", word_size=4)
    if result.uncorrectable:
        return VoteOutcome(None, frozenset())
    return VoteOutcome(bytes(result.voted),
                       frozenset(n for n, d in zip(names, result.disagreements) if d))


def vote_tolerance(outputs: dict[str, bytes], decisions: Callable[[bytes], bytes],
                   rtol: float = 1e-3, atol: float = 1e-4) -> VoteOutcome:
    """``decisions(output)`` returns the bytes of what the output decides (class, fire cells)."""

    def agree(a: bytes, b: bytes) -> bool:
        return decisions(a) == decisions(b) and np.allclose(
            np.frombuffer(a, np.float32), np.frombuffer(b, np.float32), rtol=rtol, atol=atol)

    names = list(outputs)
    for name in names:
        supporters = [n for n in names if agree(outputs[name], outputs[n])]
        if 2 * len(supporters) > len(names):
            return VoteOutcome(outputs[name], frozenset(set(names) - set(supporters)))
    return VoteOutcome(None, frozenset())
