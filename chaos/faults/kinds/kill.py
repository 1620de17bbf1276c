"""`kill`: SIGKILL (docker kill); restarted after `restart_after_s` if given, else when healed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.faults.kind import FaultContext, FaultSpec, HealStep


class Kill(FaultSpec):
    """SIGKILL (docker kill); restarted after `restart_after_s` if given, else when healed."""

    kind: Literal["kill"] = "kill"
    layer = "process"
    destructive = True
    restart_after_s: float | None = Field(None, ge=0, allow_inf_nan=False)

    def heals_itself_after(self) -> float | None:
        return self.restart_after_s

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return [HealStep(op="start", member=m) for m in ctx.members]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        for name in ctx.members:
            ctx.cluster.kill(name)
        return {}
