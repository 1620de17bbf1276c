"""`stepdown`: replSetStepDown on the target (normally the primary); healed with replSetFreeze 0."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.faults.kind import FaultContext, FaultSpec, HealStep, admin_command


class StepDown(FaultSpec):
    """replSetStepDown on the target (normally the primary); healed with replSetFreeze 0."""

    kind: Literal["stepdown"] = "stepdown"
    layer = "election"
    step_down_secs: int = Field(60, ge=1)
    secondary_catch_up_period_secs: int = Field(10, ge=0)
    force: bool = False

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return [HealStep(op="unfreeze", member=m) for m in ctx.members]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        command: dict[str, object] = {
            "replSetStepDown": self.step_down_secs,
            "secondaryCatchUpPeriodSecs": self.secondary_catch_up_period_secs,
            "force": self.force,
        }
        for name in ctx.members:
            admin_command(ctx.cluster, name, command)
        return {}
