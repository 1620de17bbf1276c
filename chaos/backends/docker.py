"""The `docker` backend: one container per member on a user-defined network, via testcontainers.

The advertised-hostname problem: the replica set tells every client the member addresses in
its configuration, so those addresses must work both between containers and from the machine
that runs the suite. Container names resolve only inside Docker's network, so the members are
given fixed addresses in a subnet chosen for the cluster and the set advertises those
(`10.214.N.10:27017`, ...). On Linux the host routes to them directly; docs/docker.md explains
what to do where it does not (Docker Desktop).

Every image is started as `mongod --replSet ... --bind_ip_all --port 27017 --dbpath /data/db`:
the official `mongo` images run that through their entrypoint, and the emulator image
provides a `mongod` command, so no backend code knows which one it runs.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from docker.errors import DockerException, NotFound
from docker.types import EndpointConfig, IPAMConfig, IPAMPool
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from chaos.backends import netns
from chaos.backends.base import ClusterState, Member
from chaos.backends.containers import (
    LABEL,
    LABEL_CLUSTER,
    LABEL_MEMBER,
    LABEL_OWNER,
    ContainerCluster,
    docker_subnets,
    require_image,
)
from chaos.target import DockerTarget
from contract.errors import BackendError

MEMBER_PORT = 27017
RYUK_IMAGE = testcontainers_config.ryuk_image


def member_command(set_name: str) -> list[str]:
    port = str(MEMBER_PORT)
    return ["mongod", "--replSet", set_name, "--bind_ip_all", "--port", port, "--dbpath", "/data/db"]


class DockerState(ClusterState):
    backend: Literal["docker"] = "docker"
    target: DockerTarget
    network: str
    subnet: ipaddress.IPv4Network
    gateway: str
    container_ids: dict[str, str]


class DockerCluster(ContainerCluster):
    target: DockerTarget
    state_model = DockerState

    def __init__(self, target: DockerTarget, cluster_id: str, workdir: Path, detached: bool = False) -> None:
        super().__init__(target, cluster_id, workdir)
        # A detached cluster (`hubchaos cluster up`) outlives this process, so Ryuk must not reap it.
        self.detached = detached
        self.network_name = f"hubchaos-{cluster_id}"
        self.subnet: ipaddress.IPv4Network | None = None
        self.gateway: str | None = None
        self.container_ids: dict[str, str] = {}
        self.ips: dict[str, list[str]] = {}

    @classmethod
    def from_state(cls, state: DockerState) -> DockerCluster:
        cluster = cls(state.target, state.cluster_id, state.workdir, detached=True)
        cluster.network_name = state.network
        cluster.subnet = state.subnet
        cluster.gateway = state.gateway
        cluster.container_ids = dict(state.container_ids)
        cluster._build(state.addresses)
        return cluster

    def state(self) -> DockerState:
        assert self.subnet is not None and self.gateway is not None
        return DockerState(
            cluster_id=self.cluster_id,
            owner=self.owner,
            workdir=self.workdir,
            addresses={m.name: m.address for m in self.members},
            target=self.target,
            network=self.network_name,
            subnet=self.subnet,
            gateway=self.gateway,
            container_ids=self.container_ids,
        )

    def _build(self, addresses: dict[str, str]) -> None:
        self.members = [
            Member.from_spec(s, addresses[s.name], log_dir=f"members/{s.name}") for s in self.target.members
        ]
        self.ips = {name: [addr.rpartition(":")[0]] for name, addr in addresses.items()}

    def _labels(self, member: str | None = None) -> dict[str, str]:
        labels = {LABEL: "1", LABEL_CLUSTER: self.cluster_id}
        if self.owner is not None:
            labels[LABEL_OWNER] = self.owner.token()
        if member is not None:
            labels[LABEL_MEMBER] = member
        return labels

    def _use_reaper(self) -> bool:
        if self.detached or self.target.reaper == "off":
            return False
        if self.target.reaper == "on":
            return True
        try:
            self.docker.images.get(RYUK_IMAGE)
        except NotFound:
            return False
        return True

    def up(self) -> None:
        require_image(self.docker, self.target.image)
        self.make_workdir()
        testcontainers_config.ryuk_disabled = not self._use_reaper()
        used = netns.networks_in_use() + docker_subnets(self.docker)
        self.subnet = netns.pick_subnet(self.target.subnet, used)
        plan = netns.plan(self.cluster_id, [m.name for m in self.target.members], self.subnet)
        self.gateway = plan.gateway
        self._build({n: f"{ip}:{MEMBER_PORT}" for n, ip in plan.addresses.items()})
        self.register()  # before anything exists: down() finds the network and containers by label
        network = Network(
            docker_network_kw={
                "driver": "bridge",
                "labels": self._labels(),
                "ipam": IPAMConfig(pool_configs=[IPAMPool(subnet=str(self.subnet), gateway=plan.gateway)]),
            }
        )
        network.name = self.network_name
        network.create()
        for m in self.members:
            ip = self.ips[m.name][0]
            endpoint = EndpointConfig(self.docker.api.api_version, aliases=[m.name], ipv4_address=ip)
            container = (
                DockerContainer(self.target.image)
                .with_name(f"hubchaos-{self.cluster_id}-{m.name}")
                .with_command(member_command(self.set_name))
                .with_network(network)
                .with_kwargs(
                    labels=self._labels(m.name),
                    hostname=m.name,
                    networking_config={self.network_name: endpoint},
                )
            )
            try:
                container.start()
            except DockerException as exc:
                raise BackendError(f"cannot start member {m.name} from {self.target.image}: {exc}") from None
            self.container_ids[m.name] = container.get_wrapped_container().id
            self.register()
        for m in self.members:
            self._wait_answers(m.name)
        self.initiate()
        self.elect_preferred()

    def down(self) -> None:
        self.close_clients()
        self.save_logs()
        # By label too: a container whose start was cut short has no id on record yet.
        mine = {"label": f"{LABEL_CLUSTER}={self.cluster_id}"}
        labelled = self.docker.containers.list(all=True, filters=mine)
        for cid in {*self.container_ids.values(), *(c.id for c in labelled)}:
            try:
                self.docker.containers.get(cid).remove(force=True, v=True)
            except NotFound:
                pass
        for net in self.docker.networks.list(filters={"label": f"{LABEL_CLUSTER}={self.cluster_id}"}):
            net.remove()
