"""Latency per operation and phase: count, average, p50, p95, p99, maximum and slow operations.

Only successful operations are measured (a failure's duration is how long it took to give up,
which the error tables count). An operation is slow when it took longer than the SLO profile's
`slow_op_ms`. Rows with op `*` cover every operation of the phase.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.columns import Vocabulary
from reports.phases import PHASES, Phase
from reports.results import Result
from reports.slo import ALL_OPERATIONS
from reports.stats import Distribution, GroupStats, Tally


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


class LatencyTable:
    """The table accumulated over row batches of events (`add`), for `rows` at the end."""

    def __init__(self, slow_op_ms: float) -> None:
        self.slow_op_ms = slow_op_ms
        self.ops = Vocabulary()
        self._per_phase = Distribution()
        self._per_op = Distribution()
        self._slow_per_phase = Tally()
        self._slow_per_op = Tally()

    def add(self, events: pd.DataFrame, phase_codes: np.ndarray) -> None:
        """A batch of events and their phase codes (`reports.phases.assign` of their starts)."""
        ok = events["ok"].to_numpy()
        durations = events["duration_ms"].to_numpy()[ok]
        phases = phase_codes[ok].astype(np.int64)
        keys = self.ops.codes(events["op"])[ok] * len(PHASES) + phases
        slow = durations > self.slow_op_ms
        self._per_phase.add(phases, durations)
        self._per_op.add(keys, durations)
        self._slow_per_phase.add(phases[slow])
        self._slow_per_op.add(keys[slow])

    def rows(self) -> list[LatencyRow]:
        """Rows for every (operation, phase) with successful operations; `*` rows first."""
        n_phases, n_keys = len(PHASES), len(self.ops.values) * len(PHASES)
        rows = _rows(self._per_phase.stats(n_phases), self._slow_per_phase.counts(n_phases), [ALL_OPERATIONS])
        by_op = _rows(self._per_op.stats(n_keys), self._slow_per_op.counts(n_keys), self.ops.values)
        return rows + sorted(by_op, key=lambda r: (r.op, PHASES.index(r.phase)))


def latency_table(events: pd.DataFrame, phase_codes: np.ndarray, slow_op_ms: float) -> list[LatencyRow]:
    """The table of one frame of events."""
    table = LatencyTable(slow_op_ms)
    table.add(events, phase_codes)
    return table.rows()


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
