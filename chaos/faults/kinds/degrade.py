"""`degrade`: slow or lossy links, added latency (with jitter), packet loss, a bandwidth cap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from chaos.faults import netfilter, relay, shaping
from chaos.faults.kind import FaultContext, FaultSpec, HealStep
from chaos.faults.kinds.partition import network_steps
from chaos.system import CommandFailed, run
from contract.errors import FaultError

if TYPE_CHECKING:
    from chaos.backends.base import Cluster


class Degrade(FaultSpec):
    """Slow or lossy links: added latency (with jitter), packet loss, a bandwidth cap.

    Everything the target members send is affected, as netem on their interfaces would do.
    `method: auto` uses netem where the kernel has it and otherwise the userspace relay
    (latency, jitter), iptables `statistic` (loss) and tbf (bandwidth).
    """

    kind: Literal["degrade"] = "degrade"
    layer = "network"
    destructive = True
    network = True
    latency_ms: float = Field(0.0, ge=0, le=60_000)
    jitter_ms: float = Field(0.0, ge=0, le=60_000)
    loss_pct: float = Field(0.0, ge=0, le=100)
    rate_kbit: int | None = Field(None, ge=8)
    method: Literal["auto", "netem", "fallback"] = "auto"

    @model_validator(mode="after")
    def _something(self) -> Degrade:
        if not (self.latency_ms or self.loss_pct or self.rate_kbit):
            raise ValueError("degrade needs latency_ms, loss_pct or rate_kbit")
        if self.jitter_ms > self.latency_ms:
            raise ValueError("jitter_ms may not exceed latency_ms")
        return self

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return network_steps(ctx.members, ctx.label, shaped=True)

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        methods = {m: self.degrade_member(ctx.cluster, m, ctx.label) for m in ctx.members}
        return {"via": sorted(set(methods.values()))}

    def method_for(self, prefix: list[str]) -> str:
        if self.method == "fallback":
            return "fallback"
        supported = shaping.netem_supported(prefix)
        if self.method == "netem" and not supported:
            raise FaultError("degrade method netem: this kernel has no netem (use method auto or fallback)")
        return "netem" if supported else "fallback"

    def degrade_member(self, cluster: Cluster, name: str, label: str) -> str:
        """Degrade what one member sends; return the method used (netem or fallback)."""
        prefix = cluster.netns_prefix(name)
        if shaping.shaped_interfaces(prefix) or netfilter.labelled_rules(
            prefix, netfilter.FAULT_LABEL_PREFIX
        ):
            raise FaultError(f"member {name} is already under another network fault: heal that first")
        method = self.method_for(prefix)
        interfaces = shaping.interfaces(prefix)
        if method == "netem":
            for iface in interfaces:
                shaping.mark(prefix, iface, label)
                shaping.netem(prefix, iface, self)
            return method
        if self.rate_kbit:
            for iface in interfaces:
                shaping.mark(prefix, iface, label)
                shaping.tbf(prefix, iface, self.rate_kbit)
        if self.loss_pct:
            probability = f"{self.loss_pct / 100:.6f}"
            netfilter.append(
                prefix, label, "filter", "OUTPUT", "!", "-o", "lo",
                "-m", "statistic", "--mode", "random", "--probability", probability, "-j", "DROP",
            )  # fmt: skip
        if self.latency_ms:
            self._redirect_through_relay(cluster, name, prefix, label)
        return method

    def _redirect_through_relay(self, cluster: Cluster, name: str, prefix: list[str], label: str) -> None:
        port = cluster.port(name)
        relay_port = relay.start(prefix, label, port, self.latency_ms, self.jitter_ms)
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
    # An open connection left alone bypasses the relay for the whole fault: say so, loudly.
    try:
        run([*prefix, "ss", "-K", "state", "established", "(", side, "=", f":{port}", ")"])
    except CommandFailed as e:
        raise FaultError(f"could not reset the connections on port {port}: {e}") from None
