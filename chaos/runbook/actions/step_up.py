"""`step_up`: replSetStepUp on a member, which then stands for election at once."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field
from pymongo.errors import PyMongoError

from chaos.backends.health import current_primary
from chaos.runbook.step import RunbookStep, StepContext, StepFailed, wait_until
from contract.durations import Duration


class StepUp(RunbookStep):
    action: Literal["step_up"] = "step_up"
    colour = "#56B4E9"
    service = "repair"
    member: str
    timeout: Duration = Field(60.0, gt=0)

    def budget_s(self) -> float:
        return self.timeout + 10.0

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cluster = ctx.cluster
        cluster.member(self.member)
        before = current_primary(cluster.status())
        started = time.monotonic()
        try:
            cluster.admin_command(self.member, {"replSetStepUp": 1})
        except PyMongoError as exc:
            raise StepFailed(f"replSetStepUp on {self.member} failed: {cluster.redact(str(exc))}") from None
        ctx.acted_on([self.member])
        wait_until(
            lambda: cluster.member_status(self.member).state == "PRIMARY",
            self.timeout,
            f"{self.member} becoming primary",
        )
        return {
            "primary_before": before.name if before else None,
            "primary": self.member,
            "took_s": round(time.monotonic() - started, 3),
        }
