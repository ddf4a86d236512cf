"""Tests for flight.payload.scene: determinism, truth/pixel consistency, class mix."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.payload import scene
from flight.payload.scene import SceneGenerator, TileClass

SIZE, GRID = 256, 8
seeds = st.integers(0, 2**32 - 1)
frame_ids = st.integers(0, 10**6)


def _same_truth(a: scene.GroundTruth, b: scene.GroundTruth) -> bool:
    return (
        a.tile_class == b.tile_class
        and np.array_equal(a.fire_cells, b.fire_cells)
        and a.cloud_fraction == b.cloud_fraction
    )


def _per_cell_any(mask: np.ndarray) -> np.ndarray:
    cell = mask.shape[0] // GRID
    return mask.reshape(GRID, cell, GRID, cell).any(axis=(1, 3))


@settings(max_examples=15, deadline=None)
@given(seed=seeds, frames=st.lists(frame_ids, min_size=2, max_size=4, unique=True))
def test_tile_depends_only_on_seed_and_frame(seed: int, frames: list[int]) -> None:
    forward = {f: SceneGenerator(seed).tile(f) for f in frames}
    generator = SceneGenerator(seed)
    backward = {f: generator.tile(f) for f in reversed(frames)}
    for f in frames:
        assert forward[f].frame_id == backward[f].frame_id == f
        assert np.array_equal(forward[f].pixels, backward[f].pixels)
        assert _same_truth(forward[f].truth, backward[f].truth)


@settings(max_examples=10, deadline=None)
@given(seed=seeds, frames=st.lists(frame_ids, min_size=2, max_size=2, unique=True))
def test_different_frames_and_seeds_give_different_tiles(seed: int, frames: list[int]) -> None:
    first, second = (SceneGenerator(seed).tile(f).pixels for f in frames)
    other_seed = SceneGenerator(seed + 1).tile(frames[0]).pixels
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, other_seed)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, frame=frame_ids)
def test_truth_without_pixels_equals_tile_truth(seed: int, frame: int) -> None:
    generator = SceneGenerator(seed)
    assert _same_truth(generator.truth(frame), generator.tile(frame).truth)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, frame=frame_ids)
def test_truth_matches_pixels_and_radiometry(seed: int, frame: int) -> None:
    """Truth = what the pixels show; land, cloud and fire stay in their documented DN ranges."""
    tile = SceneGenerator(seed, SIZE, GRID).tile(frame)
    blue, green, nir, swir = tile.pixels
    assert tile.pixels.dtype == np.uint16 and tile.pixels.shape == (len(scene.BANDS), SIZE, SIZE)
    assert tile.pixels.flags.c_contiguous

    fire = swir >= scene.FIRE_SWIR_MIN_DN
    cloud = (
        (blue >= scene.CLOUD_VISIBLE_MIN_DN)
        & (green >= scene.CLOUD_VISIBLE_MIN_DN)
        & (nir >= scene.CLOUD_NIR_MIN_DN)
        & (swir <= scene.CLOUD_SWIR_MAX_DN)
    )
    land = ~fire & ~cloud
    assert np.array_equal(tile.truth.fire_cells, _per_cell_any(fire))
    assert tile.truth.cloud_fraction == cloud.mean()
    assert np.all(swir[fire] <= scene.FIRE_SWIR_MAX_DN)
    assert np.all(blue[land] <= scene.LAND_VISIBLE_MAX_DN) and np.all(green[land] <= scene.LAND_VISIBLE_MAX_DN)
    assert np.all(nir[land] <= scene.LAND_NIR_MAX_DN)
    assert np.all((swir[land] >= scene.LAND_SWIR_MIN_DN) & (swir[land] <= scene.LAND_SWIR_MAX_DN))

    padded = np.pad(fire, 1)
    fire_neighbours = sum(
        padded[1 + dr : 1 + dr + SIZE, 1 + dc : 1 + dc + SIZE]
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if (dr, dc) != (0, 0)
    )
    assert np.all(fire_neighbours[fire] >= 1), "every fire pixel touches another fire pixel"

    if fire.any():
        expected = TileClass.FIRE
    elif cloud.mean() >= 0.5:
        expected = TileClass.CLOUDY
    else:
        expected = TileClass.CLEAR
    assert tile.truth.tile_class == expected


def test_class_mix_over_300_frames() -> None:
    truths = [SceneGenerator(1).truth(f) for f in range(300)]
    mix = collections.Counter(t.tile_class for t in truths)
    assert all(mix[c] >= 45 for c in TileClass), mix
    assert sum(t.tile_class == TileClass.FIRE and t.cloud_fraction >= 0.5 for t in truths) >= 10
    assert sum(0.0 < t.cloud_fraction < 0.5 for t in truths) >= 30
    assert sum(t.fire_cells.sum() >= 2 for t in truths) >= 20


def test_rates_control_fire_and_cloud() -> None:
    no_fire = SceneGenerator(3, fire_rate=0.0)
    always_fire = SceneGenerator(3, fire_rate=1.0, cloud_rate=0.0)
    assert not any(no_fire.truth(f).fire_cells.any() for f in range(40))
    assert all(always_fire.truth(f).tile_class == TileClass.FIRE for f in range(40))
    assert all(always_fire.truth(f).cloud_fraction < 0.5 for f in range(40))


def test_small_tiles_follow_the_grid() -> None:
    truth = SceneGenerator(5, size=64, grid=4).tile(2).truth
    assert truth.fire_cells.shape == (4, 4) and truth.fire_cells.dtype == bool


@pytest.mark.parametrize("size, grid", [(250, 8), (0, 8), (64, 0)])
def test_size_must_be_a_multiple_of_grid(size: int, grid: int) -> None:
    with pytest.raises(ValueError):
        SceneGenerator(0, size=size, grid=grid)
