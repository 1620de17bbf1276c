"""The moments of a failover as the cluster and the clients saw them: detection, election, rediscovery.

Each looks only inside the fault's horizon (see `reports.faults`), from the injection on.

- Detection: the first moment, at or after the injection, at which a client could tell: an
  operation failed (any error class but duplicate_key, which means the server answered) at its
  completion, or an operation became slow (`slow_op_ms` after it started). The second matters
  because retryable writes and reads hide a failover as a stall rather than an error.
- Election: the first probe sample after the injection in which a member reports *itself*
  PRIMARY with a higher term than the highest seen by the injection, or is another member than
  the primary at injection. A member's own answer is used because observers may report a dead
  primary as PRIMARY until their heartbeats time out.
- Rediscovery: the first driver discovery event naming the new primary (the topology's primary,
  or a server that became RSPrimary). When the same member is re-elected, only events after the
  driver first lost it count.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from reports.columns import matches
from reports.faults import Fault
from reports.results import Moment, Result
from reports.rundir import ErrorClass

PRIMARY = "PRIMARY"
RS_PRIMARY = "RSPrimary"


class Detection(Result):
    at: Moment
    op: str
    how: Literal["failed", "stalled"]
    error_class: str | None  # of a failure, or of a stalled operation that failed in the end


class Election(Result):
    at: Moment
    new_primary: str
    term: int | None
    old_primary: str | None
    term_before: int | None


class Rediscovery(Result):
    first: Moment  # the first client that found the new primary
    client: str
    last: Moment | None  # when the last client found it; None unless every client did
    clients_found: int
    clients_total: int


def symptoms(events: pd.DataFrame, slow_op_ms: float) -> pd.DataFrame:
    """Operations that failed or stalled, with `noticed`: when a client could first tell."""
    failed = ~events["ok"].to_numpy() & ~matches(
        events["error_class"], lambda v: v == ErrorClass.DUPLICATE_KEY
    )
    stalled = events["duration_ms"].to_numpy() > slow_op_ms
    picked = events[failed | stalled]
    slow = picked["duration_ms"].to_numpy() > slow_op_ms
    noticed = np.where(slow, picked["t_start"].to_numpy() + slow_op_ms / 1000.0, picked["t_end"].to_numpy())
    return picked[["op", "error_class"]].assign(noticed=noticed, stalled=slow)


def detect(fault: Fault, symptoms: pd.DataFrame) -> Detection | None:
    """`symptoms` as from `symptoms(events, slow_op_ms)`, in any order."""
    noticed = symptoms["noticed"].to_numpy()
    inside = symptoms[(noticed >= fault.t_inject) & (noticed < fault.horizon_end)]
    if inside.empty:
        return None
    first = inside.iloc[int(np.argmin(inside["noticed"].to_numpy()))]
    error_class = first["error_class"]
    return Detection(
        at=Moment.after(float(first["noticed"]), fault.t_inject),
        op=str(first["op"]),
        how="stalled" if first["stalled"] else "failed",
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

    after = rows[(t > fault.t_inject) & (t < fault.horizon_end) & (rows["state"] == PRIMARY).to_numpy()]
    new = after["member"] != old_primary
    if term_before is not None:
        new = new | (after["term"] > term_before)
    elected = after[new.to_numpy()]
    if elected.empty:
        return None
    first = elected.iloc[0]
    return Election(
        at=Moment.after(float(first["t"]), fault.t_inject),
        new_primary=str(first["member"]),
        term=int(first["term"]) if first["term"] >= 0 else None,
        old_primary=old_primary,
        term_before=term_before,
    )


def rediscover(fault: Fault, discovery: pd.DataFrame, election: Election | None) -> Rediscovery | None:
    """`discovery` sorted by `t`, names canonical. Without an election, any primary other than
    the one at injection counts."""
    t = discovery["t"].to_numpy()
    window = discovery[(t >= fault.t_inject) & (t < fault.horizon_end)]
    old = election.old_primary if election is not None else fault.primary_before
    primary = window["primary"]
    if election is not None:
        target = election.new_primary
        names_it = (primary == target) | ((window["address"] == target) & (window["new_type"] == RS_PRIMARY))
        names_it = names_it.fillna(False).to_numpy(dtype=bool)
        if target == old:
            lost = ~names_it
            if not lost.any():
                return None
            times = window["t"].to_numpy()
            names_it = names_it & (times > times[np.argmax(lost)])
    else:
        names_it = (primary.notna() & (primary != old)).to_numpy(dtype=bool)
    found = window[names_it]
    if found.empty:
        return None
    per_client = found.groupby("client", sort=False)["t"].min()
    clients_total = discovery["client"].nunique()
    first_client = str(per_client.idxmin())
    every = len(per_client) == clients_total
    return Rediscovery(
        first=Moment.after(float(per_client.min()), fault.t_inject),
        client=first_client,
        last=Moment.after(float(per_client.max()), fault.t_inject) if every else None,
        clients_found=len(per_client),
        clients_total=int(clients_total),
    )
