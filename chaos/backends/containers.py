"""What the docker and compose backends share: members are containers on Docker networks.

Kill, stop, start, pause and resume go through the Docker API; network faults run iptables
and tc inside a member's network namespace with `nsenter -t <pid> -n`, which needs root on the
machine that runs dockerd (a remote daemon is refused with that reason).
"""

from __future__ import annotations

import ipaddress
import time
from functools import cached_property
from pathlib import Path

from docker.errors import DockerException, NotFound
from docker.models.containers import Container

import docker
from chaos.backends.base import Cluster
from chaos.backends.processes import STOP_TIMEOUT_S
from chaos.system import have, is_root
from contract.errors import BackendError, FaultError

LABEL = "hubchaos"  # every container and network hubchaos creates carries hubchaos=1
LABEL_CLUSTER = "hubchaos.cluster"
LABEL_MEMBER = "hubchaos.member"
NO_NSENTER = "network faults on containers need root and nsenter on the Docker host"
LABEL_OWNER = "hubchaos.owner"  # the run that started the container (chaos.ownership.Owner.token)


def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise BackendError(
            f"no Docker daemon reachable ({type(exc).__name__}): is dockerd running?"
        ) from None
    return client


def require_image(client: docker.DockerClient, image: str) -> None:
    """Images are never pulled implicitly: a missing one is one clear line."""
    try:
        client.images.get(image)
    except NotFound:
        raise BackendError(
            f"image {image} is not present locally: build it (docker/build-images.sh) or pull it first"
        ) from None


def docker_subnets(client: docker.DockerClient) -> list[ipaddress.IPv4Network]:
    """The IPv4 subnets of every Docker network (to pick one that collides with none)."""
    subnets = []
    for net in client.networks.list():
        for pool in (net.attrs.get("IPAM") or {}).get("Config") or []:
            try:
                subnets.append(ipaddress.IPv4Network(pool.get("Subnet", ""), strict=False))
            except ValueError:
                continue
    return subnets


class ContainerCluster(Cluster):
    """Members addressed through containers: subclasses say which container runs which member."""

    container_ids: dict[str, str]
    gateway: str | None
    ips: dict[str, list[str]]

    @cached_property
    def docker(self) -> docker.DockerClient:
        return docker_client()

    def container(self, name: str) -> Container:
        self.member(name)
        try:
            return self.docker.containers.get(self.container_ids[name])
        except (NotFound, KeyError):
            raise FaultError(f"the container of member {name} is gone") from None

    def _state_of(self, name: str) -> str:
        return str(self.container(name).attrs["State"]["Status"])  # running, paused, exited, ...

    def kill(self, name: str) -> None:
        c = self.container(name)
        if self._state_of(name) == "paused":
            c.unpause()
        if self._state_of(name) == "running":
            c.kill()
        c.wait(timeout=30)

    def stop(self, name: str) -> None:
        c = self.container(name)
        if self._state_of(name) == "paused":
            c.unpause()
        c.stop(timeout=int(STOP_TIMEOUT_S))

    def start(self, name: str) -> None:
        state = self._state_of(name)
        if state == "paused":
            return
        if state != "running":
            self.container(name).start()
        self._wait_answers(name)

    def pause(self, name: str) -> None:
        if self._state_of(name) != "running":
            raise FaultError(f"member {name} is not running, so it cannot be paused")
        self.container(name).pause()

    def resume(self, name: str) -> None:
        if self._state_of(name) == "paused":
            self.container(name).unpause()

    def is_running(self, name: str) -> bool:
        return self._state_of(name) in ("running", "paused")

    def member_pid(self, name: str) -> int | None:
        """The container's main process, when the daemon runs on this machine."""
        if not self.docker.api.base_url.startswith("http+docker://"):
            return None
        try:
            pid = int(self.container(name).attrs["State"]["Pid"])
        except (FaultError, DockerException):
            return None
        return pid or None

    def _wait_answers(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.admin_client(name) as client:
                    client.admin.command("ping")
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise BackendError(f"member {name} did not answer within {timeout:g} s: {exc}") from None
                if self._state_of(name) == "exited":
                    logs = self.container(name).logs(tail=5).decode(errors="replace").strip()
                    raise BackendError(f"member {name}'s container exited: {logs}") from None
                time.sleep(0.2)

    def make_workdir(self) -> None:
        """The run's work directory, made at up(): save_logs() writes the members' logs there."""
        Path(self.workdir).mkdir(parents=True, exist_ok=True)

    def save_logs(self) -> None:
        """Each member's container output into <workdir>/members/<name>/container.log, while the
        work directory exists (a deleted run directory is not made again) and has room."""
        if not Path(self.workdir).is_dir():
            return
        for m in self.members:
            try:
                logs = self.docker.containers.get(self.container_ids[m.name]).logs()
                folder = Path(self.workdir) / "members" / m.name
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "container.log").write_bytes(logs)
            except (NotFound, KeyError, DockerException, OSError):
                continue

    # --- network access ---------------------------------------------------------------------
    @classmethod
    def planned_network_refusal(cls, target: object) -> str | None:
        if not is_root() or not have("nsenter"):
            return NO_NSENTER
        return None

    def network_refusal(self) -> str | None:
        if not self.docker.api.base_url.startswith("http+docker://"):
            return "network faults need the Docker host's namespaces, and this daemon is remote"
        if not is_root() or not have("nsenter"):
            return NO_NSENTER
        return None

    def netns_prefix(self, name: str) -> list[str]:
        self.require_network()
        pid = int(self.container(name).attrs["State"]["Pid"])
        if pid == 0:
            raise FaultError(f"member {name} is not running: its network namespace is gone")
        return ["nsenter", "-t", str(pid), "-n"]

    def member_ips(self, name: str) -> list[str]:
        self.require_network()
        return list(self.ips[self.member(name).name])

    def client_ips(self) -> list[str]:
        self.require_network()
        return [self.gateway] if self.gateway else []
