"""The run report: report.md and its PNG figures, from any ground archive and its dictionary.

:func:`write_report` reads the archive (:mod:`ground_sim.report_data`), draws the figures
(:mod:`ground_sim.report_figures`: products per second, per-card latency and utilization, upsets
and repairs with SAA and eclipse bands, battery and card temperatures, TM store occupancy with
pass bands), saves each as a PNG and writes report.md: a title, one line per figure saying what
it shows and how to read it, the image links (relative), what was skipped or omitted and why,
and a table of the key numbers. It works from the archive alone, so the SIL, a day run, or an
operator with an old archive get the same report. Without matplotlib it raises
:class:`ReportUnavailable` (one line naming the ``plot`` extra).

| requirement | verified by |
|---|---|
| report.md links every PNG it wrote; each is a non-empty, valid PNG | tests/unit/ground/test_run_report.py |
| the same on a real SIL flight's archive | tests/system/test_report_archive.py |
| a figure whose channels are absent is a line in report.md, never an exception | tests/unit/ground/test_run_report.py |
| the key numbers are the archive's (products, upsets) | tests/unit/ground/test_run_report.py |
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from flight.wire.dictionary import Dictionary
from ground_sim.report_data import ReportInputError, RunData, load_run
from ground_sim.report_figures import LATENCY, Plot, ReportUnavailable, build_figures, report_channel, utilization

__all__ = ["ReportInputError", "ReportUnavailable", "key_numbers", "write_report"]


def write_report(archive: Path, dictionary: Dictionary, out_dir: Path, title: str = "orbitfs run") -> Path:
    """Write out_dir/report.md and its PNGs; return the report.md path.

    ReportUnavailable without matplotlib; ReportInputError if the archive cannot be read."""
    data = load_run(archive, dictionary, report_channel)
    plots = build_figures(data, dictionary)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for plot in plots:
        if plot.figure is not None:
            plot.figure.savefig(out_dir / f"{plot.stem}.png", dpi=100)
    report = out_dir / "report.md"
    report.write_text(render(title, Path(archive), data, plots))
    return report


def render(title: str, archive: Path, data: RunData, plots: list[Plot]) -> str:
    """report.md's text: title, one section per figure, the key numbers."""
    start = datetime.fromtimestamp(data.start, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"# {title}", "",
             f"From the archive `{archive}`: {data.end - data.start:,.1f} s of on-board time from {start}. "
             "Time runs left to right on every figure, from the first sample.", ""]
    for number, plot in enumerate(plots, 1):
        lines += [f"## {number}. {plot.title}", "", f"{plot.reading[0].upper()}{plot.reading[1:]}.", ""]
        if plot.figure is not None:
            lines += [f"![{plot.title}]({plot.stem}.png)", ""]
        lines += [f"- {note}" for note in plot.notes] + ([""] if plot.notes else [])
    lines += ["## Key numbers", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in key_numbers(data)]
    return "\n".join(lines) + "\n"


def _number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def key_numbers(data: RunData) -> list[tuple[str, str]]:
    """The run's headline numbers as (quantity, value) rows; a channel not archived reads n/a."""
    span = data.end - data.start
    rows = [("on-board time span (s)", _number(span, 1)),
            ("housekeeping reports read", f"{data.reports:,}"),
            ("products", f"{len(data.products):,}"),
            ("mean products per second", _number(len(data.products) / span if span > 0 else None, 2)),
            ("packets not decodable with this dictionary", f"{data.undecodable:,}")]
    rows += [(f"{name} (final)", _number(data.last(name)))
             for name in ("seu.Injected", "scrubber.Detected", "scrubber.Repaired", "scrubber.Uncorrectable")]
    for card in sorted(m.group(1) for name in data.channels if (m := LATENCY.match(name))):
        busy = utilization(data.channels.get(f"cluster.{card}_BusyTime", []))
        mean = sum(v for _, v in busy) / len(busy) if busy else None
        rows.append((f"{card}: latency P50 / P99 (ms, final), mean utilization (%)",
                     f"{_number(data.last(f'cluster.{card}_LatencyP50'), 2)} / "
                     f"{_number(data.last(f'cluster.{card}_LatencyP99'), 2)}, {_number(mean, 1)}"))
    rows += [("battery charge min (%)", _extreme(data, "cluster.BatteryCharge", min)),
             ("card temperature max (degC)", _extreme(data, "_Temperature", max, suffix=True)),
             ("TM store depth max (packets)", _extreme(data, "comms.TmStoreDepth", max)),
             ("passes", f"{len(data.passes):,}")]
    return rows


def _extreme(data: RunData, name: str, pick: Callable[[list[float]], float], suffix: bool = False) -> str:
    """``pick`` (min or max) of every sample of channel ``name`` (of every channel ending so, with ``suffix``)."""
    values = [v for channel, series in data.channels.items()
              if (channel.endswith(name) if suffix else channel == name) for _, v in series]
    return _number(pick(values), 1) if values else "n/a"
