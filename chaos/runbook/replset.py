"""Replica-set administration as an operator does it through the driver: read the config, change
it, wait for members to reach a state. Shared by the membership actions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure, PyMongoError

from chaos.backends.health import UNREACHABLE
from chaos.runbook.step import StepFailed, wait_until
from contract.errors import HubchaosError

if TYPE_CHECKING:
    from chaos.backends.base import Cluster

# Reconfig refusals that pass once the set settles: not primary (yet), a reconfig in progress,
# the current config not yet committed (mongod 4.4+), an election meanwhile.
TRANSIENT = frozenset({10107, 13435, 109, 308, 11602, 189})
# A reconfig waits for a majority to have the new config (mongod: until committed), much longer
# than the admin clients' short timeouts allow.
RECONFIG_TIMEOUT_MS = 60_000

Members = list[dict[str, Any]]


def current_config(cluster: Cluster, name: str) -> dict[str, Any]:
    try:
        return dict(cluster.admin_command(name, {"replSetGetConfig": 1})["config"])
    except PyMongoError as exc:
        raise StepFailed(f"replSetGetConfig on {name} failed: {cluster.redact(str(exc))}") from None


def config_hosts(config: dict[str, Any]) -> set[str]:
    return {m["host"] for m in config["members"]}


def reachable(cluster: Cluster) -> list[str]:
    return [s.name for s in cluster.status() if s.state != UNREACHABLE]


def primary_name(cluster: Cluster, timeout: float) -> str:
    try:
        return cluster.wait_primary(timeout).name
    except (PyMongoError, HubchaosError) as exc:
        raise StepFailed(f"no primary: {cluster.redact(str(exc))}") from None


def reconfig(cluster: Cluster, change: Callable[[Members], Members | None], timeout: float) -> bool:
    """A normal reconfig on the current primary: `change` turns the config's members into the
    wanted ones, or None when the config already has them. Retried (re-reading the config, so a
    reconfig that took effect before its reply was lost is not sent again) while the set is
    between primaries or still committing the previous config. True when a reconfig was sent."""
    deadline = time.monotonic() + timeout
    while True:
        primary = primary_name(cluster, max(1.0, deadline - time.monotonic()))
        config = current_config(cluster, primary)
        members = change(list(config["members"]))
        if members is None:
            return False
        new = {**config, "version": config["version"] + 1, "members": members}
        try:
            with cluster.admin_client(primary, socketTimeoutMS=RECONFIG_TIMEOUT_MS) as client:
                client.admin.command({"replSetReconfig": new})
            return True
        except OperationFailure as exc:
            if exc.code not in TRANSIENT or time.monotonic() >= deadline:
                raise StepFailed(f"replSetReconfig on {primary} failed: {cluster.redact(str(exc))}") from None
        except PyMongoError as exc:
            if time.monotonic() >= deadline:
                raise StepFailed(f"replSetReconfig on {primary} failed: {cluster.redact(str(exc))}") from None
        time.sleep(0.5)


def wait_caught_up(cluster: Cluster, name: str, optime: float, timeout: float) -> float:
    """Seconds until `name` is SECONDARY (or PRIMARY) with an optime at least `optime`: a member
    that rejoins reports SECONDARY before it rolls back what diverged, so the state alone says
    little."""
    started = time.monotonic()

    def caught_up() -> bool:
        s = cluster.member_status(name)
        return s.state in ("SECONDARY", "PRIMARY") and s.optime is not None and s.optime >= optime

    wait_until(caught_up, timeout, f"member {name} catching up as SECONDARY")
    return time.monotonic() - started
