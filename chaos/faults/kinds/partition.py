"""`partition`: cut network links with iptables in the members' namespaces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from chaos.faults import netfilter
from chaos.faults.kind import FaultContext, FaultSpec, HealStep
from contract.errors import TargetError

if TYPE_CHECKING:
    from chaos.backends.base import Cluster


class Partition(FaultSpec):
    """Cut network links with iptables in the members' namespaces.

    isolate  each target member loses its links to every other member, and to the clients too
             unless `cut_clients: false` (isolating the primary from the set while the clients
             still reach it is `{mode: isolate, target: primary, cut_clients: false}`)
    split    the targets on one side, the other members on the other; clients reach both
    bridge   the target member alone sees both halves of the others, which do not see each other
    """

    kind: Literal["partition"] = "partition"
    layer = "network"
    destructive = True
    network = True
    mode: Literal["isolate", "split", "bridge"] = "isolate"
    cut_clients: bool | None = None

    @property
    def clients_cut(self) -> bool:
        return self.cut_clients if self.cut_clients is not None else self.mode == "isolate"

    def cuts(self, cluster: Cluster, targets: list[str]) -> dict[str, list[str]]:
        """For each member whose namespace gets rules: the addresses its links to are cut."""
        names = [m.name for m in cluster.members]
        ips = {n: cluster.member_ips(n) for n in names}
        clients = cluster.client_ips() if self.clients_cut else []

        def addresses(of: list[str]) -> list[str]:
            return [ip for n in of for ip in ips[n]]

        if self.mode == "isolate":
            return {t: addresses([n for n in names if n != t]) + clients for t in targets}
        if self.mode == "split":
            others = [n for n in names if n not in targets]
            if not others:
                raise TargetError(f"split: target {self.target!r} leaves no member on the other side")
            return {t: addresses(others) + clients for t in targets}
        if len(targets) != 1:
            raise TargetError(f"bridge: the target must be one member, {self.target!r} is {len(targets)}")
        others = [n for n in names if n != targets[0]]
        if len(others) < 2:
            raise TargetError("bridge: needs at least two members besides the bridge")
        half = (len(others) + 1) // 2
        left, right = others[:half], others[half:]
        return {n: addresses(right) for n in left}

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return network_steps(list(self.cuts(ctx.cluster, ctx.members)), ctx.label, shaped=False)

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        cut = self.cuts(ctx.cluster, ctx.members)
        for name, addresses in cut.items():
            prefix = ctx.cluster.netns_prefix(name)
            for ip in addresses:
                netfilter.append(prefix, ctx.label, "filter", "INPUT", "-s", ip, "-j", "DROP")
                netfilter.append(prefix, ctx.label, "filter", "OUTPUT", "-d", ip, "-j", "DROP")
        return {"cut": {m: len(a) for m, a in cut.items()}}


def network_steps(members: list[str], label: str, shaped: bool) -> list[HealStep]:
    """Clear what a network fault labelled `label` added in each member's namespace."""
    return [HealStep(op="clear_network", member=m, args={"label": label, "shaped": shaped}) for m in members]
