"""`hubchaos history DIR... [--since DATE] [--scenario NAME] [--out FILE]`: many stored runs
and campaigns as a trend per scenario, each run compared with the previous one (`reports.history`).

Exit codes: 0 the page was written, 2 bad input (no analysed run found, a bad date or --out).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contract.errors import UsageError
from reports.compare import Tolerance
from reports.formatting import date, percent, value
from reports.history import History, history
from reports.html import render_history


@click.command(name="history")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--since", metavar="DATE", help="only runs started on or after DATE (2026-01-31, or an ISO time; UTC)"
)
@click.option(
    "--scenario", "scenarios", multiple=True, metavar="NAME", help="only this scenario (repeatable)"
)
@click.option(
    "--tolerance",
    "tolerances",
    multiple=True,
    metavar="KEY=VALUE",
    help="as `hubchaos compare --tolerance`: how much worse than the previous run is a regression",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("history.html"),
    show_default=True,
    help="the trend page (.html)",
)
def history_command(
    dirs: tuple[Path, ...],
    since: str | None,
    scenarios: tuple[str, ...],
    tolerances: tuple[str, ...],
    out: Path,
) -> None:
    """The trend of RTO and errors across run and campaign directories (or folders of them),
    with each run that regressed against the previous run of its scenario marked."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out}: expected a .html file")
    found = history(list(dirs), _since(since), scenarios, Tolerance.parse(tolerances))
    if not found.scenarios:
        reasons = [
            *found.skipped,
            *(["no other run matched --since/--scenario"] if since or scenarios else []),
        ]
        raise UsageError("no analysed run to show" + (f" ({'; '.join(reasons)})" if reasons else ""))
    try:
        out.write_text(render_history(found, out), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot be written ({exc.strerror})") from None
    _print(Console(), found)
    Console().print(f"history page: {out}", highlight=False)


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: expected a date such as 2026-01-31 or an ISO time") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _print(console: Console, found: History) -> None:
    for scenario in found.scenarios:
        table = Table(title=f"{escape(scenario.scenario)}: {len(scenario.points)} runs", title_justify="left")
        for column in ("started", "run", "verdict", "RTO", "errors", "against the previous run"):
            table.add_column(column, justify="right" if column in ("RTO", "errors") else "left")
        for p in scenario.points:
            change = "first run" if p.previous is None else "no regression"
            if p.regressed:
                change = "[bold red]regressed:[/] " + escape("; ".join(p.regressions))
            table.add_row(
                date(p.started_at),
                escape(p.run_id),
                p.verdict.value,
                ", ".join(value(v, "s") for v in p.rto_s) or "-",
                percent(p.error_rate),
                change,
            )
        console.print(table)
    for skipped in found.skipped:
        console.print(f"[yellow]not read:[/] {escape(skipped)}", highlight=False)
