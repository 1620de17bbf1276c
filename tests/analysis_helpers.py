"""Helpers for the analysis tests: load a builder's run and state a steady cluster's probes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reports.faults import Fault
from reports.load import RunData, load_run
from reports.synthetic.builder import ORIGIN, RunBuilder


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


def healthy(b: RunBuilder, start: float, end: float) -> None:
    b.series("canary.write", start, end, every=0.1, is_write=True)
    b.series("prompts.get", start, end, every=0.05, duration_ms=20.0)


def kill_primary_run(outage_s: float = 2.0, origin: float = ORIGIN) -> RunBuilder:
    """m0 killed at 30; writes fail for `outage_s`; m1 elected at 31.5; healed at 45; 60 s run
    (times after `origin`)."""
    b = RunBuilder(origin=origin)
    healthy(b, 0, 30)
    b.series("canary.write", 30, 30 + outage_s, every=0.1, is_write=True, ok=False)
    b.series("prompts.get", 30, 30 + outage_s, every=0.05, ok=False)
    healthy(b, 30 + outage_s, 60)
    b.fault("f1", 30.0, heal=45.0)
    probe_rounds(b, 0, 30, every=0.25, primary="m0", term=1)
    for t in (30.0, 30.25, 30.5, 30.75, 31.0, 31.25):
        b.probe_round(t, {"m0": None, "m1": ("SECONDARY", 1), "m2": ("SECONDARY", 1)})
    for t in (31.5, 31.75):
        b.probe_round(t, {"m0": None, "m1": ("PRIMARY", 2), "m2": ("SECONDARY", 2)})
    for t in range(32, 60):
        old = ("SECONDARY", 2) if t >= 45 else None
        b.probe_round(t, {"m0": old, "m1": ("PRIMARY", 2), "m2": ("SECONDARY", 2)})
    b.discovered(1.0, "worker-1", "m0")
    b.discovered(31.9, "worker-1", "m1")
    b.verify()
    return b
