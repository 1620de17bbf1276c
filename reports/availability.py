"""Write availability around a fault: the unavailability window and the recovery time (RTO).

Definitions, for one source of writes (the canary's `canary.write*` operations, or every write):

- A write is *bad* when it failed with any error class but duplicate_key, or took longer than
  the slow-operation threshold (a write stalled by a failover and then retried successfully is
  as unavailable to its user as one that failed).
- A successful write that *started* at or after the injection and completed at time r is a
  *recovery point* when, of the writes that start in (r, r + stable_s), at most a fraction
  `stable_tolerance` are bad (0.1 % by default, the profile's error-rate target: at the canary's
  ten writes a second that is none at all; under heavy load a stray error does not hide a
  recovery). The window is cut short by the end of the fault's horizon and by the injection of
  any other fault after r, so the next fault is not charged to this one. Writes then *stay
  available*.
- The recovery time is r minus the injection time, for the first recovery point in the horizon;
  none means writes never recovered. A fault that disturbed nothing gets about one write
  interval (the first write after it).
- The disruption starts at the earliest start of a bad write that completed at or after the
  injection (so a write already in flight when the primary died counts) and started no later
  than r. The unavailability window runs from the last successful completion before that start
  to r; with no bad write it is zero.

RTO is the recovery time of every write; the canary's window is reported beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract.rundir import ErrorClass
from reports.columns import matches
from reports.faults import Fault
from reports.results import Moment, Result

CANARY_PREFIX = "canary.write"


def is_canary(op: str) -> bool:
    return op.startswith(CANARY_PREFIX)


def failed_ops(frame: pd.DataFrame) -> np.ndarray:
    """Which rows failed with any error class but duplicate_key: a duplicate key means the server
    answered, so it says nothing about availability."""
    return ~frame["ok"].to_numpy() & ~matches(frame["error_class"], lambda v: v == ErrorClass.DUPLICATE_KEY)


class WriteWindow(Result):
    source: str  # "canary" or "writes"
    recovered: Moment | None  # the first recovery point; None: not within the horizon
    unavailable_s: float | None  # None when writes never recovered
    disruption_start: float | None  # last successful completion before the first bad write
    first_bad: Moment | None
    longest_gap_s: float  # longest time without a successful completion in the window
    failed: int  # writes that failed (not duplicate keys) in the window
    stalled: int  # successful writes slower than the threshold in the window
    observed_until: float  # the end of what was searched (the horizon)


@dataclass(frozen=True, slots=True)
class WriteLog:
    """One source's writes, in the orders the search needs."""

    source: str
    ok_end: np.ndarray  # successful writes' completions, sorted
    ok_start: np.ndarray  # their starts, in the same order
    all_start: np.ndarray  # every write's start, sorted
    bad_start: np.ndarray  # bad writes' starts, sorted
    bad_end: np.ndarray  # their completions, in the same order
    bad_failed: np.ndarray  # True: failed; False: stalled
    # The last successful completion before the completions above begin (None: none, or the log
    # holds every write): a log of one fault's window of events starts with the window.
    ok_end_before: float | None = None

    @property
    def empty(self) -> bool:
        return len(self.all_start) == 0

    @classmethod
    def from_events(
        cls, source: str, writes: pd.DataFrame, stall_ms: float, complete: Completeness | None = None
    ) -> WriteLog:
        ok = writes["ok"].to_numpy()
        failed = failed_ops(writes)
        stalled = ok & (writes["duration_ms"].to_numpy() > stall_ms)
        t_start = writes["t_start"].to_numpy()
        t_end = writes["t_end"].to_numpy()
        ok_before = None
        if complete is not None:
            ok_before = complete.last_ok_end[source]
            ok = ok & (t_end >= complete.start)
        by_end = np.argsort(t_end[ok], kind="stable")
        bad = failed | stalled
        by_start = np.argsort(t_start[bad], kind="stable")
        return cls(
            source=source,
            ok_end=t_end[ok][by_end],
            ok_start=t_start[ok][by_end],
            all_start=np.sort(t_start),
            bad_start=t_start[bad][by_start],
            bad_end=t_end[bad][by_start],
            bad_failed=failed[bad][by_start],
            ok_end_before=ok_before,
        )


@dataclass(frozen=True, slots=True)
class Completeness:
    """A window of events holds every completion from `start` on; before it, each source's last
    successful completion is `last_ok_end` (from `LastWrites`)."""

    start: float
    last_ok_end: dict[str, float | None]


def write_logs(
    events: pd.DataFrame, stall_ms: float, complete: Completeness | None = None
) -> dict[str, WriteLog]:
    """The "canary" and "writes" logs of a run, or of a window of it (events with `is_write`)."""
    writes = events[events["is_write"].to_numpy()]
    canary = writes[matches(writes["op"], is_canary)]
    return {
        "canary": WriteLog.from_events("canary", canary, stall_ms, complete),
        "writes": WriteLog.from_events("writes", writes, stall_ms, complete),
    }


class LastWrites:
    """The latest successful write completion (canary and all writes) per second of the run,
    accumulated over row batches, to say which was the last before a window of events starts."""

    def __init__(self, run_start: float, run_end: float) -> None:
        self.origin = math.floor(run_start)
        n = math.floor(run_end - self.origin) + 1
        self._latest = {"canary": np.full(n, -np.inf), "writes": np.full(n, -np.inf)}

    def add(self, events: pd.DataFrame) -> None:
        ok = events["ok"].to_numpy() & events["is_write"].to_numpy()
        canary = ok & matches(events["op"], is_canary)
        t_end = events["t_end"].to_numpy()
        for source, mask in (("canary", canary), ("writes", ok)):
            ends = t_end[mask]
            np.maximum.at(self._latest[source], (ends - self.origin).astype(np.int64), ends)

    def window(self, second: int) -> Completeness:
        """For a window holding every completion from `origin + second` on (`second` >= 0)."""
        last = {}
        for source, latest in self._latest.items():
            before = latest[: max(0, second)]
            last[source] = float(before.max()) if len(before) and before.max() > -np.inf else None
        return Completeness(float(self.origin + second), last)


def stable_until(t: np.ndarray, stable_s: float, inject_times: np.ndarray, horizon_end: float) -> np.ndarray:
    """Where a stability window starting at each `t` ends: stable_s later, or earlier at the
    horizon's end or at the next injection after `t` (inject_times sorted)."""
    following = np.searchsorted(inject_times, t, side="right")
    next_inject = np.append(inject_times, np.inf)[following]
    return np.minimum(np.minimum(t + stable_s, next_inject), horizon_end)


def write_window(
    fault: Fault, log: WriteLog, inject_times: np.ndarray, stable_s: float, stable_tolerance: float
) -> WriteWindow | None:
    """The source's window for this fault; None when the source has no writes at all."""
    if log.empty:
        return None
    lo = np.searchsorted(log.ok_end, fault.t_inject, side="left")
    hi = np.searchsorted(log.ok_end, fault.horizon_end, side="left")
    candidates = log.ok_end[lo:hi][log.ok_start[lo:hi] >= fault.t_inject]
    recovered_t: float | None = None
    if len(candidates):
        ends = stable_until(candidates, stable_s, inject_times, fault.horizon_end)
        bad = _starts_within(log.bad_start, candidates, ends)
        clean = bad <= stable_tolerance * _starts_within(log.all_start, candidates, ends)
        if clean.any():
            recovered_t = float(candidates[np.argmax(clean)])

    until = recovered_t if recovered_t is not None else fault.horizon_end
    in_window = (log.bad_end >= fault.t_inject) & (log.bad_start <= until)
    if recovered_t is None:
        in_window &= log.bad_start < fault.horizon_end
    first_bad_start = float(log.bad_start[in_window].min()) if in_window.any() else None
    disruption_start: float | None = None
    longest_gap = 0.0
    if first_bad_start is not None:
        before = np.searchsorted(log.ok_end, first_bad_start, side="right")
        earlier = log.ok_end_before if log.ok_end_before is not None else first_bad_start
        disruption_start = float(log.ok_end[before - 1]) if before else earlier
        inside = log.ok_end[(log.ok_end >= disruption_start) & (log.ok_end <= until)]
        longest_gap = float(np.diff(np.concatenate(([disruption_start], inside, [until]))).max())
    unavailable = None
    if recovered_t is not None:
        unavailable = recovered_t - disruption_start if disruption_start is not None else 0.0
    return WriteWindow(
        source=log.source,
        recovered=Moment.after(recovered_t, fault.t_inject) if recovered_t is not None else None,
        unavailable_s=unavailable,
        disruption_start=disruption_start,
        first_bad=Moment.after(first_bad_start, fault.t_inject) if first_bad_start is not None else None,
        longest_gap_s=longest_gap,
        failed=int(log.bad_failed[in_window].sum()),
        stalled=int((~log.bad_failed[in_window]).sum()),
        observed_until=fault.horizon_end,
    )


def _starts_within(starts: np.ndarray, after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """How many of the sorted `starts` lie in each interval (after, before)."""
    return np.searchsorted(starts, before, side="left") - np.searchsorted(starts, after, side="right")
