"""Error rates per phase, and failures counted per phase, operation and error class.

The error rate of a phase is failed requests over all requests that started in it. A failure
recorded without an error class is counted as `unclassified`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.columns import codes_and_values
from reports.phases import PHASES, Phase
from reports.results import Result

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


def error_tables(events: pd.DataFrame, phase_codes: np.ndarray) -> ErrorTables:
    n_phases = len(PHASES)
    failed = ~events["ok"].to_numpy()
    requests = np.bincount(phase_codes, minlength=n_phases)
    failures = np.bincount(phase_codes[failed], minlength=n_phases)
    by_phase = [
        PhaseErrors(
            phase=phase,
            requests=int(requests[i]),
            failed=int(failures[i]),
            error_rate=float(failures[i] / requests[i]) if requests[i] else None,
        )
        for i, phase in enumerate(PHASES)
    ]
    op_codes, ops = codes_and_values(events["op"])
    class_codes, classes = codes_and_values(events["error_class"])
    classes = [UNCLASSIFIED, *classes]  # code -1 (no class) becomes index 0
    n_ops, n_classes = len(ops), len(classes)
    keys = (
        (phase_codes[failed].astype(np.int64) * n_ops + op_codes[failed]) * n_classes
        + class_codes[failed]
        + 1
    )
    counts = np.bincount(keys, minlength=n_phases * n_ops * n_classes)
    rows = [
        ErrorCount(
            phase=PHASES[key // (n_ops * n_classes)],
            op=ops[key // n_classes % n_ops],
            error_class=classes[key % n_classes],
            count=int(counts[key]),
        )
        for key in np.flatnonzero(counts)
    ]
    rows.sort(key=lambda r: (-r.count, PHASES.index(r.phase), r.op, r.error_class))
    return ErrorTables(by_phase=by_phase, by_class=rows)
