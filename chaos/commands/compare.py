"""`hubchaos compare BASELINE CANDIDATE`: two runs' SLOs side by side, as a CI gate.

Exit codes: 0 no regression, 1 a regression beyond the tolerance (reports.compare says when a
row regresses), 2 bad input (a missing run, a summary of another schema, a bad tolerance).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contract.errors import ExitCode, UsageError
from reports.compare import Comparison, Status, Tolerance, compare, read_summary
from reports.formatting import signed, value
from reports.html import render_comparison
from reports.markdown import comparison_summary

_STYLE = {Status.REGRESSED: "bold red", Status.IMPROVED: "green", Status.ADDED: "cyan", Status.UNCHANGED: ""}
_RENDERERS = {".html": render_comparison, ".htm": render_comparison, ".md": comparison_summary}


@click.command(name="compare")
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option(
    "--tolerance",
    "tolerances",
    multiple=True,
    metavar="KEY=VALUE",
    help="how much worse the candidate may be: relative=10% (of the baseline), s=1, ms=10, "
    "ratio=0.05%, writes=0 (absolute, per unit); the larger of the two applies",
)
@click.option(
    "--out",
    "outs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the comparison to FILE: .html (self-contained page) or .md (for a CI job summary)",
)
@click.option(
    "--any-scenario",
    is_flag=True,
    help="compare runs of different scenarios (refused otherwise: their SLOs measure different things)",
)
def compare_command(
    baseline: Path, candidate: Path, tolerances: tuple[str, ...], outs: tuple[Path, ...], any_scenario: bool
) -> None:
    """Compare CANDIDATE's SLOs with BASELINE's (run directories or summary.json files).

    Exit codes: 0 no regression, 1 a regression beyond the tolerance, 2 bad input.
    """
    tolerance = Tolerance.parse(tolerances)
    for out in outs:
        if out.suffix.lower() not in _RENDERERS:
            raise UsageError(f"--out {out}: expected a .html or .md file")
    before, after = read_summary(baseline, "baseline"), read_summary(candidate, "candidate")
    if before.run.scenario != after.run.scenario and not any_scenario:
        raise UsageError(
            f"the runs are of different scenarios ({before.run.scenario} and {after.run.scenario}), so "
            "their SLOs measure different things; --any-scenario compares them anyway"
        )
    comparison = compare(before, after, tolerance)
    for out in outs:
        try:
            out.write_text(_RENDERERS[out.suffix.lower()](comparison), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot be written ({exc.strerror})") from None
    _print(Console(), comparison)
    sys.exit(int(ExitCode.SLO_FAILED if comparison.regressed else ExitCode.OK))


def _print(console: Console, comparison: Comparison) -> None:
    verdict = f"{len(comparison.regressions)} regressed" if comparison.regressed else "no regression"
    table = Table(
        title=f"{escape(comparison.baseline.run_id)} → {escape(comparison.candidate.run_id)}: {verdict}",
        title_justify="left",
    )
    for column in ("SLO", "baseline", "candidate", "change", "status"):
        table.add_column(column, justify="left" if column in ("SLO", "status") else "right")
    for row in comparison.rows:
        table.add_row(
            escape(row.slo),
            value(row.baseline, row.unit),
            value(row.candidate, row.unit),
            signed(row.delta, row.unit),
            f"[{_STYLE[row.status]}]{row.status.value}[/]" if _STYLE[row.status] else row.status.value,
        )
    console.print(table)
    for warning in comparison.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    for row in comparison.regressions:
        console.print(f"[bold red]regressed[/] {escape(row.slo)}: {escape(row.reason)}", highlight=False)
