"""What a scenario's faults need of this machine and of its cluster, checked before the load.

    before_start(scenario, source)    before anything is created: network faults where the
                                      backend will have no network access (local members on
                                      loopback: not root, or no iptables; containers without
                                      root or nsenter; an external cluster)
    with_cluster(scenario, cluster)   once the cluster is up, before seeding: the same with what
                                      the cluster knows now, and destructive faults that could
                                      hit a member off an external target's allowlist

Both raise ScenarioError naming the fault (exit 2): a drill must not run its whole load only to
have its faults refused one by one.
"""

from __future__ import annotations

from chaos.backends import cluster_class
from chaos.backends.base import Cluster
from chaos.faults.targeting import ROLES
from chaos.scenario.load import field_name
from chaos.scenario.model import FaultStep, Scenario
from contract.errors import ScenarioError
from contract.safeyaml import Source


def _refuse(i: int, step: FaultStep, why: str, source: Source | None) -> ScenarioError:
    path = ("faults", i)
    file = source.file if source is not None else "<scenario>"
    line = source.line_of(path) if source is not None else None
    return ScenarioError(f"{step.kind} cannot run here: {why}", file=file, line=line, field=field_name(path))


def before_start(scenario: Scenario, source: Source | None = None) -> None:
    network = [(i, s) for i, s in enumerate(scenario.faults) if s.fault is not None and s.fault.network]
    if not network:
        return
    reason = cluster_class(type(scenario.target)).planned_network_refusal(scenario.target)
    if reason is not None:
        i, step = network[0]
        raise _refuse(i, step, reason, source)


def with_cluster(scenario: Scenario, cluster: Cluster, source: Source | None = None) -> None:
    names = [m.name for m in cluster.members]
    for i, step in enumerate(scenario.faults):
        spec = step.fault
        assert spec is not None
        if spec.network and (reason := cluster.network_refusal()) is not None:
            raise _refuse(i, step, reason, source)
        if spec.destructive:
            reason = cluster.destructive_refusal(_candidates(step.target, cluster, names))
            if reason is not None:
                raise _refuse(i, step, f"target {step.target} may resolve to such a member: {reason}", source)


def _candidates(target: str, cluster: Cluster, names: list[str]) -> list[str]:
    """Every member the target could resolve to, whatever the cluster's state by then."""
    if target in ROLES or target.startswith("secondary:"):
        return names
    if target.startswith("region:"):
        return [m.name for m in cluster.members if m.region == target.removeprefix("region:")]
    return [t.strip() for t in target.split(",") if t.strip() in names]
