"""File transfer over the link (issue 14, "Files and the model that flies"): a file up and another
down at the same time, through the real flight process and ground over real sockets and the link
relay (ground_sim.file_pass), 1 % frame loss each way, started 15 s of mission time before the
pass ends: both are cut by the pass end, held through the gap, and arrive byte-identical in the
next pass. The 10 MB figures are tools/bench_files.py's (the README's "File transfer"). Then the
README's example as written, with the default flight (no link model): a file up, listed, down
from the run directory, a product's image saved by the camera and brought down, equal to the
scene's tile; and the console's file verbs, with their refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flight.payload.scene import SceneGenerator
from ground_sim.console import Console
from ground_sim.file_pass import PassOptions, start, transfer_across_pass_end

ROOT = Path(__file__).resolve().parents[2]
SEED = 1   # the default topology's scene seed

SIZE = 300_000     # octets each way: at 64 kbit/s up, 37 s of mission time at the least


@pytest.mark.slow
def test_a_file_up_and_one_down_at_1_percent_loss_across_a_pass_end_arrive_intact(tmp_path, demo_model):
    options = PassOptions()
    run = start(tmp_path / "flight", demo_model, options)
    try:
        first, second = run.plan[0], run.plan[1]
        crossing = transfer_across_pass_end(run, SIZE, lead_s=15.0, options=options, timeout=120.0)
        assert crossing.up_intact and crossing.down_intact
        for figures in (crossing.up, crossing.down):   # begun before the pass ended, done in the next one
            assert figures.started < first.set < second.rise < figures.finished
        assert run.relay.down.stats.lost > 0 and run.relay.outside_pass["down"] > 0
        assert run.api.station.files.entity.stats.faults == 0
        run.api.await_telemetry("files.FilesReceived", 1)
        run.api.await_telemetry("files.FilesSent", 1)
        assert run.api.station.latest("files.TransfersFailed") == 0
    finally:
        run.close()


def test_the_readme_example_works_as_written_and_a_products_image_comes_down_exactly(flight, tmp_path, monkeypatch,
                                                                                  readme_example):
    monkeypatch.chdir(ROOT)
    readme_example("upload_file(")(flight, tmp_path)
    image = np.load(tmp_path / "frame-1.npy", allow_pickle=False)
    assert np.array_equal(image, SceneGenerator(SEED).tile(1).pixels)
    assert [e.name for e in flight.file_directory("files")] == ["frame-1.npy"]
    with pytest.raises(AssertionError, match="INVALID_STATE"):    # frame 0 is kept, frame 9 never was
        flight.send_and_assert_command("camera.SAVE_IMAGE", [9])


def test_the_console_sends_lists_fetches_and_deletes_files(flight, tmp_path, capsys):
    local = tmp_path / "plan.txt"
    local.write_bytes(bytes(range(256)) * 40)
    console = Console(flight)
    try:
        console.onecmd(f"file up {local} plan.txt")
        assert "is on board as files/plan.txt" in capsys.readouterr().out
        console.onecmd("file ls")
        assert "plan.txt  10,240" in capsys.readouterr().out
        console.onecmd(f"file down files/plan.txt {tmp_path / 'back.txt'}")
        assert (tmp_path / "back.txt").read_bytes() == local.read_bytes()
        capsys.readouterr()
        for bad, said in ((f"up {tmp_path / 'none.txt'} x", "refused: "), ("down ../etc/passwd x", "PATH_REFUSED"),
                          ('up "unbalanced', "refused: "), ("nonsense", "usage")):
            console.onecmd(f"file {bad}")
            assert said in capsys.readouterr().out, bad
        console.onecmd("file rm plan.txt")
        capsys.readouterr()
        console.onecmd("file ls")
        assert "plan.txt  " not in capsys.readouterr().out
    finally:
        console.onecmd("quit")
