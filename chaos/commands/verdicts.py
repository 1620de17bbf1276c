"""What `hubchaos run` and `hubchaos report` print: the verdict table and where the outputs are."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports import rundir
from reports.summary import Summary
from reports.verdicts import Verdict, show

_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.UNKNOWN: "yellow"}


def print_verdicts(console: Console, summary: Summary) -> None:
    table = Table(
        title=f"{escape(summary.run.scenario)}: {summary.verdict.value.upper()}", title_justify="left"
    )
    for column in ("SLO", "target", "measured", "margin", "verdict"):
        table.add_column(column, justify="right" if column in ("target", "measured", "margin") else "left")
    for r in summary.results:
        measured = "-" if r.measured is None else ("≥ " if r.lower_bound else "") + show(r.measured, r.unit)
        table.add_row(
            escape(r.slo),
            "-" if r.target is None else show(r.target, r.unit),
            measured,
            "-" if r.margin is None else show(r.margin, r.unit),
            f"[{_STYLE[r.verdict]}]{r.verdict.value}[/]",
        )
    console.print(table)


def print_outputs(console: Console, run_dir: Path) -> None:
    """The run directory and the files a person opens next, when they were written."""
    console.print(f"run directory: {run_dir}", highlight=False)
    for name in (rundir.REPORT, rundir.SUMMARY_MD, rundir.JUNIT):
        if (run_dir / name).is_file():
            console.print(f"  {name}: {run_dir / name}", highlight=False)
