"""The run report and orbitfs-plot on a synthetic archive (ground_sim/report*.py, plot_cli.py).

The archive is written by a real PacketArchive with TM packets encoded as the flight encodes
them (housekeeping of the packaged topology's dictionary, products, pass rows), so the report
reads exactly what a station archives; tests/system/test_report_archive.py does the same on a
real SIL flight. Verifies: the series are the archived housekeeping; SAA, eclipse and pass bands
appear where the channels say and are omitted with a note otherwise; a figure whose channels are
missing is skipped with a line naming them; every PNG linked from report.md is written and
valid; enumerated and boolean channels are drawn as named steps; the CLI's errors are one line
with exit 2 (unknown channel with close names, missing archive or dictionary, no matplotlib).
"""
from __future__ import annotations

import dataclasses
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.app import load_flight_topology
from flight.core.types import DataType
from flight.messages import Product
from flight.wire import services as svc
from flight.wire.dictionary import build_dictionary
from flight.wire.pus import TelemetryPacket
from ground_sim import plot_cli
from ground_sim.archive import PacketArchive
from ground_sim.report import write_report
from ground_sim.report_data import ReportInputError, intervals, load_run
from ground_sim.report_figures import ReportUnavailable, build_figures

DICTIONARY = build_dictionary(load_flight_topology())
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SECONDS = 40
PNG = b"\x89PNG\r\n\x1a\n"


def hk(component: str, values: dict[str, float], time_: float, sequence: int) -> bytes:
    """The housekeeping report of ``component`` with ``values`` (every other channel 0), encoded."""
    structure = DICTIONARY.housekeeping_by_id[DICTIONARY.components[component]]
    body = struct.pack(">H", structure.structure_id)
    for channel_id in structure.channels:
        channel = DICTIONARY.channel_by_id[channel_id]
        value = values.get(channel.name, 0)
        body += channel.type.encode(bool(value) if channel.type is DataType.BOOL else
                                    value if channel.type.value in "fd" else int(value))
    return TelemetryPacket(DICTIONARY.apid, sequence, svc.HOUSEKEEPING, svc.HK_REPORT, body, time_).encode()


def cluster_values(second: int) -> dict[str, float]:
    values = {"cluster.InSaa": 10 <= second < 15, "cluster.Sunlit": not 20 <= second < 30,
              "cluster.BatteryCharge": 90.0 - second / 10, "cluster.Mode": second // 20}
    for card in range(3):
        values |= {f"cluster.card{card}_LatencyP50": 1.0 + card, f"cluster.card{card}_LatencyP99": 4.0 + card,
                   f"cluster.card{card}_BusyTime": 0.25 * second, f"cluster.card{card}_Temperature": 20.0 + second}
    return values


def write_archive(path: Path, products: int, passes: bool = True) -> Path:
    archive = PacketArchive(path)
    sequence = 0
    for second in range(SECONDS):
        for component, values in (("cluster", cluster_values(second)),
                                  ("seu", {"seu.Injected": 2 * second}),
                                  ("scrubber", {"scrubber.Detected": 2 * second,
                                                "scrubber.Repaired": max(0, 2 * second - 1)}),
                                  ("comms", {"comms.TmStoreDepth": second % 7, "comms.TmStoreOctets": 100 * second})):
            raw = hk(component, values, T0 + second, sequence)
            archive.record("down", 0.0, raw, {"apid": DICTIONARY.apid, "service": 3, "subtype": 25})
            sequence += 1
    for frame in range(products):
        data = svc.pack_product(Product(frame, 1, 0.9, 0.1, np.zeros((4, 4), bool), 1500, 0))
        raw = TelemetryPacket(DICTIONARY.apid, sequence + frame, svc.PRODUCT, svc.INFERENCE_PRODUCT, data,
                              T0 + 5 + frame * 0.5).encode()
        archive.record("down", 0.0, raw, {"apid": DICTIONARY.apid, "service": 200, "subtype": 1})
    if passes:
        archive.record("pass", 0.0, b"", None, {"event": "AOS", "station": "s", "mission_time": T0 + 25})
        archive.record("pass", 0.0, b"", None, {"event": "LOS", "station": "s", "mission_time": T0 + 32})
    assert archive.close() is None
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return write_archive(tmp_path_factory.mktemp("report") / "archive.sqlite", products=30)


@pytest.fixture(scope="module")
def plots(archive):
    return {plot.stem: plot for plot in build_figures(load_run(archive, DICTIONARY), DICTIONARY)}


def test_the_series_are_the_archived_housekeeping_and_products(archive):
    data = load_run(archive, DICTIONARY)
    assert data.channels["cluster.BatteryCharge"][3] == (T0 + 3, pytest.approx(89.7))
    assert [v for _, v in data.channels["seu.Injected"]] == [2.0 * s for s in range(SECONDS)]
    assert len(data.products) == 30 and data.passes == [(T0 + 25, T0 + 32)]
    assert (data.start, data.end) == (T0, T0 + SECONDS - 1)
    only = load_run(archive, DICTIONARY, {"seu.Injected"}.__contains__)  # the seu structure's reports only
    assert list(only.channels) == ["seu.Injected"] and only.reports == SECONDS and len(only.products) == 30


def test_every_figure_has_a_title_labelled_axes_and_x_inside_the_run(plots):
    assert list(plots) == ["products", "cards", "upsets", "power", "store"]
    for plot in plots.values():
        assert plot.figure is not None and plot.figure.get_suptitle() == plot.title
        for ax in plot.figure.axes:
            assert "(" in ax.get_ylabel() and ax.get_xlabel() in ("", "on-board time from 2026-01-01 "
                                                                        "00:00:00 UTC (s)")
            for line in ax.get_lines():
                assert all(0 <= x <= SECONDS - 1 for x in line.get_xdata())
        assert plot.figure.axes[-1].get_xlabel().startswith("on-board time")


def test_counts_rates_and_utilizations_are_non_negative_and_products_are_the_archives(plots):
    (rate,) = plots["products"].figure.axes[0].get_lines()
    assert min(rate.get_ydata()) >= 0
    assert sum(rate.get_ydata()) == 30  # 1 s bins: products per second add up to the products
    busy = plots["cards"].figure.axes[1].get_lines()
    assert len(busy) == 3 and all(y == pytest.approx(25.0) for line in busy for y in line.get_ydata())
    for line in plots["upsets"].figure.axes[0].get_lines():
        assert min(line.get_ydata()) >= 0 and list(line.get_ydata()) == sorted(line.get_ydata())


def test_saa_eclipse_and_pass_bands_are_where_the_archive_says(plots):
    def bands(ax) -> list[tuple[float, float]]:
        return sorted((round(p.get_x(), 3), round(p.get_x() + p.get_width(), 3)) for p in ax.patches)

    assert bands(plots["upsets"].figure.axes[0]) == [(10, 15), (20, 30)]
    assert bands(plots["store"].figure.axes[0]) == [(25, 32)]
    assert plots["upsets"].notes == [] and plots["store"].notes == []


def test_the_report_links_every_png_it_writes_each_valid(archive, tmp_path):
    report = write_report(archive, DICTIONARY, tmp_path / "out", title="synthetic")
    text = report.read_text()
    assert text.startswith("# synthetic\n") and "| products | 30 |" in text and "| seu.Injected (final) | 78 |" in text
    links = [line[line.index("(") + 1:-1] for line in text.splitlines() if line.startswith("![")]
    assert sorted(links) == sorted(p.name for p in (tmp_path / "out").glob("*.png")) and len(links) == 5
    for link in links:
        assert (tmp_path / "out" / link).read_bytes().startswith(PNG)


def test_missing_channels_skip_a_figure_with_a_line_never_an_exception(tmp_path):
    path = write_archive(tmp_path / "a.sqlite", products=0, passes=False)
    reduced = dataclasses.replace(DICTIONARY)  # the same ids: the scrubber's and comms' reports undecodable
    dropped = (DICTIONARY.components["scrubber"], DICTIONARY.components["comms"])
    reduced.housekeeping = [h for h in DICTIONARY.housekeeping if h.structure_id not in dropped]
    reduced.reindex()
    text = write_report(path, reduced, tmp_path / "out").read_text()
    assert "skipped: no product packets (TM[200,1]) in the archive" in text
    assert "skipped: channel comms.TmStoreDepth, comms.TmStoreOctets missing from the archive" in text
    assert "skipped: channel scrubber.Detected missing from the archive" in text
    assert "| packets not decodable with this dictionary | 80 |" in text
    assert not (tmp_path / "out" / "store.png").exists() and (tmp_path / "out" / "upsets.png").exists()


@given(st.lists(st.booleans(), max_size=30))
def test_intervals_cover_exactly_the_true_samples(flags):
    series = [(float(i), float(f)) for i, f in enumerate(flags)]
    spans = intervals(series)
    inside = {i for i in range(len(flags)) for a, b in spans if a <= i < b or i == b == len(flags) - 1}
    assert {i for i, f in enumerate(flags) if f} <= inside
    assert all(flags[int(a)] and (b == len(flags) - 1 or not flags[int(b)]) for a, b in spans)


def test_enumerated_and_boolean_channels_are_named_steps_units_share_a_subplot(archive):
    channels = [dataclasses.replace(c, enumeration=((0, "THROUGHPUT"), (1, "TMR"), (2, "DMR")))
                if c.name == "cluster.Mode" else c for c in DICTIONARY.channels]
    dictionary = dataclasses.replace(DICTIONARY, channels=channels)
    names = ["cluster.Mode", "cluster.InSaa", "cluster.card0_LatencyP50", "cluster.card1_LatencyP99"]
    figure = plot_cli.channel_figure(load_run(archive, dictionary), dictionary, names, "t")
    mode, saa, latency = figure.axes
    assert [t.get_text() for t in mode.get_yticklabels()] == ["THROUGHPUT", "TMR", "DMR"]
    assert [t.get_text() for t in saa.get_yticklabels()] == ["false", "true"]
    assert mode.get_lines()[0].get_drawstyle() == "steps-post"
    assert latency.get_ylabel() == "ms" and len(latency.get_lines()) == 2


def test_plot_writes_a_png_and_the_report_from_a_run_dir(archive, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "archive.sqlite").write_bytes(archive.read_bytes())
    DICTIONARY.write(run / "dictionary.json")  # the flight removes flight-ready.json when it exits
    out = tmp_path / "p.png"
    assert plot_cli.main(["--run-dir", str(run), "--out", str(out), "cluster.BatteryCharge"]) == 0
    assert out.read_bytes().startswith(PNG) and capsys.readouterr().out.strip() == str(out)
    assert plot_cli.main(["--run-dir", str(run), "--report", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.md").exists() and (tmp_path / "r" / "cards.png").exists()


@pytest.mark.parametrize("argv, says", [
    (["cluster.Trhoughput"], "unknown channel 'cluster.Trhoughput'; close names: cluster.Throughput"),
    (["--archive", "/nonexistent.sqlite", "seu.Injected"], "archive /nonexistent.sqlite does not exist"),
    (["--dictionary", "/nonexistent.json", "seu.Injected"], "cannot load dictionary /nonexistent.json"),
    (["--report", "seu.Injected"], "give CHANNEL names to plot, or --report (not both)"),
    (["camera.FramesCaptured"], "channel camera.FramesCaptured has no samples in"),
])
def test_plot_refuses_bad_input_with_one_line_and_exit_2(archive, tmp_path, capsys, argv, says):
    defaults = {"--archive": str(archive), "--dictionary": str(DICTIONARY.write(tmp_path / "d.json"))}
    for option, value in defaults.items():
        if option not in argv:
            argv = [option, value, *argv]
    assert plot_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_without_matplotlib_plot_names_the_extra(archive, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    with pytest.raises(ReportUnavailable):
        write_report(archive, DICTIONARY, tmp_path)
    assert plot_cli.main(["--archive", str(archive), "--dictionary",
                          str(DICTIONARY.write(tmp_path / "d.json")), "seu.Injected"]) == 2
    assert capsys.readouterr().err == "orbitfs-plot: matplotlib is not installed: pip install 'orbitfs[plot]'\n"


def test_a_missing_or_unreadable_archive_is_one_line(tmp_path):
    with pytest.raises(ReportInputError, match="does not exist"):
        load_run(tmp_path / "none.sqlite", DICTIONARY)
    (tmp_path / "x.sqlite").write_text("not a database")
    with pytest.raises(ReportInputError, match="is not a ground archive"):
        load_run(tmp_path / "x.sqlite", DICTIONARY)
