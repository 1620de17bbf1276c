"""Network namespaces for local members: one namespace and address per member, on one bridge.

    root namespace (the suite)          member namespaces
    hcb-<id> 10.213.N.1/24  ── veth ──  hubchaos-<id>-<member>: eth0 10.213.N.(10+i)/24

Each member then has its own network stack, so iptables rules in its namespace cut exactly
its links, while the suite in the root namespace still reaches every member the rules do not
cut. Everything is named with `hubchaos` so leftovers can always be found (`ip netns list`).
Needs root.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from chaos.ownership import Owner
from chaos.system import CommandFailed, run
from contract.errors import BackendError

NETNS_PREFIX = "hubchaos-"
# The root-namespace rule that lets bridged member traffic through a FORWARD policy of DROP
# (Docker sets one, and bridged frames traverse iptables when br_netfilter is loaded).
FORWARD_COMMENT = "hubchaos:net:{cluster_id}"
# The bridge's alias names the run that made the network, so `hubchaos heal` can remove a killed
# run's network without its registration.
BRIDGE_LABEL = "hubchaos:net:"
BRIDGE_PREFIX = "hcb-"
FIRST_HOST = 10


def netns_name(cluster_id: str, member: str) -> str:
    return f"{NETNS_PREFIX}{cluster_id}-{member}"


def bridge_name(cluster_id: str) -> str:
    return f"{BRIDGE_PREFIX}{cluster_id}"  # interface names are limited to 15 characters


def veth_name(cluster_id: str, index: int) -> str:
    return f"hcv-{cluster_id}-{index}"


@dataclass(frozen=True, slots=True)
class NetPlan:
    subnet: ipaddress.IPv4Network
    gateway: str  # the bridge's address: where the suite's connections come from
    addresses: dict[str, str]  # member name -> IP


def plan(cluster_id: str, members: list[str], subnet: ipaddress.IPv4Network) -> NetPlan:
    hosts = list(subnet.hosts())
    if len(members) + FIRST_HOST > len(hosts):
        raise BackendError(f"subnet {subnet} is too small for {len(members)} members")
    return NetPlan(
        subnet=subnet,
        gateway=str(hosts[0]),
        addresses={m: str(hosts[FIRST_HOST - 1 + i]) for i, m in enumerate(members)},
    )


def pick_subnet(
    pool: ipaddress.IPv4Network, used: Iterable[ipaddress.IPv4Network], prefix: int = 24
) -> ipaddress.IPv4Network:
    """The first /prefix of the pool that overlaps nothing in use."""
    taken = list(used)
    for candidate in pool.subnets(new_prefix=prefix):
        if not any(candidate.overlaps(u) for u in taken):
            return candidate
    raise BackendError(f"no free /{prefix} left in {pool}")


def networks_in_use() -> list[ipaddress.IPv4Network]:
    """IPv4 networks configured on this host's interfaces (root namespace)."""
    out = run(["ip", "-o", "-4", "addr", "show"]).stdout
    return [ipaddress.IPv4Interface(cidr).network for cidr in re.findall(r"inet (\S+)", out)]


def create(cluster_id: str, net: NetPlan, owner: Owner | None = None) -> None:
    """The bridge (labelled with its owner), one namespace per member and the veth pairs."""
    bridge = bridge_name(cluster_id)
    run(["ip", "link", "add", bridge, "type", "bridge"])
    if owner is not None:
        run(["ip", "link", "set", bridge, "alias", f"{BRIDGE_LABEL}{owner.token()}"])
    run(["ip", "addr", "add", f"{net.gateway}/{net.subnet.prefixlen}", "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])
    run(["iptables", "-I", "FORWARD", "1", *_forward_rule(cluster_id)])
    add_namespaces(cluster_id, net.subnet, net.addresses)


def add_namespaces(
    cluster_id: str, subnet: ipaddress.IPv4Network, addresses: dict[str, str], first_index: int = 0
) -> None:
    """A namespace per name on the cluster's bridge, with its address; veths numbered from
    `first_index` (another host joining an existing cluster's network takes numbers after its members')."""
    bridge = bridge_name(cluster_id)
    for index, (member, address) in enumerate(addresses.items(), start=first_index):
        ns = netns_name(cluster_id, member)
        veth = veth_name(cluster_id, index)
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "link", "set", veth, "master", bridge, "up"])
        run(["ip", "-n", ns, "addr", "add", f"{address}/{subnet.prefixlen}", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])


def destroy(cluster_id: str, members: Iterable[str]) -> None:
    """Remove what `create` made; missing pieces are fine (idempotent)."""
    for member in members:
        run(["ip", "netns", "del", netns_name(cluster_id, member)], check=False)
    run(["ip", "link", "del", bridge_name(cluster_id)], check=False)
    while True:
        try:
            run(["iptables", "-D", "FORWARD", *_forward_rule(cluster_id)])
        except CommandFailed:
            break


def _forward_rule(cluster_id: str) -> list[str]:
    bridge = bridge_name(cluster_id)
    comment = FORWARD_COMMENT.format(cluster_id=cluster_id)
    return ["-i", bridge, "-o", bridge, "-m", "comment", "--comment", comment, "-j", "ACCEPT"]


def exec_prefix(ns: str) -> list[str]:
    return ["ip", "netns", "exec", ns]


def exists(ns: str) -> bool:
    return ns in list_namespaces(ns)


def list_namespaces(prefix: str = NETNS_PREFIX) -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def members_of(cluster_id: str) -> list[str]:
    """The members whose namespaces this cluster has on the machine."""
    prefix = netns_name(cluster_id, "")
    return [ns.removeprefix(prefix) for ns in list_namespaces(prefix)]


def pids_in(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(pid) for pid in out.split() if pid.isdigit()]
