"""Build the demo payload ONNX model from code, with analytically set weights.

The model reads raw imager tiles and reports, per tile, class logits
(``TileClass`` order), a per-cell fire score and the cloud fraction. There is
no training: every weight is derived from the scene's documented radiometry
(``flight.payload.scene``), with each decision threshold placed in the middle
third of the gap between the two populations it separates.

Graph (opset 17; all weights are float32 initializers read by the nodes):

1. ``Cast`` uint16 -> float32, ``Mul`` by ``dn_scale`` (2**-12, exact: DN / 4096).
2. ``Conv`` 3x3, 4 -> 6 channels, ``Clip`` to [0, 1]: per-pixel step tests
   hot SWIR, hot SWIR among the 8 neighbours (spatial context: a fire pixel
   touches another one, a lone hot pixel such as a particle hit does not),
   bright blue, bright green, bright NIR, cold SWIR. Every generated pixel is
   outside each step's ramp, so the tests are exactly 0 or 1.
3. ``Conv`` 1x1, 6 -> 2, ``Clip``: fire = hot AND hot-neighbourhood, cloud =
   AND of the four cloud tests (logical AND as ``clip(sum - (k - 1))``).
   Because the fire pixel test needs the centre pixel to be hot, the 3x3
   neighbourhood tap cannot mark a pixel of the next cell across a cell border.
4. ``MaxPool`` per cell -> ``fire_grid``; ``AveragePool`` per cell and
   ``ReduceMean`` -> ``cloud_fraction`` (exact: a mean of 0/1 values over a
   power-of-two count).
5. ``Gemm`` on [any fire, cloud fraction] -> ``class_logits`` implementing the
   class rule: FIRE beats everything when a cell is on fire, else CLOUDY wins
   iff the cloud fraction >= 0.5.

Requirements and how they are verified (``tests/unit/payload/test_demo_model.py``):

* Fault-free decisions equal the scene truth (fire cells, class; cloud
  fraction to 1e-6): property test over seeds and frames plus a 300-frame
  sweep on three seeds, with a real onnxruntime session.
* A fire pixel never marks the neighbouring cell, and a lone hot pixel is not
  a fire: injected-pixel tests.
* The class boundary is at exactly 50 % cloud: composed-tile test.
* Same arguments give a byte-identical file: two builds compared.
* ``ORT_ENABLE_ALL`` and ``ORT_ENABLE_EXTENDED`` with prepacking disabled give
  the same decisions: comparison test.
"""

from __future__ import annotations

import argparse
import os
import pathlib
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from flight.payload import scene

OPSET = 17
IR_VERSION = 8
DN_SCALE = 2.0**-12
# Class logits: CLOUDY = CLOUD_GAIN * (cloud - 0.5 + half a pixel), FIRE = FIRE_GAIN * fire - FIRE_GAIN / 2.
CLOUD_GAIN = 16.0
FIRE_GAIN = 32.0

_SWIR = scene.BANDS.index("swir")
_CENTRE = np.zeros((3, 3), np.float64)
_CENTRE[1, 1] = 1.0
_NEIGHBOURS = 1.0 - _CENTRE


def build_demo_model(size: int = 256, grid: int = 8) -> onnx.ModelProto:
    """Return the demo model for ``[N, 4, size, size]`` uint16 tiles and a ``grid`` x ``grid`` fire grid.

    ``size`` must be a power of two and a multiple of ``grid``, so that cloud
    fractions are exact binary fractions and the 50 % class boundary is exact.
    """
    if size <= 0 or grid <= 0 or size % grid:
        raise ValueError(f"size ({size}) must be a positive multiple of grid ({grid})")
    cell = size // grid
    if (size * size) & (size * size - 1):
        raise ValueError("size must be a power of two so that the cloud fraction is exact in float32")

    graph = helper.make_graph(
        _nodes(cell),
        "orbitfs_demo_payload",
        [helper.make_tensor_value_info("tiles", TensorProto.UINT16, ["N", len(scene.BANDS), size, size])],
        [
            helper.make_tensor_value_info("class_logits", TensorProto.FLOAT, ["N", len(scene.TileClass)]),
            helper.make_tensor_value_info("fire_grid", TensorProto.FLOAT, ["N", grid, grid]),
            helper.make_tensor_value_info("cloud_fraction", TensorProto.FLOAT, ["N"]),
        ],
        initializer=_initializers(size),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="orbitfs.flight.payload.demo_model",
        doc_string="Demo fire/cloud tile classifier with analytically set weights (no training).",
    )
    model.ir_version = IR_VERSION
    return model


def _initializers(size: int) -> list[onnx.TensorProto]:
    """Every weight of the graph (module docstring, steps 1-5)."""
    tests_weight, tests_bias = _pixel_tests()
    decision_weight, decision_bias = _pixel_decisions()
    class_weight, class_bias = _class_rule(size)
    return [
        _float("dn_scale", np.array(DN_SCALE)),
        _float("pixel_tests_weight", tests_weight),
        _float("pixel_tests_bias", tests_bias),
        _float("pixel_decisions_weight", decision_weight),
        _float("pixel_decisions_bias", decision_bias),
        _float("step_low", np.array(0.0)),
        _float("step_high", np.array(1.0)),
        _float("class_weight", class_weight),
        _float("class_bias", class_bias),
        numpy_helper.from_array(np.array([1, 1], np.int64), "decision_split"),
        numpy_helper.from_array(np.array([1], np.int64), "channel_axis"),
    ]


def _nodes(cell: int) -> list[onnx.NodeProto]:
    """The graph's nodes, in order (module docstring, steps 1-5); ``cell`` pixels per grid cell."""
    return [
        helper.make_node("Cast", ["tiles"], ["tiles_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["tiles_float", "dn_scale"], ["radiance"]),
        helper.make_node(
            "Conv",
            ["radiance", "pixel_tests_weight", "pixel_tests_bias"],
            ["pixel_tests_ramp"],
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Clip", ["pixel_tests_ramp", "step_low", "step_high"], ["pixel_tests"]),
        helper.make_node(
            "Conv",
            ["pixel_tests", "pixel_decisions_weight", "pixel_decisions_bias"],
            ["pixel_decisions_ramp"],
            kernel_shape=[1, 1],
        ),
        helper.make_node("Clip", ["pixel_decisions_ramp", "step_low", "step_high"], ["pixel_decisions"]),
        helper.make_node("Split", ["pixel_decisions", "decision_split"], ["fire_pixels", "cloud_pixels"], axis=1),
        helper.make_node("MaxPool", ["fire_pixels"], ["fire_cells"], kernel_shape=[cell, cell], strides=[cell, cell]),
        helper.make_node("Squeeze", ["fire_cells", "channel_axis"], ["fire_grid"]),
        helper.make_node("ReduceMax", ["fire_cells"], ["any_fire"], axes=[2, 3], keepdims=0),
        helper.make_node(
            "AveragePool", ["cloud_pixels"], ["cloud_cells"], kernel_shape=[cell, cell], strides=[cell, cell]
        ),
        helper.make_node("ReduceMean", ["cloud_cells"], ["cloud_column"], axes=[2, 3], keepdims=0),
        helper.make_node("Squeeze", ["cloud_column", "channel_axis"], ["cloud_fraction"]),
        helper.make_node("Concat", ["any_fire", "cloud_column"], ["class_evidence"], axis=1),
        helper.make_node("Gemm", ["class_evidence", "class_weight", "class_bias"], ["class_logits"]),
    ]


def write_demo_model(path: str | os.PathLike, size: int = 256, grid: int = 8) -> pathlib.Path:
    """Write the demo model to ``path``; the same arguments always give the same bytes."""
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(build_demo_model(size, grid).SerializeToString(deterministic=True))
    return target


def _step(below: float, above: float) -> tuple[float, float]:
    """Ramp ``(gain, offset)`` in DN: 0 for DN <= below + gap/3, 1 for DN >= above - gap/3."""
    if above <= below:
        raise ValueError(f"no gap between populations ({below} >= {above})")
    gap = above - below
    start = below + gap / 3
    return 3.0 / gap, -start * 3.0 / gap


def _pixel_tests() -> tuple[np.ndarray, np.ndarray]:
    """First-layer weights ``[6, 4, 3, 3]`` on DN / 4096 input and biases ``[6]``."""
    blue, green, nir = (scene.BANDS.index(name) for name in ("blue", "green", "nir"))
    n_neighbours = int(_NEIGHBOURS.sum())
    # (band, taps, DN level of the "0" population, DN level of the "1" population)
    tests = [
        (_SWIR, _CENTRE, scene.LAND_SWIR_MAX_DN, scene.FIRE_SWIR_MIN_DN),
        (_SWIR, _NEIGHBOURS, n_neighbours * scene.LAND_SWIR_MAX_DN, scene.FIRE_SWIR_MIN_DN),
        (blue, _CENTRE, scene.LAND_VISIBLE_MAX_DN, scene.CLOUD_VISIBLE_MIN_DN),
        (green, _CENTRE, scene.LAND_VISIBLE_MAX_DN, scene.CLOUD_VISIBLE_MIN_DN),
        (nir, _CENTRE, scene.LAND_NIR_MAX_DN, scene.CLOUD_NIR_MIN_DN),
        (_SWIR, -_CENTRE, -scene.LAND_SWIR_MIN_DN, -scene.CLOUD_SWIR_MAX_DN),
    ]
    weight = np.zeros((len(tests), len(scene.BANDS), 3, 3))
    bias = np.zeros(len(tests))
    for channel, (band, taps, off_level, on_level) in enumerate(tests):
        gain, bias[channel] = _step(off_level, on_level)
        weight[channel, band] = taps * gain / DN_SCALE
    return weight, bias


def _pixel_decisions() -> tuple[np.ndarray, np.ndarray]:
    """Second-layer 1x1 weights ``[2, 6, 1, 1]``: fire = AND(tests 0-1), cloud = AND(tests 2-5)."""
    members = [(0, 1), (2, 3, 4, 5)]
    weight = np.zeros((len(members), 6, 1, 1))
    bias = np.zeros(len(members))
    for decision, channels in enumerate(members):
        weight[decision, list(channels)] = 1.0
        bias[decision] = 1.0 - len(channels)
    return weight, bias


def _class_rule(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Gemm weights ``[2, 3]`` on [any fire, cloud fraction] and biases ``[3]`` in TileClass order.

    CLOUDY's logit is positive iff cloud fraction >= 0.5 (shifted by half a
    pixel's share so that exactly 0.5 counts as cloudy); FIRE's logit with a
    fire cell exceeds CLOUDY's maximum, and is below CLEAR's 0 without one.
    """
    half_pixel = 0.5 / (size * size)
    weight = np.zeros((2, len(scene.TileClass)))
    bias = np.zeros(len(scene.TileClass))
    weight[1, scene.TileClass.CLOUDY] = CLOUD_GAIN
    bias[scene.TileClass.CLOUDY] = -CLOUD_GAIN * (scene.MOSTLY_CLOUDY_FRACTION - half_pixel)
    weight[0, scene.TileClass.FIRE] = FIRE_GAIN
    bias[scene.TileClass.FIRE] = -FIRE_GAIN / 2
    return weight, bias


def _float(name: str, values: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, np.float32), name)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: ``python -m flight.payload.demo_model -o PATH [--size 256 --grid 8]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, help="path of the .onnx file to write")
    parser.add_argument("--size", type=int, default=256, help="tile edge in pixels")
    parser.add_argument("--grid", type=int, default=8, help="fire grid cells per tile edge")
    args = parser.parse_args(argv)
    print(write_demo_model(args.output, args.size, args.grid))


if __name__ == "__main__":
    main()
