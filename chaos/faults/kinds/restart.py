"""`restart`: stop (gracefully, or SIGKILL with graceful: false) and start again at once."""

from __future__ import annotations

from typing import Literal

from chaos.faults.kind import FaultContext, FaultSpec, HealStep


class Restart(FaultSpec):
    """Stop (gracefully, or SIGKILL with graceful: false) and start again at once."""

    kind: Literal["restart"] = "restart"
    layer = "process"
    destructive = True
    graceful: bool = True

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return [HealStep(op="start", member=m) for m in ctx.members]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        for name in ctx.members:
            (ctx.cluster.stop if self.graceful else ctx.cluster.kill)(name)
            ctx.cluster.start(name)
        return {}
