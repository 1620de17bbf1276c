"""The status probe: every member's `replSetGetStatus`, sampled on a fixed cadence.

Each member is asked by its own thread over a direct connection, so a frozen or cut-off member
delays only its own samples (`MemberPoller`, which the serverStatus probe of chaos/monitoring
shares). Every answer becomes one `ProbeSample` per member it describes,
with its optime, last applied wall time and lag as that observer sees them (`lag_behind`);
a member that does not answer becomes one row with `reachable=False`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from chaos.backends.health import optime_seconds
from contract.rundir import UNREACHABLE, ProbeSample

Sink = Callable[[list[ProbeSample]], None]
# A direct client to one member with every timeout set to the given milliseconds; the cluster's
# own `admin_client` is the one to use, as it carries the cluster's credentials and TLS options.
Connect = Callable[["ProbeTarget", int], MongoClient[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    name: str  # the member's name in the run (MemberInfo.name)
    host: str  # host:port the suite reaches it at


@dataclass(frozen=True, slots=True)
class Applied:
    """How far a member has applied the oplog, as one `replSetGetStatus` entry says."""

    term: int
    ts: Timestamp
    wall: float  # lastAppliedWallTime, else optimeDate, else the timestamp's seconds

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Applied | None:
        optime = entry.get("optime")
        if not isinstance(optime, dict) or not isinstance(optime.get("ts"), Timestamp):
            return None
        # A member not heard from yet has the epoch as its wall time: unknown, not 1970.
        dates = (_seconds(d) for d in (entry.get("lastAppliedWallTime"), entry.get("optimeDate"))
                 if isinstance(d, datetime))  # fmt: skip
        wall = next((d for d in dates if d > 0), float(optime["ts"].time))
        return cls(term=int(optime.get("t", -1)), ts=optime["ts"], wall=wall)

    def behind(self, other: Applied) -> bool:
        """Whether this position is older than `other`: optimes order by term, then timestamp."""
        return (self.term, self.ts) < (other.term, other.ts)


def _seconds(date: datetime) -> float:
    # PyMongo decodes BSON dates as naive UTC unless the client is tz_aware.
    return (date if date.tzinfo is not None else date.replace(tzinfo=UTC)).timestamp()


def lag_behind(primary: Applied, member: Applied) -> float:
    """The member's replication lag: the primary's last applied operation's time minus the
    member's, while the primary has applied an operation the member has not; else 0.

    The optimes decide whether the member is behind, so an idle set lags by nothing however old
    its last write. The times are the wall-clock dates of the operations (lastAppliedWallTime,
    milliseconds): for a member other than itself, mongod fills `optime` from heartbeats, up to
    one heartbeat interval old, and `lastAppliedWallTime` from the member's own position
    reports, which come as it applies. A member whose heartbeat optime is older than the
    primary's but whose reported wall time is not has applied everything: no lag.
    """
    return max(0.0, primary.wall - member.wall) if member.behind(primary) else 0.0


def samples_from_status(
    observer: str, status: dict[str, Any], t: float, rtt_ms: float, names: dict[str, str]
) -> list[ProbeSample]:
    """Rows for one `replSetGetStatus` answer. `names` maps a member's host:port to its run name."""
    members = status.get("members", [])
    primary = next((m for m in members if m.get("stateStr") == "PRIMARY"), None)
    primary_at = Applied.of(primary) if primary is not None else None
    term = int(status.get("term", -1))
    rows = []
    for m in members:
        at = Applied.of(m)
        lag = None
        # A member the observer cannot reach has no known position (mongosh prints none).
        if primary_at is not None and at is not None and m.get("health", 0):
            lag = lag_behind(primary_at, at)
        optime = optime_seconds(m.get("optime"))
        rows.append(
            ProbeSample(
                t=t,
                observer=observer,
                reachable=True,
                member=names.get(m.get("name", ""), m.get("name", "?")),
                state=str(m.get("stateStr", "UNKNOWN")),
                health=int(m.get("health", 0)),
                term=term,
                optime=optime if optime is not None else 0.0,
                lag_s=lag,
                primary=names.get(primary["name"], primary["name"]) if primary is not None else None,
                rtt_ms=rtt_ms,
                optime_ts=(at.ts.time << 32 | at.ts.inc) if at is not None else None,
                optime_term=at.term if at is not None else None,
                applied_wall=at.wall if at is not None else None,
            )
        )
    return rows


class MemberPoller:
    """Asks every target something every `interval` seconds until stopped, each on its own
    thread over its own direct connection, so a member that does not answer delays only its
    own answers. Subclasses say what to ask (`poll`)."""

    thread_name = "poll"

    def __init__(self, targets: Iterable[ProbeTarget], connect: Connect, interval: float) -> None:
        self.targets = list(targets)
        self.interval = interval
        self.timeout = max(0.5, min(2.0, 4 * interval))
        self._connect = connect
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def poll(self, target: ProbeTarget, client: MongoClient[dict[str, Any]]) -> None:
        raise NotImplementedError

    def failed(self, target: ProbeTarget) -> None:
        """The poll raised something other than a PyMongoError: the target counts as silent."""

    def start(self) -> None:
        for target in self.targets:
            thread = threading.Thread(
                target=self._run, args=(target,), name=f"{self.thread_name}-{target.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        self._threads.clear()

    def _run(self, target: ProbeTarget) -> None:
        client = self._connect(target, int(self.timeout * 1000))
        try:
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    self.poll(target, client)
                except Exception:
                    # Under gevent a connection reset mid-command can break the pool's own
                    # locks (RuntimeError from its condition): a new client, not a dead thread.
                    self.failed(target)
                    client.close()
                    client = self._connect(target, int(self.timeout * 1000))
                next_at += self.interval
                delay = next_at - time.monotonic()
                if delay < 0:  # a slow answer: skip the missed ticks rather than burst
                    next_at = time.monotonic()
                    delay = 0
                self._stop.wait(delay)
        finally:
            client.close()


class StatusProbe(MemberPoller):
    """Samples every target's replSetGetStatus every `interval` seconds; rows go to `sink`."""

    thread_name = "probe"

    def __init__(
        self,
        targets: Iterable[ProbeTarget],
        sink: Sink,
        connect: Connect,
        interval: float = 0.25,
    ) -> None:
        super().__init__(targets, connect, interval)
        self.sink = sink
        self._names = {t.host: t.name for t in self.targets}

    def poll(self, target: ProbeTarget, client: MongoClient[dict[str, Any]]) -> None:
        self.sink(self.sample(target, client))

    def failed(self, target: ProbeTarget) -> None:
        self.sink([self.unreachable(target)])

    @staticmethod
    def unreachable(target: ProbeTarget) -> ProbeSample:
        return ProbeSample(
            t=time.time(), observer=target.name, reachable=False, member=target.name, state=UNREACHABLE
        )

    def sample(self, target: ProbeTarget, client: MongoClient[dict[str, Any]]) -> list[ProbeSample]:
        started = time.perf_counter()
        try:
            status = client.admin.command("replSetGetStatus")
        except PyMongoError:
            return [self.unreachable(target)]
        rtt_ms = (time.perf_counter() - started) * 1000
        return samples_from_status(target.name, status, time.time(), rtt_ms, self._names)
