"""Runbooks without a cluster: the scenario's `runbook:` section (triggers, operator delays,
refusals with their line), the player (triggers, delays, a failed step stops the runbook and
names itself), and how the analysis reads the steps (disruptions as fault windows)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import pandas as pd
import pytest

from chaos.backends.base import Cluster
from chaos.faults.timeline import FaultTimeline, Timeline
from chaos.runbook.actions import RUNBOOK_ACTIONS
from chaos.runbook.player import RunbookPlayer
from chaos.runbook.step import PlannedStep, RunbookState, RunbookStep, StepContext, StepFailed
from chaos.scenario.load import loads
from contract.errors import ScenarioError
from contract.rundir import RUNBOOK, FaultEvent, RunbookEvent, read_jsonl
from reports.formatting import finding
from reports.phases import Phase, phase_windows
from reports.recovery import restore_timelines
from reports.runbook import disruptions, runbook_steps

BASE = """\
name: t
target:
  backend: local
  members: 3
workload:
  users: 5
  duration: 60s
faults:
  - at: 10s
    kind: kill
    target: majority
    heal_after: 20s
runbook:
"""


def scenario(runbook: str) -> Any:
    return loads(BASE + runbook, "t.yaml")


def test_triggers_and_operator_delays_are_read_per_action() -> None:
    s = scenario(
        "  - {action: force_reconfig, after: f1}\n"
        "  - {action: wait_healthy, params: {timeout: 2m}}\n"
        "  - {action: add_members, at: 40s, operator_delay: 5s}\n"
        "  - {action: wait_healthy, after: r1}\n"
    )
    planned = [e.planned(i) for i, e in enumerate(s.runbook)]
    assert [(p.step_id, p.step.action, p.at, p.after, p.operator_delay) for p in planned] == [
        ("r1", "force_reconfig", None, "f1", 60.0),  # force_reconfig's own operator delay
        ("r2", "wait_healthy", None, None, 0.0),
        ("r3", "add_members", 40.0, None, 5.0),
        ("r4", "wait_healthy", None, "r1", 0.0),
    ]
    assert planned[1].step.params() == {"timeout": 120.0, "max_lag": 10.0}


@pytest.mark.parametrize(
    ("runbook", "where", "message"),
    [
        ("  - {action: resurrect}\n", "t.yaml:14: runbook[0]", "unknown runbook action 'resurrect'"),
        ("  - {action: wait_healthy, at: 5s, after: f1}\n", "t.yaml:14: runbook[0]", "at or after, not both"),
        ("  - {action: wait_healthy, after: r1}\n", "t.yaml:14: runbook[0]", "only earlier steps"),
        ("  - {action: wait_healthy, after: f2}\n", "t.yaml:14: runbook[0]", "injects f1..f1"),
        ("  - {action: wait_healthy, after: nowish}\n", "t.yaml:14: runbook[0]", "a fault (f1, f2, ...)"),
        ("  - {action: wait_healthy, at: 90s}\n", "t.yaml:14: runbook[0]", "after the load ends"),
        (
            "  - action: force_reconfig\n    params: {primary_timeout: -1s}\n",
            "t.yaml:14: runbook[0]",
            "primary_timeout",
        ),
    ],
)
def test_bad_runbooks_are_refused_with_their_line(runbook: str, where: str, message: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        scenario(runbook)
    assert str(refused.value).startswith(where), refused.value
    assert message in str(refused.value)


class Note(RunbookStep):
    """A step that records when it ran; `fail` makes it fail."""

    action: Literal["note"] = "note"
    colour = "#000000"
    fail: str | None = None
    crash: bool = False
    ran: ClassVar[list[tuple[str, float]]] = []

    def run(self, ctx: StepContext) -> dict[str, Any]:
        Note.ran.append((ctx.step_id, time.monotonic()))
        ctx.acted_on(["m1"])
        if self.crash:
            raise ZeroDivisionError("division by zero")
        if self.fail:
            raise StepFailed(self.fail)
        return {"seen": ctx.step_id}


@pytest.fixture
def note() -> Any:
    RUNBOOK_ACTIONS.register("note", Note)
    Note.ran.clear()
    return Note


def play(steps: list[PlannedStep], tmp_path: Path, faults: FaultTimeline | None = None) -> RunbookPlayer:
    state = RunbookState()
    player = RunbookPlayer(
        steps,
        lambda step_id: StepContext(cast(Cluster, None), step_id, "db", tmp_path, state),
        Timeline(tmp_path / RUNBOOK),
        faults,
    )
    player.start(time.monotonic())
    return player


def fault_event(fault_id: str, outcome: str = "ok") -> FaultEvent:
    return FaultEvent(fault_id, "kill", "inject", "m1", ["m1"], time.time(), time.monotonic(), outcome)


def test_steps_wait_for_their_trigger_and_delay(note: Any, tmp_path: Path) -> None:
    faults = FaultTimeline()
    t0 = time.monotonic()
    player = play(
        [
            PlannedStep("r1", Note(), at=0.2, after=None, operator_delay=0.1),
            PlannedStep("r2", Note(), at=None, after="f1", operator_delay=0.2),
            PlannedStep("r3", Note(), at=None, after=None, operator_delay=0.0),
        ],
        tmp_path,
        faults,
    )
    time.sleep(0.6)
    assert [r[0] for r in note.ran] == ["r1"]  # r2 waits for f1
    injected = time.monotonic()
    faults.record(fault_event("f1"))
    assert player.wait(5) and player.failure is None
    t1, t2, t3 = [t for _, t in note.ran]
    assert t1 - t0 >= 0.3 and t2 - injected >= 0.2 and t3 >= t2
    events = list(read_jsonl(tmp_path / RUNBOOK, RunbookEvent))
    assert [(e.step_id, e.status, e.members, e.findings) for e in events] == [
        ("r1", "ok", ["m1"], {"seen": "r1"}),
        ("r2", "ok", ["m1"], {"seen": "r2"}),
        ("r3", "ok", ["m1"], {"seen": "r3"}),
    ]
    assert events[1].t_start - events[1].t_trigger >= 0.2


@pytest.mark.parametrize(
    ("bad", "error"),
    [({"fail": "the primary is gone"}, "the primary is gone"), ({"crash": True}, "ZeroDivisionError")],
)
def test_a_failed_step_stops_the_runbook_and_names_itself(
    note: Any, tmp_path: Path, bad: dict[str, Any], error: str
) -> None:
    player = play(
        [
            PlannedStep("r1", Note(), at=None, after=None, operator_delay=0),
            PlannedStep("r2", Note(**bad), at=None, after=None, operator_delay=0),
            PlannedStep("r3", Note(), at=None, after=None, operator_delay=0),
        ],
        tmp_path,
    )
    assert player.wait(5)
    assert [r[0] for r in note.ran] == ["r1", "r2"]
    assert player.failure is not None
    assert str(player.failure).startswith("runbook step r2 (note) failed: ")
    assert error in str(player.failure)
    events = list(read_jsonl(tmp_path / RUNBOOK, RunbookEvent))
    assert [(e.step_id, e.status) for e in events] == [("r1", "ok"), ("r2", "failed")]
    assert error in (events[1].error or "")


def test_a_trigger_fault_that_was_not_injected_fails_the_step(note: Any, tmp_path: Path) -> None:
    faults = FaultTimeline()
    faults.record(fault_event("f1", outcome="error"))
    player = play([PlannedStep("r1", Note(), at=None, after="f1", operator_delay=0)], tmp_path, faults)
    assert player.wait(5)
    assert note.ran == []
    assert "its trigger, fault f1, was not injected" in str(player.failure)


def event(step_id: str, action: str, start: float, end: float, service: str | None) -> RunbookEvent:
    return RunbookEvent(step_id, action, "ok", start, start, end, service=service)


def test_a_wipe_until_the_restore_is_a_fault_window_and_a_repair_a_recovery_window() -> None:
    steps = runbook_steps(
        [
            event("r1", "backup", 10, 12, None),
            event("r2", "wipe", 40, 41, "down"),
            event("r3", "restore", 45, 70, "up"),
            event("r4", "add_members", 82, 84, "repair"),
            event("r5", "wipe", 98, 99, "down"),
        ]
    )
    found = disruptions(steps, run_end=120)
    assert [(d.step_id, d.start, d.end, d.closed_by, d.repair) for d in found] == [
        ("r2", 40, 70, "r3", False),
        ("r4", 82, 84, "r4", True),
        ("r5", 98, 120, None, False),
    ]
    windows = phase_windows([], 0, 120, 10, found)
    assert [(w.phase, w.start, w.end, w.fault_ids) for w in windows] == [
        (Phase.STEADY, 0, 40, ()),
        (Phase.FAULT, 40, 70, ("r2",)),
        (Phase.RECOVERY, 70, 80, ("r2",)),
        (Phase.STEADY, 80, 82, ()),
        (Phase.RECOVERY, 82, 94, ("r4",)),  # the repair, and the recovery time after it
        (Phase.STEADY, 94, 98, ()),
        (Phase.FAULT, 98, 120, ("r5",)),
    ]


def test_the_restore_rto_counts_the_first_write_started_after_the_wipe_landed() -> None:
    wipe = RunbookEvent("r1", "wipe", "ok", 40, 40, 41.5, findings={"t_down": 40.6}, service="down")
    steps = runbook_steps([wipe, event("r2", "restore", 45, 70, "up")])
    # A write started as the wipe began, acknowledged by a member not yet killed, then the
    # restored set's first write.
    events = pd.DataFrame(
        {"t_start": [40.01, 72.0], "t_end": [40.04, 72.3], "is_write": [True, True], "ok": [True, True]}
    )
    [timeline] = restore_timelines(steps, events)
    assert timeline.t_disaster == 40
    assert timeline.t_first_write == 72.3
    assert timeline.rto_s == pytest.approx(32.3)


def test_findings_read_as_one_line() -> None:
    assert finding({"kept": ["us-1", "us-2"], "version": 3, "took_s": 1.23456, "ok": True}) == (
        "kept=us-1, us-2; version=3; took_s=1.235; ok=true"
    )
    assert finding(None) == "-" and finding([]) == "-"
