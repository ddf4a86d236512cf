"""Land or sea below the satellite: an offline 0.5-degree land/sea mask.

What: :func:`over_land` says whether a geodetic latitude/longitude falls in a land cell of a
global mask shipped with the flight software (``land_mask.bin`` beside this module, 32,400
bytes); :func:`land_fraction` gives the share of the Earth's area that the mask calls land.

Why: the camera images only over land. Like Earth-observation satellites that plan their
acquisitions against a land mask, the payload skips the ~70 % of each orbit spent over the sea,
which would cost power, storage and downlink for no useful product.

Resolution: cells of 0.5 x 0.5 degree (360 x 720 cells, about 55 km north-south), so a coast is
uncertain by up to ~55 km (one cell): a point just off a coast may be called land, and one just
inland called sea. A cell is land if the majority of 5 x 5 sub-samples inside it are land in
GLOBE-derived data (most lakes, Antarctica and its ice shelves count as land). The file is made,
and its source and licence documented, by ``tools/make_land_mask.py`` (data: the
``global-land-mask`` package, MIT, Copyright (c) 2019 Todd Karin; derived from NOAA's GLOBE 1-km
elevation model, distributed without restriction). Only numpy is needed at run time.

Cells are half-open: a point exactly on a cell edge belongs to the cell north (east) of the edge;
latitude 90 belongs to the northernmost row. The mask is read once, on first use.

| requirement | verified by |
|---|---|
| known points: Paris, Sahara, Siberia, Antarctica land; open oceans sea | tests/unit/environment/test_land.py |
| any longitude, wrapped to [-180, 180): lon and lon + k * 360 agree | tests/unit/environment/test_land.py |
|   | (hypothesis) |
| latitude clamped to [-90, 90]; non-finite input rejected | tests/unit/environment/test_land.py |
| area-weighted land fraction in [0.27, 0.31] (Earth: ~29 % land) | tests/unit/environment/test_land.py |
| file = global-land-mask sampled as documented (size, bits, row 0 south) | tests/unit/environment/test_land.py |
|   | (random points; skipped without global-land-mask) |
| the file is package data, so wheels and sdists carry it | tests/unit/environment/test_land.py |
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

MASK_FILE = Path(__file__).parent / "land_mask.bin"
CELL_DEG = 0.5
ROWS, COLS = 360, 720  # row 0 = southernmost (latitude -90 .. -89.5), column 0 = longitude -180 .. -179.5


@functools.lru_cache(maxsize=1)
def _mask() -> np.ndarray:
    """The (ROWS, COLS) boolean mask, True = land, read once from :data:`MASK_FILE`."""
    data = np.frombuffer(MASK_FILE.read_bytes(), dtype=np.uint8)
    if data.size * 8 != ROWS * COLS:
        raise ValueError(f"{MASK_FILE}: {data.size} bytes, expected {ROWS * COLS // 8}")
    bits = np.unpackbits(data).astype(bool).reshape(ROWS, COLS)
    bits.flags.writeable = False
    return bits


def _cell(lat_deg: float, lon_deg: float) -> tuple[int, int]:
    """(row, column) of the cell holding the point; latitude clamped, longitude wrapped."""
    if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)):
        raise ValueError(f"latitude and longitude must be finite, got ({lat_deg}, {lon_deg})")
    lat = min(max(float(lat_deg), -90.0), 90.0)
    row = min(math.floor((lat + 90.0) / CELL_DEG), ROWS - 1)
    # Wrap in cell units, not degrees: (lon + 180) % 360 can round up to 360.0 for lon just below -180.
    col = math.floor((float(lon_deg) + 180.0) / CELL_DEG) % COLS
    return row, col


def over_land(lat_deg: float, lon_deg: float) -> bool:
    """True if the point (degrees; any longitude, latitude clamped to [-90, 90]) is in a land cell."""
    row, col = _cell(lat_deg, lon_deg)
    return bool(_mask()[row, col])


def land_fraction() -> float:
    """Fraction of the Earth's surface (a sphere) in land cells: each row weighted by cos(latitude)."""
    mask = _mask()
    lats = np.radians(-90.0 + CELL_DEG / 2 + CELL_DEG * np.arange(ROWS))
    weights = np.cos(lats)
    return float((mask.mean(axis=1) * weights).sum() / weights.sum())
