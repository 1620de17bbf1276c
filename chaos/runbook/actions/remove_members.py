"""`remove_members`: take members out of the config, one voting member per reconfig."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from chaos.faults.targeting import resolve
from chaos.runbook.replset import Members, reconfig
from chaos.runbook.step import RunbookStep, StepContext, StepFailed
from contract.durations import Duration


class RemoveMembers(RunbookStep):
    action: Literal["remove_members"] = "remove_members"
    colour = "#E69F00"
    service = "repair"
    target: str
    timeout: Duration = Field(120.0, gt=0)

    def budget_s(self) -> float:
        return self.timeout * 5

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cluster = ctx.cluster
        leaving = resolve(self.target, cluster.members, cluster.status(), random.Random(0))
        removed = []
        for name in leaving:
            if reconfig(cluster, without(cluster.member(name).address), self.timeout):
                ctx.acted_on([name])
                removed.append(name)
        if not removed:
            raise StepFailed(f"remove_members {self.target}: none of {', '.join(leaving)} is in the config")
        return {"removed": removed}


def without(host: str) -> Callable[[Members], Members | None]:
    """The change that removes `host`, unless the config no longer has it."""

    def change(members: Members) -> Members | None:
        kept = [m for m in members if m["host"] != host]
        return kept if len(kept) < len(members) else None

    return change
