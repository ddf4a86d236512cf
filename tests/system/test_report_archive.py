"""The run report of a real SIL flight's archive (ground_sim/report.py, plot_cli.py).

One short SIL run (20 frames, upsets accelerated) per module; then verifies: write_report writes
report.md and every PNG it links, each a non-empty valid PNG; the figures have their titles,
labelled axes and x inside the run's on-board time span; rates and utilizations are
non-negative; the products drawn are the archive's product packets; orbitfs-plot of one channel
writes a PNG (exit 0) and an unknown channel is one line (exit 2).
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from flight.wire import services as svc
from flight.wire.dictionary import Dictionary
from ground_sim import plot_cli
from ground_sim.report import write_report
from ground_sim.report_data import load_run
from ground_sim.report_figures import build_figures

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("report") / "sil"
    result = subprocess.run([sys.executable, "-m", "ground_sim.sil", "--frames", "20", "--run-dir", str(run_dir),
                             "--seu-acceleration", "3e7", "--no-report"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return run_dir


def test_the_sil_report_writes_every_png_it_links(run, tmp_path):
    report = write_report(run / "archive.sqlite", Dictionary.load(run / "dictionary.json"), tmp_path, "SIL")
    text = report.read_text()
    links = [line[line.index("(") + 1:-1] for line in text.splitlines() if line.startswith("![")]
    assert len(links) == 5 and "| products | 20 |" in text
    for link in links:
        png = (tmp_path / link).read_bytes()
        assert len(png) > 1000 and png.startswith(PNG)


def test_the_sil_figures_have_sensible_axes(run):
    dictionary = Dictionary.load(run / "dictionary.json")
    data = load_run(run / "archive.sqlite", dictionary)
    with sqlite3.connect(run / "archive.sqlite") as db:
        (products,) = db.execute("SELECT count(*) FROM packets WHERE direction = 'down' AND service = ? AND "
                                 "subtype = ?", (svc.PRODUCT, svc.INFERENCE_PRODUCT)).fetchone()
    assert len(data.products) == products == 20
    plots = {plot.stem: plot for plot in build_figures(data, dictionary)}
    span = data.end - data.start
    for plot in plots.values():
        assert plot.figure is not None, plot.notes
        assert plot.figure.get_suptitle() == plot.title
        assert plot.figure.axes[-1].get_xlabel().startswith("on-board time from ")
        for ax in plot.figure.axes:
            assert ax.get_ylabel()
            for line in ax.get_lines():
                assert all(-1e-9 <= x <= span + 1e-9 for x in line.get_xdata())
    (rate,) = plots["products"].figure.axes[0].get_lines()
    width = float(plots["products"].figure.axes[0].get_ylabel().split(", ")[1].split(" ")[0])
    assert min(rate.get_ydata()) >= 0 and sum(rate.get_ydata()) * width == pytest.approx(products)
    for ax in plots["cards"].figure.axes:
        assert ax.get_lines() and all(min(line.get_ydata()) >= 0 for line in ax.get_lines())
    assert {line.get_label() for line in plots["upsets"].figure.axes[0].get_lines()} == {
        "seu.Injected", "scrubber.Detected", "scrubber.Repaired"}
    assert any("pass bands omitted" in note for note in plots["store"].notes)  # a SIL run has no passes


def test_orbitfs_plot_of_a_real_run(run, tmp_path, capsys):
    out = tmp_path / "throughput.png"
    assert plot_cli.main(["--run-dir", str(run), "--out", str(out), "cluster.Throughput"]) == 0
    assert out.read_bytes().startswith(PNG)
    assert plot_cli.main(["--run-dir", str(run), "cluster.Thruput"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("orbitfs-plot: unknown channel 'cluster.Thruput'; close names: ")
