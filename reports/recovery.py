"""Recovery from a complete disaster, as the runbook recorded it, and the checks that judge it.

A restore step (`service: up`) after a step that took the cluster down (`service: down`, a wipe)
makes a restore timeline: the disaster, the operator's delay, the restore's phases as the step
timed them (verify the backup, restore the snapshot, replay the oplog, build the indexes,
validate, bring the set back), and the first write that succeeded after the disaster.

    restore RTO   the disaster to the first successful write after it (the guide: < 15 min)
    restore RPO   the disaster to the newest point the backup could restore to: where the
                  continuous backup had reached when the cluster died (the guide: < 1 min);
                  the restore may choose an older point, whose distance is reported apart
    integrity     problems the backups and restores found: an export that fails its own
                  check, a restored database that differs from the restore point's reference,
                  ledger writes missing or present against the point, a failed step

The checks (`restore_rto`, `restore_rpo`, `backup_integrity`) run when the SLO targets name
them under `checks:` (the production profile does) and judge nothing in a run without restores.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from reports.results import Result
from reports.slo import Seconds
from reports.verdicts import Check, SLOResult

if TYPE_CHECKING:  # the checks are loaded when a scenario is read, which must not import pandas
    import pandas as pd

    from reports.checks import CheckContext
    from reports.events import EventSource
    from reports.runbook import StepRecord

PHASES = ("verify", "snapshot", "oplog", "indexes", "validate", "rejoin")
LABELS = {
    "verify": "backup verified",
    "snapshot": "snapshot restored",
    "oplog": "oplog replayed",
    "indexes": "indexes built",
    "validate": "data validated",
    "rejoin": "set back",
}


class Moment(Result):
    label: str
    t: float
    after_s: float  # after the disaster


class RestoreTimeline(Result):
    step_id: str
    disaster_step: str | None
    t_disaster: float
    ok: bool
    moments: list[Moment]
    t_first_write: float | None  # the first successful write started after the disaster landed
    rto_s: float | None
    restored_to: str | None  # the oplog timestamp restored to
    point_behind_s: float | None  # how far before the disaster that point is
    restorable_until_wall: float | None  # where the continuous backup reached at the disaster
    rpo_s: float | None
    documents: int | None
    mb_per_s: float | None
    problems: list[str]
    problem_count: int


def restore_timelines(steps: list[StepRecord], events: pd.DataFrame | EventSource) -> list[RestoreTimeline]:
    timelines = []
    for i, step in enumerate(steps):
        if step.service != "up":
            continue
        down = next((s for s in reversed(steps[:i]) if s.service == "down"), None)
        t0 = down.t_start if down is not None else step.t_start
        found = step.findings
        moments = [Moment(label="disaster", t=t0, after_s=0.0)] if down is not None else []
        moments.append(Moment(label="restore started", t=step.t_start, after_s=step.t_start - t0))
        t = step.t_start
        for phase in PHASES:
            if phase in found.get("seconds", {}):
                t += float(found["seconds"][phase])
                moments.append(Moment(label=LABELS[phase], t=t, after_s=t - t0))
        # Writes started before the disaster had fully landed are the old cluster's.
        first = _first_write(events, float(down.findings.get("t_down", t0)) if down is not None else t0)
        backups = (down.findings.get("backups", {}) if down is not None else {}) or {}
        reach = backups.get(found.get("backup"), {}).get("restorable_until_wall")
        point = found.get("restored_to_wall")
        timelines.append(
            RestoreTimeline(
                step_id=step.step_id,
                disaster_step=down.step_id if down is not None else None,
                t_disaster=t0,
                ok=step.ok,
                moments=moments,
                t_first_write=first,
                rto_s=first - t0 if first is not None and step.ok else None,
                restored_to=found.get("restored_to"),
                point_behind_s=t0 - point if point is not None else None,
                restorable_until_wall=reach,
                rpo_s=t0 - reach if reach is not None else None,
                documents=found.get("documents"),
                mb_per_s=found.get("mb_per_s"),
                problems=list(found.get("problems", [])) + ([step.error] if step.error else []),
                problem_count=int(found.get("problem_count", 0)) + (0 if step.ok else 1),
            )
        )
    return timelines


def _first_write(events: pd.DataFrame | EventSource, after: float) -> float | None:
    """The earliest completion of a successful write started at or after `after`; a run's events
    are read in row batches from there on."""
    frames: Iterable[pd.DataFrame] = [events] if hasattr(events, "columns") else events.batches(after=after)
    first = None
    for frame in frames:
        writes = (
            frame["is_write"].to_numpy() & frame["ok"].to_numpy() & (frame["t_start"].to_numpy() >= after)
        )
        ends = frame["t_end"].to_numpy()[writes]
        if len(ends):
            first = min(float(np.min(ends)), first if first is not None else np.inf)
    return first


class _Max(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max: Seconds


class _Problems(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_problems: int = 0


def _timelines(ctx: CheckContext) -> list[RestoreTimeline]:
    if ctx.data is None:
        return []
    return restore_timelines(ctx.data.runbook, ctx.data.requests)


def restore_rto_check(ctx: CheckContext) -> list[SLOResult]:
    target = _Max.model_validate(ctx.params).max
    results = []
    for r in _timelines(ctx):
        check = Check(f"restore_rto[{r.step_id}]", "restore_rto", f"restore RTO ({r.step_id})", "s")
        if r.rto_s is None:
            end = ctx.data.run_end if ctx.data is not None else r.t_disaster
            results.append(check.never(end - r.t_disaster, target))
        else:
            results.append(check.judge(r.rto_s, target))
    return results


def restore_rpo_check(ctx: CheckContext) -> list[SLOResult]:
    target = _Max.model_validate(ctx.params).max
    results = []
    for r in _timelines(ctx):
        check = Check(f"restore_rpo[{r.step_id}]", "restore_rpo", f"restore RPO ({r.step_id})", "s")
        if r.rpo_s is None:
            results.append(
                check.unknown("no continuous backup reached the disaster (a snapshot only)", target)
            )
        else:
            results.append(check.judge(r.rpo_s, target))
    return results


def backup_integrity_check(ctx: CheckContext) -> list[SLOResult]:
    target = _Problems.model_validate(ctx.params).max_problems
    steps = [
        s for s in (ctx.data.runbook if ctx.data is not None else []) if s.action in ("backup", "restore")
    ]
    if not steps:
        return []
    problems = sum(_problems(s) for s in steps)
    # Problems found in the data, not timings: a busy host does not make them unknown.
    check = Check(
        "backup_integrity", "backup_integrity", "backup and restore problems", "problems", timed=False
    )
    return [check.judge(float(problems), float(target))]


def _problems(step: StepRecord) -> int:
    found: dict[str, Any] = step.findings
    return int(found.get("problem_count", len(found.get("problems", [])))) + (0 if step.ok else 1)
