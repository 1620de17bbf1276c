"""`report.html`: one self-contained page per run, from its summary and run directory.

Everything the page needs is in the file: the stylesheet, the plots as PNG data URIs and the
fault anatomies as inline SVG, so it opens offline and can be attached to a ticket as is.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from contract import rundir
from reports.html.anatomy import AnatomyBar, anatomy_bar
from reports.html.environment import environment
from reports.html.plots import host_plot, plots
from reports.indeterminate import indeterminate_writes
from reports.milestones import Milestone, milestones, since_previous
from reports.summary import FaultAnatomy, Summary
from reports.verdicts import tally

LIST_LIMIT = 100  # rows of a listing (lost writes, error classes, ...); the total is always given


@dataclass(frozen=True, slots=True)
class FaultView:
    anatomy: FaultAnatomy
    milestones: list[Milestone]
    gaps: list[float | None]  # reports.milestones.since_previous
    bar: AnatomyBar

    @classmethod
    def of(cls, fault: FaultAnatomy) -> FaultView:
        moments = milestones(fault)
        return cls(fault, moments, since_previous(moments), anatomy_bar(moments))


def render_report(run_dir: Path, summary: Summary) -> str:
    run = summary.run
    scenario = run_dir / rundir.SCENARIO
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            s=summary,
            run=run,
            command=shlex.join(run.command),
            regions=sorted({m.region for m in run.members if m.region}),
            tally=tally(summary.results),
            faults=[FaultView.of(f) for f in summary.faults],
            plots=plots(summary),
            host_plot=host_plot(summary),
            indeterminate=indeterminate_writes(run_dir, LIST_LIMIT),
            scenario_text=scenario.read_text() if scenario.exists() else None,
            limit=LIST_LIMIT,
        )
    )
