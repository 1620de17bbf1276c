"""Helpers for the analysis tests: load a builder's run and state a steady cluster's probes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reports.faults import Fault
from reports.load import RunData, load_run
from reports.synthetic.builder import RunBuilder


def load(builder: RunBuilder, tmp_path: Path) -> RunData:
    return load_run(builder.write_to(tmp_path / "run"))


def fault(data: RunData, fault_id: str) -> Fault:
    return next(f for f in data.faults if f.fault_id == fault_id)


def inject_times(data: RunData) -> np.ndarray:
    return np.sort([f.t_inject for f in data.faults if f.injected])


def probe_rounds(
    builder: RunBuilder, start: float, end: float, *, every: float, primary: str, term: int
) -> None:
    """Rounds in which every member answers, `primary` being PRIMARY in `term`."""
    for t in np.arange(start, end - 1e-9, every):
        builder.probe_round(
            float(t), {m: ("PRIMARY" if m == primary else "SECONDARY", term) for m in builder.members}
        )
