"""Error rates per phase, and failures counted per phase, operation and error class.

The error rate of a phase is failed requests over all requests that started in it. A failure
recorded without an error class is counted as `unclassified`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from reports.columns import Vocabulary
from reports.phases import PHASES, Phase
from reports.results import Result
from reports.stats import Tally

UNCLASSIFIED = "unclassified"


class PhaseErrors(Result):
    phase: Phase
    requests: int
    failed: int
    error_rate: float | None  # None when no request started in the phase


class ErrorCount(Result):
    phase: Phase
    op: str
    error_class: str
    count: int


class ErrorTables(Result):
    by_phase: list[PhaseErrors]
    by_class: list[ErrorCount]  # most frequent first

    def rate(self, phase: Phase) -> PhaseErrors:
        return next(p for p in self.by_phase if p.phase is phase)


class ErrorCounter:
    """Error tables accumulated over row batches of events (`add`), for `tables` at the end."""

    def __init__(self) -> None:
        self.ops = Vocabulary()
        self.classes = Vocabulary()
        self._requests = Tally()
        self._failures = Tally()
        self._by_class: Counter[tuple[int, int, int]] = Counter()  # (phase, op, class) codes

    def add(self, events: pd.DataFrame, phase_codes: np.ndarray) -> None:
        failed = ~events["ok"].to_numpy()
        self._requests.add(phase_codes.astype(np.int64))
        self._failures.add(phase_codes[failed].astype(np.int64))
        if not failed.any():
            return
        ops = self.ops.codes(events["op"])[failed]
        classes = self.classes.codes(events["error_class"])[failed]  # -1: no class
        keys = np.stack([phase_codes[failed].astype(np.int64), ops, classes], axis=1)
        found, counts = np.unique(keys, axis=0, return_counts=True)
        self._by_class.update(
            {tuple(k): int(c) for k, c in zip(found.tolist(), counts.tolist(), strict=True)}
        )

    def tables(self) -> ErrorTables:
        n_phases = len(PHASES)
        requests, failures = self._requests.counts(n_phases), self._failures.counts(n_phases)
        by_phase = [
            PhaseErrors(
                phase=phase,
                requests=int(requests[i]),
                failed=int(failures[i]),
                error_rate=float(failures[i] / requests[i]) if requests[i] else None,
            )
            for i, phase in enumerate(PHASES)
        ]
        rows = [
            ErrorCount(
                phase=PHASES[phase],
                op=self.ops.values[op],
                error_class=self.classes.values[cls] if cls >= 0 else UNCLASSIFIED,
                count=count,
            )
            for (phase, op, cls), count in self._by_class.items()
        ]
        rows.sort(key=lambda r: (-r.count, PHASES.index(r.phase), r.op, r.error_class))
        return ErrorTables(by_phase=by_phase, by_class=rows)


def error_tables(events: pd.DataFrame, phase_codes: np.ndarray) -> ErrorTables:
    """The tables of one frame of events."""
    counter = ErrorCounter()
    counter.add(events, phase_codes)
    return counter.tables()
