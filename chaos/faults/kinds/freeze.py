"""`freeze`: replSetFreeze, the target may not stand for election for `seconds`; healed with 0."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.faults.kind import FaultContext, FaultSpec, HealStep, admin_command


class Freeze(FaultSpec):
    """replSetFreeze: the target may not stand for election for `seconds`; healed with 0."""

    kind: Literal["freeze"] = "freeze"
    layer = "election"
    target: str = "secondary"
    seconds: int = Field(60, ge=1)

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return [HealStep(op="unfreeze", member=m) for m in ctx.members]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        for name in ctx.members:
            admin_command(ctx.cluster, name, {"replSetFreeze": self.seconds})
        return {}
