"""What each fault kind does: its heal steps (planned first, for the journal) and its inject.

    plan(spec, cluster, members, label) -> heal steps   nothing changes yet
    apply(spec, cluster, members, label)                the fault takes effect

The injector journals the plan before it applies, so a run killed half-way through an
inject still leaves enough on disk to heal it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.errors import AutoReconnect, PyMongoError

from chaos.backends.base import Cluster
from chaos.errors import FaultError, TargetError
from chaos.faults import netfilter, relay, shaping
from chaos.faults.specs import (
    Degrade,
    Failpoint,
    FaultSpec,
    Freeze,
    Kill,
    Partition,
    Pause,
    Restart,
    StepDown,
    Stop,
)
from chaos.faults.steps import HealStep
from chaos.system import run


def plan(spec: FaultSpec, members: list[str]) -> list[HealStep]:
    if isinstance(spec, Kill | Stop | Restart):
        return [HealStep(op="start", member=m) for m in members]
    if isinstance(spec, Pause):
        return [HealStep(op="resume", member=m) for m in members]
    if isinstance(spec, StepDown | Freeze):
        return [HealStep(op="unfreeze", member=m) for m in members]
    if isinstance(spec, Failpoint):
        return [HealStep(op="failpoint_off", member=m) for m in members]
    raise AssertionError(f"network faults are planned by plan_network: {spec.kind}")


def apply(spec: FaultSpec, cluster: Cluster, members: list[str], label: str) -> None:
    for name in members:
        if isinstance(spec, Kill):
            cluster.kill(name)
        elif isinstance(spec, Stop):
            cluster.stop(name)
        elif isinstance(spec, Restart):
            (cluster.stop if spec.graceful else cluster.kill)(name)
            cluster.start(name)
        elif isinstance(spec, Pause):
            cluster.pause(name)
        elif isinstance(spec, StepDown):
            _admin(
                cluster,
                name,
                {
                    "replSetStepDown": spec.step_down_secs,
                    "secondaryCatchUpPeriodSecs": spec.secondary_catch_up_period_secs,
                    "force": spec.force,
                },
            )
        elif isinstance(spec, Freeze):
            _admin(cluster, name, {"replSetFreeze": spec.seconds})
        elif isinstance(spec, Failpoint):
            _admin(cluster, name, spec.command_document())


def _admin(cluster: Cluster, name: str, command: dict[str, object]) -> None:
    try:
        cluster.admin_command(name, command)
    except AutoReconnect:
        pass  # servers before 4.2 close connections on stepdown: the command took effect
    except PyMongoError as exc:
        raise FaultError(f"{next(iter(command))} on {name} failed: {cluster.redact(str(exc))}") from None


# --- network faults ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """For each member whose namespace gets rules: the addresses its links to are cut."""

    cut: dict[str, list[str]]


def partition_plan(spec: Partition, cluster: Cluster, targets: list[str]) -> NetworkPlan:
    names = [m.name for m in cluster.members]
    ips = {n: cluster.member_ips(n) for n in names}
    clients = cluster.client_ips() if spec.clients_cut else []

    def addresses(of: list[str]) -> list[str]:
        return [ip for n in of for ip in ips[n]]

    if spec.mode == "isolate":
        cut = {t: addresses([n for n in names if n != t]) + clients for t in targets}
    elif spec.mode == "split":
        others = [n for n in names if n not in targets]
        if not others:
            raise TargetError(f"split: target {spec.target!r} leaves no member on the other side")
        cut = {t: addresses(others) + clients for t in targets}
    else:
        if len(targets) != 1:
            raise TargetError(f"bridge: the target must be one member, {spec.target!r} is {len(targets)}")
        others = [n for n in names if n != targets[0]]
        if len(others) < 2:
            raise TargetError("bridge: needs at least two members besides the bridge")
        half = (len(others) + 1) // 2
        left, right = others[:half], others[half:]
        cut = {n: addresses(right) for n in left}
    return NetworkPlan(cut)


def network_steps(cut_members: list[str], label: str, shaped: bool) -> list[HealStep]:
    return [HealStep(op="clear_network", member=m, label=label, shaped=shaped) for m in cut_members]


def apply_partition(cluster: Cluster, net: NetworkPlan, label: str) -> None:
    for name, addresses in net.cut.items():
        prefix = cluster.netns_prefix(name)
        for ip in addresses:
            netfilter.append(prefix, label, "filter", "INPUT", "-s", ip, "-j", "DROP")
            netfilter.append(prefix, label, "filter", "OUTPUT", "-d", ip, "-j", "DROP")


def degrade_method(spec: Degrade, prefix: list[str]) -> str:
    if spec.method == "fallback":
        return "fallback"
    supported = shaping.netem_supported(prefix)
    if spec.method == "netem" and not supported:
        raise FaultError("degrade method netem: this kernel has no netem (use method auto or fallback)")
    return "netem" if supported else "fallback"


def apply_degrade(spec: Degrade, cluster: Cluster, name: str, label: str) -> str:
    """Degrade what one member sends; return the method used (netem or fallback)."""
    prefix = cluster.netns_prefix(name)
    if shaping.shaped_interfaces(prefix) or netfilter.labelled_rules(prefix, netfilter.FAULT_LABEL_PREFIX):
        raise FaultError(f"member {name} is already under another network fault: heal that first")
    method = degrade_method(spec, prefix)
    interfaces = shaping.interfaces(prefix)
    if method == "netem":
        for iface in interfaces:
            shaping.netem(prefix, iface, spec)
        return method
    if spec.rate_kbit:
        for iface in interfaces:
            shaping.tbf(prefix, iface, spec.rate_kbit)
    if spec.loss_pct:
        probability = f"{spec.loss_pct / 100:.6f}"
        netfilter.append(
            prefix, label, "filter", "OUTPUT", "!", "-o", "lo",
            "-m", "statistic", "--mode", "random", "--probability", probability, "-j", "DROP",
        )  # fmt: skip
    if spec.latency_ms:
        _redirect_through_relay(spec, cluster, name, prefix, label)
    return method


def _redirect_through_relay(
    spec: Degrade, cluster: Cluster, name: str, prefix: list[str], label: str
) -> None:
    port = cluster.port(name)
    relay_port = relay.start(prefix, label, port, spec.latency_ms, spec.jitter_ms)
    to_relay = ["-j", "REDIRECT", "--to-ports", str(relay_port)]
    netfilter.append(prefix, label, "nat", "PREROUTING", "-p", "tcp", "--dport", str(port), *to_relay)
    not_relay = ["-m", "mark", "!", "--mark", str(relay.MARK)]
    for other in (m for m in cluster.members if m.name != name):
        for ip in cluster.member_ips(other.name):
            netfilter.append(
                prefix, label, "nat", "OUTPUT", "-p", "tcp", "-d", ip,
                "--dport", str(cluster.port(other.name)), *not_relay, *to_relay,
            )  # fmt: skip
    # NAT applies to new connections only: end the member's open ones (the driver's pool, the
    # other members' heartbeats) so that they reconnect through the relay, as a blip would.
    _reset_connections(prefix, "sport", port)
    for other in (m for m in cluster.members if m.name != name):
        _reset_connections(prefix, "dport", cluster.port(other.name))


def _reset_connections(prefix: list[str], side: str, port: int) -> None:
    run([*prefix, "ss", "-K", "state", "established", "(", side, "=", f":{port}", ")"], check=False)
