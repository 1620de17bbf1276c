"""The runbook as the report tells it: each operator action with its trigger, operator delay,
duration and findings, and the disruptions some of them make.

A step that takes the cluster out of service (`service: down`, a wipe) opens an outage that the
next step bringing it back (`service: up`, a restore) closes, at that step's end; never closed,
it lasts to the end of the run. The phases treat an outage as a fault window, so the errors of
a cluster that is gone on purpose are not judged as steady-state errors. A step that repairs the
set while it serves (`service: repair`: a forced reconfig, members re-added and catching up) is
a recovery window, as the time after a fault's heal is.
"""

from __future__ import annotations

from typing import Any

from contract.rundir import RunbookEvent, StepStatus
from reports.results import Result


class StepRecord(Result):
    step_id: str
    action: str
    status: str  # a StepStatus value
    t_trigger: float
    t_start: float
    t_end: float
    operator_delay_s: float  # trigger to start
    duration_s: float
    members: list[str]
    params: dict[str, Any]
    findings: dict[str, Any]
    error: str | None = None
    colour: str | None = None
    service: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == StepStatus.OK


class Disruption(Result):
    step_id: str  # the step that took the cluster down, or repaired it
    action: str
    start: float
    end: float
    closed_by: str | None  # the step that brought it back; None: it lasted to the end of the run
    repair: bool = False  # a repair (a recovery window), not an outage (a fault window)


def runbook_steps(events: list[RunbookEvent]) -> list[StepRecord]:
    return [
        StepRecord(
            step_id=e.step_id,
            action=e.action,
            status=e.status,
            t_trigger=e.t_trigger,
            t_start=e.t_start,
            t_end=e.t_end,
            operator_delay_s=max(0.0, e.t_start - e.t_trigger),
            duration_s=e.t_end - e.t_start,
            members=list(e.members),
            params=dict(e.params),
            findings=dict(e.findings),
            error=e.error,
            colour=e.colour,
            service=e.service,
        )
        for e in sorted(events, key=lambda e: e.t_start)
    ]


def disruptions(steps: list[StepRecord], run_end: float) -> list[Disruption]:
    found: list[Disruption] = []
    for i, step in enumerate(steps):
        if step.service == "repair":
            found.append(
                Disruption(
                    step_id=step.step_id,
                    action=step.action,
                    start=step.t_start,
                    end=step.t_end,
                    closed_by=step.step_id,
                    repair=True,
                )
            )
        if step.service != "down":
            continue
        closer = next((s for s in steps[i + 1 :] if s.service == "up"), None)
        found.append(
            Disruption(
                step_id=step.step_id,
                action=step.action,
                start=step.t_start,
                end=closer.t_end if closer is not None else max(run_end, step.t_end),
                closed_by=closer.step_id if closer is not None else None,
            )
        )
    return found
