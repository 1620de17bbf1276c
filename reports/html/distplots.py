"""The campaign page's plots: a figure's distribution over many faults, and RTO run by run.

- ECDF: for each figure of a fault group, the share of faults at or below each value (a step
  per fault, each fault a dot on it), the median and p90 marked, and the bootstrap interval of
  the median shaded. An ECDF draws every value, so ten runs and a thousand read the same way.
- By run: each run's values (one dot per fault, several per run with `injections`) against the
  run number, with the campaign's median and its interval across the plot, so a drift within
  the campaign shows.
"""

from __future__ import annotations

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reports import palette
from reports.campaign import CampaignSummary, FaultGroup, FigureDistribution
from reports.html.plots import DPI, RC, WIDTH_IN, Plot, png

COLUMNS = 3


def group_plot(group: FaultGroup) -> Plot:
    shown = [f for f in group.figures if f.distribution.n]
    title = f"{group.group}: distributions over {group.injected} faults"
    alt = (
        "empirical cumulative distribution of each figure: one dot per fault, the median (solid) "
        "and p90 (dashed) marked, the 95 % interval of the median shaded"
    )
    key = f"ecdf-{group.kind}-{group.fault_class.value}"
    if not shown:
        return Plot(key, title, alt, None, "no figure was measured for any fault of this group")
    with rc_context(RC):
        rows = -(-len(shown) // COLUMNS)
        figure = Figure(figsize=(WIDTH_IN, 0.4 + 2.5 * rows), dpi=DPI)
        axes = figure.subplots(rows, COLUMNS, squeeze=False).ravel()
        for ax, fig in zip(axes, shown, strict=False):
            _ecdf(ax, fig)
        for ax in axes[len(shown) :]:
            ax.set_visible(False)
        figure.subplots_adjust(
            left=0.05, right=0.985, top=1 - 0.35 / (0.4 + 2.5 * rows), hspace=0.6, wspace=0.22
        )
        return Plot(key, title, alt, png(figure))


def _ecdf(ax: Axes, fig: FigureDistribution) -> None:
    d = fig.distribution
    x = np.sort(np.asarray(d.values, dtype=float))
    y = np.arange(1, len(x) + 1) / len(x)
    ax.step(np.concatenate([[x[0]], x]), np.concatenate([[0.0], y]), where="post", color=palette.BLUE, lw=1.3)
    ax.plot(x, y, "o", color=palette.BLUE, ms=3.5)
    if d.median_ci is not None:
        ax.axvspan(
            d.median_ci.low, d.median_ci.high, color=palette.ORANGE, alpha=0.25, lw=0, label="median 95 % CI"
        )
    if d.p50 is not None:
        ax.axvline(d.p50, color=palette.BLACK, lw=1.1, label="median")
    if d.p90 is not None:
        ax.axvline(d.p90, color=palette.BLACK, lw=1.0, ls="--", label="p90")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(fig.unit)
    missing = f", {d.missing} not measured" if d.missing else ""
    ax.set_title(f"{fig.label} (n = {d.n}{missing})", fontsize=9)
    if x[0] == x[-1]:  # one value only: give the step some width to be seen
        ax.set_xlim(x[0] - 1, x[0] + 1)
    ax.legend(loc="lower right", fontsize=7)


def runs_plot(summary: CampaignSummary, key: str = "rto") -> Plot:
    """One figure (RTO by default) run by run, one colour per fault group."""
    groups = [g for g in summary.groups if g.figure(key).distribution.n]
    label = groups[0].figure(key).label if groups else key
    title = f"{label} run by run"
    alt = (
        f"each fault's {label} against its run's number, one colour per fault group, with the "
        "group's median and its 95 % interval"
    )
    if not groups:
        return Plot(f"runs-{key}", title, alt, None, f"no {label} was measured")
    index = {r.run_id: r.index for r in summary.runs}
    with rc_context(RC):
        figure = Figure(figsize=(WIDTH_IN, 3.4), dpi=DPI)
        ax = figure.subplots()
        for group, colour in zip(groups, palette.CYCLE * 4, strict=False):
            fig = group.figure(key)
            runs = np.array([index[source.rsplit(" ", 1)[0]] for source in fig.sources], dtype=float)
            ax.plot(runs, fig.distribution.values, "o", color=colour, ms=4.5, label=group.group)
            ci = fig.distribution.median_ci
            if ci is not None:
                ax.axhspan(ci.low, ci.high, color=colour, alpha=0.15, lw=0)
            if fig.distribution.p50 is not None:
                ax.axhline(fig.distribution.p50, color=colour, lw=1.0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("run")
        ax.set_ylabel(groups[0].figure(key).unit)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right", fontsize=8)
        figure.subplots_adjust(left=0.06, right=0.985, top=0.95, bottom=0.15)
        return Plot(f"runs-{key}", title, alt, png(figure))
