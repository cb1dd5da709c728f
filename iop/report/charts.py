"""Charts of the outcomes report as inline SVG (matplotlib's SVG backend, no network, no
JavaScript). Text stays text (`svg.fonttype = none`), so the report is searchable and small, and
ids are salted with a constant so the same data gives the same file."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib
import matplotlib.ticker  # noqa: F401  (matplotlib.ticker.PercentFormatter)

matplotlib.use("svg")

import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "iop-outcomes-report",
        "font.family": "sans-serif",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 10,
        "figure.dpi": 72,
    }
)

PALETTE = ("#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d96a3", "#30638e")


def to_svg(figure) -> str:
    """The figure as an <svg> element (no XML prolog, no creation date)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def monthly_lines(
    series: dict[str, dict[str, list[tuple]]], kpis: Sequence[tuple[str, str]]
) -> str:
    """Small multiples, one per KPI: a line per level of care over months. `series[kpi][level]`
    holds (month, value, provisional); provisional points are grey and unconnected."""
    columns = 3
    rows = math.ceil(len(kpis) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(11, 2.6 * rows), squeeze=False)
    for index, (kpi, title) in enumerate(kpis):
        axis = axes[index // columns][index % columns]
        for color, (level, points) in zip(
            PALETTE, sorted(series.get(kpi, {}).items()), strict=False
        ):
            # NaN breaks the line at a missing (suppressed) or provisional month
            months = [m for m, _, _ in points]
            final = [v if not p and _finite(v) else float("nan") for _, v, p in points]
            axis.plot(
                months, final, color=color, label=level, linewidth=1.4, marker="o", markersize=2
            )
            provisional = [(m, v) for m, v, p in points if p and _finite(v)]
            if provisional:
                axis.plot(
                    *zip(*provisional, strict=True),
                    linestyle="none",
                    marker="o",
                    markersize=3,
                    markerfacecolor="white",
                    markeredgecolor=color,
                )
        axis.set_title(title)
        axis.tick_params(axis="x", labelrotation=45, labelsize=7)
    for index in range(len(kpis), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    return to_svg(figure)


def los_distribution(
    bins: Sequence[str],
    shares: dict[str, dict[str, float | None]],
    national: dict[str, float],
) -> str:
    """Share of discharged episodes per LOS bin for each level of care, beside the national
    TEDS-D shares. A None share is a suppressed cell: no bar, a "<11" mark."""
    levels = list(shares)
    columns = min(3, max(1, len(levels)))
    rows = math.ceil(len(levels) / columns) if levels else 1
    figure, axes = plt.subplots(rows, columns, figsize=(11, 2.8 * rows), squeeze=False)
    x = range(len(bins))
    for index, level in enumerate(levels):
        axis = axes[index // columns][index % columns]
        ours = [shares[level].get(b) for b in bins]
        axis.bar(
            [i - 0.2 for i in x],
            [v or 0 for v in ours],
            width=0.4,
            color=PALETTE[0],
            label="this program",
        )
        axis.bar(
            [i + 0.2 for i in x],
            [national[b] for b in bins],
            width=0.4,
            color=PALETTE[5],
            label="TEDS-D 2019 (all settings)",
        )
        for i, value in enumerate(ours):
            if value is None:
                axis.text(i - 0.2, 0.005, "<11", ha="center", va="bottom", fontsize=7, rotation=90)
        axis.set_title(level)
        axis.set_xticks(list(x), list(bins), rotation=60, fontsize=7)
        axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    for index in range(len(levels), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="upper center", ncol=2, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return to_svg(figure)


def matrix(
    rows: Sequence[str], columns: Sequence[str], cells: dict[tuple[str, str], str | float]
) -> str:
    """A from x to heat map of rates; a string cell (e.g. "<11") is written, not coloured."""
    figure, axis = plt.subplots(figsize=(1.1 * len(columns) + 2, 0.5 * len(rows) + 1.2))
    grid = [
        [
            v if isinstance(v := cells.get((r, c)), float) and _finite(v) else float("nan")
            for c in columns
        ]
        for r in rows
    ]
    axis.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            value = cells.get((r, c))
            if value is None:
                continue
            label = value if isinstance(value, str) else f"{value:.0%}"
            dark = isinstance(value, float) and value > 0.6
            axis.text(
                j,
                i,
                label,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
    axis.set_xticks(range(len(columns)), columns)
    axis.set_yticks(range(len(rows)), rows)
    axis.set_xlabel("next level of care (within the transition window)")
    axis.set_ylabel("discharged from")
    for side in ("top", "right", "left", "bottom"):
        axis.spines[side].set_visible(False)
    figure.tight_layout()
    return to_svg(figure)


def intervals(
    labels: Sequence[str],
    rates: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    reference: float | None = None,
    title: str = "",
) -> str:
    """A forest plot: each rate with its interval; a missing rate (suppressed) reads "<11"."""
    figure, axis = plt.subplots(figsize=(7, 0.32 * len(labels) + 1.0))
    for i, (rate, low, high) in enumerate(zip(rates, lows, highs, strict=True)):
        if not _finite(rate):
            axis.text(0.01, i, "not shown (<11 or n/a)", va="center", fontsize=7, color="#777777")
            continue
        if _finite(low) and _finite(high):
            axis.plot([low, high], [i, i], color=PALETTE[0], linewidth=1.5)
        axis.plot([rate], [i], marker="o", color=PALETTE[0], markersize=4)
    if reference is not None and _finite(reference):
        axis.axvline(reference, color=PALETTE[1], linestyle="--", linewidth=1)
    axis.set_yticks(range(len(labels)), labels)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    axis.set_title(title)
    figure.tight_layout()
    return to_svg(figure)


def bars(labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str) -> str:
    figure, axis = plt.subplots(figsize=(7, 0.3 * len(labels) + 1.0))
    axis.barh(range(len(labels)), values, color=PALETTE[3])
    axis.set_yticks(range(len(labels)), labels)
    axis.invert_yaxis()
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    figure.tight_layout()
    return to_svg(figure)


def line(xs: Sequence, ys: Sequence[float], *, title: str, ylabel: str) -> str:
    figure, axis = plt.subplots(figsize=(7, 2.4))
    axis.plot(list(xs), list(ys), marker="o", color=PALETTE[0])
    axis.set_ylim(0, 1.02)
    axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    axis.set_title(title)
    axis.set_ylabel(ylabel)
    axis.tick_params(axis="x", labelrotation=30, labelsize=7)
    figure.tight_layout()
    return to_svg(figure)
