"""`hubchaos run SCENARIO [--out DIR] [--set KEY=VALUE ...] [--workers N]`: one drill."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from chaos.commands.verdicts import print_outputs, print_verdicts
from chaos.scenario.load import load


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="the run directory (new or empty)"
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a scenario value, e.g. workload.users=50",
)
@click.option(
    "--workers", type=click.IntRange(0, 64), help="local Locust worker processes (0: in this process)"
)
def run(scenario: Path, out: Path | None, overrides: tuple[str, ...], workers: int | None) -> None:
    """Run a drill and judge it against the scenario's SLOs.

    Exit codes: 0 every SLO met, 1 an SLO failed, 2 a bad scenario or arguments, 3 the run failed.
    """
    assignments = [*overrides, *([f"workload.workers={workers}"] if workers is not None else [])]
    loaded = load(scenario, assignments)
    # Imported here: the drill brings Locust and gevent, which only this command needs.
    from chaos.drill.drill import run_drill  # noqa: PLC0415
    from chaos.drill.live import LiveView  # noqa: PLC0415

    command = ["hubchaos", "run", str(scenario), *(arg for a in assignments for arg in ("--set", a))]
    view = LiveView()
    result = run_drill(loaded, command, out, view)
    # Progress went to stderr; the verdict is the command's output.
    out_console = Console()
    if result.summary is not None:
        print_verdicts(out_console, result.summary)
    print_outputs(out_console, result.run_dir)
    sys.exit(int(result.exit_code))
