"""`hubchaos worker --master HOST:PORT`: a Locust worker for a drill that expects remote workers
(`hubchaos run --expect-remote-workers N`); it gets the run's settings from the master."""

from __future__ import annotations

import click

from chaos.endpoint import Endpoint
from contract.errors import UsageError


@click.command()
@click.option("--master", "master", required=True, metavar="HOST:PORT", help="the drill's Locust master")
@click.option(
    "--join-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="seconds to wait for the run's settings once connected",
)
def worker(master: str, join_timeout: float) -> None:
    """Run one drill's Locust users on this machine, for the master at HOST:PORT.

    Needs this project's checkout (the same version as the master's) and a route to the cluster;
    no shared disk: settings come from the master, recordings go to it. Ends when the drill's
    load ends. Exit codes: 0 done, 2 a bad --master, 3 refused or no master.
    """
    try:
        endpoint = Endpoint.parse(master)
    except ValueError as exc:
        raise UsageError(f"--master {exc}") from None
    # Imported here: Locust and gevent, which only this command and `run` need.
    from chaos.drill.worker import serve  # noqa: PLC0415

    serve(endpoint.host, endpoint.port, join_timeout)
