"""The `local` backend: member processes on this machine (mongoemu by default, or a real mongod).

Each member gets `<workdir>/members/<name>/` for its dbpath (`db/`), log and stderr. As root
with `ip` and `iptables` installed, each member also gets its own network namespace and address
(see netns.py), so partitions and degradation act on real links; otherwise the members share
loopback, and network faults are refused with the reason.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pymongo import MongoClient

from chaos.backends import netns
from chaos.backends.base import Cluster, ClusterState, Member
from chaos.backends.processes import EMULATOR, MemberProcess, free_port, stop_all
from chaos.ownership import ProcessRef
from chaos.system import have, is_root
from chaos.target import LocalTarget
from contract.errors import BackendError, FaultError

MEMBER_PORT = 27017  # with a namespace each, every member can listen on mongod's usual port
# A member restarted after a kill replays its journal since the last checkpoint (up to a minute
# of writes, as mongod's startup recovery does) before it listens: on a busy 2-core host that took
# 30 s for 20,000 entries, so a restart gets longer than a fresh start before it counts as failed.
RESTART_READY_S = 90.0

NAMESPACE_TOOLS = ("ip", "iptables")
NOT_ROOT = "hubchaos is not running as root (run as root, or use the docker backend)"


def missing_tools() -> list[str]:
    return [tool for tool in NAMESPACE_TOOLS if not have(tool)]


def loopback_reason() -> str | None:
    """Why `network: auto` puts the members on loopback; None when namespaces can be used."""
    if not is_root():
        return NOT_ROOT
    missing = missing_tools()
    if missing:
        return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed"
    return None


class LocalState(ClusterState):
    backend: Literal["local"] = "local"
    target: LocalTarget
    binary: list[str]
    subnet: ipaddress.IPv4Network | None = None  # None: members share loopback
    gateway: str | None = None
    loopback_reason: str | None = None
    # Each member process as started: found by these even when its dbpath (and the lock file
    # in it) is gone, say with a run directory a CI job deleted.
    processes: dict[str, ProcessRef] = Field(default_factory=dict)


class LocalCluster(Cluster):
    target: LocalTarget
    state_model = LocalState

    def __init__(self, target: LocalTarget, cluster_id: str, workdir: Path) -> None:
        super().__init__(target, cluster_id, workdir)
        self.binary = list(target.binary) if target.binary else list(EMULATOR)
        self.net: netns.NetPlan | None = None
        self.processes: dict[str, MemberProcess] = {}
        self.loopback_reason: str | None = None

    @classmethod
    def from_state(cls, state: LocalState) -> LocalCluster:
        cluster = cls(state.target, state.cluster_id, state.workdir)
        cluster.owner = state.owner
        cluster.binary = list(state.binary)
        cluster.loopback_reason = state.loopback_reason
        if state.subnet is not None and state.gateway is not None:
            ips = {name: addr.rpartition(":")[0] for name, addr in state.addresses.items()}
            cluster.net = netns.NetPlan(state.subnet, state.gateway, ips)
        cluster._build(state.addresses)
        for name, ref in state.processes.items():
            if name in cluster.processes:
                cluster.processes[name].ref = ref
        return cluster

    def state(self) -> LocalState:
        return LocalState(
            cluster_id=self.cluster_id,
            owner=self.owner,
            workdir=self.workdir,
            addresses={m.name: m.address for m in self.members},
            target=self.target,
            binary=self.binary,
            subnet=self.net.subnet if self.net else None,
            gateway=self.net.gateway if self.net else None,
            loopback_reason=self.loopback_reason,
            processes={n: p.ref for n, p in self.processes.items() if p.ref is not None},
        )

    def _use_namespaces(self) -> bool:
        mode = self.target.network
        if mode == "loopback":
            self.loopback_reason = "target.network is 'loopback'"
            return False
        reason = loopback_reason()
        if mode == "namespaces" and reason is not None:
            raise BackendError(f"target.network is 'namespaces', but {reason}")
        if reason is not None:
            self.loopback_reason = reason
            self.notes.append(
                f"members share loopback because {reason}; network faults (partition, degrade) "
                "are refused on this run"
            )
        return reason is None

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
                owner=self.owner,
            )

    def up(self) -> None:
        names = [m.name for m in self.target.members]
        if self._use_namespaces():
            subnet = netns.pick_subnet(self.target.subnet, netns.networks_in_use())
            self.net = netns.plan(self.cluster_id, names, subnet)
            addresses = {n: f"{ip}:{MEMBER_PORT}" for n, ip in self.net.addresses.items()}
        else:
            addresses = {n: f"127.0.0.1:{free_port()}" for n in names}
        self._build(addresses)
        self.register()  # before anything exists: the namespaces to remove are known by name
        if self.net is not None:
            netns.create(self.cluster_id, self.net, self.owner)
        for process in self.processes.values():
            process.start()
            self.register()
        for process in self.processes.values():
            process.wait_ready()
        self.initiate()
        self.elect_preferred()

    def down(self) -> None:
        self.close_clients()
        stop_all(self.processes.values(), timeout=5.0)
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
            self.register()
            process.wait_ready(timeout=RESTART_READY_S)

    def pause(self, name: str) -> None:
        process = self._process(name)
        if not process.alive:
            raise FaultError(f"member {name} is not running, so it cannot be paused")
        process.pause()

    def resume(self, name: str) -> None:
        self._process(name).resume()

    def is_running(self, name: str) -> bool:
        return self._process(name).alive

    def member_pid(self, name: str) -> int | None:
        return self._process(name).pid

    def wipe(self, name: str) -> int:
        process = self._process(name)
        if process.alive:
            raise FaultError(f"member {name} is running: stop or kill it before deleting its data")
        if not process.dbpath.exists():
            return 0
        size = sum(f.stat().st_size for f in process.dbpath.rglob("*") if f.is_file())
        shutil.rmtree(process.dbpath)
        return size

    @contextmanager
    def standalone(self, name: str) -> Iterator[MongoClient[dict[str, Any]]]:
        process = self._process(name)
        if process.alive:
            raise FaultError(f"member {name} is running: it cannot also run outside its replica set")
        # In its own namespace the member owns its address, so the next port is free there.
        port = process.port + 1 if process.netns else free_port(process.host)
        spare = replace(process, name=f"{name}-standalone", port=port, repl_set=None, proc=None)
        spare.start()
        try:
            spare.wait_ready()
            with spare.client() as client:
                yield client
        finally:
            spare.stop()

    # --- network access ---------------------------------------------------------------------
    @classmethod
    def planned_network_refusal(cls, target: LocalTarget) -> str | None:
        if target.network == "loopback":
            return "target.network is 'loopback', so the members share loopback"
        reason = loopback_reason() if target.network == "auto" else None
        if reason is not None:
            return f"network faults need each member in its own network namespace, and {reason}"
        return None

    def network_refusal(self) -> str | None:
        if self.net is None:
            return (
                "network faults need each member in its own network namespace, and the local "
                f"members share loopback: {self.loopback_reason or NOT_ROOT}"
            )
        if not is_root():
            return "network faults on namespaced members need root"
        return None

    def netns_prefix(self, name: str) -> list[str]:
        self.require_network()
        ns = netns.netns_name(self.cluster_id, self.member(name).name)
        if not netns.exists(ns):  # removed with its cluster: nothing of a fault in it survives
            raise FaultError(f"member {name} has no network namespace ({ns}): its cluster is down")
        return netns.exec_prefix(ns)

    def member_ips(self, name: str) -> list[str]:
        self.require_network()
        assert self.net is not None
        return [self.net.addresses[self.member(name).name]]

    def client_ips(self) -> list[str]:
        self.require_network()
        assert self.net is not None
        return [self.net.gateway]
