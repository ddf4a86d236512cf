"""orbitfs-plot: draw channels of a ground archive over on-board time, or write the full run report.

``orbitfs-plot --archive A.sqlite --dictionary D.json [--out FILE.png] CHANNEL [CHANNEL ...]``
draws the channels, one subplot per unit (channels sharing a unit share a subplot); an enumerated
or boolean channel gets its own subplot, drawn as steps with its value names on the y axis.
``orbitfs-plot --report --archive A --dictionary D --out DIR`` writes DIR/report.md and its
figures (:mod:`ground_sim.report`). ``--run-dir RUN_DIR`` stands for ``--archive
RUN_DIR/archive.sqlite`` and the dictionary named in ``RUN_DIR/flight-ready.json`` (while the
flight runs; ``RUN_DIR/dictionary.json`` once it has exited and removed that file).

| requirement | verified by |
|---|---|
| one channel draws a PNG, exit 0; --report writes report.md | tests/unit/ground/test_run_report.py |
| an unknown channel: one line naming close names, exit 2 | tests/unit/ground/test_run_report.py |
| a missing archive or dictionary, no matplotlib: one line, exit 2 | tests/unit/ground/test_run_report.py |
"""
from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

from flight.cli_common import add_common_options, configure_logging
from flight.core.catalog import ChannelDef
from flight.core.types import DataType
from flight.wire.dictionary import Dictionary
from ground_sim.report import ReportInputError, ReportUnavailable, write_report
from ground_sim.report_data import RunData, load_run
from ground_sim.report_figures import TimeAxis, draw, new_figure

PROG = "orbitfs-plot"


class UsageError(Exception):
    """Bad arguments or input files: one line."""


def step_labels(channel: ChannelDef) -> tuple[tuple[int, str], ...]:
    """The (value, name) ticks of an enumerated or boolean channel; empty for any other."""
    if channel.enumeration:
        return tuple(channel.enumeration)
    return ((0, "false"), (1, "true")) if channel.type is DataType.BOOL else ()


def channel_figure(data: RunData, dictionary: Dictionary, names: list[str], title: str) -> Any:
    """A Figure of ``names`` over on-board time: a subplot per unit, one per enumerated/boolean channel."""
    groups: dict[str, list[str]] = {}
    for name in names:
        channel = dictionary.channel_by_name[name]
        key = f"enum:{name}" if step_labels(channel) else channel.units or "no unit"
        groups.setdefault(key, []).append(name)
    axis = TimeAxis(data)
    figure, axes = new_figure(len(groups), height=2.2)
    for ax, (key, members) in zip(axes, groups.items()):
        if key.startswith("enum:"):
            channel = dictionary.channel_by_name[members[0]]
            draw(ax, axis, data.channels[channel.name], channel.name, drawstyle="steps-post")
            ticks = dict(step_labels(channel))
            seen = {int(v) for _, v in data.channels[channel.name]}
            ticks.update({v: str(v) for v in seen if v not in ticks})
            ax.set_yticks(sorted(ticks), [ticks[v] for v in sorted(ticks)])
            ax.set_ylabel(channel.name.partition(".")[2] or channel.name)
        else:
            for name in members:
                draw(ax, axis, data.channels[name], name)
            ax.set_ylabel(key)
    return axis.finish(figure, axes, title)


def check_known(names: list[str], dictionary: Dictionary) -> None:
    """UsageError naming an unknown channel, with the dictionary's close names."""
    for name in names:
        if name not in dictionary.channel_by_name:
            close = difflib.get_close_matches(name, dictionary.channel_by_name, n=5, cutoff=0.6)
            close = close or [c for c in dictionary.channel_by_name if name.lower() in c.lower()][:5]
            raise UsageError(f"unknown channel {name!r}; close names: {', '.join(close) or 'none'}")


def run_dictionary(run_dir: Path) -> Path:
    """The dictionary a run directory's flight-ready.json names; once the flight has exited (it removes
    that file), the dictionary.json the flight wrote there."""
    ready = run_dir / "flight-ready.json"
    if not ready.exists():
        return run_dir / "dictionary.json"
    try:
        return Path(json.loads(ready.read_text())["dictionary"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot find the dictionary in {ready}: {error}") from None


def inputs(args: argparse.Namespace) -> tuple[Path, Dictionary]:
    """The archive path and the loaded dictionary the arguments name (UsageError if they cannot be)."""
    archive, dictionary = args.archive, args.dictionary
    if args.run_dir is not None:
        archive = archive or args.run_dir / "archive.sqlite"
        dictionary = dictionary or run_dictionary(args.run_dir)
    if archive is None or dictionary is None:
        raise UsageError("name the archive and dictionary: --archive A.sqlite --dictionary D.json, or --run-dir DIR")
    if not archive.is_file():
        raise UsageError(f"archive {archive} does not exist")
    try:
        return archive, Dictionary.load(dictionary)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot load dictionary {dictionary}: {error}") from None


def run(args: argparse.Namespace) -> Path:
    """Do what the arguments ask; the path written."""
    if args.report == bool(args.channels):
        raise UsageError("give CHANNEL names to plot, or --report (not both)")
    archive, dictionary = inputs(args)
    if args.report:
        return write_report(archive, dictionary, args.out or Path("report"), args.title or "orbitfs run")
    return plot_channels(archive, dictionary, args.channels, args.out or Path("orbitfs-plot.png"), args.title)


def plot_channels(archive: Path, dictionary: Dictionary, names: list[str], out: Path, title: str | None = None) -> Path:
    """Draw the channels ``names`` of ``archive`` over on-board time into the PNG ``out`` (UsageError: an
    unknown channel, or one without samples; ReportUnavailable: no matplotlib)."""
    check_known(names, dictionary)
    data = load_run(archive, dictionary, set(names).__contains__)
    absent = [name for name in names if not data.has(name)]
    if absent:
        raise UsageError(f"channel {', '.join(absent)} has no samples in {archive}")
    figure = channel_figure(data, dictionary, names, title or ", ".join(names))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("channels", nargs="*", metavar="CHANNEL", help="channel names, e.g. cluster.Throughput")
    parser.add_argument("--archive", type=Path, help="the ground's SQLite archive")
    parser.add_argument("--dictionary", type=Path, help="the flight's dictionary JSON")
    parser.add_argument("--run-dir", type=Path,
                        help="a run directory: its archive.sqlite and dictionary (named in flight-ready.json)")
    parser.add_argument("--report", action="store_true", help="write the full run report (report.md and PNGs)")
    parser.add_argument("--out", type=Path,
                        help="the PNG to write (default orbitfs-plot.png); with --report, the folder (default report)")
    parser.add_argument("--title", help="the figure's or report's title")
    add_common_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args)
    try:
        written = run(args)
    except (UsageError, ReportInputError, ReportUnavailable) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
