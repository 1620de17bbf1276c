"""Playing a scenario's runbook next to the fault timeline, as an operator would.

Each step waits for its trigger (a time from the start of the load, a fault's injection, an
earlier step's end; by default the previous step's end), then for its operator delay, then runs.
Steps run one at a time, in order; each is recorded in the runbook timeline when it ends. The
first step that fails stops the runbook: `failure` then holds a RunbookError naming it, which
the drill raises once every fault is healed (exit 3).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from chaos.faults.timeline import Timeline
from chaos.runbook.step import STEP_ID, PlannedStep, RunbookState, StepContext
from contract.errors import HubchaosError, RunbookError
from contract.rundir import FaultAction, FaultEvent, RunbookEvent, StepStatus

log = logging.getLogger("hubchaos.runbook")

POLL_S = 0.1


class RunbookPlayer:
    def __init__(
        self,
        steps: list[PlannedStep],
        context: Callable[[str], StepContext],
        timeline: Timeline[RunbookEvent],
        faults: Timeline[FaultEvent] | None = None,
        state: RunbookState | None = None,
    ) -> None:
        self.steps = steps
        self.context = context
        self.timeline = timeline
        self.faults = faults
        self.state = state or RunbookState()
        self.failure: RunbookError | None = None
        self.current: str | None = None  # "r2 force_reconfig" while a step runs
        self._ended: dict[str, tuple[float, float]] = {}  # step id -> (wall, monotonic) of its end
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = (0.0, 0.0)

    @property
    def budget_s(self) -> float:
        """An upper bound on how long the runbook takes after its last trigger."""
        return sum(p.operator_delay + p.step.budget_s() for p in self.steps)

    @property
    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def start(self, t0_mono: float) -> None:
        """Start playing; step times count from `t0_mono` (the load's start, time.monotonic())."""
        self._t0 = (time.time() - (time.monotonic() - t0_mono), t0_mono)
        if self.steps:
            self._thread = threading.Thread(target=self._play, name="runbook", daemon=True)
            self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` for the runbook to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def close(self) -> None:
        """The drill is ending: no further step, and what steps left running is stopped."""
        self.stop()
        self.state.close()

    def stop(self, timeout: float = 0.0) -> None:
        """No further step starts; waits up to `timeout` for a running one to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _play(self) -> None:
        for planned in self.steps:
            trigger = self._trigger(planned)
            if trigger is None:
                return
            start_mono = trigger[1] + planned.operator_delay
            delay = start_mono - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            if not self._run(planned, trigger[0]):
                return

    def _trigger(self, planned: PlannedStep) -> tuple[float, float] | None:
        """(wall, monotonic) of what the step reacts to; None when stopped or it never comes."""
        wall0, mono0 = self._t0
        if planned.at is not None:
            return wall0 + planned.at, mono0 + planned.at
        after = planned.after
        if after is None:
            index = self.steps.index(planned)
            return self._ended[self.steps[index - 1].step_id] if index else self._t0
        if STEP_ID.match(after):
            return self._ended.get(after)  # steps run in order: an earlier one has ended
        while not self._stop.is_set():
            event = self._injection(after)
            if event is not None:
                if event.outcome != "ok":
                    self._fail(planned, time.time(), f"its trigger, fault {after}, was not injected")
                    return None
                return event.t_wall, event.t_mono
            self._stop.wait(POLL_S)
        return None

    def _injection(self, fault_id: str) -> FaultEvent | None:
        events = self.faults.events if self.faults is not None else []
        return next((e for e in events if e.fault_id == fault_id and e.action == FaultAction.INJECT), None)

    def _run(self, planned: PlannedStep, t_trigger: float) -> bool:
        step = planned.step
        ctx = self.context(planned.step_id)
        self.current = f"{planned.step_id} {step.action}"
        ctx.log(f"runbook {planned.step_id}: {step.action}")
        started = time.time()
        try:
            findings = step.run(ctx)
        except HubchaosError as exc:
            self._fail(planned, t_trigger, str(exc), started, ctx.members)
            return False
        except Exception as exc:  # a third party's step: still one recorded failure, no traceback
            log.exception("runbook step %s failed", planned.step_id)
            self._fail(planned, t_trigger, f"{type(exc).__name__}: {exc}", started, ctx.members)
            return False
        finally:
            self.current = None
        event = self._record(planned, t_trigger, started, members=ctx.members, findings=findings)
        self._ended[planned.step_id] = (event.t_end, time.monotonic())
        ctx.log(f"runbook {planned.step_id}: {step.action} done in {event.duration_s:.1f} s")
        return True

    def _fail(
        self,
        planned: PlannedStep,
        t_trigger: float,
        error: str,
        started: float | None = None,
        members: list[str] | None = None,
    ) -> None:
        self._record(planned, t_trigger, started or time.time(), members=members or [], error=error)
        self.failure = RunbookError(f"runbook step {planned.step_id} ({planned.step.action}) failed: {error}")

    def _record(
        self,
        planned: PlannedStep,
        t_trigger: float,
        started: float,
        *,
        members: list[str],
        findings: dict[str, object] | None = None,
        error: str | None = None,
    ) -> RunbookEvent:
        step = planned.step
        event = RunbookEvent(
            step_id=planned.step_id,
            action=step.action,
            status=(StepStatus.FAILED if error is not None else StepStatus.OK).value,
            t_trigger=t_trigger,
            t_start=started,
            t_end=time.time(),
            members=list(members),
            params=step.params(),
            findings=dict(findings or {}),
            error=error,
            colour=step.colour,
            service=step.service,
        )
        self.timeline.record(event)
        return event
