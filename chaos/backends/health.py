"""What each member says about itself (`replSetGetStatus`), and whether that makes a healthy set.

Pure functions over status documents, so the rules are unit-tested without a cluster: a
healthy set has exactly one PRIMARY, every other member SECONDARY (or ARBITER), and no
secondary further behind the primary's last applied optime than a bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

UNREACHABLE = "(not reachable)"
HEALTHY_OTHERS = frozenset({"SECONDARY", "ARBITER"})


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """One member as it describes itself, as the suite saw it at `t`."""

    name: str
    address: str
    region: str | None
    state: str  # PRIMARY, SECONDARY, RECOVERING, ... or UNREACHABLE
    term: int | None = None
    optime: float | None = None  # last applied, as ts.time + ts.inc / 1e6 (contract/rundir.py)
    lag_s: float | None = None  # the primary's optime minus this member's
    sync_source: str | None = None
    error: str | None = None  # why it could not be asked

    @property
    def reachable(self) -> bool:
        return self.state != UNREACHABLE


def optime_seconds(optime: Any) -> float | None:
    """A replSetGetStatus optime ({ts, t} or a bare Timestamp) as seconds."""
    ts = optime.get("ts") if isinstance(optime, dict) else optime
    if ts is None or not hasattr(ts, "time"):
        return None
    return float(ts.time) + float(ts.inc) / 1e6


def self_status(name: str, address: str, region: str | None, doc: dict[str, Any]) -> MemberStatus:
    """A member's view of itself from its own replSetGetStatus reply."""
    entry = next((m for m in doc.get("members", []) if m.get("self")), {})
    state = entry.get("stateStr") or _STATE_NAMES.get(doc.get("myState", -1), "UNKNOWN")
    optime = entry.get("optime")
    term = doc.get("term", optime.get("t") if isinstance(optime, dict) else None)
    return MemberStatus(
        name=name,
        address=address,
        region=region,
        state=state,
        term=int(term) if term is not None else None,
        optime=optime_seconds(entry.get("optime")),
        sync_source=entry.get("syncSourceHost") or doc.get("syncSourceHost") or None,
    )


def hello_status(name: str, address: str, region: str | None, doc: dict[str, Any]) -> MemberStatus:
    """A member's view of itself from `hello`, for users without replSetGetStatus (which needs
    the clusterMonitor role): the role, the term in electionId, the last write's optime."""
    if doc.get("isWritablePrimary") or doc.get("ismaster"):
        state = "PRIMARY"
    elif doc.get("secondary"):
        state = "SECONDARY"
    elif doc.get("arbiterOnly"):
        state = "ARBITER"
    else:
        state = "STARTUP" if "setName" not in doc else "RECOVERING"
    election_id = doc.get("electionId")
    term = int(str(election_id)[-8:], 16) if election_id is not None else None
    optime = (doc.get("lastWrite") or {}).get("opTime")
    return MemberStatus(name, address, region, state, term=term, optime=optime_seconds(optime))


def unreachable(name: str, address: str, region: str | None, error: str) -> MemberStatus:
    return MemberStatus(name=name, address=address, region=region, state=UNREACHABLE, error=error)


def with_lag(statuses: list[MemberStatus]) -> list[MemberStatus]:
    """The statuses with `lag_s` filled in against the primary's optime (when there is one)."""
    primary = current_primary(statuses)
    if primary is None or primary.optime is None:
        return statuses
    top = primary.optime
    return [replace(s, lag_s=None if s.optime is None else max(0.0, top - s.optime)) for s in statuses]


def current_primary(statuses: list[MemberStatus]) -> MemberStatus | None:
    """The member that says it is PRIMARY; with two (a deposed one not yet told), the higher term."""
    primaries = [s for s in statuses if s.state == "PRIMARY"]
    if not primaries:
        return None
    return max(primaries, key=lambda s: s.term if s.term is not None else -1)


def unhealthy_reason(statuses: list[MemberStatus], max_lag_s: float) -> str | None:
    """None when the set is healthy, else one line naming the first unhealthy member."""
    primaries = [s for s in statuses if s.state == "PRIMARY"]
    if not primaries:
        states = ", ".join(f"{s.name} {s.state}" for s in statuses)
        return f"no primary ({states})"
    if len(primaries) > 1:
        return f"more than one primary: {', '.join(s.name for s in primaries)}"
    for s in statuses:
        if s.state == "PRIMARY":
            continue
        if s.state not in HEALTHY_OTHERS:
            why = f": {s.error}" if s.error else ""
            return f"member {s.name} ({s.address}) is {s.state}{why}"
        if s.state == "SECONDARY" and s.lag_s is not None and s.lag_s > max_lag_s:
            return f"member {s.name} ({s.address}) lags the primary by {s.lag_s:.1f} s (max {max_lag_s:g} s)"
    return None


def set_view(doc: dict[str, Any]) -> list[MemberStatus]:
    """Every member of the set as one member's replSetGetStatus reply describes it (what a client
    holding only a URI can see), with lag against the primary; members it cannot reach are
    unreachable."""
    statuses = [
        MemberStatus(
            name=str(m["name"]),
            address=str(m["name"]),
            region=None,
            state=m.get("stateStr") or _STATE_NAMES.get(m.get("state", -1), "UNKNOWN")
            if m.get("health", 1)
            else UNREACHABLE,
            optime=optime_seconds(m.get("optime")),
            error=m.get("lastHeartbeatMessage") or None,
        )
        for m in doc.get("members", [])
    ]
    return with_lag(statuses)


def await_healthy(
    read: Callable[[], list[MemberStatus]], timeout: float, max_lag_s: float
) -> tuple[list[MemberStatus], str | None]:
    """Read the set until it is healthy or `timeout` passes (read at least once): the last
    statuses, and None or the reason it is still unhealthy. Each caller raises its own error."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = read()
        reason = unhealthy_reason(statuses, max_lag_s)
        if reason is None or time.monotonic() >= deadline:
            return statuses, reason
        time.sleep(0.25)


# replSetGetStatus myState numbers, for replies without a self entry.
_STATE_NAMES = {
    0: "STARTUP",
    1: "PRIMARY",
    2: "SECONDARY",
    3: "RECOVERING",
    5: "STARTUP2",
    6: "UNKNOWN",
    7: "ARBITER",
    8: "DOWN",
    9: "ROLLBACK",
    10: "REMOVED",
}
