"""`hubchaos`: the command line. Each command lives in its own module under chaos/commands/."""

from __future__ import annotations

import sys
from typing import Any

import click

from chaos.commands.cluster import cluster
from chaos.commands.compare import compare_command
from chaos.commands.fault import fault
from chaos.commands.heal import heal
from chaos.commands.report import report
from chaos.commands.run import run
from chaos.commands.validate import validate
from chaos.errors import HubchaosError


class Group(click.Group):
    """Turns every HubchaosError into one line on stderr and its exit code (chaos/errors.py)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HubchaosError as exc:
            click.echo(f"hubchaos: {exc}", err=True)
            sys.exit(int(exc.exit_code))


@click.group(cls=Group)
@click.version_option(package_name="hubchaos")
def main() -> None:
    """Load testing and chaos validation for the MongoDB AI Hub's replica set."""


main.add_command(cluster)
main.add_command(compare_command)
main.add_command(fault)
main.add_command(heal)
main.add_command(run)
main.add_command(report)
main.add_command(validate)


if __name__ == "__main__":
    main()
