"""`hubchaos validate SCENARIO...`: check scenarios without running them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from chaos.scenario.document import scenario_document
from chaos.scenario.load import load
from contract.errors import ExitCode, ScenarioError
from reports.runconfig import parse_config, timing


@click.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a value, as `run` does"
)
def validate(scenarios: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Check scenario files; one line per file, exit 2 if any is invalid."""
    bad = 0
    for path in scenarios:
        try:
            scenario = load(path, overrides)
        except ScenarioError as exc:
            bad += 1
            click.echo(f"invalid: {exc}", err=True)
            continue
        faults = sum(step.repeat for step in scenario.faults)
        target = scenario.target
        clock = timing(parse_config(scenario_document(scenario)))
        said = "" if clock.production or clock.declared else ", not said in its name or description"
        click.echo(
            f"ok: {path}: {scenario.name} ({target.backend}, {len(target.members)} members, "
            f"{scenario.workload.total_duration:g} s, {faults} fault(s), "
            f"timing: {'production' if clock.production else 'shortened' + said})"
        )
    sys.exit(int(ExitCode.USAGE) if bad else int(ExitCode.OK))
