"""The `compose` backend: the members of a Compose project, attached to by service name.

The compose file is the one source of the topology: a member service carries the labels
`hubchaos.member`, `hubchaos.region`, `hubchaos.priority`, `hubchaos.votes`, and a fixed
address on the network named by `x-hubchaos.advertise_network`, which is what the replica set
advertises (the host reaches it; container names it could not resolve). The stack's own
init step (`hubchaos cluster initiate --compose-file ...`) reads the same file.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chaos.backends.base import ClusterState, Member
from chaos.backends.containers import ContainerCluster
from chaos.ownership import OWNER_ENV
from chaos.system import CommandFailed, run
from chaos.target import ComposeTarget, MemberSpec
from contract import safeyaml
from contract.errors import BackendError, ScenarioError

MEMBER_PORT = 27017
PROJECT_LABEL = "com.docker.compose.project"
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}` and `${VAR:-default}` substitution (what the init step needs)."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


@dataclass(frozen=True, slots=True)
class ComposeTopology:
    set_name: str
    members: list[MemberSpec]  # with `service` and `host` (the advertised address) filled in


def read_topology(path: Path, env: dict[str, str] | None = None) -> ComposeTopology:
    try:
        doc = safeyaml.load(
            interpolate(path.read_text(), dict(os.environ) if env is None else env), str(path)
        )
    except OSError as exc:
        raise ScenarioError(f"cannot read compose file: {exc.strerror}", file=str(path)) from None
    settings = doc.get("x-hubchaos") or {}
    network = settings.get("advertise_network")
    members = []
    for service, spec in (doc.get("services") or {}).items():
        labels = _labels(spec.get("labels"))
        if "hubchaos.member" not in labels:
            continue
        ip = ((spec.get("networks") or {}).get(network) or {}).get("ipv4_address")
        if not ip:
            raise ScenarioError(
                f"member service {service} has no ipv4_address on network {network!r}",
                file=str(path),
                field=f"services.{service}.networks",
            )
        members.append(
            MemberSpec(
                name=labels["hubchaos.member"],
                region=labels.get("hubchaos.region"),
                priority=float(labels.get("hubchaos.priority", 1)),
                votes=int(labels.get("hubchaos.votes", 1)),
                service=service,
                host=f"{ip}:{MEMBER_PORT}",
            )
        )
    if not members:
        raise ScenarioError("no service is labelled hubchaos.member", file=str(path))
    return ComposeTopology(settings.get("set_name", "rs0"), members)


def _labels(raw: Any) -> dict[str, str]:
    if isinstance(raw, list):
        return dict(str(item).split("=", 1) for item in raw if "=" in str(item))
    return {str(k): str(v) for k, v in (raw or {}).items()}


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin) where it exists, else the standalone `docker-compose`."""
    if shutil.which("docker") and run(["docker", "compose", "version"], check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise BackendError("neither `docker compose` nor `docker-compose` is installed")


class ComposeState(ClusterState):
    backend: Literal["compose"] = "compose"
    target: ComposeTarget
    container_ids: dict[str, str]
    ips: dict[str, list[str]]
    gateway: str | None


class ComposeCluster(ContainerCluster):
    target: ComposeTarget
    state_model = ComposeState

    def __init__(self, target: ComposeTarget, cluster_id: str, workdir: Path) -> None:
        # Absolute, so that the state (the heal journal, a registration) works from any folder.
        file = target.file.expanduser().resolve()
        topology = read_topology(file)
        target = target.model_copy(
            update={"file": file, "members": topology.members, "set_name": topology.set_name}
        )
        super().__init__(target, cluster_id, workdir)
        self.members = [
            Member.from_spec(s, s.host or "", log_dir=f"members/{s.name}") for s in target.members
        ]
        self.container_ids: dict[str, str] = {}
        self.ips: dict[str, list[str]] = {}
        self.gateway: str | None = None

    @classmethod
    def from_state(cls, state: ComposeState) -> ComposeCluster:
        cluster = cls(state.target, state.cluster_id, state.workdir)
        cluster.container_ids = dict(state.container_ids)
        cluster.ips = {k: list(v) for k, v in state.ips.items()}
        cluster.gateway = state.gateway
        return cluster

    def state(self) -> ComposeState:
        return ComposeState(
            cluster_id=self.cluster_id,
            owner=self.owner,
            workdir=self.workdir,
            addresses={m.name: m.address for m in self.members},
            target=self.target,
            container_ids=self.container_ids,
            ips=self.ips,
            gateway=self.gateway,
        )

    def compose(self, *args: str, timeout: float = 300.0) -> str:
        cmd = [*compose_command(), "-f", str(self.target.file), "-p", self.target.project, *args]
        # The members' hubchaos.owner label (docker-compose.chaos.yml) names the run that owns them.
        env = {**os.environ, OWNER_ENV: self.owner.token() if self.owner is not None else ""}
        try:
            return run(cmd, timeout=timeout, env=env).stdout
        except CommandFailed as exc:
            raise BackendError(f"compose: {exc}") from None

    def up(self) -> None:
        self.make_workdir()
        if self.target.manage:
            self.register()  # before anything starts: `compose down` needs only file and project
            self.compose("up", "-d")
        self._find_containers()
        self.register()
        if self.target.manage:
            self.elect_preferred()
        else:  # a stack this run did not start: looked at, not steered
            self.wait_primary()

    def _project_containers(self, *labels: str) -> list[Any]:
        wanted = [f"{PROJECT_LABEL}={self.target.project}", *labels]
        return self.docker.containers.list(all=True, filters={"label": wanted})  # type: ignore[no-any-return]

    def other_projects(self) -> str:
        """Which compose projects have containers here, for a message about a project that has
        none: the name is easy to get wrong, compose takes the file's folder's unless told."""
        containers = self.docker.containers.list(all=True, filters={"label": [PROJECT_LABEL]})
        projects = sorted({c.labels[PROJECT_LABEL] for c in containers} - {self.target.project})
        if not projects:
            return "no compose project has containers here"
        return "compose projects with containers here: " + ", ".join(repr(p) for p in projects)

    def _find_containers(self) -> None:
        advertised = {m.name: m.address.rpartition(":")[0] for m in self.members}
        for spec in self.target.members:
            found = self._project_containers(f"com.docker.compose.service={spec.service}")
            if not found:
                raise BackendError(
                    f"compose project {self.target.project!r} has no container for service "
                    f"{spec.service} ({self.other_projects()}): set target.project to the stack's"
                )
            container = found[0]
            self.container_ids[spec.name] = container.id
            networks = container.attrs["NetworkSettings"]["Networks"].values()
            self.ips[spec.name] = [n["IPAddress"] for n in networks if n.get("IPAddress")]
            for n in networks:
                if n.get("IPAddress") == advertised[spec.name]:
                    self.gateway = n.get("Gateway") or self.gateway

    def down(self) -> None:
        self.close_clients()
        if self.target.manage and not self._project_containers():
            # Compose itself says nothing when a project has nothing to take down.
            self.notes.append(
                f"compose project {self.target.project!r} had no containers, so nothing was taken down "
                f"({self.other_projects()})"
            )
        if self.target.manage:
            self.save_logs()
            # A busy daemon can still hold a removed member's endpoint when compose removes the
            # network ("has active endpoints"); a second pass removes it, instead of leaving it.
            for attempt in range(3):
                try:
                    self.compose("down", "-v", "--remove-orphans")
                    break
                except BackendError as exc:
                    if "active endpoints" not in str(exc) or attempt == 2:
                        raise
                    time.sleep(2)
