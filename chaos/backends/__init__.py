"""Cluster backends: where the replica set under test runs.

create(target, workdir)  a Cluster for a target (not started: use `with cluster:` or up())
attach(state)            the same cluster rebuilt in another process from Cluster.state()
save_state / load_state  that state as a JSON file (how `hubchaos cluster ...` commands and
                         the heal journal find a cluster again)
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from chaos.backends.base import Cluster, ClusterState, Member
from chaos.backends.compose import ComposeCluster, ComposeState
from chaos.backends.docker import DockerCluster, DockerState
from chaos.backends.external import ExternalCluster, ExternalState
from chaos.backends.health import MemberStatus
from chaos.backends.local import LocalCluster, LocalState
from chaos.errors import BackendError
from chaos.target import ComposeTarget, DockerTarget, ExternalTarget, LocalTarget, Target

__all__ = [
    "AnyState",
    "Cluster",
    "ClusterState",
    "Member",
    "MemberStatus",
    "attach",
    "create",
    "load_state",
    "new_cluster_id",
    "save_state",
]

AnyState = Annotated[LocalState | DockerState | ComposeState | ExternalState, Field(discriminator="backend")]
_STATE: TypeAdapter[AnyState] = TypeAdapter(AnyState)


STATE_FILE = "cluster.json"


def cluster_dir(state_dir: Path, name: str) -> Path:
    """Where a named cluster's state lives: `hubchaos cluster ...` and drills register there, so
    `hubchaos cluster down --name NAME` can stop what a killed process left running."""
    return state_dir / "clusters" / name


def new_cluster_id() -> str:
    """Six hex digits: short enough for interface names (15 characters at most)."""
    return secrets.token_hex(3)


def create(target: Target, workdir: Path, cluster_id: str | None = None) -> Cluster:
    cluster_id = cluster_id or new_cluster_id()
    workdir = workdir.resolve()
    if isinstance(target, LocalTarget):
        return LocalCluster(target, cluster_id, workdir)
    if isinstance(target, DockerTarget):
        return DockerCluster(target, cluster_id, workdir)
    if isinstance(target, ComposeTarget):
        return ComposeCluster(target, cluster_id, workdir)
    if isinstance(target, ExternalTarget):
        return ExternalCluster(target, cluster_id, workdir)
    raise BackendError(f"unknown backend {target!r}")


def attach(state: AnyState) -> Cluster:
    if isinstance(state, LocalState):
        return LocalCluster.from_state(state)
    if isinstance(state, DockerState):
        return DockerCluster.from_state(state)
    if isinstance(state, ComposeState):
        return ComposeCluster.from_state(state)
    return ExternalCluster.from_state(state)


def parse_state(text: str, source: str) -> AnyState:
    try:
        return _STATE.validate_json(text)
    except ValidationError as exc:
        raise BackendError(f"{source}: not a cluster state file ({exc.errors()[0]['msg']})") from None


def save_state(path: Path, cluster: Cluster) -> None:
    """Write atomically (temp file, then rename) so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(cluster.state().model_dump_json(indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


def load_state(path: Path) -> AnyState:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BackendError(f"no cluster state at {path}: bring one up with `hubchaos cluster up`") from None
    return parse_state(text, str(path))
