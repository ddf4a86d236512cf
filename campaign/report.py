"""A campaign's report: ``report.md`` with PNG plots (matplotlib, the ``plot`` extra), from its
``summary.json``, so the figures a radiation-test engineer decides from can be read and shown.

Plots: the outcome rates of every configuration side by side (log scale, 95 % Wilson intervals as
error bars, the rule-of-three bound marked for a class with no hit); the unprotected SDC rate by
weight tensor, by float32 bit position (sign, exponent, mantissa coloured) and by copy. The
Markdown has the same numbers as tables, and the criteria.

| requirement | verified by |
|---|---|
| the report names every configuration and criterion and links PNG files that exist |   |
|   | tests/unit/campaign/test_report.py |
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

CLASSES = ("masked", "corrected", "due", "sdc")


def _rate_plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(summary["configurations"])
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        rates, colour = summary["configurations"][name]["rates"], f"C{i}"
        for k, outcome in enumerate(CLASSES):
            r = rates.get(outcome, {})
            if r.get("count"):
                value = r["rate"]
                axis.bar(k + i * width, value, width, color=colour, label=name if k == 0 else None,
                         yerr=[[value - r["low"]], [r["high"] - value]], capsize=3)
            elif "upper_rule_of_three" in r:     # no hit: an empty bar up to the bound
                axis.bar(k + i * width, r["upper_rule_of_three"], width, fill=False, hatch="//",
                         edgecolor=colour, label=name if k == 0 else None)
    axis.set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(CLASSES))], CLASSES)
    axis.set_yscale("log")
    axis.set_ylabel("rate, 95 % Wilson")
    axis.set_title("outcome rates (hatched: no hit, up to the rule-of-three bound)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


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
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _table(summary: dict[str, Any]) -> list[str]:
    lines = ["| configuration | trials | " + " | ".join(CLASSES) + " | SDC rate [95 % Wilson] |",
             "|---|---|" + "---|" * len(CLASSES) + "---|"]
    for name, s in summary["configurations"].items():
        sdc = s["sdc"]
        interval = f"{sdc.get('rate', 0):.2e} [{sdc.get('low', 0):.2e}, {sdc.get('high', 0):.2e}]"
        if sdc["count"] == 0 and "upper_rule_of_three" in sdc:
            interval += f"; rule of three <= {sdc['upper_rule_of_three']:.2e}"
        lines.append(f"| {name} | {s['trials']} | " + " | ".join(str(s["counts"][o]) for o in CLASSES)
                     + f" | {interval} |")
    return lines


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
