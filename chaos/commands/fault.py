"""`hubchaos fault <kind> --target T [-p key=value ...] [--duration S]`: one fault, by hand."""

from __future__ import annotations

import random
import time
from pathlib import Path

import click

from chaos.backends import cluster_dir
from chaos.commands.common import attach_named, name_option, resolve_state_dir, state_dir_option
from chaos.faults.injector import FaultInjector
from chaos.faults.journal import Journal
from chaos.faults.kinds import parse_fault
from chaos.faults.session import healing
from chaos.faults.timeline import FaultTimeline
from contract import safeyaml
from contract.errors import UsageError
from contract.rundir import FAULTS


def parse_params(items: tuple[str, ...]) -> dict[str, object]:
    """`key=value` pairs, each value read as YAML (numbers, booleans, lists stay typed)."""
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"-p {item!r}: expected key=value")
        params[key.strip()] = safeyaml.load(value, f"-p {item}") if value else ""
    return params


@click.command()
@click.argument("kind", metavar="KIND")
@click.option("--target", "-t", help="primary, secondary, any, majority, minority, region:NAME, m1,m2")
@click.option("--param", "-p", "params", multiple=True, help="a fault parameter as key=value (repeatable)")
@click.option("--duration", type=float, help="heal after this many seconds (else: until `hubchaos heal`)")
@click.option("--seed", type=int, help="seed for random target picks")
@name_option
@state_dir_option
def fault(
    *,
    kind: str,
    target: str | None,
    params: tuple[str, ...],
    duration: float | None,
    seed: int | None,
    name: str,
    state_dir: Path | None,
) -> None:
    """Inject one fault of KIND into the cluster `hubchaos cluster up` started.

    KIND is one of kill, stop, restart, pause, stepdown, freeze, partition, degrade, failpoint,
    a kind installed in the entry-point group hubchaos.faults, or a module:Class reference.
    """
    data: dict[str, object] = {"kind": kind, **parse_params(params)}
    if target is not None:
        data["target"] = target
    spec = parse_fault(data)
    base = resolve_state_dir(state_dir)
    cluster = attach_named(base, name)
    timeline = FaultTimeline(cluster_dir(base, name) / FAULTS)
    injector = FaultInjector(cluster, Journal(base / "journal"), timeline, random.Random(seed))
    try:
        if duration is None:
            active = injector.inject(spec)
            click.echo(
                f"{active.fault_id}: {kind} on {', '.join(active.members)} is active; "
                "heal it with `hubchaos heal`"
            )
            return
        with healing(injector):
            active = injector.inject(spec)
            click.echo(f"{active.fault_id}: {kind} on {', '.join(active.members)} for {duration:g} s")
            time.sleep(duration)
        click.echo(f"{active.fault_id}: healed")
    finally:
        cluster.close_clients()
