"""Each member's state over time, as spans, from the probes (for the report's state timeline).

A member's own answer about itself is used; a member that did not answer is UNREACHABLE from
that probe on. A span lasts until the member's next change (its last span until its last
sample). Runs whose probes hold no self-reports fall back to every observer's view in time order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.results import Result

UNREACHABLE = "UNREACHABLE"


class StateSpan(Result):
    member: str
    state: str
    term: int | None
    start: float
    end: float


def member_states(probes: pd.DataFrame) -> list[StateSpan]:
    """`probes` sorted by `t`, names canonical; spans by member, then time."""
    reachable = probes["reachable"].to_numpy()
    own = (probes["observer"] == probes["member"]).to_numpy()
    rows = probes[own | ~reachable] if (own & reachable).any() else probes
    rows = rows.assign(state=np.where(rows["reachable"].to_numpy(), rows["state"].to_numpy(), UNREACHABLE))
    spans: list[StateSpan] = []
    for member, group in rows.groupby("member", sort=True):
        t = group["t"].to_numpy()
        state = group["state"].to_numpy()
        term = group["term"].to_numpy()
        changed = np.ones(len(group), dtype=bool)
        changed[1:] = (state[1:] != state[:-1]) | (term[1:] != term[:-1])
        starts = np.flatnonzero(changed)
        ends = np.append(t[starts[1:]], t[-1])
        spans += [
            StateSpan(
                member=str(member),
                state=str(state[i]),
                term=int(term[i]) if term[i] >= 0 else None,
                start=float(t[i]),
                end=float(end),
            )
            for i, end in zip(starts, ends, strict=True)
        ]
    return spans
