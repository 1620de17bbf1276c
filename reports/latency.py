"""Latency per operation and phase: count, average, p50, p95, p99, maximum and slow operations.

Only successful operations are measured (a failure's duration is how long it took to give up,
which the error tables count). An operation is slow when it took longer than the SLO profile's
`slow_op_ms`. Rows with op `*` cover every operation of the phase.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.columns import codes_and_values
from reports.phases import PHASES, Phase
from reports.results import Result
from reports.slo import ALL_OPERATIONS
from reports.stats import GroupStats, Ranked


class LatencyRow(Result):
    op: str
    phase: Phase
    count: int
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    slow: int


def successful_durations(events: pd.DataFrame) -> Ranked:
    """The durations of successful operations, ranked once for every table and series."""
    return Ranked(events["duration_ms"].to_numpy()[events["ok"].to_numpy()])


def latency_table(
    events: pd.DataFrame, phase_codes: np.ndarray, slow_op_ms: float, ranked: Ranked
) -> list[LatencyRow]:
    """Rows for every (operation, phase) with successful operations; `*` rows first.
    `ranked` is `successful_durations(events)`."""
    ok = events["ok"].to_numpy()
    phases = phase_codes[ok].astype(np.int64)
    all_codes, ops = codes_and_values(events["op"])
    op_codes = all_codes[ok].astype(np.int64)
    slow = ranked.values > slow_op_ms
    n_phases = len(PHASES)

    rows: list[LatencyRow] = []
    per_phase = ranked.stats(phases, n_phases)
    rows += _rows(per_phase, np.bincount(phases[slow], minlength=n_phases), [ALL_OPERATIONS])
    keys = op_codes * n_phases + phases
    per_op = ranked.stats(keys, len(ops) * n_phases)
    by_op = _rows(per_op, np.bincount(keys[slow], minlength=len(ops) * n_phases), ops)
    rows += sorted(by_op, key=lambda r: (r.op, PHASES.index(r.phase)))
    return rows


def _rows(stats: GroupStats, slow: np.ndarray, ops: list[str]) -> list[LatencyRow]:
    n_phases = len(PHASES)
    return [
        LatencyRow(
            op=ops[key // n_phases],
            phase=PHASES[key % n_phases],
            count=int(stats.count[key]),
            avg_ms=float(stats.mean[key]),
            p50_ms=float(stats.percentiles[50.0][key]),
            p95_ms=float(stats.percentiles[95.0][key]),
            p99_ms=float(stats.percentiles[99.0][key]),
            max_ms=float(stats.max[key]),
            slow=int(slow[key]),
        )
        for key in np.flatnonzero(stats.count)
    ]
