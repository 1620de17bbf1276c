"""What a runbook action is: an operator's step, as a pydantic model whose fields are its
parameters (a scenario's `params:`), that runs against the cluster and says what it found.

    class FlushCaches(RunbookStep):
        action: Literal["flush_caches"] = "flush_caches"
        colour = "#009E73"                      # the report's colour for its span
        member: str = "primary"

        def run(self, ctx: StepContext) -> dict[str, object]:
            ...                                 # act on ctx.cluster
            ctx.acted_on([name])                # which members it touched
            return {"flushed": 12}              # its findings, for runbook.jsonl and the report

A step that cannot do its job raises StepFailed (or any HubchaosError) saying why; the player
records it failed and the drill ends with exit 3 naming the step. Nothing undoes a step: what an
operator did stays done, so a step must leave the cluster in a state the next one can use.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from contract.errors import RunbookError

if TYPE_CHECKING:
    from chaos.backends.base import Cluster

__all__ = ["PlannedStep", "RunbookState", "RunbookStep", "StepContext", "StepFailed"]

STEP_ID = re.compile(r"^r(\d+)$")
FAULT_ID = re.compile(r"^f(\d+)$")


class StepFailed(RunbookError):
    """A step could not do its job; the player adds which step it was."""


@dataclass(slots=True)
class RunbookState:
    """What earlier steps leave for later ones, by name: backups taken, continuous backups still
    running, restore points marked. Values are the backup modules' own objects."""

    backups: dict[str, Path] = field(default_factory=dict)
    continuous: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, Any] = field(default_factory=dict)
    term_wiped: int | None = None  # the highest term the members had when a wipe killed them

    def close(self) -> None:
        """Stop what still runs (continuous backups) when the drill ends."""
        for tailer in self.continuous.values():
            tailer.stop()
        self.continuous.clear()


@dataclass(slots=True)
class StepContext:
    """What a step acts on and where it may write."""

    cluster: Cluster
    step_id: str
    database: str  # the workload's database: what backups hold and restores validate
    run_dir: Path | None = None  # None outside a drill (then backups need an explicit folder)
    state: RunbookState = field(default_factory=RunbookState)
    log: Callable[[str], None] = lambda line: None
    members: list[str] = field(default_factory=list)

    def acted_on(self, names: list[str]) -> None:
        self.members.extend(n for n in names if n not in self.members)

    @property
    def backups(self) -> Path | None:
        """Where backup sets and restore points go in the run directory."""
        # Imported here: the run-directory contract needs pyarrow, which reading a scenario
        # (`hubchaos validate`, which loads the actions) must not import.
        from contract.rundir import BACKUPS  # noqa: PLC0415

        return self.run_dir / BACKUPS if self.run_dir is not None else None


class RunbookStep(BaseModel):
    """One action as data. Subclasses add `action: Literal["name"] = "name"` and parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str

    colour: ClassVar[str | None] = None
    # How long an operator takes to start it after its trigger, unless the scenario says.
    operator_delay: ClassVar[float] = 0.0
    # "down" takes the cluster out of service, "up" brings it back, "repair" changes it while it
    # serves (see RunbookEvent.service): how the analysis phases the step's time.
    service: ClassVar[str | None] = None

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude={"action"}, exclude_none=True, mode="json")

    def budget_s(self) -> float:
        """The longest this step may take (its own timeouts): how long the drill waits for it."""
        return 300.0

    def run(self, ctx: StepContext) -> dict[str, Any]:
        """Do the action; return its findings (JSON-able)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A step as the player runs it."""

    step_id: str  # r1, r2, ... in runbook order
    step: RunbookStep
    at: float | None  # its trigger in seconds from the start of the load, or
    after: str | None  # a fault id (its injection) or a step id (its end); neither: the previous step
    operator_delay: float


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy; StepFailed naming `what` at the timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise StepFailed(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)
