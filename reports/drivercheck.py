"""A driver's configuration as an SRE reads it: what each option means for the application when
the replica set fails over, with the number behind each finding and the drill that shows it.

`check(options, cluster, load)` is a pure function of

- the driver's options (`contract.driver.DriverOptions`: a connection string, the guide's
  `mongoOptions`, a scenario's `workload.driver`),
- the cluster's election clock (`ClusterTiming`: electionTimeoutMillis, heartbeatIntervalMillis,
  catchUpTimeoutMillis, from a scenario's target or a live replSetGetConfig), and
- the load (`Load`: requests one client runs at once, application instances, the slowest
  operation class, the single-node RTO target),

and returns `Finding`s: severity (error: the application will surface errors or lose
acknowledged writes on a failover; warn: it may, or it waits longer than its targets; info: worth
knowing), the option and its value, the reason, the figure behind it, and the shipped scenario
that demonstrates it. `hubchaos check-driver` prints them; the drill report shows them beside
the errors a drill observed (`reports.impact`).

The election clock after a primary fails (mongod's protocol version 1): a secondary stands for
election when it has not heard from a primary for electionTimeoutMillis plus a random offset of
up to 15 % of it (electionTimeoutOffsetLimitFraction); on an idle set its timer was last reset
by a heartbeat up to heartbeatIntervalMillis before the failure, under writes by the oplog it
fetched moments before. The winner then catches up (at most catchUpTimeoutMillis when that is
set) and drains before it accepts writes. A driver that streams (MongoDB 4.4+,
serverMonitoringMode auto or stream) hears of the new primary at once; one that polls, up to
heartbeatFrequencyMS later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contract.driver import ELECTION_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS, Driver, DriverOptions
from contract.rundir import ErrorClass
from reports.latency import LatencyRow
from reports.results import Result
from reports.runconfig import RunConfig

OFFSET_FRACTION = 0.15  # mongod's electionTimeoutOffsetLimitFraction
MIN_HEARTBEAT_MS = 500  # the drivers refuse a shorter heartbeatFrequencyMS
MONITORING_CONNECTIONS = 2  # per member and client when streaming: the monitor and the RTT pinger
SOCKET_TIMEOUT_FACTOR = 2  # MongoDB's guidance: 2-3 x the slowest operation


class Severity(StrEnum):
    ERROR = "error"
    WARN = "warn"
    INFO = "info"


_RANK = {Severity.ERROR: 0, Severity.WARN: 1, Severity.INFO: 2}


class ClusterTiming(Result):
    """The replica set's election clock."""

    election_timeout_ms: int = ELECTION_TIMEOUT_MS
    heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    catch_up_timeout_ms: int | None = None  # None or -1: unlimited (catch-up is then usually instant)
    source: str = "mongod's defaults"

    def election_s(self) -> tuple[float, float, float]:
        """Seconds from a primary's failure until a new one accepts writes: (earliest,
        expected under writes, latest)."""
        timeout = self.election_timeout_ms / 1000
        catch_up = max(self.catch_up_timeout_ms or 0, 0) / 1000
        earliest = max(timeout - self.heartbeat_interval_ms / 1000, 0.0)
        expected = timeout * (1 + OFFSET_FRACTION / 2)
        latest = timeout * (1 + OFFSET_FRACTION) + catch_up
        return earliest, expected, latest

    def describe(self) -> str:
        earliest, _, latest = self.election_s()
        return f"election {earliest:.1f}-{latest:.1f} s"


class Load(Result):
    """What the application asks of one client."""

    concurrency: int | None = None  # requests one client runs at once (None: unknown)
    instances: int = 1  # application processes, each with its own client
    members: int = 3
    slowest_op: str | None = None  # the slowest operation class, and its duration
    slowest_ms: float | None = None
    slowest_source: str = ""  # where the figure comes from
    rto_s: float | None = 30.0  # the single-node RTO target


class Finding(Result):
    check: str  # stable id
    severity: Severity
    option: str  # as the drivers spell it
    value: str  # the value in effect, "unset" for none
    reason: str
    figure: str  # the number behind the finding
    # The shipped drill that demonstrates it (scenarios/<name>.yaml, maybe with --set overrides);
    # empty when creating the client shows it.
    scenario: str
    error_classes: list[str] = []  # the request errors it predicts in a drill
    window_s: tuple[float, float] | None = None  # predicted errors after a primary fails, from-to

    def demonstrated(self) -> str:
        if not self.scenario:
            return "shown when the client is created"
        name, _, overrides = self.scenario.partition(" ")
        return f"demonstrated by scenarios/{name}.yaml" + (f" {overrides}" if overrides else "")

    def line(self) -> str:
        return f"{self.option}={self.value}: {self.reason} [{self.figure}; {self.demonstrated()}]"


@dataclass(frozen=True, slots=True)
class _Context:
    options: DriverOptions
    cluster: ClusterTiming
    load: Load
    driver: Driver

    def get(self, name: str) -> Any:
        return self.options.value(name, self.driver)

    def finding(  # noqa: PLR0917 - the rules read as rows: check, severity, option, reason, figure, scenario
        self, check: str, severity: Severity, name: str, reason: str, figure: str, scenario: str, **extra: Any
    ) -> Finding:
        return Finding(
            check=check,
            severity=severity,
            option=self.options.spelled(name),
            value=_show(self.get(name)),
            reason=reason,
            figure=figure,
            scenario=scenario,
            **extra,
        )

    @property
    def streams(self) -> bool:
        return self.get("server_monitoring_mode") != "poll"

    def no_primary_s(self) -> tuple[float, float, float]:
        """(earliest, expected, latest) seconds the application has no selectable primary."""
        earliest, expected, latest = self.cluster.election_s()
        poll = 0.0 if self.streams else self.get("heartbeat_frequency_ms") / 1000
        return earliest, expected + poll / 2, latest + poll


Rule = Callable[[_Context], list[Finding]]


def check(
    options: DriverOptions, cluster: ClusterTiming, load: Load, driver: Driver = "pymongo"
) -> list[Finding]:
    """Every rule's findings, errors first."""
    ctx = _Context(options, cluster, load, driver)
    found = [f for rule in RULES for f in rule(ctx)]
    return sorted(found, key=lambda f: _RANK[f.severity])


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _s(ms: float) -> str:
    return f"{ms / 1000:g} s"


def _selection(ctx: _Context) -> list[Finding]:
    """serverSelectionTimeoutMS (or timeoutMS, which bounds selection too) against the time
    without a primary."""
    selection = ctx.get("server_selection_timeout_ms")
    name = "server_selection_timeout_ms"
    timeout_ms = ctx.get("timeout_ms")
    if timeout_ms:  # client-side operation timeout: selection and every retry fit in it
        selection, name = min(selection, timeout_ms), "timeout_ms" if timeout_ms < selection else name
    earliest, expected, latest = ctx.no_primary_s()
    s = selection / 1000
    span = f"{_s(selection)} < {ctx.cluster.describe()}"
    streams = "" if ctx.streams else f" + up to {_s(ctx.get('heartbeat_frequency_ms'))} of polling"
    if s < earliest:
        # A request stream (one user) fails once per selection timeout until the new primary.
        per_stream = math.floor(expected / s) if s > 0 else 0
        count = f"; up to ≈ {per_stream} per concurrent request stream per failover"
        if ctx.load.concurrency:
            count += f", ≈ {per_stream * ctx.load.concurrency * ctx.load.instances} at most for this load"
        return [
            ctx.finding(
                "selection_vs_election",
                Severity.ERROR,
                name,
                "every failover of the primary surfaces ServerSelectionTimeoutError: requests give up "
                f"choosing a server before the election ends (errors from +{s:g} s until a new primary, "
                f"≈ +{expected:.1f} s){count}",
                span + streams,
                "primary-kill",
                error_classes=[ErrorClass.SELECTION_TIMEOUT, ErrorClass.NETWORK, ErrorClass.NOT_PRIMARY],
                window_s=(s, expected),
            )
        ]
    if s < latest:
        return [
            ctx.finding(
                "selection_vs_election",
                Severity.WARN,
                name,
                "a slow election (the random offset, a catch-up) outlasts server selection: some "
                "failovers surface ServerSelectionTimeoutError",
                f"{_s(selection)} within {ctx.cluster.describe()}{streams}",
                "primary-kill",
                error_classes=[ErrorClass.SELECTION_TIMEOUT],
                window_s=(s, latest),
            )
        ]
    return [
        ctx.finding(
            "selection_vs_election",
            Severity.INFO,
            name,
            "server selection waits out an election: a failover shows as requests stalled until the "
            "new primary, not as errors",
            f"{_s(selection)} ≥ {ctx.cluster.describe()}{streams}",
            "primary-kill-selection-30s",
        )
    ]


def _socket(ctx: _Context) -> list[Finding]:
    timeout = ctx.get("socket_timeout_ms") or None
    found = []
    if timeout is None:
        found.append(
            ctx.finding(
                "socket_timeout",
                Severity.WARN,
                "socket_timeout_ms",
                "no socket timeout: a request sent to a frozen or silently cut-off member waits until it "
                "answers or the operating system gives up on the connection",
                "no limit",
                "primary-freeze",
            )
        )
    elif ctx.load.rto_s is not None and timeout / 1000 > ctx.load.rto_s:
        found.append(
            ctx.finding(
                "socket_timeout",
                Severity.WARN,
                "socket_timeout_ms",
                "a request sent to a frozen primary waits this long before it fails and is retried, "
                "longer than the single-node recovery target",
                f"{_s(timeout)} > RTO target {ctx.load.rto_s:g} s",
                "primary-freeze",
            )
        )
    slowest = ctx.load.slowest_ms
    if timeout is not None and slowest is not None:
        where = f"{ctx.load.slowest_op} {slowest:.0f} ms, {ctx.load.slowest_source}"
        if timeout < slowest:
            found.append(
                ctx.finding(
                    "socket_vs_slowest",
                    Severity.ERROR,
                    "socket_timeout_ms",
                    "the slowest operation class outlasts the socket timeout: those requests fail with a "
                    "network timeout (and a retried write may apply twice as far as the client knows)",
                    f"{timeout} ms < {where}",
                    "slow-network",
                    error_classes=[ErrorClass.NETWORK],
                )
            )
        elif timeout < SOCKET_TIMEOUT_FACTOR * slowest:
            found.append(
                ctx.finding(
                    "socket_vs_slowest",
                    Severity.WARN,
                    "socket_timeout_ms",
                    f"less than {SOCKET_TIMEOUT_FACTOR} x the slowest operation class: a slow moment (a "
                    "degraded link, a catch-up) turns those requests into network timeouts",
                    f"{timeout} ms < {SOCKET_TIMEOUT_FACTOR} x {where}",
                    "slow-network",
                    error_classes=[ErrorClass.NETWORK],
                )
            )
    return found


def _pool(ctx: _Context) -> list[Finding]:
    size = ctx.get("max_pool_size")
    wait = ctx.get("wait_queue_timeout_ms") or None
    concurrency = ctx.load.concurrency
    found = []
    if concurrency is not None and size and concurrency > size:
        if wait is not None:
            found.append(
                ctx.finding(
                    "pool_vs_concurrency",
                    Severity.ERROR,
                    "max_pool_size",
                    "more requests run at once than the pool has connections, and a request waits at "
                    f"most waitQueueTimeoutMS {wait} for one: WaitQueueTimeoutError under load, and "
                    "at once when a failover stalls every connection",
                    f"{concurrency} concurrent > maxPoolSize {size}",
                    "soak",
                    error_classes=[ErrorClass.NETWORK],
                )
            )
        else:
            found.append(
                ctx.finding(
                    "pool_vs_concurrency",
                    Severity.WARN,
                    "max_pool_size",
                    "more requests run at once than the pool has connections: the rest queue for one, "
                    "and a failover stall holds every connection",
                    f"{concurrency} concurrent > maxPoolSize {size}",
                    "soak",
                )
            )
    elif concurrency is not None and size:
        found.append(
            ctx.finding(
                "pool_vs_concurrency",
                Severity.INFO,
                "max_pool_size",
                "the pool covers the load's concurrency",
                f"{concurrency} concurrent ≤ maxPoolSize {size}",
                "soak",
            )
        )
    if wait is not None:
        selection = ctx.get("server_selection_timeout_ms")
        if wait < selection:
            found.append(
                ctx.finding(
                    "wait_queue",
                    Severity.WARN,
                    "wait_queue_timeout_ms",
                    "a request waiting for a connection gives up sooner than one waiting for a server: "
                    "while a failover holds the pool, requests fail with WaitQueueTimeoutError",
                    f"{wait} ms < serverSelectionTimeoutMS {selection} ms",
                    "primary-freeze",
                    error_classes=[ErrorClass.NETWORK],
                )
            )
    return found


def _writes(ctx: _Context) -> list[Finding]:
    w = ctx.get("w")
    found = []
    if w is not None and w != "majority" and isinstance(w, int) and w < 2:
        found.append(
            ctx.finding(
                "write_concern",
                Severity.ERROR,
                "w",
                "writes acknowledged by the primary alone are rolled back when it fails before a "
                "majority has them: acknowledged writes are lost",
                f"w={w}: 1 of {ctx.load.members} members",
                "primary-freeze (--set workload.driver.w=1)",
            )
        )
    elif w is None:
        found.append(
            ctx.finding(
                "write_concern",
                Severity.INFO,
                "w",
                "the server's default write concern applies (majority since MongoDB 5.0, unless the "
                "cluster's setDefaultRWConcern says otherwise)",
                "server default",
                "primary-kill",
            )
        )
    journal = ctx.options.journal
    if journal is False:
        found.append(
            ctx.finding(
                "journal",
                Severity.WARN,
                "journal",
                "writes are acknowledged before the journal has them; with w: majority "
                "writeConcernMajorityJournalDefault still journals them on a majority",
                "j=false",
                "primary-kill",
            )
        )
    wtimeout = ctx.get("wtimeout_ms")
    _, expected, _ = ctx.no_primary_s()
    if wtimeout and wtimeout / 1000 < expected:
        found.append(
            ctx.finding(
                "wtimeout",
                Severity.WARN,
                "wtimeout_ms",
                "a w: majority write waiting across a failover times out with a write concern error: the "
                "application cannot tell whether it was applied",
                f"{_s(wtimeout)} < {ctx.cluster.describe()}",
                "isolate-primary",
                error_classes=[ErrorClass.WRITE_CONCERN],
            )
        )
    if ctx.get("retry_writes") is False:
        found.append(
            ctx.finding(
                "retry_writes",
                Severity.ERROR,
                "retry_writes",
                "a write in flight when the primary steps down or dies surfaces a network or not-primary "
                "error instead of being retried once on the new primary",
                "retryWrites=false",
                "stepdown",
                error_classes=[ErrorClass.NETWORK, ErrorClass.NOT_PRIMARY],
            )
        )
    if ctx.get("retry_reads") is False:
        found.append(
            ctx.finding(
                "retry_reads",
                Severity.WARN,
                "retry_reads",
                "a read in flight when its member goes away surfaces a network error instead of being "
                "retried once",
                "retryReads=false",
                "primary-kill",
                error_classes=[ErrorClass.NETWORK],
            )
        )
    return found


def _reads(ctx: _Context) -> list[Finding]:
    mode = ctx.get("read_preference")
    if mode == "primary":
        return [
            ctx.finding(
                "read_preference",
                Severity.INFO,
                "read_preference",
                "reads see the application's own writes, and fail like writes while there is no primary",
                "primary only",
                "majority-loss",
            )
        ]
    staleness = ctx.get("max_staleness_seconds")
    bound = f", at most {staleness} s stale" if staleness and staleness > 0 else ""
    when = "while no primary is selectable" if mode == "primaryPreferred" else "whenever it chooses one"
    return [
        ctx.finding(
            "read_preference",
            Severity.WARN,
            "read_preference",
            f"reads go to a secondary {when}{bound}: they may miss the user's own recent writes unless "
            "the application reads in a causally consistent session",
            f"{mode}: no read-your-writes",
            "majority-loss",
        )
    ]


def _monitoring(ctx: _Context) -> list[Finding]:
    beat = ctx.get("heartbeat_frequency_ms")
    found = []
    if beat < MIN_HEARTBEAT_MS:
        found.append(
            ctx.finding(
                "heartbeat",
                Severity.ERROR,
                "heartbeat_frequency_ms",
                "below the drivers' minimum: PyMongo refuses to create the client",
                f"{beat} ms < {MIN_HEARTBEAT_MS} ms",
                "quickstart",
            )
        )
    elif not ctx.streams:
        found.append(
            ctx.finding(
                "heartbeat",
                Severity.WARN,
                "server_monitoring_mode",
                "the driver polls: it learns of a new primary (or a dead one) only at its next check",
                f"up to heartbeatFrequencyMS {_s(beat)} after the election",
                "primary-kill",
            )
        )
    elif ctx.options.heartbeat_frequency_ms is not None and beat < DriverOptions().value(
        "heartbeat_frequency_ms", ctx.driver
    ):
        found.append(
            ctx.finding(
                "heartbeat",
                Severity.INFO,
                "heartbeat_frequency_ms",
                "with streaming monitoring (MongoDB 4.4+) the driver hears of a new primary at once; a "
                "shorter heartbeat only adds round-trip checks to every member, it does not shorten a "
                "failover",
                f"{beat} ms; the driver found the new primary within ms of the election",
                "primary-kill",
            )
        )
    return found


def _connections(ctx: _Context) -> list[Finding]:
    min_pool = ctx.get("min_pool_size")
    found = []
    if min_pool:
        members, instances = ctx.load.members, ctx.load.instances
        total = (min_pool + MONITORING_CONNECTIONS) * members * instances
        found.append(
            ctx.finding(
                "min_pool",
                Severity.INFO,
                "min_pool_size",
                f"every client keeps {min_pool} connections to every member: when a member returns after a "
                f"failover, each of the {instances} instance(s) opens {min_pool} to it at once "
                f"({ctx.get('max_connecting')} at a time per client), a reconnect storm that grows with "
                "the fleet",
                f"(minPoolSize {min_pool} + {MONITORING_CONNECTIONS} monitoring) x {members} members x "
                f"{instances} instance(s) = {total} connections",
                "primary-kill",
            )
        )
    connect = ctx.get("connect_timeout_ms")
    whose = (
        "PyMongo's default (Node's: 30 s)" if ctx.driver == "pymongo" else "Node's default (PyMongo's: 20 s)"
    )
    if ctx.options.connect_timeout_ms is None or (
        ctx.load.rto_s is not None and connect / 1000 > ctx.load.rto_s / 2
    ):
        found.append(
            ctx.finding(
                "connect_timeout",
                Severity.INFO,
                "connect_timeout_ms",
                "a request that needs a new connection to a frozen member waits this long for its handshake",
                _s(connect) + (" as set" if ctx.options.connect_timeout_ms is not None else f", {whose}"),
                "primary-freeze",
            )
        )
    return found


def run_load(config: RunConfig, slowest: LatencyRow | None, rto_s: float | None) -> Load:
    """A drill's load as `check` reads it: each workload process (Locust runs users as greenlets
    of one process) is an application instance with its own clients."""
    instances = max(config.workers, 1)
    return Load(
        concurrency=math.ceil(config.users / instances),
        instances=instances,
        members=config.members,
        slowest_op=slowest.op if slowest is not None else None,
        slowest_ms=slowest.p99_ms if slowest is not None else None,
        slowest_source="p99 in steady state" if slowest is not None else "",
        rto_s=rto_s,
    )


def run_timing(config: RunConfig) -> ClusterTiming:
    cluster = config.cluster
    return ClusterTiming(
        election_timeout_ms=cluster.election_timeout_ms,
        heartbeat_interval_ms=cluster.heartbeat_interval_ms,
        catch_up_timeout_ms=cluster.catch_up_timeout_ms,
        source="the scenario's target",
    )


# Options of the Node.js driver 3.x (and mongoose 5) that driver 4.0 removed: given to
# MongoClient or mongoose.connect today they throw MongoParseError, so the application never starts.
REMOVED = {
    "poolsize": "maxPoolSize",
    "usenewurlparser": None,
    "useunifiedtopology": None,
    "usecreateindex": None,
    "usefindandmodify": None,
    "autoreconnect": None,
    "reconnecttries": None,
    "reconnectinterval": None,
    "buffermaxentries": None,
    "keepalive": None,
    "sockettimeout": "socketTimeoutMS",
    "connecttimeout": "connectTimeoutMS",
}


def removed(names: list[str]) -> list[Finding]:
    """Errors for options the current drivers refuse (see REMOVED)."""
    found = []
    for name in names:
        instead = REMOVED.get(name.lower())
        found.append(
            Finding(
                check="removed_option",
                severity=Severity.ERROR,
                option=name,
                value="set",
                reason="removed in the Node.js driver 4.0: the driver (and mongoose.connect) throws "
                "MongoParseError, so the application does not start"
                + (f"; use {instead}" if instead else "; it has no effect to keep"),
                figure="not supported since driver 4.0",
                scenario="",  # no drill needed: the client refuses to start
            )
        )
    return found


# One function per concern; each returns its findings (often none).
RULES: tuple[Rule, ...] = (_selection, _socket, _pool, _writes, _reads, _monitoring, _connections)
