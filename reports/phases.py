"""Phases of a run, relative to its faults: steady, fault and recovery.

    fault     from a fault's injection to its heal (to the end of the run if never healed)
    recovery  from a heal for `windows.recovery_s` seconds
    steady    everything else, before the first fault and after recoveries

With overlapping faults a moment is in the fault phase while any fault is active, else in the
recovery phase while any recovery window is open: fault beats recovery beats steady. A request
belongs to the phase in which it started, except that one started in steady state and still
running when a fault or recovery window opened belongs to that window (it waited on the fault:
a write in flight at a pause is not a steady-state latency); a probe belongs to the phase in
which it was answered.
A fault whose injection failed broke nothing and opens no phase. A runbook outage (a wipe until
the restore: reports/runbook.py) counts as a fault window under its step id, and a runbook
repair (members re-added) as a recovery window.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from reports.faults import Fault
from reports.runbook import Disruption


class Phase(StrEnum):
    STEADY = "steady"
    FAULT = "fault"
    RECOVERY = "recovery"


PHASES = list(Phase)  # a phase's code in `assign` is its index here


@dataclass(frozen=True, slots=True)
class PhaseWindow:
    phase: Phase
    start: float
    end: float
    fault_ids: tuple[str, ...]  # the faults active (or recovering) in the window


def phase_windows(
    faults: list[Fault],
    run_start: float,
    run_end: float,
    recovery_s: float,
    disruptions: list[Disruption] | None = None,
) -> list[PhaseWindow]:
    """A partition of [run_start, run_end] into phase windows, in time order."""
    injected = [f for f in faults if f.injected]
    active = [(f.t_inject, min(f.active_until, run_end), f.fault_id) for f in injected]
    recovering = [(f.t_heal, f.t_heal + recovery_s, f.fault_id) for f in injected if f.t_heal is not None]
    for d in disruptions or []:
        if d.repair:
            recovering.append((d.start, d.end + recovery_s, d.step_id))
            continue
        active.append((d.start, min(d.end, run_end), d.step_id))
        if d.closed_by is not None:
            recovering.append((d.end, d.end + recovery_s, d.step_id))
    points = {run_start, run_end}
    for start, end, _ in active + recovering:
        points.update(p for p in (start, end) if run_start < p < run_end)
    cuts = sorted(points)

    windows: list[PhaseWindow] = []
    for start, end in itertools.pairwise(cuts):
        mid = (start + end) / 2
        in_fault = tuple(fid for s, e, fid in active if s <= mid < e)
        in_recovery = tuple(fid for s, e, fid in recovering if s <= mid < e)
        phase = Phase.FAULT if in_fault else Phase.RECOVERY if in_recovery else Phase.STEADY
        ids = in_fault or in_recovery
        if windows and windows[-1].phase is phase and windows[-1].fault_ids == ids:
            windows[-1] = PhaseWindow(phase, windows[-1].start, end, ids)
        else:
            windows.append(PhaseWindow(phase, start, end, ids))
    return windows or [PhaseWindow(Phase.STEADY, run_start, run_end, ())]


def window_index(times: np.ndarray, windows: list[PhaseWindow]) -> np.ndarray:
    """Each time's window (index into `windows`); times outside the run take the nearest window."""
    starts = np.array([w.start for w in windows])
    return np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(windows) - 1)


def assign(times: np.ndarray, windows: list[PhaseWindow]) -> np.ndarray:
    """Each time's phase code (index into PHASES)."""
    return _codes(windows)[window_index(times, windows)]


def request_phases(starts: np.ndarray, ends: np.ndarray, windows: list[PhaseWindow]) -> np.ndarray:
    """Each request's phase code: where it started, or, for a steady start, the window it ran
    into (steady windows never touch, so the next window of a steady one is a fault or recovery)."""
    codes = _codes(windows)
    first, last = window_index(starts, windows), window_index(ends, windows)
    phases = codes[first]
    spilled = (phases == PHASES.index(Phase.STEADY)) & (last > first)
    phases[spilled] = codes[first[spilled] + 1]
    return phases


def _codes(windows: list[PhaseWindow]) -> np.ndarray:
    return np.array([PHASES.index(w.phase) for w in windows], dtype=np.int8)
