"""`hubchaos profiles [PROFILE]`: what a scenario can name, or one SLO profile's resolved targets."""

from __future__ import annotations

import click
import yaml

from chaos.faults.kinds import FAULT_KINDS
from chaos.runbook.actions import RUNBOOK_ACTIONS
from chaos.target import BACKENDS
from contract.errors import UsageError
from contract.registry import Registry
from reports.profiles import listings
from reports.slo import CHECKS, profile_targets


@click.command()
@click.argument("profile", required=False)
def profiles(profile: str | None) -> None:
    """List the SLO profiles, SLO checks, fault kinds, runbook actions and backends a scenario can name; with
    PROFILE (a name or a file), print that profile's complete targets as YAML."""
    try:
        if profile is not None:
            targets = profile_targets(profile)
            click.echo(yaml.safe_dump(targets.model_dump(mode="json"), sort_keys=False).rstrip())
            return
        click.echo("SLO profiles (slos: {profile: NAME or FILE}):")
        for p in listings():
            description = profile_targets(p.name).description
            click.echo(f"  {p.name:28} {p.source:30} {description}")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sections: list[tuple[str, Registry[object]]] = [
        ("SLO checks (slos: {checks: {NAME: TARGET}}; the built-in ones always run)", CHECKS),
        ("fault kinds (faults: [{kind: NAME or module:Class}])", FAULT_KINDS),  # type: ignore[list-item]
        ("runbook actions (runbook: [{action: NAME or module:Class}])", RUNBOOK_ACTIONS),  # type: ignore[list-item]
        ("backends (target: {backend: NAME})", BACKENDS),  # type: ignore[list-item]
    ]
    for title, registry in sections:
        click.echo(f"\n{title}:")
        for listing in registry.listings():
            click.echo(f"  {listing.name:28} {listing.source:30} {listing.reference}")
