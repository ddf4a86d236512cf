"""Decode the payload model's outputs into detections and score them against truth.

Requirements and how they are verified (``tests/unit/payload/test_demo_model.py``):

* ``decode_outputs`` returns one ``Detection`` per batch row: class = argmax
  of the logits, confidence = the largest softmax probability, fire cells =
  cells whose score is >= ``threshold``; mismatched batch sizes are rejected.
  The class comes from the logits themselves, so logits too close to tell
  apart after softmax still pick the largest. Hand-computed cases and a
  property test (class has the largest logit, confidence in [1/3, 1]).
* ``DetectionScore`` counts fire cells (true/false positives, false
  negatives) and correct classes; ``+`` accumulates counts across frames.
  Precision is ``tp / (tp + fp)`` and is defined as 1.0 when no cell is
  predicted (no false alarm was raised); recall is ``tp / (tp + fn)`` and is
  1.0 when no cell is on fire (nothing was missed); class accuracy is
  ``class_correct / tiles`` and 1.0 for an empty score. Hand-computed cases
  and property tests relating the counts to the predicted and true cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flight.payload.scene import GroundTruth, TileClass


@dataclass(frozen=True, eq=False)
class Detection:
    """On-board decision for one tile; ``fire_cells`` is bool ``[grid, grid]``."""

    tile_class: TileClass
    confidence: float
    fire_cells: np.ndarray
    cloud_fraction: float


def decode_outputs(
    class_logits: np.ndarray,
    fire_grid: np.ndarray,
    cloud_fraction: np.ndarray,
    threshold: float = 0.5,
) -> list[Detection]:
    """Turn model outputs ``[N, 3]``, ``[N, grid, grid]``, ``[N]`` into N detections."""
    logits = np.asarray(class_logits, np.float64)
    grid = np.asarray(fire_grid)
    clouds = np.asarray(cloud_fraction)
    if logits.ndim != 2 or logits.shape[1] != len(TileClass):
        raise ValueError(f"class_logits must be [N, {len(TileClass)}], got {logits.shape}")
    if grid.ndim != 3 or clouds.ndim != 1 or not logits.shape[0] == grid.shape[0] == clouds.shape[0]:
        raise ValueError(
            f"batch mismatch: class_logits {logits.shape}, fire_grid {grid.shape}, cloud_fraction {clouds.shape}"
        )
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    return [
        Detection(
            tile_class=TileClass(int(np.argmax(row_logits))),
            confidence=float(row_probabilities.max()),
            fire_cells=cells >= threshold,
            cloud_fraction=float(cloud),
        )
        for row_logits, row_probabilities, cells, cloud in zip(logits, probabilities, grid, clouds)
    ]


@dataclass(frozen=True)
class DetectionScore:
    """Cell and class counts of detections against truth; add scores to accumulate frames."""

    true_positive_cells: int
    false_positive_cells: int
    false_negative_cells: int
    class_correct: int
    tiles: int

    @property
    def precision(self) -> float:
        """Share of predicted fire cells that are on fire; 1.0 when none was predicted."""
        predicted = self.true_positive_cells + self.false_positive_cells
        return self.true_positive_cells / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of burning cells that were predicted; 1.0 when none was burning."""
        burning = self.true_positive_cells + self.false_negative_cells
        return self.true_positive_cells / burning if burning else 1.0

    @property
    def class_accuracy(self) -> float:
        """Share of tiles whose class was right; 1.0 for no tiles."""
        return self.class_correct / self.tiles if self.tiles else 1.0

    def __add__(self, other: DetectionScore) -> DetectionScore:
        if not isinstance(other, DetectionScore):
            return NotImplemented
        return DetectionScore(
            self.true_positive_cells + other.true_positive_cells,
            self.false_positive_cells + other.false_positive_cells,
            self.false_negative_cells + other.false_negative_cells,
            self.class_correct + other.class_correct,
            self.tiles + other.tiles,
        )


def score(detection: Detection, truth: GroundTruth) -> DetectionScore:
    """Score one detection against the ground truth of the same tile."""
    predicted = np.asarray(detection.fire_cells, bool)
    burning = np.asarray(truth.fire_cells, bool)
    if predicted.shape != burning.shape:
        raise ValueError(f"fire grid shapes differ: {predicted.shape} vs {burning.shape}")
    return DetectionScore(
        true_positive_cells=int(np.sum(predicted & burning)),
        false_positive_cells=int(np.sum(predicted & ~burning)),
        false_negative_cells=int(np.sum(~predicted & burning)),
        class_correct=int(detection.tile_class == truth.tile_class),
        tiles=1,
    )
