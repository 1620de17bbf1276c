"""`pause`: SIGSTOP (docker pause): the member is there but answers nothing until resumed."""

from __future__ import annotations

from typing import Literal

from chaos.faults.kind import FaultContext, FaultSpec, HealStep


class Pause(FaultSpec):
    """SIGSTOP (docker pause): the member is there but answers nothing until resumed."""

    kind: Literal["pause"] = "pause"
    layer = "process"
    destructive = True

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return [HealStep(op="resume", member=m) for m in ctx.members]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        for name in ctx.members:
            ctx.cluster.pause(name)
        return {}
