"""The fault schedule against a stand-in injector that only takes time: it never injects after
the load has ended, and a repetition that comes a whole interval late is skipped and said, not
bunched up; a late one-off fault is still injected."""

from __future__ import annotations

import threading
import time
from typing import Any

from chaos.drill.schedule import FaultSchedule
from chaos.scenario.model import FaultStep


class SlowInjector:
    """Takes `seconds` per injection, as a fault that waits for a member would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active: list[Any] = []
        self.injected: list[tuple[str, float]] = []
        self._t0 = time.monotonic()

    def inject(self, spec: Any, fault_id: str, labels: Any = None) -> None:
        self.injected.append((fault_id, time.monotonic() - self._t0))
        time.sleep(self.seconds)

    def heal_all(self) -> None:
        pass


def _steps(repeat: int) -> list[FaultStep]:
    return [FaultStep.model_validate({"at": 0, "kind": "stepdown", "every": "1s", "repeat": repeat})]


def test_nothing_is_injected_once_the_schedule_is_finished() -> None:
    injector = SlowInjector(1.2)
    schedule = FaultSchedule(injector, _steps(20))  # type: ignore[arg-type]
    schedule.start(time.monotonic())
    threading.Timer(1.5, schedule.finish).start()  # the load ends while f2 is being injected
    time.sleep(4.0)
    assert [f for f, _ in injector.injected] == ["f1", "f2"]


def test_a_repetition_a_whole_interval_late_is_skipped_and_said() -> None:
    injector = SlowInjector(2.5)
    schedule = FaultSchedule(injector, _steps(4))  # type: ignore[arg-type]
    schedule.start(time.monotonic())
    time.sleep(5.5)
    schedule.finish()
    # f2 (due at 1 s) and f4 (3 s) come 1.5 s and 2 s late; f3 (2 s) only 0.5 s.
    assert [f for f, _ in injector.injected] == ["f1", "f3"]
    assert [e.split(":")[0] for e in schedule.errors] == ["f2", "f4"]
    assert all("late" in e for e in schedule.errors)


def test_a_late_one_off_fault_is_injected_late_not_lost() -> None:
    injector = SlowInjector(1.3)
    steps = [
        FaultStep.model_validate({"at": 0, "kind": "stepdown"}),
        FaultStep.model_validate({"at": 0.1, "kind": "stepdown"}),
    ]
    schedule = FaultSchedule(injector, steps)  # type: ignore[arg-type]
    schedule.start(time.monotonic())
    time.sleep(1.5)
    schedule.finish()
    assert [f for f, _ in injector.injected] == ["f1", "f2"]
    assert injector.injected[1][1] >= 1.3  # 1.2 s late, injected all the same
    assert schedule.errors == []
