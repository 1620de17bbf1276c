"""`hubchaos cluster up|down|status|initiate`: a replica set that outlives the command."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from chaos.backends import STATE_FILE, MemberStatus, cluster_dir, create
from chaos.backends.compose import ComposeCluster, read_topology
from chaos.backends.docker import DockerCluster
from chaos.commands.common import attach_named, name_option, resolve_state_dir, state_dir_option
from chaos.target import ComposeTarget, TargetBase, load_target, parse_target
from contract.errors import UsageError


def status_table(statuses: list[MemberStatus], title: str) -> Table:
    table = Table(title=title)
    for column in ("member", "address", "state", "term", "lag", "region"):
        table.add_column(column)
    for s in statuses:
        lag = f"{s.lag_s:.1f} s" if s.lag_s is not None else "-"
        style = {"PRIMARY": "bold green", "SECONDARY": "green"}.get(s.state, "red")
        table.add_row(
            s.name,
            s.address,
            f"[{style}]{s.state}[/]",
            str(s.term) if s.term is not None else "-",
            lag,
            s.region or "-",
        )
    return table


def build_target(
    file: Path | None, backend: str | None, members: int | None, image: str | None
) -> TargetBase:
    data: dict[str, object] = {}
    if file is not None:
        data = load_target(file).model_dump(by_alias=True, exclude_unset=True)
    if backend is not None:
        data["backend"] = backend
    data.setdefault("backend", "local")
    if members is not None:
        data["members"] = members
    if image is not None:
        data["image"] = image
    return parse_target(data, str(file) if file else "<command line>")


@click.group()
def cluster() -> None:
    """Bring a replica set up, look at it, take it down."""


@cluster.command()
@click.argument("target_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--backend", metavar="NAME", help="local, docker, compose or an installed backend; overrides the file's"
)
@click.option("--members", type=click.IntRange(1, 50), help="number of members (m0, m1, ...)")
@click.option("--image", help="docker backend: the member image (default mongo:7.0)")
@name_option
@state_dir_option
def up(
    *,
    target_file: Path | None,
    backend: str | None,
    members: int | None,
    image: str | None,
    name: str,
    state_dir: Path | None,
) -> None:
    """Start a replica set (TARGET_FILE: a target, or a scenario with `target:`) and wait until healthy."""
    folder = cluster_dir(resolve_state_dir(state_dir), name)
    if (folder / STATE_FILE).exists():
        raise UsageError(f"cluster {name!r} is already up ({folder}): `hubchaos cluster down` first")
    target = build_target(target_file, backend, members, image)
    c = create(target, folder)
    if isinstance(c, DockerCluster):
        c.detached = True
    # Registered before anything starts: a bring-up cut short leaves nothing `down` cannot find.
    c.registration = folder / STATE_FILE
    try:
        c.up()
        statuses = c.wait_healthy()
    except BaseException:
        c.down()
        c.unregister()
        raise
    c.close_clients()
    console = Console()
    for note in c.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(status_table(statuses, f"{c.kind} cluster {name!r} ({c.set_name})"))
    console.print(f"uri: {c.uri(redacted=True)}")


@cluster.command()
@name_option
@state_dir_option
def down(name: str, state_dir: Path | None) -> None:
    """Stop the members and remove what `up` created."""
    base = resolve_state_dir(state_dir)
    folder = cluster_dir(base, name)
    c = attach_named(base, name)
    c.down()
    (folder / STATE_FILE).unlink(missing_ok=True)
    if c.kind != "local":
        shutil.rmtree(folder, ignore_errors=True)
    for note in c.notes:
        click.echo(f"note: {note}")
    click.echo(f"cluster {name!r} is down")


@cluster.command()
@name_option
@state_dir_option
def status(name: str, state_dir: Path | None) -> None:
    """Each member's state, term, replication lag and region."""
    c = attach_named(resolve_state_dir(state_dir), name)
    try:
        statuses = c.status()
    finally:
        c.close_clients()
    Console().print(status_table(statuses, f"{c.kind} cluster {name!r} ({c.set_name})"))


@cluster.command()
@click.option("--compose-file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--timeout", type=float, default=120.0, show_default=True)
def initiate(compose_file: Path, timeout: float) -> None:
    """The compose stack's init step: replSetInitiate from the file's labels, wait for a primary."""
    topology = read_topology(compose_file)
    target = ComposeTarget(file=compose_file, manage=False, set_name=topology.set_name)
    c = ComposeCluster(target, "init", Path("."))
    c.wait_answering(timeout)
    c.initiate()
    primary = c.wait_primary(timeout)
    click.echo(f"replica set {c.set_name} initiated; primary {primary.name} ({primary.address})")
