"""Calibration: what the suite measured against what the members themselves logged.

Members started by a backend that keeps their data (the emulator, `mongoemu`) write a ground-truth
log, `members/<name>/**/groundtruth.jsonl`: every state change with the wall-clock time at
which the member made it. For each fault the ground truth is

- election: the first `election` event won after the injection, in a term higher than any
  logged by the injection;
- writable: the `writable` event of that term, when the new primary began accepting writes
  (the instant the suite's RTO approaches from above: the driver still has to find it).

The suite's election time (probe-based) and RTO are compared with these; they agree when the
difference is within max(150 ms, 2 x the probe interval). The rolled-back writes the members
logged (`rolled_back_write`) and the documents in their rollback files are listed too, so that
the lost writes the suite reports can be compared with them.

Nothing here is used by the analysis itself: the analysers never special-case the emulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from contract import rundir
from contract.groundtruth import FILE_NAME, read
from reports.analyse import analyse
from reports.results import Result
from reports.rollback import RolledBackDoc, read_rollback_files, render_id
from reports.summary import FaultAnatomy, Summary

MIN_TOLERANCE_S = 0.150


class GroundTruthEvent(Result):
    member: str  # the member's name in the run (its folder under members/)
    t: float
    event: str
    fields: dict[str, Any]


class RolledBackWrite(Result):
    member: str
    ns: str
    op: str  # i, u, d, c
    doc_id: str | None  # rendered as the ledger renders ids


class CalibrationRow(Result):
    fault_id: str
    metric: str  # "election" or "rto"
    measured_s: float | None
    ground_truth_s: float | None
    difference_s: float | None  # measured - ground truth
    tolerance_s: float
    within: bool


class Calibration(Result):
    probe_interval_s: float | None
    tolerance_s: float
    rows: list[CalibrationRow]
    rolled_back_writes: list[RolledBackWrite]
    rollback_documents: list[RolledBackDoc]

    @property
    def agrees(self) -> bool:
        return all(r.within for r in self.rows)


def read_ground_truth(run_dir: Path) -> list[GroundTruthEvent]:
    """Every member's ground-truth events, in time order; [] when no member left a log."""
    events: list[GroundTruthEvent] = []
    members = run_dir / rundir.MEMBERS
    for member_dir in sorted(p for p in members.iterdir() if p.is_dir()) if members.is_dir() else []:
        for path in sorted(member_dir.rglob(FILE_NAME)):
            for record in read(path):
                fields = {k: v for k, v in record.items() if k not in ("t", "event", "member", "pid")}
                events.append(
                    GroundTruthEvent(
                        member=member_dir.name, t=float(record["t"]), event=record["event"], fields=fields
                    )
                )
    events.sort(key=lambda e: e.t)
    return events


def probe_interval(run_dir: Path) -> float | None:
    """The median time between one observer's probe samples; None without probes."""
    path = run_dir / rundir.PROBES
    if not path.exists():
        return None
    table = pq.read_table(path, columns=["t", "observer"]).to_pandas()
    gaps = [np.diff(np.unique(group["t"].to_numpy())) for _, group in table.groupby("observer")]
    joined = np.concatenate([g for g in gaps if len(g)]) if any(len(g) for g in gaps) else np.array([])
    return float(np.median(joined)) if len(joined) else None


def calibrate(
    run_dir: Path, summary: Summary | None = None, probe_interval_s: float | None = None
) -> Calibration:
    """Compare the run's analysis (`summary`, else analysed now) with its members' ground truth."""
    summary = summary if summary is not None else analyse(run_dir)
    interval = probe_interval_s if probe_interval_s is not None else probe_interval(run_dir)
    tolerance = max(MIN_TOLERANCE_S, 2 * interval) if interval is not None else MIN_TOLERANCE_S
    truth = read_ground_truth(run_dir)
    rows: list[CalibrationRow] = []
    for fault in summary.faults:
        if not fault.injected:
            continue
        won, writable = _failover_truth(fault, truth)
        measured_election = fault.election.at.after_s if fault.election is not None else None
        rows.append(_row(fault, "election", measured_election, won, tolerance))
        rows.append(_row(fault, "rto", fault.rto_s, writable, tolerance))
    return Calibration(
        probe_interval_s=interval,
        tolerance_s=tolerance,
        rows=rows,
        rolled_back_writes=[
            RolledBackWrite(
                member=e.member,
                ns=str(e.fields.get("ns", "")),
                op=str(e.fields.get("op", "")),
                doc_id=render_id(e.fields["_id"]) if e.fields.get("_id") is not None else None,
            )
            for e in truth
            if e.event == "rolled_back_write"
        ],
        rollback_documents=read_rollback_files(run_dir),
    )


def _failover_truth(fault: FaultAnatomy, truth: list[GroundTruthEvent]) -> tuple[float | None, float | None]:
    """Seconds after injection at which the ground truth says a new primary won and became writable."""
    terms = [_term(e) for e in truth if e.t <= fault.t_inject]
    term_before = max((t for t in terms if t is not None), default=-1)
    after = [e for e in truth if fault.t_inject < e.t < fault.horizon_end]
    won = next(
        (
            e
            for e in after
            if e.event == "election" and e.fields.get("outcome") == "won" and (_term(e) or -1) > term_before
        ),
        None,
    )
    if won is None:
        return None, None
    writable = next(
        (e for e in after if e.event == "writable" and e.member == won.member and _term(e) == _term(won)),
        None,
    )
    return won.t - fault.t_inject, (writable.t - fault.t_inject) if writable is not None else None


def _term(event: GroundTruthEvent) -> int | None:
    term = event.fields.get("term")
    return int(term) if isinstance(term, int | float) and not isinstance(term, bool) else None


def _row(
    fault: FaultAnatomy, metric: str, measured: float | None, truth: float | None, tolerance: float
) -> CalibrationRow:
    difference = measured - truth if measured is not None and truth is not None else None
    return CalibrationRow(
        fault_id=fault.fault_id,
        metric=metric,
        measured_s=measured,
        ground_truth_s=truth,
        difference_s=difference,
        tolerance_s=tolerance,
        within=difference is not None and abs(difference) <= tolerance,
    )
