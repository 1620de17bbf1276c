"""The moments of a failover as the cluster and the clients saw them: detection, election, rediscovery.

Each looks only inside the fault's horizon (see `reports.faults`), from the injection on, and each
is defined by events that can be ordered on one clock, so that the anatomy reads causally.

- Detection: the first moment, at or after the injection, at which a client could tell. Two
  candidates, both reported: the first request to *fail* (any error class but duplicate_key,
  which means the server answered), at its completion; and the first request to *stall*,
  `slow_op_ms` after it started (retryable writes and reads hide a failover as a stall rather
  than an error). Detection is the earlier of the two.
- Election: the first probe sample after the injection in which a member reports *itself*
  PRIMARY with a higher term than the highest seen by the injection, or is another member than
  the primary at injection. A member's own answer is used because observers may report a dead
  primary as PRIMARY until their heartbeats time out. The sample before it in which the same
  member did not yet say so (less its round trip, or the injection) bounds the election from
  below: `not_before`. A driver that found the new primary before the probe saw it is an
  earlier witness (a member accepts writes only after it was elected), so the election is
  dated by its first witness, probe or driver (`witnessed`).
- Rediscovery, per client (a workload process, `DiscoveryEvent.client`, all of its MongoClients):
  the driver event that made the new primary selectable, i.e. the new primary became RSPrimary
  or the topology's primary, dated when the driver made that change (locustfiles/discovery.py).
  When the same member is re-elected, only events after the client lost it count. Beside it,
  the client's first successful write that started after it lost the old primary: causally the
  driver found the new primary no later than that write completed.

`causal_errors` checks the orderings that must hold; an analysis that breaks one has measured
something wrong, and says so instead of printing a story out of time order.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from reports.availability import WriteWindow, failed_ops
from reports.faults import Fault
from reports.formatting import offset
from reports.results import Moment, Result

PRIMARY = "PRIMARY"
RS_PRIMARY = "RSPrimary"


class Symptom(Result):
    """One request a client could tell something by."""

    at: Moment  # when the client could tell: the failure's completion, or when it became slow
    started: Moment  # when the request started (it may predate the injection)
    op: str
    error_class: str | None  # of a failure, or of a stalled request that failed in the end


class Detection(Result):
    at: Moment  # the earlier of first_failed and first_stalled
    op: str
    how: Literal["failed", "stalled"]
    error_class: str | None
    first_failed: Symptom | None = None
    first_stalled: Symptom | None = None


class Election(Result):
    at: Moment
    new_primary: str
    term: int | None
    old_primary: str | None
    term_before: int | None
    # The new primary's previous own report that it was not yet primary (less its round trip),
    # or the injection: the election happened in (not_before, at].
    not_before: Moment | None = None
    witnessed: Literal["probe", "driver"] = "probe"  # who saw the new primary first
    probed: Moment | None = None  # when the probes saw it (the same as `at` when they were first)


class ClientRediscovery(Result):
    client: str
    found: Moment  # the driver made the new primary selectable
    event: str  # the driver event, in words
    lost: Moment | None  # the driver stopped taking the old primary for the primary
    first_write: Moment | None  # the first successful write started after `lost`


class Rediscovery(Result):
    first: Moment  # the first client that found the new primary
    client: str
    last: Moment | None  # when the last client found it; None unless every client did
    clients_found: int
    clients_total: int
    clients: list[ClientRediscovery] = []


def symptoms(events: pd.DataFrame, slow_op_ms: float) -> pd.DataFrame:
    """Requests that failed or stalled: `failed_at` (completion of a failure, else NaN) and
    `stalled_at` (`slow_op_ms` after the start of a slow request, else NaN)."""
    failed = failed_ops(events)
    stalled = events["duration_ms"].to_numpy() > slow_op_ms
    picked = events[failed | stalled]
    t_start = picked["t_start"].to_numpy()
    return picked[["op", "error_class"]].assign(
        t_start=t_start,
        failed_at=np.where(failed[failed | stalled], picked["t_end"].to_numpy(), np.nan),
        stalled_at=np.where(stalled[failed | stalled], t_start + slow_op_ms / 1000.0, np.nan),
    )


def detect(fault: Fault, symptoms: pd.DataFrame) -> Detection | None:
    """`symptoms` as from `symptoms(events, slow_op_ms)`, in any order."""
    failed = _first(fault, symptoms, "failed_at")
    stalled = _first(fault, symptoms, "stalled_at")
    if failed is None and stalled is None:
        return None
    how: Literal["failed", "stalled"] = (
        "failed" if stalled is None or (failed is not None and failed.at.t <= stalled.at.t) else "stalled"
    )
    first = failed if how == "failed" else stalled
    assert first is not None
    return Detection(
        at=first.at,
        op=first.op,
        how=how,
        error_class=first.error_class,
        first_failed=failed,
        first_stalled=stalled,
    )


def _first(fault: Fault, symptoms: pd.DataFrame, column: str) -> Symptom | None:
    at = symptoms[column].to_numpy()
    inside = (at >= fault.t_inject) & (at < fault.horizon_end)
    if not inside.any():
        return None
    i = int(np.flatnonzero(inside)[np.argmin(at[inside])])
    row = symptoms.iloc[i]
    error_class = row["error_class"]
    return Symptom(
        at=Moment.after(float(at[i]), fault.t_inject),
        started=Moment.after(float(row["t_start"]), fault.t_inject),
        op=str(row["op"]),
        error_class=None if pd.isna(error_class) else str(error_class),
    )


def elect(fault: Fault, probes: pd.DataFrame) -> Election | None:
    """`probes` sorted by `t`, member names canonical."""
    rows = probes[probes["reachable"].to_numpy()]
    own = rows[(rows["observer"] == rows["member"]).to_numpy()]
    if not own.empty:
        rows = own
    t = rows["t"].to_numpy()
    before = rows[t <= fault.t_inject]
    known_terms = before["term"][before["term"] >= 0]
    term_before = int(known_terms.max()) if not known_terms.empty else None
    old_primary = fault.primary_before
    if old_primary is None:
        primaries = before[before["state"] == PRIMARY]
        old_primary = str(primaries["member"].iat[-1]) if not primaries.empty else None

    after = rows[(t > fault.t_inject) & (t < fault.horizon_end)]
    is_primary = (after["state"] == PRIMARY).to_numpy()
    new = (after["member"] != old_primary).to_numpy()
    if term_before is not None:
        new = new | (after["term"] > term_before).to_numpy()
    elected = after[is_primary & new]
    if elected.empty:
        return None
    first = elected.iloc[0]
    earlier = after[(after["member"] == first["member"]).to_numpy() & (after["t"] < first["t"]).to_numpy()]
    not_before = fault.t_inject
    if not earlier.empty:
        last = earlier.iloc[-1]
        rtt = last["rtt_ms"] if not pd.isna(last["rtt_ms"]) else 0.0
        not_before = max(fault.t_inject, float(last["t"]) - float(rtt) / 1000.0)
    return Election(
        at=Moment.after(float(first["t"]), fault.t_inject),
        new_primary=str(first["member"]),
        term=int(first["term"]) if first["term"] >= 0 else None,
        old_primary=old_primary,
        term_before=term_before,
        not_before=Moment.after(not_before, fault.t_inject),
    )


def rediscover(
    fault: Fault,
    discovery: pd.DataFrame,
    election: Election | None,
    events: pd.DataFrame | None = None,
) -> Rediscovery | None:
    """`discovery` sorted by `t`, names canonical; `events` (with `worker`) give each client's
    first successful write. Without an election, any primary other than the one at injection
    counts."""
    t = discovery["t"].to_numpy()
    window = discovery[(t >= fault.t_inject) & (t < fault.horizon_end)]
    old = election.old_primary if election is not None else fault.primary_before
    target = election.new_primary if election is not None else None
    writes = _successful_writes(events, fault) if events is not None else None
    clients = []
    for client, seen in window.groupby("client", sort=False):
        found = _client_rediscovery(str(client), seen, old=old, target=target, fault=fault, writes=writes)
        if found is not None:
            clients.append(found)
    if not clients:
        return None
    clients.sort(key=lambda c: c.found.t)
    clients_total = int(discovery["client"].nunique())
    every = len(clients) == clients_total
    return Rediscovery(
        first=clients[0].found,
        client=clients[0].client,
        last=clients[-1].found if every else None,
        clients_found=len(clients),
        clients_total=clients_total,
        clients=clients,
    )


def _client_rediscovery(
    client: str,
    seen: pd.DataFrame,
    *,
    old: str | None,
    target: str | None,
    fault: Fault,
    writes: pd.DataFrame | None,
) -> ClientRediscovery | None:
    primary = seen["primary"]
    address, new_type, kind = seen["address"], seen["new_type"], seen["kind"]
    topology = (kind == "topology_changed").to_numpy()
    server = (kind == "server_changed").to_numpy()
    # The old primary stops being the primary: another (or none) named, or it left RSPrimary.
    lost = (topology & (primary != old).to_numpy()) | (
        server & (address == old).to_numpy() & (new_type != RS_PRIMARY).to_numpy()
    )
    if target is not None:
        names = (topology & (primary == target).to_numpy()) | (
            server & (address == target).to_numpy() & (new_type == RS_PRIMARY).to_numpy()
        )
    else:
        names = topology & primary.notna().to_numpy() & (primary != old).to_numpy()
    times = seen["t"].to_numpy()
    lost_t = float(times[np.argmax(lost)]) if lost.any() else None
    if target is not None and target == old:
        if lost_t is None:
            return None
        names &= times > lost_t
    if not names.any():
        return None
    i = int(np.argmax(names))
    row = seen.iloc[i]
    if row["kind"] == "server_changed":
        event = f"{row['address']} {row['previous_type']} → {row['new_type']}"
    else:
        event = f"topology's primary {row['primary']} ({row['new_type']})"
    first_write = None
    if writes is not None and lost_t is not None:
        mine = writes[(writes["worker"] == client).to_numpy() & (writes["t_start"] >= lost_t).to_numpy()]
        if not mine.empty:
            first_write = Moment.after(float(mine["t_end"].min()), fault.t_inject)
    return ClientRediscovery(
        client=client,
        found=Moment.after(float(times[i]), fault.t_inject),
        event=event,
        lost=Moment.after(lost_t, fault.t_inject) if lost_t is not None else None,
        first_write=first_write,
    )


def _successful_writes(events: pd.DataFrame, fault: Fault) -> pd.DataFrame:
    t_start = events["t_start"].to_numpy()
    ok = events["ok"].to_numpy() & events["is_write"].to_numpy()
    inside = (t_start >= fault.t_inject) & (t_start < fault.horizon_end)
    return events.loc[ok & inside, ["worker", "t_start", "t_end"]]


def witnessed(election: Election | None, rediscovery: Rediscovery | None) -> Election | None:
    """The election dated by its first witness: a driver that found the new primary (elected,
    then writable) after `not_before` but before the probe saw it moves `at` earlier."""
    if election is None or rediscovery is None or election.not_before is None:
        return election
    found = rediscovery.first
    if not election.not_before.t <= found.t < election.at.t:
        return election
    return election.model_copy(update={"at": found, "witnessed": "driver", "probed": election.at})


def causal_errors(
    election: Election | None, rediscovery: Rediscovery | None, writes: WriteWindow | None
) -> list[str]:
    """The orderings a measured failover must respect, each one broken as one sentence:

    - no driver finds the new primary before it was elected (`election.not_before`);
    - each client's driver found it no later than that client's first successful write after
      it lost the old primary (the write had to be sent to a primary the driver knew);
    - when a new member took over and writes were disrupted, they did not stay available again
      before any driver had found it. Writes that recovered before the new member could have been
      elected were served by the old primary (a stray failure early in a fault), not an inversion.
    """
    errors: list[str] = []
    if rediscovery is None:
        return errors
    if election is not None and election.not_before is not None:
        early = [c for c in rediscovery.clients if c.found.t < election.not_before.t]
        errors += [
            f"client {c.client}'s driver found {election.new_primary} at {offset(c.found.after_s)}, "
            f"before it was elected (not before {offset(election.not_before.after_s)})"
            for c in early
        ]
    errors += [
        f"client {c.client}'s driver found the new primary at {offset(c.found.after_s)}, after its "
        f"first successful write at {offset(c.first_write.after_s)}"
        for c in rediscovery.clients
        if c.first_write is not None and c.found.t > c.first_write.t
    ]
    if (
        election is not None
        and election.new_primary != election.old_primary
        and writes is not None
        and writes.first_bad is not None
        and writes.recovered is not None
        and writes.recovered.t < rediscovery.first.t
        and (election.not_before is None or writes.recovered.t >= election.not_before.t)
    ):
        errors.append(
            f"writes recovered at {offset(writes.recovered.after_s)}, before any driver found the new "
            f"primary ({offset(rediscovery.first.after_s)})"
        )
    return errors
