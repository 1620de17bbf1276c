"""The `local` backend: member processes on this machine (mongoemu by default, or a real mongod).

Each member gets `<workdir>/members/<name>/` for its dbpath (`db/`), log and stderr. As root,
each member also gets its own network namespace and address (see netns.py), so partitions
and degradation act on real links; otherwise the members share loopback, and network faults
are refused with the reason.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from chaos.backends import netns
from chaos.backends.base import Cluster, ClusterState, Member
from chaos.backends.processes import EMULATOR, MemberProcess, free_port
from chaos.errors import BackendError, FaultError
from chaos.system import is_root
from chaos.target import LocalTarget

MEMBER_PORT = 27017  # with a namespace each, every member can listen on mongod's usual port

NO_NAMESPACES = (
    "network faults need each member in its own network namespace, and the local members share "
    "loopback because hubchaos is not running as root (run as root, or use the docker backend)"
)


class LocalState(ClusterState):
    backend: Literal["local"] = "local"
    target: LocalTarget
    binary: list[str]
    subnet: ipaddress.IPv4Network | None = None  # None: members share loopback
    gateway: str | None = None


class LocalCluster(Cluster):
    target: LocalTarget

    def __init__(self, target: LocalTarget, cluster_id: str, workdir: Path) -> None:
        super().__init__(target, cluster_id, workdir)
        self.binary = list(target.binary) if target.binary else list(EMULATOR)
        self.net: netns.NetPlan | None = None
        self.processes: dict[str, MemberProcess] = {}

    @classmethod
    def from_state(cls, state: LocalState) -> LocalCluster:
        cluster = cls(state.target, state.cluster_id, state.workdir)
        cluster.binary = list(state.binary)
        if state.subnet is not None and state.gateway is not None:
            ips = {name: addr.rpartition(":")[0] for name, addr in state.addresses.items()}
            cluster.net = netns.NetPlan(state.subnet, state.gateway, ips)
        cluster._build(state.addresses)
        return cluster

    def state(self) -> LocalState:
        return LocalState(
            cluster_id=self.cluster_id,
            workdir=self.workdir,
            addresses={m.name: m.address for m in self.members},
            target=self.target,
            binary=self.binary,
            subnet=self.net.subnet if self.net else None,
            gateway=self.net.gateway if self.net else None,
        )

    def _use_namespaces(self) -> bool:
        mode = self.target.network
        if mode == "namespaces" and not is_root():
            raise BackendError("target.network is 'namespaces', which needs root")
        return mode == "namespaces" or (mode == "auto" and is_root())

    def _build(self, addresses: dict[str, str]) -> None:
        self.members = []
        self.processes = {}
        for spec in self.target.members:
            address = addresses[spec.name]
            host, _, port = address.rpartition(":")
            folder = self.workdir / "members" / spec.name
            self.members.append(Member.from_spec(spec, address, log_dir=f"members/{spec.name}"))
            self.processes[spec.name] = MemberProcess(
                name=spec.name,
                host=host,
                port=int(port),
                dbpath=folder / "db",
                repl_set=self.set_name,
                binary=tuple(self.binary),
                netns=netns.netns_name(self.cluster_id, spec.name) if self.net else None,
            )

    def up(self) -> None:
        names = [m.name for m in self.target.members]
        if self._use_namespaces():
            subnet = netns.pick_subnet(self.target.subnet, netns.networks_in_use())
            self.net = netns.plan(self.cluster_id, names, subnet)
            netns.create(self.cluster_id, self.net)
            addresses = {n: f"{ip}:{MEMBER_PORT}" for n, ip in self.net.addresses.items()}
        else:
            addresses = {n: f"127.0.0.1:{free_port()}" for n in names}
        self._build(addresses)
        for process in self.processes.values():
            process.start()
        for process in self.processes.values():
            process.wait_ready()
        self.initiate()
        self.wait_primary()

    def down(self) -> None:
        self.close_clients()
        for process in self.processes.values():
            process.stop(timeout=5.0)
        if self.net is not None:
            netns.destroy(self.cluster_id, [m.name for m in self.target.members])

    # --- member control ---------------------------------------------------------------------
    def _process(self, name: str) -> MemberProcess:
        self.member(name)  # a clear error for an unknown name
        return self.processes[name]

    def kill(self, name: str) -> None:
        self._process(name).kill()

    def stop(self, name: str) -> None:
        self._process(name).stop()

    def start(self, name: str) -> None:
        process = self._process(name)
        if not process.alive:
            process.start()
            process.wait_ready()

    def pause(self, name: str) -> None:
        process = self._process(name)
        if not process.alive:
            raise FaultError(f"member {name} is not running, so it cannot be paused")
        process.pause()

    def resume(self, name: str) -> None:
        self._process(name).resume()

    def is_running(self, name: str) -> bool:
        return self._process(name).alive

    # --- network access ---------------------------------------------------------------------
    def network_refusal(self) -> str | None:
        if self.net is None:
            return NO_NAMESPACES
        if not is_root():
            return "network faults on namespaced members need root"
        return None

    def netns_prefix(self, name: str) -> list[str]:
        self.require_network()
        return netns.exec_prefix(netns.netns_name(self.cluster_id, self.member(name).name))

    def member_ips(self, name: str) -> list[str]:
        self.require_network()
        assert self.net is not None
        return [self.net.addresses[self.member(name).name]]

    def client_ips(self) -> list[str]:
        self.require_network()
        assert self.net is not None
        return [self.net.gateway]
