"""Replication lag per member, from the probes: the largest lag any observer reported.

The SLO judges the steady phase only: a member that was down, or is catching up after a heal,
lags by design, and that time belongs to the fault and recovery phases.
"""

from __future__ import annotations

import pandas as pd

from reports.phases import PHASES, Phase, PhaseWindow, assign
from reports.results import Result


class MemberLag(Result):
    member: str
    samples: int
    max_lag_s: float
    max_at: float
    max_steady_lag_s: float | None  # None: no steady-phase sample
    max_steady_at: float | None


def replication_lag(probes: pd.DataFrame, windows: list[PhaseWindow]) -> list[MemberLag]:
    """Members in name order; members never reported with a lag are left out."""
    rows = probes[probes["reachable"].to_numpy() & probes["lag_s"].notna().to_numpy()]
    rows = rows.assign(steady=assign(rows["t"].to_numpy(), windows) == PHASES.index(Phase.STEADY))
    result = []
    for member, group in rows.groupby("member", sort=True):
        top = group.loc[group["lag_s"].idxmax()]
        steady_rows = group[group["steady"].to_numpy()]
        steady_top = steady_rows.loc[steady_rows["lag_s"].idxmax()] if not steady_rows.empty else None
        result.append(
            MemberLag(
                member=str(member),
                samples=len(group),
                max_lag_s=float(top["lag_s"]),
                max_at=float(top["t"]),
                max_steady_lag_s=float(steady_top["lag_s"]) if steady_top is not None else None,
                max_steady_at=float(steady_top["t"]) if steady_top is not None else None,
            )
        )
    return result


def worst_steady_lag(lags: list[MemberLag]) -> MemberLag | None:
    """The member with the largest steady-phase lag, if any member had a steady sample."""
    judged = [m for m in lags if m.max_steady_lag_s is not None]
    return max(judged, key=lambda m: m.max_steady_lag_s or 0.0) if judged else None
