"""`hubchaos`: the command line. Each command lives in its own module under chaos/commands/,
imported only when it runs (or help lists it), so `hubchaos validate` does not pay for Locust,
Docker and the analysers that `run` and `cluster` need."""

from __future__ import annotations

import sys
from typing import Any

import click

from contract.errors import ExitCode, HubchaosError
from contract.registry import load_reference

# name -> module:attribute of the click command
COMMANDS = {
    "backup": "chaos.commands.backup:backup_command",
    "check-driver": "chaos.commands.check_driver:check_driver_command",
    "cluster": "chaos.commands.cluster:cluster",
    "compare": "chaos.commands.compare:compare_command",
    "fault": "chaos.commands.fault:fault",
    "heal": "chaos.commands.heal:heal",
    "history": "chaos.commands.history:history_command",
    "profiles": "chaos.commands.profiles:profiles",
    "report": "chaos.commands.report:report",
    "restore": "chaos.commands.backup:restore_command",
    "run": "chaos.commands.run:run",
    "validate": "chaos.commands.validate:validate",
    "worker": "chaos.commands.worker:worker",
}


class Group(click.Group):
    """Loads each command on first use, and turns every HubchaosError into one line on stderr
    and its exit code (contract/errors.py)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        reference = COMMANDS.get(cmd_name)
        if reference is None:
            return None
        command = load_reference(reference, "command")
        assert isinstance(command, click.Command), reference
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HubchaosError as exc:
            click.echo(f"hubchaos: {exc}", err=True)
            sys.exit(int(exc.exit_code))
        except OSError as exc:  # a full disk, a folder that vanished: the machine, not the input
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"hubchaos: {where}{exc.strerror or exc}", err=True)
            sys.exit(int(ExitCode.RUN_FAILED))


@click.group(cls=Group)
@click.version_option(package_name="hubchaos")
def main() -> None:
    """Load testing and chaos validation for the MongoDB AI Hub's replica set."""


if __name__ == "__main__":
    main()
