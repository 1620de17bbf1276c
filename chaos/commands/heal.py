"""`hubchaos heal`: undo what runs that are gone left behind (faults, leftovers, clusters)."""

from __future__ import annotations

from pathlib import Path

import click

from chaos.backends import STATE_FILE, cluster_dir
from chaos.commands.common import attach_named, name_option, resolve_state_dir, state_dir_option
from chaos.faults.journal import Journal
from chaos.faults.sweep import heal_everything
from chaos.ownership import HealScope
from contract.errors import HealError, UsageError


@click.command()
@click.option("--run", "run_id", metavar="ID", help="only this run's faults and cluster, even while it runs")
@click.option("--all", "everything", is_flag=True, help="every fault, also those of runs that still run")
@click.option("--wait/--no-wait", default=True, help="then wait until the named cluster is healthy")
@click.option("--timeout", type=float, help="seconds to wait for health (default: the target's)")
@name_option
@state_dir_option
def heal(
    *,
    run_id: str | None,
    everything: bool,
    wait: bool,
    timeout: float | None,
    name: str,
    state_dir: Path | None,
) -> None:
    """Heal the faults of runs that are gone, sweep their labelled leftovers and stop their
    clusters; what belongs to a run that still runs is left alone, each item said."""
    if run_id is not None and everything:
        raise UsageError("--run and --all: give one of them")
    base = resolve_state_dir(state_dir)
    report = heal_everything(Journal(base / "journal"), base, HealScope(everything=everything, run=run_id))
    for prefix, lines in (
        ("healed ", report.healed),
        ("swept  ", report.swept),
        ("stopped", report.stopped),
        ("left   ", report.left),
        ("note   ", report.notes),
    ):
        for line in lines:
            click.echo(f"{prefix} {line}")
    if not (report.healed or report.swept or report.stopped or report.left or report.errors):
        click.echo("nothing to heal")
    if report.errors:
        raise HealError("; ".join(report.errors))
    if wait and (cluster_dir(base, name) / STATE_FILE).exists():
        cluster = attach_named(base, name)
        try:
            cluster.wait_healthy(timeout)
        finally:
            cluster.close_clients()
        click.echo(f"cluster {name!r} is healthy")
