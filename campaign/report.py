"""A campaign's report: ``report.md`` with PNG plots (matplotlib, the ``plot`` extra), from its
``summary.json``, so the figures a radiation-test engineer decides from can be read and shown.

Plots: the outcome rates of every configuration side by side (log scale, 95 % Wilson intervals as
error bars, the rule-of-three bound marked for a class with no hit); the unprotected SDC rate by
weight tensor, by float32 bit position (sign, exponent, mantissa coloured) and by copy; protection
off and on side by side by fault model (every outcome class's share, stacked, and the SDC rate with
its Wilson interval) and by memory region (the SDC rate with its Wilson interval, the rule-of-three
bound hatched where there was none), from the summary's ``by_fault_model`` and ``by_region``. A
breakdown with fewer than two values (one fault model, one region) has nothing to compare: no plot,
no section. The Markdown has the same numbers as tables, and the criteria.

| requirement | verified by |
|---|---|
| the report names every configuration and criterion and links PNG files that exist |   |
|   | tests/unit/campaign/test_report.py |
| by fault model and by region: a plot and a table with each configuration's counts and SDC |   |
|   interval; none with a single fault model or region | tests/unit/campaign/test_report.py |
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from campaign.summary import OUTCOMES

CLASSES = ("masked", "corrected", "due", "sdc")
CLASS_COLOURS = {"masked": "tab:green", "corrected": "tab:blue", "due": "tab:orange", "sdc": "tab:red",
                 "hang": "tab:purple", "crash": "tab:brown", "runner_error": "tab:gray"}


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _interval_bars(axis: Any, groups: list[str], series: dict[str, list[dict[str, float] | None]]) -> None:
    """Grouped bars on a log scale, one colour per series (a configuration), one bar per group: the
    rate with its 95 % Wilson interval as error bar or, with no hit, a hatched empty bar up to the
    rule-of-three bound (log scale: SDC rates near zero stay readable); no trials there: no bar."""
    width = 0.8 / max(len(series), 1)
    for i, (name, rows) in enumerate(series.items()):
        label = name
        for k, r in enumerate(rows):
            if r and r.get("count"):
                axis.bar(k + i * width, r["rate"], width, color=f"C{i}", label=label, capsize=3,
                         yerr=[[r["rate"] - r["low"]], [r["high"] - r["rate"]]])
            elif r and "upper_rule_of_three" in r:
                axis.bar(k + i * width, r["upper_rule_of_three"], width, fill=False, hatch="//",
                         edgecolor=f"C{i}", label=label)
            else:
                continue
            label = None
    axis.set_xticks([k + width * (len(series) - 1) / 2 for k in range(len(groups))], groups)
    axis.set_yscale("log")
    axis.legend(fontsize=8)


def _rate_plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4))
    _interval_bars(axis, list(CLASSES), {name: [s["rates"].get(outcome) for outcome in CLASSES]
                                         for name, s in summary["configurations"].items()})
    axis.set_ylabel("rate, 95 % Wilson")
    axis.set_title("outcome rates (hatched: no hit, up to the rule-of-three bound)")
    _save(figure, path)


def _breakdown_plot(breakdown: dict[str, dict[str, float]], title: str, path: Path, by_bit: bool = False) -> None:
    import matplotlib.pyplot as plt

    keys = sorted(breakdown, key=int) if by_bit else list(breakdown)
    figure, axis = plt.subplots(figsize=(8, 3.5))
    colours = None
    if by_bit:
        colours = ["tab:red" if int(k) == 31 else "tab:orange" if int(k) >= 23 else "tab:blue" for k in keys]
    axis.bar(range(len(keys)), [breakdown[k]["rate"] for k in keys], color=colours)
    axis.set_xticks(range(len(keys)), keys, rotation=45 if not by_bit else 0, ha="right" if not by_bit else "center",
                    fontsize=7 if by_bit else 8)
    axis.set_ylabel("SDC rate")
    axis.set_title(title)
    _save(figure, path)


def _values(summary: dict[str, Any], key: str) -> list[str]:
    """Every value of the breakdown ``key`` (by_fault_model, by_region) over all configurations."""
    return sorted({value for s in summary["configurations"].values() for value in s.get(key, {})})


def _classes(summary: dict[str, Any], key: str) -> list[str]:
    """The outcome classes seen in the breakdown ``key``: the summary's order, then any other."""
    seen = {outcome for s in summary["configurations"].values() for row in s.get(key, {}).values()
            for outcome, count in row["counts"].items() if count}
    return [o for o in OUTCOMES if o in seen] + sorted(seen - set(OUTCOMES))


def _sdc_series(summary: dict[str, Any], key: str, values: list[str]) -> dict[str, list[dict[str, float] | None]]:
    """Each configuration's SDC rate row for each value of the breakdown ``key`` (None: no trial there)."""
    return {name: [s.get(key, {}).get(v, {}).get("sdc") for v in values]
            for name, s in summary["configurations"].items()}


def _share_bars(axis: Any, summary: dict[str, Any], values: list[str], classes: list[str]) -> None:
    """Stacked bars of each outcome class's share of the trials: for each fault model (a group,
    labelled below) one bar per configuration (labelled under the bar), in the class's colour."""
    names = list(summary["configurations"])
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        rows = summary["configurations"][name].get("by_fault_model", {})
        bottom = [0.0] * len(values)
        for outcome in classes:
            share = [rows[v]["counts"].get(outcome, 0) / rows[v]["trials"] if v in rows else 0.0 for v in values]
            axis.bar([k + i * width for k in range(len(values))], share, width, bottom=bottom,
                     color=CLASS_COLOURS.get(outcome), label=outcome if i == 0 else None)
            bottom = [b + x for b, x in zip(bottom, share)]
    axis.set_xticks([k + i * width for k in range(len(values)) for i in range(len(names))], names * len(values),
                    minor=True)
    axis.set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(values))], values)
    axis.tick_params(axis="x", which="minor", labelsize=7)
    axis.tick_params(axis="x", which="major", pad=14, length=0)
    axis.set_ylabel("share of trials")
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _fault_model_plot(summary: dict[str, Any], values: list[str], path: Path) -> None:
    """Top: every outcome class's share by fault model, configurations side by side; bottom: the
    SDC rate of each with its Wilson interval (log scale: too small to read in the shares)."""
    import matplotlib.pyplot as plt

    figure, (shares, sdc) = plt.subplots(2, 1, figsize=(9, 7))
    _share_bars(shares, summary, values, _classes(summary, "by_fault_model"))
    shares.set_title("outcome classes by fault model, configurations side by side")
    _interval_bars(sdc, values, _sdc_series(summary, "by_fault_model", values))
    sdc.set_ylabel("SDC rate, 95 % Wilson")
    sdc.set_title("SDC rate by fault model (hatched: no SDC, up to the rule-of-three bound)")
    _save(figure, path)


def _region_plot(summary: dict[str, Any], values: list[str], path: Path) -> None:
    """The SDC rate by memory region, configurations side by side, with Wilson intervals."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4))
    _interval_bars(axis, values, _sdc_series(summary, "by_region", values))
    axis.set_ylabel("SDC rate, 95 % Wilson")
    axis.set_title("SDC rate by region (hatched: no SDC, up to the rule-of-three bound)")
    _save(figure, path)


def _outcome_table(summary: dict[str, Any], key: str, label: str, values: list[str]) -> list[str]:
    """The breakdown ``key`` as Markdown: a row per value and configuration, every class's count and
    the SDC rate with its interval."""
    classes = _classes(summary, key)
    lines = [f"| {label} | configuration | trials | " + " | ".join(classes) + " | SDC rate [95 % Wilson] |",
             "|---|---|---|" + "---|" * len(classes) + "---|"]
    for value in values:
        for name, s in summary["configurations"].items():
            row = s.get(key, {}).get(value)
            if row:
                lines.append(_row([value, name, row["trials"]], row["counts"], classes, row["sdc"]))
    return lines


# breakdown key: (its name in the report, its plot's file and what the plot shows, the plot)
SECTIONS: dict[str, tuple[str, str, str, Callable[[dict[str, Any], list[str], Path], None]]] = {
    "by_fault_model": ("fault model", "outcomes-fault-model.png", "outcome shares and SDC rate by fault model",
                       _fault_model_plot),
    "by_region": ("region", "sdc-region.png", "SDC rate by region", _region_plot),
}


def _section(summary: dict[str, Any], key: str, out: Path) -> list[str]:
    """The Markdown (plot and table) of the breakdown ``key``, the plot written to ``out``; nothing
    when there are fewer than two values (a single fault model or region: nothing to compare)."""
    label, file, shows, plot = SECTIONS[key]
    values = _values(summary, key)
    if len(values) < 2:
        return []
    plot(summary, values, out / file)
    return ["", f"## Outcomes by {label}, configurations side by side", "", f"![{shows}]({file})", "",
            *_outcome_table(summary, key, label, values)]


def _table(summary: dict[str, Any]) -> list[str]:
    lines = ["| configuration | trials | " + " | ".join(CLASSES) + " | SDC rate [95 % Wilson] |",
             "|---|---|" + "---|" * len(CLASSES) + "---|"]
    for name, s in summary["configurations"].items():
        lines.append(_row([name, s["trials"]], s["counts"], CLASSES, s["sdc"]))
    return lines


def _row(cells: list[Any], counts: dict[str, int], classes: Sequence[str], sdc: dict[str, float]) -> str:
    """A Markdown table row: ``cells``, the count of each of ``classes``, the SDC rate and interval."""
    return "| " + " | ".join([*map(str, cells), *(str(counts.get(c, 0)) for c in classes), _interval(sdc)]) + " |"


def _interval(sdc: dict[str, float]) -> str:
    """``rate [low, high]`` (95 % Wilson), and the rule-of-three bound when there was no SDC."""
    text = f"{sdc.get('rate', 0):.2e} [{sdc.get('low', 0):.2e}, {sdc.get('high', 0):.2e}]"
    if sdc["count"] == 0 and "upper_rule_of_three" in sdc:
        text += f"; rule of three <= {sdc['upper_rule_of_three']:.2e}"
    return text


def write_report(summary: dict[str, Any], out: Path) -> Path:
    """``out/report.md`` and its PNGs; the report's path. ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    _rate_plot(summary, out / "rates.png")
    lines = [f"# Campaign {summary['campaign']}", "", *_table(summary), "", "![outcome rates](rates.png)", ""]
    for name, r in summary["reduction"].items():
        factor = "n/a" if r["factor"] is None else f"{r['factor']:.1f}"
        lines.append(f"- SDC reduction of {name}: {factor} ({r['bound']})")
    if summary.get("recommendation"):
        r = summary["recommendation"]
        lines += ["", f"Recommendation: guard {', '.join(r['tensors']) or 'nothing'} as TMR memory (checked on "
                  f"every read; {r['sdc_share']:.0%} of the unprotected SDC) and scrub the rest."]
    lines += ["", "| configuration | mode | scrub every | guarded | bytes per card | cards per frame | trials/s |",
              "|---|---|---|---|---|---|---|"]
    for name, s in summary["configurations"].items():
        settings, cost = s.get("settings", {}), s.get("cost", {})
        rate = f"{cost['trials_per_s']:.0f}" if cost.get("trials_per_s") else "n/a"
        lines.append(f"| {name} | {settings.get('mode', '')} | {settings.get('scrub_every', '')} | "
                     f"{', '.join(settings.get('guarded', [])) or '-'} | {cost.get('bytes_per_card', '')} | "
                     f"{cost.get('cards_per_frame', '')} | {rate} |")
    for key in SECTIONS:
        lines += _section(summary, key, out)
    unprotected = [n for n, s in summary["configurations"].items() if s["by_tensor"] and s["sdc"]["count"]]
    for name in unprotected[:1]:
        s = summary["configurations"][name]
        for key, title in (("by_tensor", "tensor"), ("by_bit", "bit"), ("by_copy", "copy")):
            _breakdown_plot(s[key], f"{name}: SDC rate by {title}", out / f"sdc-{title}.png", key == "by_bit")
            lines += ["", f"## Where {name} is fragile: SDC by {title}", "", f"![SDC by {title}](sdc-{title}.png)",
                      "", f"| {title} | trials | SDC | rate |", "|---|---|---|---|"]
            lines += [f"| {k} | {v['trials']} | {v['sdc']} | {v['rate']:.2e} |" for k, v in s[key].items()]
    lines += ["", "## Criteria", ""] + [f"- {'PASS' if c['passed'] else 'FAIL'} {c['name']}: {c['detail']}"
                                        for c in summary["criteria"]]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
