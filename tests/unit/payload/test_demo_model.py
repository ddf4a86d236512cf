"""Tests for flight.payload.demo_model and flight.payload.detection, with real onnxruntime sessions."""

from __future__ import annotations

import math
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import numpy_helper

from flight.payload import scene
from flight.payload.detection import Detection, DetectionScore, decode_outputs, score
from flight.payload.scene import GroundTruth, SceneGenerator, TileClass
from flight.payload import demo_model as build_model

OUTPUTS = ["class_logits", "fire_grid", "cloud_fraction"]
GRID = 8


def _session(path: pathlib.Path, optimise_all: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    if optimise_all:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    else:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.add_session_config_entry("session.disable_prepacking", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _detect(session: ort.InferenceSession, pixels: list[np.ndarray]) -> list[Detection]:
    return decode_outputs(*session.run(OUTPUTS, {"tiles": np.stack(pixels)}))


def _matches(detection: Detection, truth: GroundTruth) -> bool:
    return (
        detection.tile_class == truth.tile_class
        and np.array_equal(detection.fire_cells, truth.fire_cells)
        and abs(detection.cloud_fraction - truth.cloud_fraction) <= 1e-6
    )


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_model.write_demo_model(tmp_path_factory.mktemp("model") / "demo.onnx")


@pytest.fixture(scope="module")
def session(model_path: pathlib.Path) -> ort.InferenceSession:
    return _session(model_path, optimise_all=True)


@pytest.fixture(scope="module")
def clear_tile() -> scene.Tile:
    generator = SceneGenerator(5, fire_rate=0.0)
    return generator.tile(next(f for f in range(1000) if generator.truth(f).cloud_fraction == 0.0))


# --- model file ------------------------------------------------------------


def test_model_is_valid_with_the_contract_signature(model_path: pathlib.Path) -> None:
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.input, *inferred.graph.output]
    }
    assert dims == {
        "tiles": ["N", 4, 256, 256],
        "class_logits": ["N", 3],
        "fire_grid": ["N", GRID, GRID],
        "cloud_fraction": ["N"],
    }
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT16
    weights = {name for node in model.graph.node if node.op_type in ("Conv", "Gemm") for name in node.input[1:]}
    initializers = {i.name: i for i in model.graph.initializer}
    assert weights <= initializers.keys()
    assert all(initializers[name].data_type == onnx.TensorProto.FLOAT for name in weights)


def test_build_is_byte_identical_and_depends_on_arguments(tmp_path: pathlib.Path) -> None:
    first = build_model.write_demo_model(tmp_path / "a.onnx").read_bytes()
    second = build_model.write_demo_model(tmp_path / "b.onnx").read_bytes()
    smaller = build_model.write_demo_model(tmp_path / "c.onnx", size=128, grid=4).read_bytes()
    assert first == second
    assert smaller != first


def test_cli_writes_the_same_model(tmp_path: pathlib.Path) -> None:
    build_model.main(["-o", str(tmp_path / "cli.onnx"), "--size", "128", "--grid", "4"])
    expected = build_model.write_demo_model(tmp_path / "api.onnx", size=128, grid=4)
    assert (tmp_path / "cli.onnx").read_bytes() == expected.read_bytes()


@pytest.mark.parametrize("size, grid", [(250, 5), (96, 8), (64, 0)])
def test_unsupported_geometry_is_rejected(size: int, grid: int) -> None:
    with pytest.raises(ValueError):
        build_model.build_demo_model(size, grid)


def test_decisions_read_the_weight_initializers(tmp_path: pathlib.Path) -> None:
    """Zeroing the first-layer weights must change the outputs: the weights are live tensors."""
    generator = SceneGenerator(2)
    frame = next(f for f in range(1000) if generator.truth(f).tile_class == TileClass.FIRE)
    pixels = [generator.tile(frame).pixels]
    model = build_model.build_demo_model()
    weights = next(i for i in model.graph.initializer if i.name == "pixel_tests_weight")
    weights.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(weights)), weights.name))
    onnx.save(model, tmp_path / "zeroed.onnx")
    intact = _detect(_session(build_model.write_demo_model(tmp_path / "intact.onnx"), True), pixels)[0]
    zeroed = _detect(_session(tmp_path / "zeroed.onnx", True), pixels)[0]
    assert intact.fire_cells.any() and not zeroed.fire_cells.any()


# --- fault-free agreement with ground truth ---------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), frames=st.lists(st.integers(0, 10**6), min_size=1, max_size=4, unique=True))
def test_detections_equal_truth(session: ort.InferenceSession, seed: int, frames: list[int]) -> None:
    tiles = [SceneGenerator(seed).tile(f) for f in frames]
    for detection, tile in zip(_detect(session, [t.pixels for t in tiles]), tiles):
        assert _matches(detection, tile.truth), tile.frame_id


def test_fire_precision_and_recall_are_perfect_over_300_frames(session: ort.InferenceSession) -> None:
    total = DetectionScore(0, 0, 0, 0, 0)
    for seed in (1, 2, 3):
        generator = SceneGenerator(seed)
        for start in range(0, 100, 20):
            tiles = [generator.tile(f) for f in range(start, start + 20)]
            for detection, tile in zip(_detect(session, [t.pixels for t in tiles]), tiles):
                total = total + score(detection, tile.truth)
    assert total.tiles == 300 and total.true_positive_cells > 100
    assert (total.precision, total.recall, total.class_accuracy) == (1.0, 1.0, 1.0)


def test_optimisation_settings_give_the_same_decisions(model_path: pathlib.Path) -> None:
    tiles = [SceneGenerator(11).tile(f) for f in range(40)]
    pixels = [t.pixels for t in tiles]
    full = _detect(_session(model_path, optimise_all=True), pixels)
    extended = _detect(_session(model_path, optimise_all=False), pixels)
    for a, b, tile in zip(full, extended, tiles):
        assert a.tile_class == b.tile_class == tile.truth.tile_class
        assert np.array_equal(a.fire_cells, b.fire_cells)
        assert a.cloud_fraction == b.cloud_fraction


@pytest.mark.parametrize(
    "hot_pixels, burning_cells",
    [
        ([(40, 31), (41, 31)], [(1, 0)]),  # pair against the cell border: the right cell stays clear
        ([(40, 31), (40, 32)], [(1, 0), (1, 1)]),  # pair across the border: both cells hold fire
        ([(0, 0), (1, 1)], [(0, 0)]),  # tile corner
        ([(100, 100)], []),  # a lone hot pixel (e.g. a particle hit) is not a fire
    ],
)
def test_fire_cells_follow_hot_pixels_without_leaking(
    session: ort.InferenceSession,
    clear_tile: scene.Tile,
    hot_pixels: list[tuple[int, int]],
    burning_cells: list[tuple[int, int]],
) -> None:
    pixels = clear_tile.pixels.copy()
    for row, col in hot_pixels:
        pixels[scene.BANDS.index("swir"), row, col] = scene.FIRE_SWIR_MIN_DN
    expected = np.zeros((GRID, GRID), bool)
    for cell in burning_cells:
        expected[cell] = True
    detection = _detect(session, [pixels])[0]
    assert np.array_equal(detection.fire_cells, expected)
    assert detection.tile_class == (TileClass.FIRE if burning_cells else TileClass.CLEAR)


def test_class_boundary_is_exactly_half_cloud(session: ort.InferenceSession, clear_tile: scene.Tile) -> None:
    generator = SceneGenerator(5)
    cloudy = generator.tile(next(f for f in range(1000) if generator.truth(f).cloud_fraction >= 0.6))
    blue = cloudy.pixels[scene.BANDS.index("blue")]
    cloud_rows, cloud_cols = np.nonzero(blue >= scene.CLOUD_VISIBLE_MIN_DN)
    half = blue.size // 2

    def with_clouds(count: int) -> np.ndarray:
        pixels = clear_tile.pixels.copy()
        rows, cols = cloud_rows[:count], cloud_cols[:count]
        pixels[:, rows, cols] = cloudy.pixels[:, rows, cols]
        return pixels

    at_half, below_half = _detect(session, [with_clouds(half), with_clouds(half - 1)])
    assert (at_half.tile_class, at_half.cloud_fraction) == (TileClass.CLOUDY, 0.5)
    assert (below_half.tile_class, below_half.cloud_fraction) == (TileClass.CLEAR, (half - 1) / blue.size)


# --- decode_outputs ------------------------------------------------------------


def test_decode_outputs_on_hand_computed_rows() -> None:
    logits = np.array([[0.0, math.log(3.0), 0.0], [math.log(2.0), 0.0, math.log(2.0)]], np.float32)
    grid = np.array([[[0.49, 0.5], [0.7, 0.0]], [[1.0, 1.0], [1.0, 1.0]]], np.float32)
    cloud = np.array([0.25, 0.75], np.float32)
    first, second = decode_outputs(logits, grid, cloud)
    # softmax([0, ln 3, 0]) = [1, 3, 1] / 5; softmax([ln 2, 0, ln 2]) = [2, 1, 2] / 5, first maximum wins.
    assert first.tile_class == TileClass.CLOUDY and first.confidence == pytest.approx(0.6)
    assert second.tile_class == TileClass.CLEAR and second.confidence == pytest.approx(0.4)
    assert first.fire_cells.tolist() == [[False, True], [True, False]]
    assert (first.cloud_fraction, second.cloud_fraction) == (0.25, 0.75)
    strict = decode_outputs(logits, grid, cloud, threshold=0.8)
    assert strict[0].fire_cells.sum() == 0 and strict[1].fire_cells.sum() == 4


def test_decode_outputs_rejects_inconsistent_batches() -> None:
    with pytest.raises(ValueError):
        decode_outputs(np.zeros((2, 3)), np.zeros((1, 8, 8)), np.zeros(2))
    with pytest.raises(ValueError):
        decode_outputs(np.zeros((2, 4)), np.zeros((2, 8, 8)), np.zeros(2))


@given(st.lists(st.lists(st.floats(-50, 50), min_size=3, max_size=3), min_size=1, max_size=5))
def test_decoded_class_is_the_largest_logit(rows: list[list[float]]) -> None:
    logits = np.array(rows, np.float32)
    detections = decode_outputs(logits, np.zeros((len(rows), 2, 2)), np.zeros(len(rows)))
    for row, detection in zip(logits, detections):
        assert row[detection.tile_class] == row.max()
        assert 1 / 3 - 1e-9 <= detection.confidence <= 1.0


# --- DetectionScore ------------------------------------------------------------


def _cells(*coordinates: tuple[int, int]) -> np.ndarray:
    grid = np.zeros((GRID, GRID), bool)
    for cell in coordinates:
        grid[cell] = True
    return grid


def test_score_counts_hand_made_cells() -> None:
    predicted = Detection(TileClass.FIRE, 0.9, _cells((0, 0), (0, 1), (2, 2)), 0.1)
    truth = GroundTruth(TileClass.FIRE, _cells((0, 0), (0, 1), (3, 3), (4, 4), (5, 5)), 0.1)
    result = score(predicted, truth)
    assert result == DetectionScore(2, 1, 3, 1, 1)
    assert result.precision == pytest.approx(2 / 3) and result.recall == pytest.approx(2 / 5)

    missed_class = score(Detection(TileClass.CLEAR, 0.9, _cells(), 0.0), truth)
    assert missed_class == DetectionScore(0, 0, 5, 0, 1)
    assert (missed_class.precision, missed_class.recall) == (1.0, 0.0)

    total = result + missed_class
    assert total == DetectionScore(2, 1, 8, 1, 2)
    assert (total.precision, total.recall, total.class_accuracy) == pytest.approx((2 / 3, 2 / 10, 1 / 2))


def test_empty_score_is_vacuously_perfect() -> None:
    empty = DetectionScore(0, 0, 0, 0, 0)
    assert (empty.precision, empty.recall, empty.class_accuracy) == (1.0, 1.0, 1.0)
    with pytest.raises(TypeError):
        empty + 1


def test_score_rejects_mismatched_grids() -> None:
    with pytest.raises(ValueError):
        score(Detection(TileClass.CLEAR, 1.0, np.zeros((4, 4), bool), 0.0), GroundTruth(TileClass.CLEAR, _cells(), 0.0))


grids = st.lists(st.booleans(), min_size=16, max_size=16).map(lambda bits: np.array(bits).reshape(4, 4))


@given(predicted=grids, burning=grids)
def test_score_counts_partition_the_cells(predicted: np.ndarray, burning: np.ndarray) -> None:
    result = score(Detection(TileClass.CLEAR, 1.0, predicted, 0.0), GroundTruth(TileClass.CLEAR, burning, 0.0))
    assert result.true_positive_cells + result.false_positive_cells == predicted.sum()
    assert result.true_positive_cells + result.false_negative_cells == burning.sum()
    assert result.true_positive_cells <= min(predicted.sum(), burning.sum())
    perfect = score(Detection(TileClass.CLEAR, 1.0, burning, 0.0), GroundTruth(TileClass.CLEAR, burning, 0.0))
    assert (perfect.precision, perfect.recall, perfect.false_positive_cells) == (1.0, 1.0, 0)
    assert 0.0 <= result.precision <= 1.0 and 0.0 <= result.recall <= 1.0
