"""The production guide's failover promise, with its driver options verbatim (no heartbeat
override) and mongod's default election settings: SIGKILL the primary under a steady write
loop, and the app sees nothing but the server-selection timeouts that a 5 s
serverSelectionTimeoutMS implies while the ~10 s election runs; writes resume as soon as the
new primary accepts them. Once with PyMongo, once with the hub's Node.js stack (mongoose).
The errors fall in the window `hubchaos check-driver` predicts for the guide's options.

One more error is possible, and mongod gives it too: the write in flight when the process dies
fails at once with a network error if the Node driver handles its monitor's broken connection
before the operation's (the pool is cleared, and the driver does not retry an error from a
connection of the cleared pool). Both sockets close together when a process is killed."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from chaos.backends.processes import MemberProcess
from contract.driver import GUIDE as GUIDE_OPTIONS
from contract.driver import HEARTBEAT_INTERVAL_MS
from locustfiles.settings import DriverProfile
from reports.drivercheck import ClusterTiming, Load, check
from tests.conftest import ReplicaSet, StartSet
from tests.node_support import NodeScript
from tests.replication_support import events, eventually

GUIDE = DriverProfile()
SELECTION_TIMEOUT_S = GUIDE.server_selection_timeout_ms / 1000
# Writes before the kill, and after the new primary, so that both sides of the gap are steady.
STEADY_S = 3.0
# The write loop's bound: an election after mongod's default 10-11.5 s timeout, and margin.
LOOP_S = 26.0
# A write in flight at the kill fails as its connection closes with the process.
IN_FLIGHT_S = 0.5
NETWORK_ERRORS = frozenset({"AutoReconnect", "MongoNetworkError"})


@dataclass(frozen=True)
class Write:
    started: float  # wall clock, as the members' ground truth
    ended: float
    error: str | None = None  # the exception's class name


@pytest.fixture
def default_set(start_replica_set: StartSet) -> ReplicaSet:
    """Three members with mongod's default election settings, driven with the guide's profile."""
    assert "heartbeat_frequency_ms" not in GUIDE.model_dump(exclude_none=True)
    rs = start_replica_set(3)
    assert "settings" not in rs.config  # electionTimeoutMillis 10000, heartbeatIntervalMillis 2000
    return rs


def _writable_after(members: list[MemberProcess], killed: float) -> float:
    """When a member other than the killed one started accepting writes (its ground truth)."""
    times = [e["t"] for m in members for e in events(m, "writable") if e["t"] > killed]
    assert times, "no member became a writable primary after the kill"
    return min(times)


def _judge(writes: list[Write], killed: float, dead: float, writable: float) -> None:
    """`killed`: when the kill was asked for; `dead`: when the process was seen gone (the
    SIGKILL lands in between, later on a busy host)."""
    before = [w for w in writes if w.ended < killed]
    assert before and all(w.error is None for w in before), "writes failed before the kill"
    failed = [w for w in writes if w.error is not None]
    in_flight = [w for w in failed if w.started < dead and w.ended - dead < IN_FLIGHT_S]
    assert len(in_flight) <= 1 and all(w.error in NETWORK_ERRORS for w in in_flight), in_flight
    timeouts = [w for w in failed if w not in in_flight]
    # Every other failure is a server selection that ran its full 5 s finding no primary.
    for w in timeouts:
        assert w.ended - w.started >= SELECTION_TIMEOUT_S - 0.25, f"a fast failure: {w}"
        assert killed - 0.5 <= w.started <= writable, f"a failure outside the election: {w}"
    gap = writable - killed
    assert len(timeouts) <= math.ceil(gap / SELECTION_TIMEOUT_S), f"{len(timeouts)} timeouts in {gap:.1f} s"
    # The old primary may still acknowledge a write it had in hand as the kill was sent.
    resumed = min(w.ended for w in writes if w.error is None and w.started > killed)
    assert resumed - writable < 1.0, f"writes resumed {resumed - writable:.2f} s after the new primary"
    # check-driver's predicted error window for the guide's options and mongod's defaults agrees
    # with the measured one (first timeout → writes resume) within one heartbeat interval.
    [predicted] = [f.window_s for f in check(GUIDE_OPTIONS, ClusterTiming(), Load()) if f.window_s]
    assert predicted is not None and timeouts, "no predicted or no measured error window"
    measured = (min(w.ended for w in timeouts) - killed, resumed - killed)
    for p, m in zip(predicted, measured, strict=True):
        assert abs(p - m) <= HEARTBEAT_INTERVAL_MS / 1000, f"predicted {predicted}, measured {measured}"
    after = [w for w in writes if w.started > resumed]
    assert after and all(w.error is None for w in after), "writes failed after the failover"
    print(  # shown with -s: the figures docs/benchmarks.md quotes
        f"new primary writable {gap:.2f} s after the kill; writes resumed {resumed - killed:.2f} s after it; "
        f"error window predicted {predicted[0]:.2f}-{predicted[1]:.2f} s, "
        f"measured {measured[0]:.2f}-{measured[1]:.2f} s; "
        f"errors: {[(w.error, round(w.ended - w.started, 2)) for w in failed]}"
    )


def test_pymongo_with_the_guide_profile_sees_only_selection_timeouts_when_the_primary_dies(
    default_set: ReplicaSet,
) -> None:
    rs = default_set
    primary = rs.primary()
    writes: list[Write] = []
    stop = threading.Event()

    def loop(client: MongoClient[dict[str, object]]) -> None:
        coll = client.hub.failover
        deadline = time.monotonic() + LOOP_S
        seq = 0
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.time()
            try:
                coll.insert_one({"seq": seq})
                writes.append(Write(started, time.time()))
            except PyMongoError as exc:
                writes.append(Write(started, time.time(), type(exc).__name__))
            seq += 1
            time.sleep(0.05)

    with rs.client(**GUIDE.client_kwargs()) as client:
        client.admin.command("ping")
        writer = threading.Thread(target=loop, args=(client,), daemon=True)
        writer.start()
        time.sleep(STEADY_S)
        killed = time.time()
        primary.kill()
        dead = time.time()
        writer.join(LOOP_S + 10)
        stop.set()
    _judge(writes, killed, dead, _writable_after(rs.members, killed))


def test_mongoose_with_the_guide_profile_sees_only_selection_timeouts_when_the_primary_dies(
    default_set: ReplicaSet,
) -> None:
    rs = default_set
    primary = rs.primary()
    with NodeScript("failover.mjs", rs.uri, str(LOOP_S)) as node:
        node.wait_for("ready", 20)
        eventually(lambda: len(node.events("write")) > 10, 10, "the write loop to run")
        time.sleep(STEADY_S)
        killed = time.time()
        primary.kill()
        dead = time.time()
        reported = node.finish(LOOP_S + 20)
    writes = [
        Write(e["started"], e["t"], None if e["ok"] else e["error"]["name"])
        for e in reported
        if e["event"] == "write"
    ]
    _judge(writes, killed, dead, _writable_after(rs.members, killed))
