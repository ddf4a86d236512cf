"""Seeded synthetic multispectral scenes with exact ground truth.

A tile is a 4-band image (``BANDS``) of uint16 digital numbers (DN) as read
from the imager, plus the ground truth of what the sensor can see in it.

Sensor model (the radiometric ranges below are guarantees of the generator,
and the demo model in ``flight/payload/demo_model.py`` places its decision thresholds
between them):

* Land: textured background in every band (a smooth vegetation/soil mix plus
  pixel noise), inside the ``LAND_*`` ranges.
* Cloud: opaque blobs of a chosen coverage, bright in blue, green and NIR
  (>= ``CLOUD_VISIBLE_MIN_DN`` / ``CLOUD_NIR_MIN_DN``) and cold in SWIR
  (<= ``CLOUD_SWIR_MAX_DN``). A pixel is either cloud or not; there is no
  thin cloud.
* Fire: small clusters of hot pixels (SWIR >= ``FIRE_SWIR_MIN_DN``), each a
  centre pixel plus a non-empty subset of its 8 neighbours, so every fire
  pixel touches another fire pixel. Fires are only lit on clear ground (the
  whole 3x3 footprint is cloud-free): an opaque cloud hides a fire from the
  sensor, so a fire under cloud would not be observable and is not generated.
  The truth is therefore exactly what the sensor sees.

Class rule: FIRE if any cell holds a fire pixel, else CLOUDY if
``cloud_fraction >= 0.5``, else CLEAR (``classify``).

Requirements and how they are verified (``tests/unit/payload/test_scene.py``):

* A tile depends only on ``(seed, frame_id)``, not on call order or on the
  generator instance: property test over seeds and frame ids.
* ``truth(frame_id)`` equals ``tile(frame_id).truth``: property test.
* The truth matches the pixels: fire cells are exactly the cells holding a
  pixel with SWIR >= ``FIRE_SWIR_MIN_DN``, the cloud fraction is exactly the
  share of pixels with the cloud signature, every fire pixel has a fire
  neighbour, and the class follows the class rule: property tests.
* Over 300 frames the classes are mixed (each class >= 15 %, and some tiles
  are both mostly cloudy and on fire): fixed-seed test.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

BANDS: tuple[str, ...] = ("blue", "green", "nir", "swir")
_SWIR = BANDS.index("swir")

LAND_VISIBLE_MAX_DN = 2400
LAND_NIR_MAX_DN = 4500
LAND_SWIR_MIN_DN = 1000
LAND_SWIR_MAX_DN = 3000
CLOUD_VISIBLE_MIN_DN = 6000
CLOUD_NIR_MIN_DN = 5500
CLOUD_SWIR_MAX_DN = 700
FIRE_SWIR_MIN_DN = 32000
FIRE_SWIR_MAX_DN = 60000


@dataclass(frozen=True)
class _LandBand:
    """Land DN = base + soil/vegetation mix + grain texture + uniform pixel noise, clipped to [low, high]."""

    base: float
    soil: float
    vegetation: float
    grain: float
    noise: float
    low: float
    high: float


_LAND_BANDS = (
    _LandBand(500.0, 900.0, 0.0, 250.0, 140.0, 100.0, LAND_VISIBLE_MAX_DN),
    _LandBand(800.0, 900.0, 0.0, 250.0, 140.0, 100.0, LAND_VISIBLE_MAX_DN),
    _LandBand(1800.0, 0.0, 2000.0, 300.0, 200.0, 1000.0, LAND_NIR_MAX_DN),
    _LandBand(1300.0, 1200.0, 0.0, 200.0, 170.0, LAND_SWIR_MIN_DN, LAND_SWIR_MAX_DN),
)
MOSTLY_CLOUDY_FRACTION = 0.5
_PARTLY_CLOUDY_RATE = 0.3
_MAX_FIRE_CLUSTERS = 4
_NEIGHBOUR_OFFSETS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)], dtype=np.intp)


class TileClass(enum.IntEnum):
    """Tile-level decision, in the order of the model's ``class_logits``."""

    CLEAR = 0
    CLOUDY = 1
    FIRE = 2


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """What the sensor can see in a tile.

    ``fire_cells`` is bool ``[grid, grid]``: True where the cell holds at least
    one fire pixel. ``cloud_fraction`` is the fraction of pixels under cloud.
    Compare instances field by field (arrays have no single truth value).
    """

    tile_class: TileClass
    fire_cells: np.ndarray
    cloud_fraction: float


@dataclass(frozen=True, eq=False)
class Tile:
    """One imaged frame: ``pixels`` is uint16 ``[4, size, size]``, C-contiguous, in ``BANDS`` order."""

    frame_id: int
    pixels: np.ndarray
    truth: GroundTruth


def classify(fire_cells: np.ndarray, cloud_fraction: float) -> TileClass:
    """Apply the class rule: FIRE if any fire cell, else CLOUDY if >= 50 % cloud, else CLEAR."""
    if bool(np.any(fire_cells)):
        return TileClass.FIRE
    if cloud_fraction >= MOSTLY_CLOUDY_FRACTION:
        return TileClass.CLOUDY
    return TileClass.CLEAR


@dataclass(frozen=True)
class _Layout:
    """Where clouds and fires are; the radiometry is drawn separately."""

    cloud_mask: np.ndarray  # bool [size, size]
    cloud_depth: np.ndarray  # float [size, size], 0 at the cloud edge, 1 at its thickest
    fire_mask: np.ndarray  # bool [size, size]


class SceneGenerator:
    """Deterministic source of synthetic tiles.

    ``fire_rate`` is the probability that a tile has 1-4 fire clusters (fewer
    if clouds leave no room); ``cloud_rate`` is the probability that a tile is
    mostly (50-95 %) cloud-covered. Another 30 % of tiles are partly (2-50 %)
    cloudy, the rest cloud-free. ``size`` must be a multiple of ``grid``.
    """

    def __init__(
        self,
        seed: int,
        size: int = 256,
        grid: int = 8,
        fire_rate: float = 0.3,
        cloud_rate: float = 0.45,
    ) -> None:
        if size <= 0 or grid <= 0 or size % grid:
            raise ValueError(f"size ({size}) must be a positive multiple of grid ({grid})")
        if size < 3:
            raise ValueError("size must be at least 3 pixels to hold a fire cluster")
        if not (0.0 <= fire_rate <= 1.0 and 0.0 <= cloud_rate <= 1.0 - _PARTLY_CLOUDY_RATE):
            raise ValueError("fire_rate must be in [0, 1] and cloud_rate in [0, 0.7]")
        self.seed = seed
        self.size = size
        self.grid = grid
        self.fire_rate = fire_rate
        self.cloud_rate = cloud_rate
        self._coarse = _smoothing_bases(size, (4, 8, 16))
        self._fine = _smoothing_bases(size, (32,))

    def tile(self, frame_id: int) -> Tile:
        """Render frame ``frame_id``; depends only on ``(seed, frame_id)``."""
        layout = self._layout(frame_id)
        rng = np.random.default_rng([self.seed, frame_id, 1])
        pixels = self._land(rng)
        _paint_clouds(pixels, layout, rng)
        pixels[_SWIR][layout.fire_mask] = rng.uniform(FIRE_SWIR_MIN_DN, FIRE_SWIR_MAX_DN, int(layout.fire_mask.sum()))
        return Tile(frame_id, np.ascontiguousarray(pixels.astype(np.uint16)), self._truth(layout))

    def truth(self, frame_id: int) -> GroundTruth:
        """Ground truth of frame ``frame_id`` without rendering its pixels."""
        return self._truth(self._layout(frame_id))

    def _truth(self, layout: _Layout) -> GroundTruth:
        cell = self.size // self.grid
        fire_cells = np.asarray(layout.fire_mask.reshape(self.grid, cell, self.grid, cell).any(axis=(1, 3)))
        cloud_fraction = float(layout.cloud_mask.mean())
        return GroundTruth(classify(fire_cells, cloud_fraction), fire_cells, cloud_fraction)

    def _layout(self, frame_id: int) -> _Layout:
        rng = np.random.default_rng([self.seed, frame_id, 0])
        cloud_mask, cloud_depth = self._clouds(rng)
        return _Layout(cloud_mask, cloud_depth, self._fires(rng, cloud_mask))

    def _clouds(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        draw = rng.random()
        if draw < self.cloud_rate:
            coverage = rng.uniform(MOSTLY_CLOUDY_FRACTION, 0.95)
        elif draw < self.cloud_rate + _PARTLY_CLOUDY_RATE:
            coverage = rng.uniform(0.02, MOSTLY_CLOUDY_FRACTION)
        else:
            coverage = 0.0
        field = _smooth_field(rng, self._coarse)
        n_cloud = round(coverage * field.size)
        if n_cloud == 0:
            return np.zeros(field.shape, bool), np.zeros(field.shape)
        flat = field.ravel()
        edge = np.partition(flat, flat.size - n_cloud)[flat.size - n_cloud]
        mask = field >= edge
        depth = np.clip((field - edge) / (np.ptp(field) * 0.3 + 1e-12), 0.0, 1.0)
        return mask, depth

    def _fires(self, rng: np.random.Generator, cloud_mask: np.ndarray) -> np.ndarray:
        fire_mask = np.zeros_like(cloud_mask)
        if rng.random() >= self.fire_rate:
            return fire_mask
        centres = np.flatnonzero(_clear_footprints(cloud_mask))
        n_clusters = min(int(rng.integers(1, _MAX_FIRE_CLUSTERS + 1)), centres.size)
        if n_clusters == 0:
            return fire_mask
        rows, cols = np.divmod(rng.choice(centres, n_clusters, replace=False), self.size)
        lit = rng.random((n_clusters, len(_NEIGHBOUR_OFFSETS))) < 0.4
        lit[np.arange(n_clusters), rng.integers(0, len(_NEIGHBOUR_OFFSETS), n_clusters)] = True
        cluster, offset = np.nonzero(lit)
        fire_mask[rows, cols] = True
        fire_mask[rows[cluster] + _NEIGHBOUR_OFFSETS[offset, 0], cols[cluster] + _NEIGHBOUR_OFFSETS[offset, 1]] = True
        return fire_mask

    def _land(self, rng: np.random.Generator) -> np.ndarray:
        """Float32 DN ``[4, size, size]`` of textured ground inside the ``_LAND_BANDS`` ranges."""
        vegetation = _unit_range(_smooth_field(rng, self._coarse))
        grain = _smooth_field(rng, self._fine)
        grain /= np.abs(grain).max() + 1e-12
        land = rng.random((len(BANDS), self.size, self.size), dtype=np.float32)
        for band, spec in zip(land, _LAND_BANDS):
            band *= spec.noise
            band += spec.base - spec.noise / 2 + spec.soil + spec.grain * grain
            band += (spec.vegetation - spec.soil) * vegetation
            np.clip(band, spec.low, spec.high, out=band)
        return land


def _paint_clouds(pixels: np.ndarray, layout: _Layout, rng: np.random.Generator) -> None:
    """Overwrite cloud pixels with cloud radiometry; thicker cloud is brighter and colder."""
    depth = layout.cloud_depth[layout.cloud_mask].astype(np.float32)
    jitter = rng.uniform(0.0, 1.0, depth.size).astype(np.float32)
    blue, green, nir, swir = pixels
    blue[layout.cloud_mask] = CLOUD_VISIBLE_MIN_DN + 2500.0 * depth + 400.0 * jitter
    green[layout.cloud_mask] = CLOUD_VISIBLE_MIN_DN + 2300.0 * depth + 400.0 * jitter
    nir[layout.cloud_mask] = CLOUD_NIR_MIN_DN + 2200.0 * depth + 400.0 * jitter
    swir[layout.cloud_mask] = CLOUD_SWIR_MAX_DN - 400.0 * depth - 100.0 * jitter


def _clear_footprints(cloud_mask: np.ndarray) -> np.ndarray:
    """True at pixels whose 3x3 neighbourhood is cloud-free and inside the tile."""
    clear = ~cloud_mask
    inner = np.ones((cloud_mask.shape[0] - 2, cloud_mask.shape[1] - 2), bool)
    for dr, dc in [(0, 0), *_NEIGHBOUR_OFFSETS.tolist()]:
        inner &= clear[1 + dr : clear.shape[0] - 1 + dr, 1 + dc : clear.shape[1] - 1 + dc]
    footprints = np.zeros_like(cloud_mask)
    footprints[1:-1, 1:-1] = inner
    return footprints


def _smoothing_bases(size: int, scales: tuple[int, ...]) -> np.ndarray:
    """Gaussian interpolation matrix ``[size, sum(scales)]``: for each scale k, k knots spread over size pixels."""
    positions = (np.arange(size) + 0.5) / size
    blocks = []
    for knots in scales:
        centres = (np.arange(knots) + 0.5) / knots
        weights = np.exp(-0.5 * ((positions[:, None] - centres[None, :]) * knots / 0.8) ** 2)
        blocks.append(weights / weights.sum(axis=1, keepdims=True) / np.sqrt(knots))
    return np.concatenate(blocks, axis=1).astype(np.float32)


def _smooth_field(rng: np.random.Generator, basis: np.ndarray) -> np.ndarray:
    """``B @ knots @ B.T`` with random knots: a smooth random float32 field ``[size, size]``."""
    knots = rng.standard_normal((basis.shape[1], basis.shape[1]), dtype=np.float32)
    return basis @ knots @ basis.T


def _unit_range(field: np.ndarray) -> np.ndarray:
    low, high = field.min(), field.max()
    return (field - low) / (high - low + 1e-12)
