"""`hubchaos heal`: undo every fault a run left active, even one that was SIGKILLed."""

from __future__ import annotations

from pathlib import Path

import click

from chaos.backends import STATE_FILE, cluster_dir
from chaos.commands.common import attach_named, name_option, resolve_state_dir, state_dir_option
from chaos.errors import HealError
from chaos.faults.journal import Journal
from chaos.faults.sweep import heal_everything


@click.command()
@click.option("--wait/--no-wait", default=True, help="then wait until the named cluster is healthy")
@click.option("--timeout", type=float, help="seconds to wait for health (default: the target's)")
@name_option
@state_dir_option
def heal(wait: bool, timeout: float | None, name: str, state_dir: Path | None) -> None:
    """Heal the journal's active faults, then sweep anything labelled hubchaos that is left."""
    base = resolve_state_dir(state_dir)
    report = heal_everything(Journal(base / "journal"))
    for line in report.healed:
        click.echo(f"healed  {line}")
    for line in report.swept:
        click.echo(f"swept   {line}")
    if not report.healed and not report.swept and not report.errors:
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
