"""hubchaos's one exception tree, and the one place that maps it to exit codes.

    HubchaosError                       any failure the suite reports
    ├── UsageError                      bad arguments or a bad scenario          → exit 2
    │   └── ScenarioError                 names the file, line and field
    └── RunError                        the drill itself could not be carried out → exit 3
        ├── BackendError                  the cluster did not come up / attach failed
        │   └── ClusterUnhealthy            wait-until-healthy timed out (names the member)
        ├── FaultError                    a fault could not be injected or refused its target
        │   ├── TargetError                 the target resolves to nothing / is not allowed
        │   └── HealError                   a fault could not be healed (worst case)
        ├── RunbookError                  a runbook step failed (names the step)
        └── AnalysisError                 a run directory could not be analysed

An SLO that is not met is not an exception: it is a verdict (exit 1).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class ExitCode(IntEnum):
    OK = 0  # every SLO met
    SLO_FAILED = 1  # the drill ran and at least one SLO failed (or a comparison regressed)
    USAGE = 2  # a bad scenario or bad arguments
    RUN_FAILED = 3  # the run itself failed


class HubchaosError(Exception):
    exit_code = ExitCode.RUN_FAILED


class UsageError(HubchaosError):
    exit_code = ExitCode.USAGE


class ScenarioError(UsageError):
    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, field: str | None = None
    ):
        where = file or "<scenario>"
        if line is not None:
            where += f":{line}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {message}")
        self.problem = message
        self.file = file
        self.line = line
        self.field = field


class RunError(HubchaosError):
    exit_code = ExitCode.RUN_FAILED


class BackendError(RunError):
    pass


class ClusterUnhealthy(BackendError):
    pass


class FaultError(RunError):
    pass


class TargetError(FaultError):
    """A target that resolves to nothing or is not allowed: refused, nothing changed."""

    exit_code = ExitCode.USAGE


class HealError(FaultError):
    pass


class RunbookError(RunError):
    """A runbook step (an operator action) failed; the message names the step."""


class AnalysisError(RunError):
    pass


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's first error as one line: `field.path: message` (and how many more there are)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"
