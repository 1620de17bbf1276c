"""Time series for the report's plots, binned so that even a day-long run gives a few thousand points.

Bins start at the run's first whole second and are `bin_s` wide (one second, or wider so that
there are at most MAX_BINS). Requests count in the bin in which they completed. Series are
columns aligned with `start`; a bin without data holds null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.availability import is_canary
from reports.columns import Vocabulary
from reports.results import Result
from reports.stats import Distribution

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


class ResourceSeries(Result):
    source: str  # "host", "hubchaos", "worker-<n>", a member's name (contract.rundir.ResourceSample)
    role: str
    cpu: list[float | None]  # the largest CPU use per bin, in cores


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
    resources: list[ResourceSeries] = []
    runnable: list[float | None] = []  # the host's largest run queue per bin (no host samples: empty)


class TimelineBins:
    """The request series accumulated over row batches of events (`add`); `timeline` at the end."""

    def __init__(self, run_start: float, run_end: float) -> None:
        self.origin = math.floor(run_start)
        self.bin_s = float(max(1, math.ceil((run_end - self.origin) / MAX_BINS)))
        self.n_bins = max(1, math.ceil((run_end - self.origin) / self.bin_s + 1e-9))
        self.ops = Vocabulary()
        self.groups = Vocabulary()  # operations' names up to the first dot
        self._group_of_op: list[int] = []
        self._counts = {name: np.zeros(self.n_bins, dtype=np.int64) for name in _COUNTED}
        self._latency = Distribution()

    def add(self, events: pd.DataFrame) -> None:
        n_bins = self.n_bins
        bins = np.minimum(
            ((events["t_end"].to_numpy() - self.origin) // self.bin_s).astype(np.int64), n_bins - 1
        )
        ok = events["ok"].to_numpy()
        writes = events["is_write"].to_numpy()
        op_codes = self.ops.codes(events["op"])
        for op in self.ops.values[len(self._group_of_op) :]:
            self._group_of_op.append(self.groups.code(op.split(".", 1)[0]))
        canary = np.array([is_canary(op) for op in self.ops.values] + [False], dtype=bool)[op_codes] & writes
        for name, mask in (
            ("ops_ok", ok),
            ("ops_failed", ~ok),
            ("writes_ok", ok & writes),
            ("writes_failed", ~ok & writes),
            ("canary_ok", ok & canary),
            ("canary_failed", ~ok & canary),
        ):
            self._counts[name] += np.bincount(bins[mask], minlength=n_bins)
        group = np.array(self._group_of_op, dtype=np.int64)[op_codes[ok]]
        self._latency.add(group * n_bins + bins[ok], events["duration_ms"].to_numpy()[ok])

    def timeline(self, lag: pd.DataFrame | None, resources: pd.DataFrame | None = None) -> Timeline:
        """`lag` is `reports.lag.lag_samples` (None: no probes), `resources` the run's samples."""
        n_bins = self.n_bins
        names = self.groups.values
        stats = self._latency.stats(len(names) * n_bins)
        latency = [
            LatencySeries(
                group=names[g],
                count=stats.count[g * n_bins : (g + 1) * n_bins].tolist(),
                p50_ms=_column(stats.percentiles[50.0], g, n_bins),
                p95_ms=_column(stats.percentiles[95.0], g, n_bins),
                p99_ms=_column(stats.percentiles[99.0], g, n_bins),
                max_ms=_column(stats.max, g, n_bins),
            )
            for g in sorted(range(len(names)), key=lambda g: names[g])
        ]
        bins = _Bins(self.origin, self.bin_s, n_bins)
        return Timeline(
            bin_s=self.bin_s,
            start=(self.origin + self.bin_s * np.arange(n_bins)).tolist(),
            **{name: counts.tolist() for name, counts in self._counts.items()},
            latency=latency,
            lag=_lag(lag, bins) if lag is not None else [],
            **(_resources(resources, bins) if resources is not None else {}),
        )


_COUNTED = ("ops_ok", "ops_failed", "writes_ok", "writes_failed", "canary_ok", "canary_failed")


def timeline(
    events: pd.DataFrame,
    lag: pd.DataFrame | None,
    run_start: float,
    run_end: float,
    *,
    resources: pd.DataFrame | None = None,
) -> Timeline:
    """The series of one frame of events."""
    bins = TimelineBins(run_start, run_end)
    bins.add(events)
    return bins.timeline(lag, resources)


def _column(values: np.ndarray, group: int, n_bins: int) -> list[float | None]:
    part = values[group * n_bins : (group + 1) * n_bins]
    return [None if np.isnan(v) else float(v) for v in part]


@dataclass(frozen=True, slots=True)
class _Bins:
    origin: float
    width: float
    count: int

    def largest(self, t: np.ndarray, values: np.ndarray, keys: np.ndarray) -> dict[str, list[float | None]]:
        """Per key, the largest value in each bin; samples outside the bins are left out."""
        bins = np.floor((t - self.origin) / self.width).astype(np.int64)
        inside = (bins >= 0) & (bins < self.count) & ~np.isnan(values)
        frame = pd.DataFrame({"key": keys[inside], "bin": bins[inside], "value": values[inside]})
        top = frame.groupby(["key", "bin"])["value"].max()
        out = {}
        for key, per_bin in top.groupby(level="key", sort=True):
            column = np.full(self.count, np.nan)
            column[per_bin.index.get_level_values("bin")] = per_bin.to_numpy()
            out[str(key)] = [None if np.isnan(v) else float(v) for v in column]
        return out


def _resources(resources: pd.DataFrame, bins: _Bins) -> dict[str, object]:
    t = resources["t"].to_numpy()
    sources = resources["source"].astype(str).to_numpy()
    cpu = bins.largest(t, resources["cpu"].to_numpy(dtype=float), sources)
    roles = dict(zip(sources, resources["role"].astype(str).to_numpy(), strict=True))
    host = bins.largest(t, resources["runnable"].to_numpy(dtype=float), np.full(len(t), "host"))
    return {
        "resources": [ResourceSeries(source=s, role=roles[s], cpu=column) for s, column in cpu.items()],
        "runnable": host.get("host", []),
    }


def _lag(samples: pd.DataFrame, bins: _Bins) -> list[LagSeries]:
    """The largest lag of each available member per bin, as the SLO reads it."""
    rows = samples[samples["available"].to_numpy() & samples["lag_s"].notna().to_numpy()]
    t, lag, members = rows["t"].to_numpy(), rows["lag_s"].to_numpy(dtype=float), rows["member"].to_numpy()
    return [LagSeries(member=m, max_lag_s=column) for m, column in bins.largest(t, lag, members).items()]
