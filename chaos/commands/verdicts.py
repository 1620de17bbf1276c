"""What `hubchaos run` and `hubchaos report` print: the verdict table (a campaign's
distributions and pass rates) and where the outputs are."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contract import rundir
from reports.campaign import CampaignSummary
from reports.formatting import percent, value
from reports.summary import Summary
from reports.verdicts import Verdict, show

_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.UNKNOWN: "yellow"}
KNOWN_STYLE = "red"  # a failure, but one that does not fail the run


def print_verdicts(console: Console, summary: Summary) -> None:
    shortened = summary.timing is not None and not summary.timing.production
    badge = " [black on yellow] timing: shortened [/]" if shortened else ""
    table = Table(
        title=f"{escape(summary.run.scenario)}: {summary.verdict.value.upper()}{badge}", title_justify="left"
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
            f"[{KNOWN_STYLE if r.known_failure else _STYLE[r.verdict]}]{r.label}[/]",
        )
    console.print(table)
    run = summary.run
    if run.status in ("running", "interrupted"):
        how = (
            f"run.json still says {run.status!r}: the drill ended without finishing"
            if run.status == "running"
            else (run.error or "interrupted")
        )
        console.print(
            f"[yellow]interrupted run:[/] {escape(how)}; what it recorded is analysed", highlight=False
        )
    if summary.absent_files:
        console.print(
            f"[yellow]absent from the run directory:[/] {', '.join(summary.absent_files)}; "
            "what needs them is unknown",
            highlight=False,
        )
    host = summary.host
    for window in host.windows if host is not None else []:
        if window.saturated:
            console.print(
                f"[yellow]measuring host saturated[/] in {escape(window.window)}: {escape(window.figure)}; "
                "its verdicts are unknown",
                highlight=False,
            )
    if shortened and summary.timing is not None:
        console.print(f"timing: shortened, not production's: {escape('; '.join(summary.timing.shortened))}")


def print_campaign(console: Console, summary: CampaignSummary) -> None:
    info = summary.campaign
    runs = f"{len(summary.runs)} of {info.runs_planned} runs, {info.status}"
    for group in summary.groups:
        table = Table(title=f"{escape(group.group)}: {group.injected} faults", title_justify="left")
        for column in ("figure", "n", "p50", "p90", "max", "median 95 % CI"):
            table.add_column(column, justify="left" if column == "figure" else "right")
        for fig in group.figures:
            d, unit = fig.distribution, fig.unit
            ci = f"{value(d.median_ci.low, unit)} to {value(d.median_ci.high, unit)}" if d.median_ci else "-"
            table.add_row(fig.label, str(d.n), value(d.p50, unit), value(d.p90, unit), value(d.max, unit), ci)
        console.print(table)
    table = Table(
        title=f"{escape(info.scenario)} campaign ({runs}): {summary.verdict.value.upper()}",
        title_justify="left",
    )
    for column in ("SLO", "passed", "failed", "unknown", "pass rate", ""):
        table.add_column(column, justify="left" if column in ("SLO", "") else "right")
    for rate in summary.slos:
        mark = "[yellow]flaky[/]" if rate.flaky else "[bold red]fail[/]" if rate.failed else ""
        table.add_row(
            escape(rate.slo),
            str(rate.passed),
            str(rate.failed),
            str(rate.unknown),
            percent(rate.pass_rate),
            mark,
        )
    console.print(table)
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


def print_outputs(console: Console, run_dir: Path, what: str = "run directory") -> None:
    """The run (or campaign) directory and the files a person opens next, when they were written."""
    console.print(f"{what}: {run_dir}", highlight=False)
    for name in (rundir.REPORT, rundir.SUMMARY_MD, rundir.JUNIT):
        if (run_dir / name).is_file():
            console.print(f"  {name}: {run_dir / name}", highlight=False)
