"""Error rates per phase, and failures counted per phase, operation and error class.

The error rate of a phase is failed requests over all requests that started in it. A failure
recorded without an error class is counted as `unclassified`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    frame = pd.DataFrame(
        {
            "phase": phase_codes[failed],
            "op": events["op"].to_numpy()[failed],
            "error_class": events["error_class"].astype("string").fillna(UNCLASSIFIED).to_numpy()[failed],
        }
    )
    counts = frame.value_counts(sort=False).reset_index(name="count")
    counts = counts.sort_values(["count", "phase", "op", "error_class"], ascending=[False, True, True, True])
    by_class = [
        ErrorCount(
            phase=PHASES[int(r.phase)], op=str(r.op), error_class=str(r.error_class), count=int(r.count)
        )
        for r in counts.itertuples()
    ]
    return ErrorTables(by_phase=by_phase, by_class=by_class)
