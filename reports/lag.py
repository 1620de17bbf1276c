"""Replication lag per member as mongod's monitoring tools report it, judged while the load ran.

Which samples. `rs.printSecondaryReplicationInfo()` (mongosh) is run on the primary: every
secondary's lag is read from the primary's own `replSetGetStatus`, which knows its own position
exactly and hears each secondary's as it applies. So the lag of a member is taken from the rows
in which an observer that is PRIMARY describes another member; other observers know the
primary's position only from heartbeats, up to one heartbeat interval late.

Per sample. The lag is the probe's (`chaos.probes.lag_behind`): the primary's last applied
operation's time minus the member's, while the primary has applied an operation the member has
not (optimes compared), else zero. An idle set lags by nothing however old its last write, and
because a member found caught up at t0 can miss nothing written before t0, a later sample's lag
is bounded by the time since the primary last saw the member caught up: the first write after
an idle spell is not read as a lag as long as the spell (Ops Manager's "idle replica set"
false alarm).

After an election. The new primary's optime moves into the new term while a secondary that
holds every entry of the old term has not yet received the first ones of the new term: the
dates would read the whole election gap as lag. The new primary's last own answer in an
earlier term (at t0, optime O) dates the term's start: everything it wrote in the new term
came after t0, so a member holding O or later misses only what was written since t0, and its
lag is bounded by the time since t0. A member short of O is missing old-term entries too, and
keeps its full lag.

When. Only samples answered while the load ran count (first request to last completion): the
drain, the verification and the teardown are left out. The SLO judges the steady phase.

Down members. A member the primary sees down or cut off (health 0), or in any state but
SECONDARY (RECOVERING, STARTUP2, ROLLBACK: still catching up), has no steady-state lag to
judge: how long it was unavailable, and how far behind it was while catching up, are reported
on their own (`unavailable_s`, `max_catching_up_s`) and never judged against the target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.phases import PHASES, Phase, PhaseWindow, assign
from reports.results import Result

AVAILABLE = "SECONDARY"
NO_DATA = frozenset({"PRIMARY", "ARBITER"})  # a deposed primary not yet told, or no data at all
OPTIME = ["optime_term", "optime_ts"]


class MemberLag(Result):
    member: str
    samples: int  # the primary's answers describing the member while the load ran
    max_lag_s: float | None  # the largest lag as an available SECONDARY, any phase
    max_at: float | None
    max_steady_lag_s: float | None  # None: no steady-phase sample as an available SECONDARY
    max_steady_at: float | None
    steady_samples: int = 0
    unavailable_samples: int = 0  # down, cut off, or not SECONDARY in the primary's view
    unavailable_s: float = 0.0  # the time those samples cover, to each one's next answer
    max_catching_up_s: float | None = None  # the largest lag while reachable but not SECONDARY


def lag_samples(probes: pd.DataFrame, run_start: float, run_end: float) -> pd.DataFrame:
    """The primary's view of every other member while the load ran, in time order, with columns
    t, member, lag_s (bounded as the module says; null when unknown), available, covers_s (the
    time to the next answer about the same member from the same primary)."""
    t = probes["t"].to_numpy()
    view = (
        probes["reachable"].to_numpy()
        & (probes["observer"].to_numpy() == probes["primary"].to_numpy())
        & (probes["member"].to_numpy() != probes["observer"].to_numpy())
        & ~probes["state"].isin(NO_DATA).to_numpy()
        & (t >= run_start)
        & (t <= run_end)
    )
    rows = probes.loc[view, ["t", "observer", "member", "state", "health", "lag_s", *OPTIME]]
    rows = rows.sort_values(["observer", "member", "t"], kind="stable")
    keys = [rows["observer"].astype(str), rows["member"].astype(str)]
    lag = rows["lag_s"].astype(float)
    healthy = rows["health"].to_numpy() > 0
    caught_up = rows["t"].where((lag == 0.0).to_numpy() & healthy)
    # The last answer before this one in which the member had everything the primary had.
    last_caught_up = caught_up.groupby(keys).shift(1)
    last_caught_up = last_caught_up.groupby(keys).ffill()
    bounded = np.fmin(lag.to_numpy(), (rows["t"] - last_caught_up).to_numpy())
    bounded = np.fmin(bounded, rows["t"].to_numpy() - _term_start(probes, rows))
    covers = rows["t"].groupby(keys).shift(-1) - rows["t"]
    frame = pd.DataFrame(
        {
            "t": rows["t"].to_numpy(),
            "member": rows["member"].astype(str).to_numpy(),
            "lag_s": np.where(np.isnan(lag.to_numpy()), np.nan, bounded),
            "available": healthy & (rows["state"].to_numpy() == AVAILABLE),
            "covers_s": covers.fillna(0.0).to_numpy(),
        }
    )
    return frame.sort_values("t", kind="stable", ignore_index=True)


def _term_start(probes: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Per row of `rows` (the primary's answers), t0 as the module says when the member holds the
    primary's last optime of an earlier term; NaN otherwise or when unknown."""
    own = probes.loc[
        probes["reachable"].to_numpy()
        & (probes["member"].to_numpy() == probes["observer"].to_numpy())
        & probes["optime_term"].notna().to_numpy(),
        ["t", "observer", *OPTIME],
    ]
    own = own.astype({c: "Int64" for c in OPTIME}).sort_values(["observer", "t"], kind="stable")
    before = own.groupby("observer")[["t", *OPTIME]].shift(1)
    changed = (own["optime_term"] != before["optime_term"]).fillna(True)
    rose = (own["optime_term"] > before["optime_term"]).fillna(False)
    # At the first answer in a higher term: the answer before it, carried through that term.
    start = before.where(rose, axis=0).rename(columns=lambda c: f"start_{c}")
    start = start.groupby([own["observer"], changed.cumsum()]).ffill()
    found = rows[["t", "observer", *OPTIME]].astype({c: "Int64" for c in OPTIME})
    found = found.merge(
        pd.concat([own[["t", "observer"]], start], axis=1).drop_duplicates(["t", "observer"]),
        on=["t", "observer"],
        how="left",
    )
    term, ts = found["optime_term"], found["optime_ts"]
    start_term, start_ts = found["start_optime_term"], found["start_optime_ts"]
    holds = ((term > start_term) | ((term == start_term) & (ts >= start_ts))).fillna(False)
    return found["start_t"].astype(float).where(holds.to_numpy()).to_numpy()


def replication_lag(samples: pd.DataFrame, windows: list[PhaseWindow]) -> list[MemberLag]:
    """Per member (in name order) from `lag_samples`; `windows` are the run's phase windows."""
    steady = assign(samples["t"].to_numpy(), windows) == PHASES.index(Phase.STEADY)
    samples = samples.assign(steady=steady)
    result = []
    for member, group in samples.groupby("member", sort=True):
        available = group[group["available"].to_numpy() & group["lag_s"].notna().to_numpy()]
        in_steady = available[available["steady"].to_numpy()]
        away = group[~group["available"].to_numpy()]
        top, steady_top = _largest(available), _largest(in_steady)
        catching_up = away["lag_s"].dropna()
        result.append(
            MemberLag(
                member=str(member),
                samples=len(group),
                max_lag_s=top[0],
                max_at=top[1],
                max_steady_lag_s=steady_top[0],
                max_steady_at=steady_top[1],
                steady_samples=len(in_steady),
                unavailable_samples=len(away),
                unavailable_s=float(away["covers_s"].sum()),
                max_catching_up_s=float(catching_up.max()) if not catching_up.empty else None,
            )
        )
    return result


def _largest(rows: pd.DataFrame) -> tuple[float | None, float | None]:
    if rows.empty:
        return None, None
    top = rows.loc[rows["lag_s"].idxmax()]
    return float(top["lag_s"]), float(top["t"])


def worst_steady_lag(lags: list[MemberLag]) -> MemberLag | None:
    """The member with the largest steady-phase lag, if any member had a steady sample."""
    judged = [m for m in lags if m.max_steady_lag_s is not None]
    return max(judged, key=lambda m: m.max_steady_lag_s or 0.0) if judged else None
