"""The history's trend page (`hubchaos history DIR... --out history.html`): per scenario, RTO
and the surfaced error rate over time with regressed runs marked, and a row per run linked to
its report.

One plot per scenario, two panels on a shared date axis: each injected fault's RTO (dots) with
each run's median joined, and each run's error rate. A run that regressed against the previous
one (`reports.history`) is circled in red on both. Links to the runs' reports are relative to
the page, so a folder of runs and its page can be archived together.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
from pathlib import Path

from matplotlib import rc_context
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from contract import rundir
from reports import palette
from reports.history import History, ScenarioHistory
from reports.html.environment import environment
from reports.html.plots import DPI, RC, WIDTH_IN, Plot, png


def render_history(history: History, page: Path | None = None) -> str:
    """The page; with `page` (where it will be written), runs link to their reports where one exists."""

    def report_of(path: str) -> str | None:
        report = Path(path) / rundir.REPORT
        if page is None or not report.is_file():
            return None
        return os.path.relpath(report, page.resolve().parent)

    links = {p.path: report_of(p.path) for s in history.scenarios for p in s.points}
    return (
        environment()
        .get_template("history.html.j2")
        .render(h=history, scenarios=[(s, trend_plot(s)) for s in history.scenarios], links=links)
    )


def trend_plot(scenario: ScenarioHistory) -> Plot:
    title = f"{scenario.scenario}: RTO and errors over time"
    alt = (
        "top: each injected fault's RTO in seconds per run, the runs' medians joined; bottom: each "
        "run's share of requests that surfaced an error; runs that regressed circled in red"
    )
    key = f"trend-{scenario.scenario}"
    points = scenario.points
    with rc_context(RC):
        figure = Figure(figsize=(WIDTH_IN, 4.2), dpi=DPI)
        rto_ax, err_ax = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        when = [dt.datetime.fromtimestamp(p.started_at, tz=dt.UTC) for p in points]
        for t, p in zip(when, points, strict=True):
            rto_ax.plot([t] * len(p.rto_s), p.rto_s, "o", color=palette.BLUE, ms=3.5, alpha=0.7)
        medians = [(t, statistics.median(p.rto_s)) for t, p in zip(when, points, strict=True) if p.rto_s]
        if medians:
            rto_ax.plot(*zip(*medians, strict=True), "-", color=palette.BLUE, lw=1.2, label="median RTO")
        rates = [
            (t, p.error_rate * 100) for t, p in zip(when, points, strict=True) if p.error_rate is not None
        ]
        if rates:
            err_ax.plot(*zip(*rates, strict=True), "o-", color=palette.ORANGE, ms=3.5, lw=1.2)
        for t, p in zip(when, points, strict=True):
            if p.regressed:
                for ax in (rto_ax, err_ax):
                    ax.axvline(t, color=palette.VERMILLION, lw=1.0, ls="--")
                rto_ax.plot(
                    [t], [max(p.rto_s, default=0)], "o", ms=11, mfc="none", mec=palette.VERMILLION, mew=1.6
                )
        rto_ax.set_ylabel("RTO (s)")
        rto_ax.set_ylim(bottom=0)
        err_ax.set_ylabel("errors (%)")
        err_ax.set_ylim(bottom=0)
        locator = AutoDateLocator()
        err_ax.xaxis.set_major_locator(locator)
        err_ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        figure.subplots_adjust(left=0.06, right=0.985, top=0.96, bottom=0.1, hspace=0.12)
        return Plot(key, title, alt, png(figure))
