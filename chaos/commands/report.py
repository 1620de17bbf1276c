"""`hubchaos report RUN_DIR`: analyse a run directory again and re-render its outputs,
without touching any cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from chaos.commands.verdicts import print_outputs, print_verdicts
from chaos.errors import UsageError
from chaos.scenario.load import load
from reports import rundir
from reports.analyse import analyse, write_outputs


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="judge against changed SLOs, e.g. slos.rpo_s=5",
)
def report(run_dir: Path, overrides: tuple[str, ...]) -> None:
    """Re-analyse RUN_DIR: summary.json, junit.xml and the report; exit code as `run`."""
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    scenario_file = run_dir / rundir.SCENARIO
    slos = load(scenario_file, overrides).slos.resolve() if scenario_file.exists() else None
    summary = analyse(run_dir, slos)
    write_outputs(run_dir, summary)
    console = Console()
    print_verdicts(console, summary)
    print_outputs(console, run_dir.resolve())
    sys.exit(summary.exit_code)
