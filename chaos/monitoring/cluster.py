"""The cluster's latest state for the live metrics: each member's own report (from the status
probes), its replication lag as the primary reports it, and its serverStatus counters.

The status probes feed `LiveCluster.on_probe` alongside the probe log; `ServerStatusProbe` asks
every member for serverStatus once a second on its own thread, as the probes do for
replSetGetStatus. A scrape reads one consistent `ClusterView`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from chaos.probes import Connect, MemberPoller, ProbeTarget
from contract.rundir import ProbeSample

# A lag the current primary reported longer ago than this is not shown: it may no longer hold.
LAG_FRESH_S = 5.0


@dataclass(frozen=True, slots=True)
class ServerStatus:
    connections_current: int
    connections_available: int
    connections_created: int
    opcounters: dict[str, int]
    opcounters_repl: dict[str, int]

    @classmethod
    def of(cls, doc: dict[str, Any]) -> ServerStatus:
        connections = doc.get("connections") or {}

        def counters(section: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in (doc.get(section) or {}).items() if isinstance(v, int | float)}

        return cls(
            connections_current=int(connections.get("current", 0)),
            connections_available=int(connections.get("available", 0)),
            connections_created=int(connections.get("totalCreated", 0)),
            opcounters=counters("opcounters"),
            opcounters_repl=counters("opcountersRepl"),
        )


@dataclass(frozen=True, slots=True)
class MemberView:
    name: str
    up: bool  # its own probe answered
    state: str | None  # what it says of itself; None until it has answered
    lag_s: float | None  # as the current primary reports it
    server: ServerStatus | None  # its last serverStatus answer


@dataclass(frozen=True, slots=True)
class ClusterView:
    members: tuple[MemberView, ...]


@dataclass(slots=True)
class _Lag:
    t: float
    observer: str
    lag_s: float


@dataclass(slots=True)
class LiveCluster:
    names: list[str]
    _own: dict[str, ProbeSample] = field(default_factory=dict)
    _lag: dict[str, _Lag] = field(default_factory=dict)
    _server: dict[str, ServerStatus] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_probe(self, samples: Iterable[ProbeSample]) -> None:
        """Rows of one probe round (a sink of chaos.probes.StatusProbe)."""
        with self._lock:
            for s in samples:
                if not s.reachable or s.observer == s.member:
                    self._own[s.observer] = s
                if s.reachable and s.primary == s.observer and s.lag_s is not None:
                    self._lag[s.member] = _Lag(s.t, s.observer, s.lag_s)

    def on_server_status(self, member: str, status: ServerStatus | None) -> None:
        with self._lock:
            if status is None:
                self._server.pop(member, None)
            else:
                self._server[member] = status

    def view(self, now: float | None = None) -> ClusterView:
        now = time.time() if now is None else now
        with self._lock:
            primaries = {n for n, s in self._own.items() if s.reachable and s.state == "PRIMARY"}
            members = []
            for name in self.names:
                own = self._own.get(name)
                lag = self._lag.get(name)
                fresh = lag is not None and lag.observer in primaries and now - lag.t <= LAG_FRESH_S
                members.append(
                    MemberView(
                        name=name,
                        up=own is not None and own.reachable,
                        state=own.state if own is not None else None,
                        lag_s=lag.lag_s if fresh and lag is not None else None,
                        server=self._server.get(name),
                    )
                )
        return ClusterView(tuple(members))


class ServerStatusProbe(MemberPoller):
    """Every member's serverStatus (connections, opcounters) every `interval` seconds."""

    thread_name = "server-status"

    def __init__(
        self, targets: Iterable[ProbeTarget], cluster: LiveCluster, connect: Connect, interval: float = 1.0
    ) -> None:
        super().__init__(targets, connect, interval)
        self.cluster = cluster

    def poll(self, target: ProbeTarget, client: MongoClient[dict[str, Any]]) -> None:
        try:
            status: ServerStatus | None = ServerStatus.of(client.admin.command("serverStatus"))
        except PyMongoError:
            status = None
        self.cluster.on_server_status(target.name, status)

    def failed(self, target: ProbeTarget) -> None:
        self.cluster.on_server_status(target.name, None)
