"""The Cluster interface every backend implements, and what they share.

A Cluster is a replica set the suite can observe (clients, status, primary, wait-until-
healthy) and act on (kill, stop, start, pause, resume a member; run commands in a member's
network namespace). Its `state()` is a pydantic record from which `backends.attach` rebuilds
it in another process, which is how `hubchaos heal` reaches the members a killed run left.

Member control that a backend cannot do raises FaultError with one line saying why.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from chaos.backends.health import (
    MemberStatus,
    await_healthy,
    current_primary,
    hello_status,
    self_status,
    unreachable,
    with_lag,
)
from chaos.ownership import Owner
from chaos.redact import redact_text
from chaos.target import MemberSpec, TargetBase
from contract.errors import BackendError, ClusterUnhealthy, FaultError, TargetError
from locustfiles.errortext import describe

if TYPE_CHECKING:
    from contract.rundir import MemberInfo

# Short timeouts for the per-member admin clients: a paused member must not stall a status poll.
ADMIN_TIMEOUT_MS = 1500
# mongod's code for replSetInitiate on a set that already has a config.
ALREADY_INITIALIZED = 23
# replSetGetStatus refused as Unauthorized (no clusterMonitor role) or CommandNotFound: use hello.
HELLO_INSTEAD = frozenset({13, 59})


@dataclass(frozen=True, slots=True)
class Member:
    """One replica-set member as the suite addresses it."""

    name: str
    address: str  # host:port as the replica set knows it (and as clients connect to it)
    region: str | None = None
    priority: float = 1.0
    votes: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    log_dir: str | None = None  # relative to the cluster's work directory, when it has logs

    @classmethod
    def from_spec(cls, spec: MemberSpec, address: str, log_dir: str | None = None) -> Member:
        return cls(spec.name, address, spec.region, spec.priority, spec.votes, dict(spec.tags), log_dir)

    def info(self) -> MemberInfo:
        # Imported here: the run-directory module brings pyarrow, which `hubchaos validate`
        # (through the scenario's targets) should not pay for.
        from contract.rundir import MemberInfo  # noqa: PLC0415

        return MemberInfo(self.name, self.address, self.region, self.priority, self.votes, self.log_dir)


class ClusterState(BaseModel):
    """What another process needs to re-attach to a running cluster (see backends.attach)."""

    model_config = ConfigDict(extra="forbid")

    backend: str  # the backend's name, as in its target (the registry finds the cluster class)
    cluster_id: str
    workdir: Path
    addresses: dict[str, str]  # member name -> host:port
    # The run that brought it up, while it runs (None: a standing cluster, `hubchaos cluster up`).
    owner: Owner | None = None


class Cluster(ABC):
    """A replica set under test. Use as a context manager: `up()` on entry, `down()` on exit.

    A backend subclasses it, names its state record (`state_model`) and rebuilds itself from one
    (`from_state`); its target model (chaos.target) names the subclass."""

    state_model: ClassVar[type[ClusterState]]

    def __init__(self, target: TargetBase, cluster_id: str, workdir: Path) -> None:
        self.target = target
        self.cluster_id = cluster_id
        self.workdir = workdir
        self.members: list[Member] = []
        self.notes: list[str] = []  # what a user should know about how `up()` or `down()` went
        self.owner: Owner | None = None
        # Where the state is kept while the cluster runs (`register`), so that another process
        # finds what this one started even if it is killed half-way through `up()`.
        self.registration: Path | None = None
        self._admin: dict[str, MongoClient[dict[str, Any]]] = {}

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.target.backend

    @abstractmethod
    def up(self) -> None:
        """Start (or attach to) the members and initiate the set; returns once a primary exists."""

    @abstractmethod
    def down(self) -> None:
        """Stop what `up()` started and remove what it created; attached clusters are left alone."""

    @abstractmethod
    def state(self) -> ClusterState:
        """A record from which `backends.attach` rebuilds this cluster in another process."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: Any) -> Cluster:
        """The cluster a `state()` record describes, in this process (nothing is started)."""

    def register(self) -> None:
        """Write `state()` to the registration file, if there is one: backends call it in `up()`
        before they create anything (with what they are about to create) and whenever what
        finds the members changes (a member process restarted)."""
        if self.registration is None:
            return
        path = self.registration
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(self.state().model_dump_json(indent=2))
            tmp.chmod(0o600)
            tmp.replace(path)  # a reader never sees half a file
        except OSError as exc:
            raise BackendError(f"cannot register the cluster in {path.parent}: {exc.strerror}") from None

    def unregister(self) -> None:
        """Remove the registration (after `down()`), and its folder when nothing else is in it."""
        if self.registration is None:
            return
        self.registration.unlink(missing_ok=True)
        try:
            self.registration.parent.rmdir()
        except OSError:
            pass

    def __enter__(self) -> Cluster:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def close_clients(self) -> None:
        for client in self._admin.values():
            client.close()
        self._admin.clear()

    # --- members ----------------------------------------------------------------------------
    @property
    def set_name(self) -> str:
        return self.target.set_name

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        names = ", ".join(m.name for m in self.members)
        raise TargetError(f"unknown member {name!r}: the members are {names}")

    # --- clients ----------------------------------------------------------------------------
    def uri(self, redacted: bool = False) -> str:
        """The replica-set URI clients use (credentials redacted when asked)."""
        hosts = ",".join(m.address for m in self.members)
        return f"mongodb://{hosts}/?replicaSet={self.set_name}"

    def client(self, **kwargs: Any) -> MongoClient[dict[str, Any]]:
        """A new replica-set client (the caller closes it)."""
        kwargs.setdefault("serverSelectionTimeoutMS", 10_000)
        return MongoClient(self.uri(), **kwargs)

    def admin_client(self, name: str, **kwargs: Any) -> MongoClient[dict[str, Any]]:
        """A new direct connection to one member, for admin commands and probes (the caller
        closes it). Short timeouts by default, so an unreachable member answers quickly."""
        host, _, port = self.member(name).address.rpartition(":")
        for key in ("serverSelectionTimeoutMS", "connectTimeoutMS", "socketTimeoutMS"):
            kwargs.setdefault(key, ADMIN_TIMEOUT_MS)
        return MongoClient(host, int(port), directConnection=True, **self._client_options(), **kwargs)

    def _client_options(self) -> dict[str, Any]:
        """Options every client of this cluster needs (credentials, TLS); none by default."""
        return {}

    def admin_command(self, name: str, command: dict[str, Any]) -> dict[str, Any]:
        """Run an admin command on one member through a cached direct client."""
        client = self._admin.get(name)
        if client is None:
            client = self._admin[name] = self.admin_client(name)
        return client.admin.command(command)

    def initiate(self) -> None:
        """replSetInitiate through the first member with the target's members and settings."""
        specs = {s.name: s for s in self.target.members}
        config: dict[str, Any] = {
            "_id": self.set_name,
            "members": [
                {"_id": i, "host": m.address, **specs[m.name].config_options()}
                for i, m in enumerate(self.members)
            ],
            "settings": self.target.settings.to_document(),
        }
        first = self.members[0].name
        try:
            self.admin_command(first, {"replSetInitiate": config})
        except OperationFailure as exc:
            if exc.code != ALREADY_INITIALIZED:
                raise BackendError(
                    f"replSetInitiate on {first} failed: {self.redact(describe(exc))}"
                ) from exc
        except PyMongoError as exc:
            raise BackendError(f"replSetInitiate on {first} failed: {self.redact(describe(exc))}") from exc

    def redact(self, text: str) -> str:
        return redact_text(text)

    # --- observation ------------------------------------------------------------------------
    def member_status(self, name: str) -> MemberStatus:
        m = self.member(name)
        try:
            try:
                doc = self.admin_command(name, {"replSetGetStatus": 1})
            except OperationFailure as exc:
                if exc.code not in HELLO_INSTEAD:
                    # Up but not in a set (yet): NotYetInitialized, InvalidReplicaSetConfig, ...
                    return MemberStatus(m.name, m.address, m.region, exc.details.get("codeName", "STARTUP"))
                return hello_status(m.name, m.address, m.region, self.admin_command(name, {"hello": 1}))
        except PyMongoError as exc:
            return unreachable(m.name, m.address, m.region, self.redact(type(exc).__name__))
        return self_status(m.name, m.address, m.region, doc)

    def status(self) -> list[MemberStatus]:
        """Every member's view of itself, asked in parallel, with lag against the primary."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.members))) as pool:
            statuses = list(pool.map(self.member_status, [m.name for m in self.members]))
        return with_lag(statuses)

    def primary(self) -> Member | None:
        """The member that says it is primary right now, or None."""
        found = current_primary(self.status())
        return self.member(found.name) if found is not None else None

    def wait_healthy(
        self, timeout: float | None = None, max_lag_s: float | None = None
    ) -> list[MemberStatus]:
        """Wait for one PRIMARY, the rest SECONDARY within the lag bound; ClusterUnhealthy names
        the member that kept it from being healthy."""
        timeout = self.target.healthy_timeout_s if timeout is None else timeout
        max_lag_s = self.target.max_lag_s if max_lag_s is None else max_lag_s
        statuses, reason = await_healthy(self.status, timeout, max_lag_s)
        if reason is not None:
            raise ClusterUnhealthy(f"cluster not healthy after {timeout:g} s: {reason}")
        return statuses

    def wait_answering(self, timeout: float = 60.0) -> None:
        """Wait until every member answers ping (before replSetInitiate)."""
        deadline = time.monotonic() + timeout
        for m in self.members:
            while True:
                try:
                    self.admin_command(m.name, {"ping": 1})
                    break
                except PyMongoError as exc:
                    if time.monotonic() >= deadline:
                        raise BackendError(f"member {m.name} ({m.address}) does not answer: {exc}") from None
                    time.sleep(0.5)

    def wait_primary(self, timeout: float | None = None) -> Member:
        timeout = self.target.healthy_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            primary = self.primary()
            if primary is not None:
                return primary
            if time.monotonic() >= deadline:
                states = ", ".join(f"{s.name} {s.state}" for s in self.status())
                raise ClusterUnhealthy(f"no primary after {timeout:g} s ({states})")
            time.sleep(0.2)

    def elect_preferred(self, timeout: float | None = None) -> Member:
        """The primary, once it is a member of the highest priority. A set's first election can
        go to a lower one; mongod then hands over by priority takeover, in its own time, and on
        a busy host under load that election can fail after deposing the primary, leaving no
        primary for an election timeout in the middle of the load. Before any load, a caught-up
        preferred member takes over at once with replSetStepUp."""
        timeout = self.target.healthy_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        top = max(m.priority for m in self.members)
        while True:
            primary = self.wait_primary(max(0.0, deadline - time.monotonic()))
            if primary.priority >= top:
                return primary
            caught_up = [
                s.name
                for s in self.status()
                if s.state == "SECONDARY" and s.lag_s == 0 and self.member(s.name).priority >= top
            ]
            for name in caught_up[:1]:
                try:
                    self.admin_command(name, {"replSetStepUp": 1})
                except PyMongoError:
                    pass  # it fell behind, or its election lost: the next look tries again
            if time.monotonic() >= deadline:
                raise ClusterUnhealthy(
                    f"the primary is still {primary.name} (priority {primary.priority:g}) after "
                    f"{timeout:g} s, not a member of priority {top:g}"
                )
            time.sleep(0.5)

    # --- member control (faults) -------------------------------------------------------------
    def _cannot(self, what: str) -> FaultError:
        return FaultError(f"the {self.kind} backend cannot {what}")

    def kill(self, name: str) -> None:
        """SIGKILL the member (docker kill)."""
        raise self._cannot("kill members")

    def stop(self, name: str) -> None:
        """Shut the member down gracefully."""
        raise self._cannot("stop members")

    def start(self, name: str) -> None:
        """Start a member that is not running (no-op when it runs)."""
        raise self._cannot("start members")

    def pause(self, name: str) -> None:
        """Freeze the member's processes (SIGSTOP / docker pause)."""
        raise self._cannot("pause members")

    def resume(self, name: str) -> None:
        """Undo pause (no-op when not paused)."""
        raise self._cannot("resume members")

    def is_running(self, name: str) -> bool:
        raise self._cannot("tell whether a member runs")

    def member_pid(self, name: str) -> int | None:
        """The member's process on this machine, for the drill's resource samples; None when
        it runs elsewhere, is down, or the backend cannot tell."""
        return None

    def wipe(self, name: str) -> int:
        """Delete the member's data (its dbpath), as a disaster does; the member must be down.
        Returns the bytes deleted."""
        raise self._cannot("delete members' data")

    def standalone(self, name: str) -> AbstractContextManager[MongoClient[dict[str, Any]]]:
        """A direct client of the member's data served outside its replica set (another port, no
        replSet), for maintenance no application may see, such as a restore; stopped on exit.
        The member must be down."""
        raise self._cannot("run a member outside its replica set")

    def destructive_refusal(self, names: list[str]) -> str | None:
        """Why destructive faults (kill, stop, pause, partitions, ...) may not touch these
        members, or None when they may."""
        return None

    # --- network access (partitions, degradation) ---------------------------------------------
    @classmethod
    def planned_network_refusal(cls, target: Any) -> str | None:
        """Why network faults will be impossible on a cluster of this target, where that is known
        before it is brought up (None: not known to be impossible)."""
        return None

    def network_refusal(self) -> str | None:
        """Why network faults are impossible on this cluster, or None when they are possible."""
        return f"the {self.kind} backend has no access to the members' network"

    def require_network(self) -> None:
        reason = self.network_refusal()
        if reason is not None:
            raise FaultError(reason)

    def netns_prefix(self, name: str) -> list[str]:
        """A command prefix that runs a program inside the member's network namespace."""
        raise FaultError(self.network_refusal() or "no network access")

    def member_ips(self, name: str) -> list[str]:
        """The member's IP addresses on the network the members talk over."""
        raise FaultError(self.network_refusal() or "no network access")

    def client_ips(self) -> list[str]:
        """The addresses the suite's own connections come from, as the members see them."""
        raise FaultError(self.network_refusal() or "no network access")

    def port(self, name: str) -> int:
        return int(self.member(name).address.rpartition(":")[2])
