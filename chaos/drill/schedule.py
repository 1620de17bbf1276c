"""Playing a scenario's fault timeline against the injector, relative to the start of the load.

Each occurrence of a step is injected at its time and healed `heal_after` later (or when the
load ends). A fault that cannot be injected is recorded in the timeline by the injector and
the schedule goes on: the drill measures what the cluster did, including a refused fault.
A repetition that comes a whole interval late (the injections before it took longer than the
schedule allows, so the next repetition is already due) is skipped and said, rather than
bunched up with the next; a one-off fault is injected late rather than lost (a heal that waits
for a restarted member on a busy machine can hold it up by seconds). Nothing is injected once
`finish()` is called. Healing failures are kept and re-raised by
`finish()`, because a fault left active is the one outcome the drill must not hide.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from chaos.faults.injector import FaultInjector
from chaos.scenario.model import FaultStep
from contract.errors import FaultError, HealError, TargetError

log = logging.getLogger("hubchaos.schedule")


@dataclass(order=True, slots=True)
class _Action:
    at: float  # seconds from the start of the load
    order: int  # at the same instant a heal (0) runs before an injection (1)
    seq: int
    step: FaultStep = field(compare=False)
    fault_id: str = field(compare=False)
    heal: bool = field(compare=False, default=False)


def plan(steps: list[FaultStep]) -> list[_Action]:
    """Every inject and timed heal, in the order they happen; fault ids f1, f2, ... by time."""
    injections = sorted((at, i, step) for i, step in enumerate(steps) for at in step.occurrences())
    actions: list[_Action] = []
    for seq, (at, _, step) in enumerate(injections):
        fault_id = f"f{seq + 1}"
        actions.append(_Action(at, 1, seq, step, fault_id))
        if step.heal_after is not None:
            actions.append(_Action(at + step.heal_after, 0, seq, step, fault_id, heal=True))
    return sorted(actions)


class FaultSchedule:
    def __init__(self, injector: FaultInjector, steps: list[FaultStep]) -> None:
        self.injector = injector
        self.actions = plan(steps)
        self.errors: list[str] = []
        self.heal_errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def start(self, t0_monotonic: float) -> None:
        self._t0 = t0_monotonic
        self._thread = threading.Thread(target=self._play, name="fault-schedule", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        for action in self.actions:
            delay = self._t0 + action.at - time.monotonic()
            if (delay > 0 and self._stop.wait(delay)) or self._stop.is_set():
                return
            if action.heal:
                self._heal(action)
            elif action.step.every is not None and -delay >= action.step.every:
                self.errors.append(
                    f"{action.fault_id}: skipped, {-delay:.1f} s late (the faults before it took "
                    "longer than the schedule allows, and its next repetition is due)"
                )
            else:
                self._inject(action)

    def _inject(self, action: _Action) -> None:
        labels = {"slo_class": action.step.slo_class.value} if action.step.slo_class else None
        try:
            self.injector.inject(action.step.fault, action.fault_id, labels=labels)
        except (TargetError, FaultError) as exc:
            log.warning("fault %s (%s) was not injected: %s", action.fault_id, action.step.kind, exc)
            self.errors.append(f"{action.fault_id}: {exc}")

    def _heal(self, action: _Action) -> None:
        # Not active: never injected, or already healed by itself (kill with restart_after_s).
        fault = next((f for f in self.injector.active if f.fault_id == action.fault_id), None)
        if fault is None:
            return
        try:
            self.injector.heal(fault)
        except HealError as exc:
            self.heal_errors.append(str(exc))

    def finish(self) -> None:
        """Stop the schedule, heal everything still active; HealError if anything stays broken."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        try:
            self.injector.heal_all()
        except HealError as exc:
            self.heal_errors.append(str(exc))
        if self.heal_errors:
            raise HealError("; ".join(self.heal_errors))
