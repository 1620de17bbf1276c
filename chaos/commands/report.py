"""`hubchaos report RUN_DIR`: analyse a run directory again and re-render its outputs,
without touching any cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import psutil
from rich.console import Console

from chaos.commands.verdicts import print_outputs, print_verdicts
from chaos.scenario.load import load
from contract import rundir
from contract.errors import UsageError
from locustfiles.merge import merge_run
from locustfiles.shards import manifests
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
    console = Console()
    _merge_shards(run_dir, console)
    summary = analyse(run_dir, slos)
    write_outputs(run_dir, summary)
    print_verdicts(console, summary)
    print_outputs(console, run_dir.resolve())
    sys.exit(summary.exit_code)


def _merge_shards(run_dir: Path, console: Console) -> None:
    """A run that never merged its recordings (killed, say) has them merged here, once no
    process of it is still writing them."""
    merged = [(run_dir / f).exists() for d, f in _MERGED if (run_dir / d).is_dir()]
    if all(merged):
        return
    try:
        found = manifests(run_dir)
    except ValueError as exc:
        raise UsageError(f"{run_dir}: {exc}") from None
    writing = sorted({m.pid for m in found if not m.closed and psutil.pid_exists(m.pid)})
    if writing:
        pids = ", ".join(map(str, writing))
        raise UsageError(f"{run_dir}: still being recorded (pid {pids}): report it once the run ends")
    report = merge_run(run_dir, wait_s=0)
    console.print(
        f"[yellow]interrupted run:[/] its recordings were never merged; merged {report.events} events "
        f"and {report.ledger} ledger entries ({report.describe()})",
        highlight=False,
    )


_MERGED = ((rundir.EVENTS_SHARDS, rundir.EVENTS), (rundir.LEDGER_SHARDS, rundir.LEDGER))
