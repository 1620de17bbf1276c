"""Cluster backends: where the replica set under test runs.

create(target, workdir)  a Cluster for a target (not started: use `with cluster:` or up()); the
                         target's model (chaos.target, registry BACKENDS) names its Cluster
                         class, imported only now, so reading scenarios needs no Docker SDK
attach(state)            the same cluster rebuilt in another process from Cluster.state()
save_state / load_state  that state as a JSON file (how `hubchaos cluster ...` commands and
                         the heal journal find a cluster again)
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaos.backends.base import Cluster, ClusterState, Member
from chaos.backends.health import MemberStatus
from chaos.target import BACKENDS, TargetBase
from contract.errors import BackendError, UsageError
from contract.registry import load_reference

__all__ = [
    "BACKENDS",
    "Cluster",
    "ClusterState",
    "Member",
    "MemberStatus",
    "attach",
    "cluster_class",
    "create",
    "load_state",
    "new_cluster_id",
    "parse_state",
    "save_state",
]


STATE_FILE = "cluster.json"


def cluster_dir(state_dir: Path, name: str) -> Path:
    """Where a named cluster's state lives: `hubchaos cluster ...` and drills register there, so
    `hubchaos cluster down --name NAME` can stop what a killed process left running."""
    return state_dir / "clusters" / name


def new_cluster_id() -> str:
    """Six hex digits: short enough for interface names (15 characters at most)."""
    return secrets.token_hex(3)


def cluster_class(target: type[TargetBase]) -> type[Cluster]:
    """The Cluster subclass a backend's target model names (imported now, not before)."""
    found = load_reference(target.cluster, f"backend {target.model_fields['backend'].default}")
    if not (isinstance(found, type) and issubclass(found, Cluster)):
        raise UsageError(f"backend target {target.__name__}: cluster {target.cluster} is not a Cluster")
    return found


def create(target: TargetBase, workdir: Path, cluster_id: str | None = None) -> Cluster:
    return cluster_class(type(target))(target, cluster_id or new_cluster_id(), workdir.resolve())


def attach(state: ClusterState, registration: Path | None = None) -> Cluster:
    """The cluster `state` describes; with `registration`, kept current there (see Cluster.register)."""
    cluster = cluster_class(BACKENDS.get(state.backend)).from_state(state)
    cluster.owner = state.owner
    cluster.registration = registration
    return cluster


def parse_state(data: Any, source: str) -> ClusterState:
    """A cluster's state record (JSON text or parsed data), as its backend's own model."""
    try:
        raw = json.loads(data) if isinstance(data, str) else data
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
        model = cluster_class(BACKENDS.get(str(raw.get("backend")))).state_model
        return model.model_validate(raw)
    except UsageError as exc:
        raise BackendError(f"{source}: {exc}") from None
    except ValidationError as exc:
        raise BackendError(f"{source}: not a cluster state file ({exc.errors()[0]['msg']})") from None
    except ValueError as exc:
        raise BackendError(f"{source}: not a cluster state file ({exc})") from None


def save_state(path: Path, cluster: Cluster) -> None:
    """Register `cluster` at `path` (written atomically) and keep it current there."""
    cluster.registration = path
    cluster.register()


def load_state(path: Path) -> ClusterState:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BackendError(f"no cluster state at {path}: bring one up with `hubchaos cluster up`") from None
    return parse_state(text, str(path))
