"""Throughput recovery: how long after a fault the per-second throughput is back to normal.

Throughput is successful operations per second, counted by completion time in one-second bins
aligned on the injection (bin k covers [t_inject + k, t_inject + k + 1)). The baseline is the
median over the bins of the `windows.baseline_s` seconds before the injection that lie wholly in
the steady phase (and in the run). Throughput has recovered at bin k (k >= 0, whole bins inside
the horizon) when every bin from k on stays at or above `fraction` x baseline for `stable_s`
seconds, the stability window being cut short as for write availability (see
`reports.availability.stable_until`). The recovery time is k seconds: 0 means throughput never
dropped below the target; the resolution is one second.
"""

from __future__ import annotations

import math

import numpy as np

from reports.availability import stable_until
from reports.faults import Fault
from reports.phases import Phase, PhaseWindow, window_index
from reports.results import Moment, Result


class ThroughputRecovery(Result):
    baseline_per_s: float | None  # None: no steady-state second before the fault
    baseline_seconds: int
    target_per_s: float | None
    min_per_s: float | None  # the lowest second after the injection, within the horizon
    recovered: Moment | None


def throughput_recovery(
    fault: Fault,
    completions: np.ndarray,
    windows: list[PhaseWindow],
    run_start: float,
    inject_times: np.ndarray,
    *,
    fraction: float,
    baseline_s: float,
    stable_s: float,
) -> ThroughputRecovery:
    """`completions`: successful operations' completion times, sorted."""
    t0 = fault.t_inject
    first_k = max(-math.floor(baseline_s), math.ceil(run_start - t0))
    before_k = np.arange(first_k, 0)
    starts = t0 + before_k
    first_window = window_index(starts, windows)
    # The window holding a bin's last instant: the last one starting before the bin ends.
    last_window = np.searchsorted([w.start for w in windows], starts + 1, side="left") - 1
    steady = np.array([w.phase is Phase.STEADY for w in windows], dtype=bool)[first_window]
    wholly_steady = steady & (first_window == last_window)
    baseline_bins = _counts(completions, starts[wholly_steady])
    n_after = max(0, math.floor(fault.horizon_end - t0))
    after = _counts(completions, t0 + np.arange(n_after))
    if not len(baseline_bins):
        return ThroughputRecovery(
            baseline_per_s=None,
            baseline_seconds=0,
            target_per_s=None,
            min_per_s=float(after.min()) if n_after else None,
            recovered=None,
        )
    baseline = float(np.median(baseline_bins))
    target = fraction * baseline
    recovered = None
    if n_after:
        good = after >= target
        # next_bad[k]: the first bin at or after k below the target (n_after if none).
        index = np.where(good, n_after, np.arange(n_after))
        next_bad = np.minimum.accumulate(index[::-1])[::-1]
        bin_starts = t0 + np.arange(n_after)
        window_end = stable_until(bin_starts, stable_s, inject_times, fault.horizon_end)
        last_bin = np.maximum(np.arange(n_after) + 1, np.floor(window_end - t0).astype(np.int64))
        ok = next_bad >= np.minimum(last_bin, n_after)
        if ok.any():
            recovered = Moment.after(float(bin_starts[np.argmax(ok)]), t0)
    return ThroughputRecovery(
        baseline_per_s=baseline,
        baseline_seconds=len(baseline_bins),
        target_per_s=target,
        min_per_s=float(after.min()) if n_after else None,
        recovered=recovered,
    )


def _counts(completions: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many completions fall in each one-second bin [start, start + 1)."""
    return np.searchsorted(completions, starts + 1, side="left") - np.searchsorted(
        completions, starts, side="left"
    )
