"""Throughput recovery on hand-built logs: requests of 10 ms, so one started at t completes at
t + 0.01 and lands in the bin of t."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analysis_helpers import fault, inject_times, load

from reports.phases import phase_windows
from reports.synthetic.builder import RunBuilder
from reports.throughput import ThroughputRecovery, throughput_recovery


def recovery(b: RunBuilder, tmp_path: Path, fault_id: str = "f1") -> ThroughputRecovery:
    data = load(b, tmp_path)
    windows = phase_windows(data.faults, data.run_start, data.run_end, 30.0)
    ok = data.events["ok"].to_numpy()
    completions = np.sort(data.events["t_end"].to_numpy()[ok])
    return throughput_recovery(
        fault(data, fault_id),
        completions,
        windows,
        data.run_start,
        inject_times(data),
        fraction=0.9,
        baseline_s=30.0,
        stable_s=10.0,
    )


def reads(b: RunBuilder, start: float, end: float, per_s: int, ok: bool = True) -> None:
    b.series("prompts.get", start, end, every=1.0 / per_s, ok=ok)


def test_an_outage_then_full_throughput(tmp_path: Path) -> None:
    b = RunBuilder()
    reads(b, 0, 30, 20)
    reads(b, 30, 33, 20, ok=False)
    reads(b, 33, 60, 20)
    b.fault("f1", 30.0, heal=40.0)
    r = recovery(b, tmp_path)
    assert (r.baseline_per_s, r.baseline_seconds, r.target_per_s) == (20.0, 30, 18.0)
    assert r.min_per_s == 0.0
    assert r.recovered is not None and r.recovered.after_s == pytest.approx(3.0)


def test_a_partial_dip(tmp_path: Path) -> None:
    b = RunBuilder()
    reads(b, 0, 30, 20)
    reads(b, 30, 35, 10)  # half the usual rate: below 90 %
    reads(b, 35, 60, 20)
    b.fault("f1", 30.0)
    r = recovery(b, tmp_path)
    assert r.min_per_s == 10.0
    assert r.recovered is not None and r.recovered.after_s == pytest.approx(5.0)


def test_throughput_that_never_recovers(tmp_path: Path) -> None:
    b = RunBuilder()
    reads(b, 0, 30, 20)
    reads(b, 30, 60, 10)
    b.fault("f1", 30.0)
    r = recovery(b, tmp_path)
    assert r.baseline_per_s == 20.0 and r.recovered is None


def test_a_brief_recovery_that_does_not_last_is_not_recovery(tmp_path: Path) -> None:
    b = RunBuilder()
    reads(b, 0, 30, 20)
    reads(b, 31, 33, 20)  # bins 1 and 2 are back, bins 3 and 4 drop again
    reads(b, 35, 60, 20)
    b.fault("f1", 30.0)
    r = recovery(b, tmp_path)
    assert r.recovered is not None and r.recovered.after_s == pytest.approx(5.0)


def test_a_fault_that_changed_nothing_recovers_at_zero(tmp_path: Path) -> None:
    b = RunBuilder()
    reads(b, 0, 60, 20)
    b.fault("f1", 30.0)
    r = recovery(b, tmp_path)
    assert r.min_per_s == 20.0
    assert r.recovered is not None and r.recovered.after_s == 0.0


def test_no_baseline_without_steady_seconds_before_the_fault(tmp_path: Path) -> None:
    b = RunBuilder()
    reads(b, 0, 30, 20)
    b.fault("f1", 0.5)
    r = recovery(b, tmp_path)
    assert r.baseline_per_s is None and r.recovered is None and r.baseline_seconds == 0


def test_the_baseline_leaves_out_an_earlier_fault_and_its_recovery(tmp_path: Path) -> None:
    b = RunBuilder()
    reads(b, 0, 10, 20)
    reads(b, 10, 42, 40)  # during f1 and its 30 s recovery the rate doubles
    reads(b, 42, 80, 20)
    b.fault("f1", 10.0, heal=12.0)
    b.fault("f2", 50.0, members=["m1"], primary="m1")
    r = recovery(b, tmp_path, "f2")
    # Only [42, 50) is steady before f2: eight whole seconds at 20/s.
    assert (r.baseline_per_s, r.baseline_seconds) == (20.0, 8)
