"""Time series for the report's plots, binned so that even a day-long run gives a few thousand points.

Bins start at the run's first whole second and are `bin_s` wide (one second, or wider so that
there are at most MAX_BINS). Requests count in the bin in which they completed. Series are
columns aligned with `start`; a bin without data holds null.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reports.availability import is_canary
from reports.columns import codes_and_values, matches
from reports.results import Result
from reports.stats import Ranked

MAX_BINS = 2000


class LatencySeries(Result):
    group: str  # operations' names up to the first dot: prompts, vectors, canary, ...
    count: list[int]
    p50_ms: list[float | None]
    p95_ms: list[float | None]
    p99_ms: list[float | None]
    max_ms: list[float | None]


class LagSeries(Result):
    member: str
    max_lag_s: list[float | None]


class Timeline(Result):
    bin_s: float
    start: list[float]
    ops_ok: list[int]
    ops_failed: list[int]
    writes_ok: list[int]
    writes_failed: list[int]
    canary_ok: list[int]
    canary_failed: list[int]
    latency: list[LatencySeries]  # successful operations, per operation group
    lag: list[LagSeries]


def timeline(
    events: pd.DataFrame, ranked: Ranked, probes: pd.DataFrame | None, run_start: float, run_end: float
) -> Timeline:
    """`ranked` is `reports.latency.successful_durations(events)`."""
    origin = math.floor(run_start)
    bin_s = float(max(1, math.ceil((run_end - origin) / MAX_BINS)))
    n_bins = max(1, math.ceil((run_end - origin) / bin_s + 1e-9))
    bins = np.minimum(((events["t_end"].to_numpy() - origin) // bin_s).astype(np.int64), n_bins - 1)

    ok = events["ok"].to_numpy()
    writes = events["is_write"].to_numpy()
    canary = matches(events["op"], is_canary) & writes
    op_codes, ops = codes_and_values(events["op"])

    def count(mask: np.ndarray) -> list[int]:
        return np.bincount(bins[mask], minlength=n_bins).tolist()

    groups = sorted({op.split(".", 1)[0] for op in ops})
    group_of_op = np.array([groups.index(op.split(".", 1)[0]) for op in ops], dtype=np.int64)
    keys = group_of_op[op_codes[ok]] * n_bins + bins[ok]
    stats = ranked.stats(keys, len(groups) * n_bins)
    latency = [
        LatencySeries(
            group=group,
            count=stats.count[g * n_bins : (g + 1) * n_bins].tolist(),
            p50_ms=_column(stats.percentiles[50.0], g, n_bins),
            p95_ms=_column(stats.percentiles[95.0], g, n_bins),
            p99_ms=_column(stats.percentiles[99.0], g, n_bins),
            max_ms=_column(stats.max, g, n_bins),
        )
        for g, group in enumerate(groups)
    ]
    return Timeline(
        bin_s=bin_s,
        start=(origin + bin_s * np.arange(n_bins)).tolist(),
        ops_ok=count(ok),
        ops_failed=count(~ok),
        writes_ok=count(ok & writes),
        writes_failed=count(~ok & writes),
        canary_ok=count(ok & canary),
        canary_failed=count(~ok & canary),
        latency=latency,
        lag=_lag(probes, origin, bin_s, n_bins) if probes is not None else [],
    )


def _column(values: np.ndarray, group: int, n_bins: int) -> list[float | None]:
    part = values[group * n_bins : (group + 1) * n_bins]
    return [None if np.isnan(v) else float(v) for v in part]


def _lag(probes: pd.DataFrame, origin: float, bin_s: float, n_bins: int) -> list[LagSeries]:
    rows = probes[probes["reachable"].to_numpy() & probes["lag_s"].notna().to_numpy()]
    bins = np.clip(((rows["t"].to_numpy() - origin) // bin_s).astype(np.int64), 0, n_bins - 1)
    frame = pd.DataFrame({"member": rows["member"].to_numpy(), "bin": bins, "lag": rows["lag_s"].to_numpy()})
    top = frame.groupby(["member", "bin"])["lag"].max()
    series = []
    for member, per_bin in top.groupby(level="member", sort=True):
        column = np.full(n_bins, np.nan)
        column[per_bin.index.get_level_values("bin")] = per_bin.to_numpy()
        series.append(
            LagSeries(member=str(member), max_lag_s=[None if np.isnan(v) else float(v) for v in column])
        )
    return series
