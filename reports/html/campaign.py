"""The campaign's page (`report.html` in the campaign directory): distributions per fault group,
SLO pass rates with flaky verdicts named, and every run with a link to its own report.

Self-contained like a run's report (styles and plots inline); the links to the runs' reports
are relative, so the campaign directory can be moved or archived whole. What the runs table
shows of each run is `RUN_COLUMNS`: a new per-run section (alerts, say) adds its column there
and its own section to the template, reading the runs' summaries.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contract import rundir
from reports.campaign import CampaignSummary, RunResult
from reports.distribution import CONFIDENCE, RESAMPLES
from reports.formatting import seconds, value
from reports.html.distplots import group_plot, runs_plot
from reports.html.environment import environment


@dataclass(frozen=True, slots=True)
class RunColumn:
    title: str
    cell: Callable[[RunResult], str]
    numeric: bool = False


def _figure_cells(key: str, unit: str) -> Callable[[RunResult], str]:
    def cell(run: RunResult) -> str:
        found = [p.values.get(key) for p in run.faults if p.injected]
        return ", ".join(value(v, unit) for v in found) or "-"

    return cell


RUN_COLUMNS: tuple[RunColumn, ...] = (
    RunColumn("seed", lambda r: str(r.seed), numeric=True),
    RunColumn("exit", lambda r: str(r.exit_code), numeric=True),
    RunColumn("wall time", lambda r: seconds(r.wall_s), numeric=True),
    RunColumn("RTO per fault", _figure_cells("rto", "s"), numeric=True),
    RunColumn("lost writes", _figure_cells("lost_writes", "writes"), numeric=True),
)


def render_campaign(summary: CampaignSummary, campaign_dir: Path | None = None) -> str:
    """The page; with `campaign_dir`, runs link to their reports only where one was written."""
    info = summary.campaign

    def report_of(run: RunResult) -> str | None:
        link = f"{run.path}/{rundir.REPORT}"
        return link if campaign_dir is None or (campaign_dir / link).is_file() else None

    return (
        environment()
        .get_template("campaign.html.j2")
        .render(
            c=summary,
            info=info,
            command=shlex.join(info.command),
            groups=[(g, group_plot(g)) for g in summary.groups],
            by_run=runs_plot(summary),
            columns=RUN_COLUMNS,
            reports={r.run_id: report_of(r) for r in summary.runs},
            confidence=CONFIDENCE,
            resamples=RESAMPLES,
        )
    )
