"""Generate ``flight/environment/land_mask.bin``: the 0.5-degree land/sea mask that
:mod:`flight.environment.land` reads on board.

Where the data comes from
-------------------------
The PyPI package ``global-land-mask`` (1.0.0, https://github.com/toddkarin/global-land-mask,
Copyright (c) 2019 Todd Karin; its ``License`` metadata field says UNKNOWN, its classifier and
LICENSE file say MIT). It ships a 30-arc-second (~1 km) boolean ocean mask of 21600 x 43200
cells, extracted from the "no data" (ocean) cells of GLOBE, the Global Land One-kilometer Base
Elevation model v1.0 (NOAA National Geophysical Data Center, 1999). NOAA distributes GLOBE's
full-coverage version with no copyright or security restrictions (a US-government work: public
domain). In that mask most lakes count as land, and so do Antarctica and its ice shelves.

``global-land-mask`` is needed only here, to regenerate the file: it is not a runtime dependency
of orbitfs (the flight side reads only the 32,400-byte file, with numpy).

How the mask is made
--------------------
A regular grid of 360 x 720 cells of 0.5 x 0.5 degree, cell centres at latitude
-89.75 .. 89.75 and longitude -179.75 .. 179.75. Each cell is sampled at 5 x 5 points, the
centres of its 0.1-degree sub-cells (offsets -0.2, -0.1, 0, +0.1, +0.2 degree from the cell
centre in latitude and longitude), with ``global_land_mask.globe.is_land``; the cell is land if
the majority (13 or more of 25) of them are. This majority differs from sampling the centre alone
in about 0.5 % of the cells (coasts), and keeps small islands and narrow inlets from deciding a
whole cell by where its centre happens to fall.

File format: the 360 x 720 boolean array, row-major, row 0 = the southernmost row
(latitude -90 .. -89.5), column 0 = longitude -180 .. -179.5, 1 = land, packed with
``numpy.packbits`` (big bit order: the first cell is the most significant bit of byte 0), raw,
no header: 360 * 720 / 8 = 32,400 bytes.

Regenerate (and check that the shipped file is up to date)::

    .venv/bin/pip install global-land-mask
    .venv/bin/python tools/make_land_mask.py            # writes flight/environment/land_mask.bin
    .venv/bin/python tools/make_land_mask.py --check    # exit 1 if the shipped file differs
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROWS, COLS = 360, 720
CELL_DEG = 0.5
SUB_OFFSETS_DEG = (-0.2, -0.1, 0.0, 0.1, 0.2)  # centres of the 5 x 5 sub-cells of 0.1 degree
MAJORITY = len(SUB_OFFSETS_DEG) ** 2 // 2 + 1  # 13 of 25
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "flight" / "environment" / "land_mask.bin"


def cell_centres() -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (south to north) and longitudes (west to east) of the cell centres, degrees."""
    lats = -90.0 + CELL_DEG / 2 + CELL_DEG * np.arange(ROWS)
    lons = -180.0 + CELL_DEG / 2 + CELL_DEG * np.arange(COLS)
    return lats, lons


def build_mask() -> np.ndarray:
    """The (360, 720) boolean land mask, row 0 southernmost; True = land (majority of 5 x 5)."""
    from global_land_mask import globe  # generator-only dependency

    lats, lons = cell_centres()
    offsets = np.asarray(SUB_OFFSETS_DEG)
    n = offsets.size
    sub_lats = (lats[:, None] + offsets[None, :]).reshape(-1)  # (ROWS * n,), cell-major
    sub_lons = (lons[:, None] + offsets[None, :]).reshape(-1)  # (COLS * n,)
    land = np.asarray(globe.is_land(sub_lats[:, None], sub_lons[None, :]), dtype=bool)
    votes = land.reshape(ROWS, n, COLS, n).sum(axis=(1, 3))
    return votes >= MAJORITY


def pack(mask: np.ndarray) -> bytes:
    """The file's bytes: ``numpy.packbits`` of the row-major mask."""
    if mask.shape != (ROWS, COLS):
        raise ValueError(f"mask must be {ROWS} x {COLS}, got {mask.shape}")
    return np.packbits(mask.astype(bool), axis=None).tobytes()


def area_land_fraction(mask: np.ndarray) -> float:
    """Fraction of the sphere's area that is land, each row weighted by cos(latitude)."""
    lats, _ = cell_centres()
    weights = np.cos(np.radians(lats))
    return float((mask.mean(axis=1) * weights).sum() / weights.sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="file to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if --out differs")
    args = parser.parse_args(argv)

    mask = build_mask()
    data = pack(mask)
    digest = hashlib.sha256(data).hexdigest()
    summary = f"{len(data)} bytes, land fraction {area_land_fraction(mask):.4f}, sha256 {digest}"
    if args.check:
        current = args.out.read_bytes() if args.out.exists() else b""
        if current != data:
            print(f"{args.out} is out of date (regenerated: {summary})", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date: {summary}")
        return 0
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
