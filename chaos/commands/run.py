"""`hubchaos run SCENARIO [--out DIR] [--set KEY=VALUE ...] [--workers N] [--expect-remote-workers N
[--master-bind HOST:PORT]] [--prometheus]`: one drill; with
`--repeat N` (or a `campaign:` section in the scenario) a campaign of drills, which
`--resume CAMPAIGN_DIR` goes on with after a crash or a signal."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from chaos.commands.verdicts import print_campaign, print_outputs, print_verdicts
from chaos.scenario.load import load
from contract.errors import ExitCode, UsageError


@click.command()
@click.argument("scenario", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="the run (or campaign) directory (new or empty)",
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
@click.option(
    "--expect-remote-workers",
    "remote_workers",
    type=click.IntRange(1, 64),
    metavar="N",
    help="wait for N `hubchaos worker` processes of other machines before the load (workload.remote.workers)",
)
@click.option(
    "--master-bind",
    metavar="HOST:PORT",
    help="where the Locust master listens for remote workers (workload.remote.bind; default 0.0.0.0:5557)",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 1000),
    metavar="N",
    help="run the drill N times, one after another: a campaign (the scenario's campaign.runs)",
)
@click.option("--fail-fast", is_flag=True, help="a campaign stops after the first run that does not pass")
@click.option(
    "--prometheus",
    is_flag=True,
    help="evaluate alert rules in a real Prometheus during the drill (alerts:, or the guide's rules)",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="CAMPAIGN_DIR",
    help="go on with a campaign that a crash or a signal stopped",
)
def run(  # noqa: PLR0917 (click passes each option as an argument)
    scenario: Path | None,
    out: Path | None,
    overrides: tuple[str, ...],
    workers: int | None,
    remote_workers: int | None,
    master_bind: str | None,
    repeat: int | None,
    fail_fast: bool,
    prometheus: bool,
    resume: Path | None,
) -> None:
    """Run a drill (or a campaign of drills) and judge it against the scenario's SLOs.

    Exit codes: 0 every SLO met, 1 an SLO failed, 2 a bad scenario or arguments, 3 the run failed
    (for a campaign: any of its runs, or the campaign was interrupted).
    """
    if resume is not None:
        given = [name for name, v in (("SCENARIO", scenario), ("--out", out), ("--set", overrides),
                                      ("--workers", workers), ("--expect-remote-workers", remote_workers),
                                      ("--master-bind", master_bind), ("--repeat", repeat),
                                      ("--prometheus", prometheus)) if v]  # fmt: skip
        if given:
            raise UsageError(
                f"--resume takes the campaign's own scenario and settings, not {', '.join(given)}"
            )
        _campaign(None, [], None, resume, fail_fast)
    if scenario is None:
        raise UsageError("SCENARIO is missing (or --resume CAMPAIGN_DIR)")
    assignments = [
        *overrides,
        *([f"workload.workers={workers}"] if workers is not None else []),
        *([f"workload.remote.workers={remote_workers}"] if remote_workers is not None else []),
        *([f"workload.remote.bind={master_bind}"] if master_bind is not None else []),
        *(["alerts.enabled=true"] if prometheus else []),
    ]
    if repeat is not None:
        assignments.append(f"campaign.runs={repeat}")
    # A bad scenario is refused before Locust and gevent load.
    if load(scenario, assignments).campaign is not None:
        _campaign(
            scenario, [*assignments, *(["campaign.fail_fast=true"] if fail_fast else [])], out, None, False
        )
    if fail_fast:
        raise UsageError("--fail-fast stops a campaign: give --repeat N or a campaign: section")
    # Imported here: the drill brings Locust and gevent, which only this command needs (and
    # `hubchaos --help` imports every command module).
    from chaos.drill.drill import run_drill  # noqa: PLC0415
    from chaos.drill.live import LiveView  # noqa: PLC0415
    from chaos.drill.users import load_for_run  # noqa: PLC0415

    loaded, source = load_for_run(scenario, assignments)
    view = LiveView()
    result = run_drill(loaded, _command(scenario, assignments), out, view, source)
    # Progress went to stderr; the verdict is the command's output.
    out_console = Console()
    if result.summary is not None:
        print_verdicts(out_console, result.summary)
    print_outputs(out_console, result.run_dir)
    sys.exit(int(result.exit_code))


def _command(scenario: Path, assignments: list[str]) -> list[str]:
    return ["hubchaos", "run", str(scenario), *(arg for a in assignments for arg in ("--set", a))]


def _campaign(
    scenario: Path | None, assignments: list[str], out: Path | None, resume: Path | None, fail_fast: bool
) -> None:
    from chaos.campaign.runner import Campaign  # noqa: PLC0415

    progress = Console(stderr=True)

    def say(text: str) -> None:
        progress.print(text, highlight=False, soft_wrap=True)

    if resume is not None:
        campaign = Campaign.resume(resume, fail_fast, say)
    else:
        from chaos.drill.users import load_for_run  # noqa: PLC0415

        assert scenario is not None
        # The user classes are imported and checked once here, before any run starts.
        loaded, _ = load_for_run(scenario, assignments)
        campaign = Campaign.create(loaded, _command(scenario, assignments), out, say)
    try:
        summary = campaign.run()
    except KeyboardInterrupt:
        say(
            f"[bold red]interrupted[/] while analysing; `hubchaos run --resume {campaign.path}` does it again"
        )
        sys.exit(int(ExitCode.RUN_FAILED))
    console = Console()
    print_campaign(console, summary)
    print_outputs(console, campaign.path, "campaign directory")
    sys.exit(summary.exit_code)
