"""A fault kind from outside the suite's package, as a third party writes one: its own spec,
plan, apply, colour and heal step (named by module:function, so another process finds it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from chaos.faults.kind import FaultContext, FaultSpec, HealStep

if TYPE_CHECKING:
    from chaos.backends.base import Cluster

HEAL_OP = f"{__name__}:thaw"


class Hold(FaultSpec):
    """Freeze the target's process (SIGSTOP) and note how long it is meant to stay held."""

    kind: Literal["hold"] = "hold"
    destructive = True
    colour = "#CC79A7"
    seconds: float = Field(5.0, gt=0)

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return [HealStep(op=HEAL_OP, member=m, args={"why": "hold"}) for m in ctx.members]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        for name in ctx.members:
            ctx.cluster.pause(name)
        return {"held": len(ctx.members)}


def thaw(cluster: Cluster, step: HealStep) -> None:
    assert step.args == {"why": "hold"}
    cluster.resume(step.member)
