"""`add_members`: put members back into the config (after a forced reconfig left them out), one
voting member per reconfig as mongod requires, each waited for until it is a SECONDARY caught
up with the primary (after the rollback or initial sync it needs) before the next is added."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from chaos.faults.targeting import resolve
from chaos.runbook.replset import (
    Members,
    config_hosts,
    current_config,
    primary_name,
    reconfig,
    wait_caught_up,
)
from chaos.runbook.step import RunbookStep, StepContext, StepFailed
from contract.durations import Duration

MAX_VOTERS = 7  # a replica set's most voting members: the most one step re-adds one by one


class AddMembers(RunbookStep):
    """`target`: `missing` (every member of the cluster the config lacks) or a target such as
    `region:eu`; each comes back with its scenario priority, votes and tags."""

    action: Literal["add_members"] = "add_members"
    colour = "#009E73"
    service = "repair"
    target: str = "missing"
    member_timeout: Duration = Field(300.0, gt=0)

    def budget_s(self) -> float:
        return self.member_timeout * MAX_VOTERS + 60.0

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cluster = ctx.cluster
        present = config_hosts(current_config(cluster, primary_name(cluster, self.member_timeout)))
        if self.target == "missing":
            wanted = [m.name for m in cluster.members if m.address not in present]
        else:
            wanted = resolve(self.target, cluster.members, cluster.status(), random.Random(0))
            wanted = [n for n in wanted if cluster.member(n).address not in present]
        if not wanted:
            raise StepFailed(f"add_members {self.target}: every such member is in the config already")
        names = [m.name for m in cluster.members]
        specs = {s.name: s for s in cluster.target.members}
        added: list[dict[str, Any]] = []
        for name in wanted:
            options = specs[name].config_options() if name in specs else {}
            entry = {"_id": names.index(name), "host": cluster.member(name).address, **options}
            ctx.log(f"runbook {ctx.step_id}: adding {name}")
            reconfig(cluster, adding(entry), self.member_timeout)
            ctx.acted_on([name])
            point = cluster.member_status(primary_name(cluster, self.member_timeout)).optime or 0.0
            seconds = wait_caught_up(cluster, name, point, self.member_timeout)
            added.append({"member": name, "caught_up_s": round(seconds, 3)})
        return {"added": added}


def adding(entry: dict[str, Any]) -> Callable[[Members], Members | None]:
    """The change that adds `entry` (under another _id when its own is taken), unless its host
    is in the config already."""

    def change(members: Members) -> Members | None:
        if entry["host"] in {m["host"] for m in members}:
            return None
        taken = {m["_id"] for m in members}
        member_id = entry["_id"] if entry["_id"] not in taken else max(taken) + 1
        return [*members, {**entry, "_id": member_id}]

    return change
