"""The run report's figures, drawn from :class:`ground_sim.report_data.RunData` as matplotlib Figures.

Each builder returns a :class:`Plot`: the Figure (None when the channels it needs are not in the
archive), its title, one line on how to read it, and notes (a band omitted, a channel missing).
Figures are plain ``matplotlib.figure.Figure`` objects on an Agg canvas: no pyplot, no display,
no global state, so tests can inspect them before they are saved. matplotlib is imported only
when a figure is drawn; without it :class:`ReportUnavailable` says how to install it.

The x axis is on-board time from the run's first sample, in seconds (hours for runs over two
hours). Utilization is the BusyTime channel's increase over the time between two samples.
The latency channels are the percentiles the flight reports per housekeeping period (it does not
send each inference's latency), so they are drawn over time rather than as a histogram.

| requirement | verified by |
|---|---|
| every figure has a title, labelled axes with units, x inside the run's time span |   |
|   | tests/unit/ground/test_run_report.py, tests/system/test_report_archive.py |
| a figure whose channels are missing is skipped with a note naming them, never an exception |   |
|   | tests/unit/ground/test_run_report.py |
| rates, utilizations and counts drawn are non-negative; the products drawn are the archive's |   |
|   | tests/unit/ground/test_run_report.py |
| enumerated and boolean channels are drawn as steps with their names on the y axis |   |
|   | tests/unit/ground/test_run_report.py |
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from flight.wire.dictionary import Dictionary
from ground_sim.report_data import RunData, Series, intervals

PLOT_EXTRA = "pip install 'orbitfs[plot]'"
LATENCY = re.compile(r"cluster\.(card\d+)_LatencyP50$")
UPSET_CHANNELS = ("seu.Injected", "scrubber.Detected", "scrubber.Repaired")
SAA_CHANNELS = ("cluster.InSaa", "seu.InSaa")
SUNLIT_CHANNEL = "cluster.Sunlit"
STORE_CHANNELS = ("comms.TmStoreDepth", "comms.TmStoreOctets")
CARD_CHANNEL = re.compile(r"cluster\.card\d+_(LatencyP50|LatencyP99|BusyTime|Temperature)$")
NAMED = {*UPSET_CHANNELS, "scrubber.Uncorrectable", *SAA_CHANNELS, SUNLIT_CHANNEL, *STORE_CHANNELS}


def report_channel(name: str) -> bool:
    """Whether the report draws (or counts) channel ``name``: what :func:`load_run` should keep."""
    return name in NAMED or "Battery" in name or CARD_CHANNEL.match(name) is not None


class ReportUnavailable(Exception):
    """matplotlib is not installed (the ``plot`` extra): one line saying so."""


@dataclass
class Plot:
    """One figure of the report: ``stem`` names its PNG; ``figure`` is None when it was skipped."""

    stem: str
    title: str
    reading: str
    figure: Any = None
    notes: list[str] = field(default_factory=list)


def require_matplotlib() -> None:
    """Raise ReportUnavailable, naming the extra to install, when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportUnavailable(f"matplotlib is not installed: {PLOT_EXTRA}") from None


def new_figure(rows: int, height: float = 2.6) -> tuple[Any, list[Any]]:
    """A Figure on an Agg canvas with ``rows`` stacked axes sharing x (ReportUnavailable without matplotlib)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 1.2 + height * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return figure, list(axes)


class TimeAxis:
    """On-board time as seconds (or hours) from the run's first sample."""

    def __init__(self, data: RunData) -> None:
        self.origin = data.start
        span = data.end - data.start
        self.scale, self.unit = (3600.0, "h") if span > 7200 else (1.0, "s")

    def __call__(self, time_: float) -> float:
        return (time_ - self.origin) / self.scale

    def label(self) -> str:
        utc = datetime.fromtimestamp(self.origin, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"on-board time from {utc} ({self.unit})"

    def finish(self, figure: Any, axes: list[Any], title: str) -> Any:
        figure.suptitle(title)
        axes[-1].set_xlabel(self.label())
        for ax in axes:
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small", loc="best")
        return figure


def units_of(dictionary: Dictionary, name: str) -> str:
    channel = dictionary.channel_by_name.get(name)
    return channel.units if channel is not None and channel.units else "no unit"


def draw(ax: Any, axis: TimeAxis, series: Series, label: str, **style: Any) -> None:
    ax.plot([axis(t) for t, _ in series], [v for _, v in series], label=label, **style)


def shade(ax: Any, axis: TimeAxis, spans: list[tuple[float, float]], color: str, label: str) -> None:
    for i, (begin, end) in enumerate(spans):
        ax.axvspan(axis(begin), axis(end), color=color, alpha=0.18, label=label if i == 0 else None)


def missing(names: list[str] | tuple[str, ...]) -> str:
    return f"skipped: channel {', '.join(names)} missing from the archive"


# --- the five figures ---------------------------------------------------------------------------
def products_figure(data: RunData, dictionary: Dictionary) -> Plot:
    plot = Plot("products", "Products per second",
                "how many inference products (TM[200,1]) were made per second of on-board time; gaps are "
                "seconds without a product")
    if not data.products:
        plot.notes.append("skipped: no product packets (TM[200,1]) in the archive")
        return plot
    axis = TimeAxis(data)
    width = max(1, math.ceil((data.end - data.start) / 200))
    bins = [0] * (int((data.end - data.start) // width) + 1)
    for time_ in data.products:
        bins[int((time_ - data.start) // width)] += 1
    figure, (ax,) = new_figure(1)
    ax.step([axis(data.start + i * width) for i in range(len(bins))], [n / width for n in bins], where="post",
            label=f"products ({len(data.products)} in all)")
    ax.set_ylabel(f"products per second (1/s, {width} s bins)")
    ax.set_ylim(bottom=0)
    plot.figure = axis.finish(figure, [ax], plot.title)
    return plot


def utilization(series: Series) -> Series:
    """Percent busy between consecutive samples of a cumulative busy time (s); never negative."""
    return [(t1, max(0.0, 100.0 * (b1 - b0) / (t1 - t0)))
            for (t0, b0), (t1, b1) in zip(series, series[1:]) if t1 > t0]


def cards_figure(data: RunData, dictionary: Dictionary) -> Plot:
    plot = Plot("cards", "Inference latency and utilization per card",
                "top: each card's latency percentiles as reported each housekeeping period (solid P50, dashed "
                "P99; the flight sends percentiles, not each inference's latency, so they are drawn over "
                "time); bottom: the share of each period the card was busy (BusyTime increase / time)")
    cards = sorted(m.group(1) for name in data.channels if (m := LATENCY.match(name)))
    if not cards:
        plot.notes.append(missing(["cluster.<card>_LatencyP50"]))
        return plot
    axis = TimeAxis(data)
    figure, (latency, busy) = new_figure(2)
    for index, card in enumerate(cards):
        color = f"C{index}"
        for percentile, style in (("P50", "-"), ("P99", "--")):
            series = [(t, v) for t, v in data.channels.get(f"cluster.{card}_Latency{percentile}", []) if v > 0]
            draw(latency, axis, series, f"{card} {percentile}", color=color, linestyle=style)  # 0: no inference yet
        if data.has(f"cluster.{card}_BusyTime"):
            draw(busy, axis, utilization(data.channels[f"cluster.{card}_BusyTime"]), card, color=color,
                 drawstyle="steps-pre")
        else:
            plot.notes.append(f"utilization of {card}: {missing([f'cluster.{card}_BusyTime'])}")
    latency.set_ylabel(f"latency ({units_of(dictionary, f'cluster.{cards[0]}_LatencyP50')})")
    busy.set_ylabel("utilization (%)")
    latency.set_ylim(bottom=0)
    busy.set_ylim(bottom=0)
    plot.figure = axis.finish(figure, [latency, busy], plot.title)
    return plot


def environment_bands(ax: Any, axis: TimeAxis, data: RunData, notes: list[str]) -> None:
    """Shade SAA and eclipse intervals, or say in ``notes`` why a band is absent."""
    saa = next((name for name in SAA_CHANNELS if data.has(name)), None)
    if saa is None:
        notes.append(f"SAA bands omitted: no {' or '.join(SAA_CHANNELS)} channel in the archive")
    elif not (spans := intervals(data.channels[saa], True)):
        notes.append(f"no SAA band: the run never entered the SAA ({saa} stayed false)")
    else:
        shade(ax, axis, spans, "tab:red", "in SAA")
    if not data.has(SUNLIT_CHANNEL):
        notes.append(f"eclipse bands omitted: no {SUNLIT_CHANNEL} channel in the archive")
    elif not (spans := intervals(data.channels[SUNLIT_CHANNEL], False)):
        notes.append(f"no eclipse band: the run stayed sunlit ({SUNLIT_CHANNEL} stayed true)")
    else:
        shade(ax, axis, spans, "tab:gray", "eclipse")


def present_channels(data: RunData, names: list[str] | tuple[str, ...], plot: Plot) -> list[str]:
    """Those of ``names`` the archive has; a note on ``plot`` for each missing (one for all when none is there)."""
    present = [name for name in names if data.has(name)]
    plot.notes += [missing(list(names))] if not present else [missing([name]) for name in names if name not in present]
    return present


def upsets_figure(data: RunData, dictionary: Dictionary) -> Plot:
    plot = Plot("upsets", "Upsets and repairs",
                "cumulative upsets injected, detected and repaired by the scrubber; the gap between injected "
                "and repaired is what was not (yet) repaired; red bands: SAA, gray bands: eclipse")
    present = present_channels(data, UPSET_CHANNELS, plot)
    if not present:
        return plot
    axis = TimeAxis(data)
    figure, (ax,) = new_figure(1, height=3.2)
    for name in present:
        draw(ax, axis, data.channels[name], name, drawstyle="steps-post")
    environment_bands(ax, axis, data, plot.notes)
    ax.set_ylabel(f"cumulative ({units_of(dictionary, present[0])})")
    ax.set_ylim(bottom=0)
    plot.figure = axis.finish(figure, [ax], plot.title)
    return plot


def power_figure(data: RunData, dictionary: Dictionary) -> Plot:
    plot = Plot("power", "Battery and card temperatures",
                "top: battery channels (state of charge); bottom: each card's temperature")
    battery = sorted(name for name in data.channels if "Battery" in name)
    temperatures = sorted(name for name in data.channels if name.startswith("cluster.card")
                          and name.endswith("_Temperature"))
    if not battery and not temperatures:
        plot.notes.append(missing(["cluster.BatteryCharge", "cluster.<card>_Temperature"]))
        return plot
    groups = [(names, label) for names, label in ((battery, "battery"), (temperatures, "temperature")) if names]
    plot.notes += [missing([name]) for name, names in (("cluster.BatteryCharge", battery),
                                                       ("cluster.<card>_Temperature", temperatures)) if not names]
    axis = TimeAxis(data)
    figure, axes = new_figure(len(groups))
    for ax, (names, label) in zip(axes, groups):
        for name in names:
            draw(ax, axis, data.channels[name], name)
        ax.set_ylabel(f"{label} ({units_of(dictionary, names[0])})")
    plot.figure = axis.finish(figure, axes, plot.title)
    return plot


def store_figure(data: RunData, dictionary: Dictionary) -> Plot:
    plot = Plot("store", "TM store occupancy",
                "packets and bytes held in the flight's TM store, waiting to be downlinked and acknowledged; "
                "green bands: ground station passes (AOS to LOS)")
    present = present_channels(data, STORE_CHANNELS, plot)
    if not present:
        return plot
    axis = TimeAxis(data)
    passes = [(max(aos, data.start), min(data.end if los is None else los, data.end)) for aos, los in data.passes]
    passes = [(aos, los) for aos, los in passes if los > aos]  # the part of each pass inside the run
    figure, axes = new_figure(len(present))
    for ax, name in zip(axes, present):
        draw(ax, axis, data.channels[name], name, drawstyle="steps-post")
        ax.set_ylabel(f"{name.partition('.')[2]} ({units_of(dictionary, name)})")
        ax.set_ylim(bottom=0)
        shade(ax, axis, passes, "tab:green", "pass")
    if not passes:
        plot.notes.append("pass bands omitted: the archive has no pass rows within the run (a run without "
                          "the link model has none)")
    plot.figure = axis.finish(figure, axes, plot.title)
    return plot


FIGURES: tuple[Callable[[RunData, Dictionary], Plot], ...] = (
    products_figure, cards_figure, upsets_figure, power_figure, store_figure)


def build_figures(data: RunData, dictionary: Dictionary) -> list[Plot]:
    """The report's figures in order (ReportUnavailable without matplotlib)."""
    require_matplotlib()
    return [builder(data, dictionary) for builder in FIGURES]
