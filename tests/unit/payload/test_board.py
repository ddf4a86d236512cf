"""The simulated board's radiation state (flight/payload/cluster/board.py): dose and burn-out
survive a new process (a power cycle), replace forgets them."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from flight.payload.cluster.board import Board, replace_board


@settings(max_examples=40, deadline=None)
@given(percent=st.floats(1.0, 100.0), before=st.integers(0, 20), after=st.integers(1, 20))
def test_the_dose_grows_one_step_per_inference_across_a_power_cycle(tmp_path_factory, percent, before, after):
    path = tmp_path_factory.mktemp("boards") / "card0.json"
    board = Board(path, 1.0)
    board.irradiate(percent)
    seen = [board.slowdown() for _ in range(before)]
    board = Board(path, 1.0)                        # the worker restarted: the same board
    seen += [board.slowdown() for _ in range(after)]
    assert seen == [1.0 + percent / 100.0 * k for k in range(before + after)]


def test_a_board_without_a_fault_is_not_slowed_and_not_burned(tmp_path):
    board = Board(tmp_path / "card0.json", 1.0)
    assert [board.slowdown() for _ in range(3)] == [1.0] * 3 and not board.check_burn()
    assert not (tmp_path / "card0.json").exists()


def test_a_latch_up_burns_after_its_time_and_the_burn_is_kept(tmp_path):
    board = Board(tmp_path / "card0.json", 0.0)
    assert not board.check_burn()                   # not latched: nothing burns
    board.latch_up(50.0)
    assert board.excess_w == 50.0 and board.check_burn()
    assert Board(tmp_path / "card0.json", 0.0).burned


def test_a_latch_up_shorter_than_the_burn_time_leaves_the_board_whole(tmp_path):
    board = Board(tmp_path / "card0.json", 3600.0)
    board.latch_up(50.0)
    assert not board.check_burn() and not Board(tmp_path / "card0.json", 3600.0).burned


def test_replace_fits_a_fresh_board(tmp_path):
    board = Board(tmp_path / "card0.json", 0.0)
    board.irradiate(10.0)
    board.latch_up(5.0)
    board.check_burn()
    board.replace()
    assert (board.burned, board.dose, board.excess_w, board.slowdown()) == (False, 0, 0.0, 1.0)
    board.irradiate(10.0)
    replace_board(tmp_path, "card0")
    assert not Board(tmp_path / "card0.json", 0.0).tid_percent
