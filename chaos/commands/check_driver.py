"""`hubchaos check-driver INPUT`: a driver configuration as an SRE reads it.

INPUT is a connection string, a JSON/YAML file of options (one object, or named ones such as
the guide's `mongoOptions` and `poolSettings`), or a scenario (its `workload.driver`). The
cluster's election settings come from `--cluster SCENARIO`, `--live URI`, the scenario given as
INPUT, or mongod's defaults. Findings: `reports.drivercheck`. Exit 1 when any finding is an
error, 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

import click

from chaos.driverinput import (
    OptionSet,
    cluster_from_live,
    cluster_from_scenario,
    from_scenario,
    from_uri,
    is_scenario,
    read_options_file,
)
from contract.driver import Driver
from contract.errors import ExitCode, UsageError
from reports.drivercheck import ClusterTiming, Finding, Load, Severity, check, removed

_MARK = {Severity.ERROR: "ERROR", Severity.WARN: "warn ", Severity.INFO: "info "}


@click.command("check-driver")
@click.argument("source")
@click.option(
    "--cluster",
    "cluster_scenario",
    type=click.Path(dir_okay=False, path_type=Path),
    help="take the election settings from this scenario's target",
)
@click.option("--live", metavar="URI", help="take the election settings from a live set (replSetGetConfig)")
@click.option(
    "--driver",
    type=click.Choice(["pymongo", "node"]),
    default=None,
    help="whose defaults fill in unset options (default: node for an options file, else pymongo)",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="requests one client runs at once (default: a scenario's users per process)",
)
@click.option(
    "--instances",
    type=click.IntRange(min=1),
    default=None,
    help="application instances, each with its own client (default 1)",
)
@click.option(
    "--slowest-ms",
    type=click.FloatRange(min=0),
    default=None,
    help="the slowest operation class's duration, for socketTimeoutMS",
)
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON")
def check_driver_command(  # noqa: PLR0917 - click passes every option
    source: str,
    cluster_scenario: Path | None,
    live: str | None,
    driver: Literal["pymongo", "node"] | None,
    concurrency: int | None,
    instances: int | None,
    slowest_ms: float | None,
    as_json: bool,
) -> None:
    """Check driver options against the cluster's election settings and the load."""
    if cluster_scenario is not None and live is not None:
        raise UsageError("--cluster and --live both name the cluster: give one")
    sets, cluster, load = _inputs(source, driver)
    members = load.members
    if cluster_scenario is not None:
        cluster, members = cluster_from_scenario(cluster_scenario)
    elif live is not None:
        cluster, members = cluster_from_live(live)
    load = load.model_copy(
        update={
            "members": members,
            **({"concurrency": concurrency} if concurrency is not None else {}),
            **({"instances": instances} if instances is not None else {}),
            **(
                {"slowest_ms": slowest_ms, "slowest_op": "the slowest operation", "slowest_source": "given"}
                if slowest_ms is not None
                else {}
            ),
        }
    )
    results = [(s, removed(list(s.removed)) + check(s.options, cluster, load, s.driver)) for s in sets]
    if as_json:
        _print_json(results, cluster, load)
    else:
        _print_text(results, cluster)
    failed = any(f.severity is Severity.ERROR for _, findings in results for f in findings)
    sys.exit(int(ExitCode.SLO_FAILED if failed else ExitCode.OK))


def _inputs(source: str, driver: Driver | None) -> tuple[list[OptionSet], ClusterTiming, Load]:
    if source.startswith(("mongodb://", "mongodb+srv://")):
        return [from_uri(source, driver or "pymongo")], ClusterTiming(), Load()
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"{source}: neither a connection string (mongodb://...) nor a file")
    if is_scenario(path):
        found = from_scenario(path)
        options = found.options
        if driver is not None:
            options = OptionSet(options.name, options.options, driver)
        return [options], found.cluster, found.load
    return read_options_file(path, driver or "node"), ClusterTiming(), Load()


def _print_text(results: list[tuple[OptionSet, list[Finding]]], cluster: ClusterTiming) -> None:
    settings = (
        f"electionTimeoutMillis {cluster.election_timeout_ms}, heartbeatIntervalMillis "
        f"{cluster.heartbeat_interval_ms}"
        + (f", catchUpTimeoutMillis {cluster.catch_up_timeout_ms}" if cluster.catch_up_timeout_ms else "")
    )
    for options, findings in results:
        click.echo(
            f"{options.name} ({options.driver} defaults for what it leaves unset), against "
            f"{cluster.source} ({settings}):"
        )
        for f in findings:
            click.echo(f"  {_MARK[f.severity]} {f.option}={f.value}: {f.reason}")
            click.echo(f"        {f.figure}; {f.demonstrated()}")
        tally = {s: sum(f.severity is s for f in findings) for s in Severity}
        errors, warnings, notes = (tally[s] for s in Severity)
        click.echo(f"  {errors} error(s), {warnings} warning(s), {notes} note(s)")


def _print_json(results: list[tuple[OptionSet, list[Finding]]], cluster: ClusterTiming, load: Load) -> None:
    click.echo(
        json.dumps(
            {
                "cluster": cluster.model_dump(mode="json"),
                "load": load.model_dump(mode="json"),
                "option_sets": [
                    {
                        "name": options.name,
                        "driver": options.driver,
                        "options": options.options.given(),
                        "findings": [f.model_dump(mode="json") for f in findings],
                    }
                    for options, findings in results
                ],
            },
            indent=1,
        )
    )
