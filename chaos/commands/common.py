"""What the cluster, fault and heal commands share: the state directory and the CLI cluster."""

from __future__ import annotations

from pathlib import Path

import click

from chaos.backends import STATE_FILE, Cluster, attach, cluster_dir, load_state
from chaos.faults.journal import STATE_DIR_ENV, default_state_dir

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=STATE_DIR_ENV,
    default=None,
    help=f"where clusters and the heal journal live (${STATE_DIR_ENV}, else ~/.local/state/hubchaos)",
)
name_option = click.option("--name", default="default", show_default=True, help="the cluster's name")


def resolve_state_dir(option: Path | None) -> Path:
    """Absolute: paths kept in the state name the same place from any folder."""
    return option.expanduser().resolve() if option is not None else default_state_dir()


def attach_named(base: Path, name: str) -> Cluster:
    path = cluster_dir(base, name) / STATE_FILE
    return attach(load_state(path), registration=path)
