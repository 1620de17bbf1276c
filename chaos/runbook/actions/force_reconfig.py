"""`force_reconfig`: replSetReconfig with `force: true` onto the surviving members, the manual
failover of a set that lost its majority (no primary can be elected)."""

from __future__ import annotations

import random
import time
from typing import Any, Literal

from pydantic import Field
from pymongo.errors import PyMongoError

from chaos.faults.targeting import resolve
from chaos.runbook.replset import current_config, reachable
from chaos.runbook.step import RunbookStep, StepContext, StepFailed, wait_until
from contract.durations import Duration


class ForceReconfig(RunbookStep):
    """Keep only `keep` in the config (the members that answer now, or a target such as
    `region:us`), forced on one of them (`on`, else the kept member of highest priority), then
    wait for the kept members to elect a primary."""

    action: Literal["force_reconfig"] = "force_reconfig"
    colour = "#D55E00"
    service = "repair"
    operator_delay = 60.0  # noticing that no primary can be elected, deciding to force
    keep: str = "reachable"
    on: str | None = None
    primary_timeout: Duration = Field(120.0, gt=0)

    def budget_s(self) -> float:
        return self.primary_timeout + 30.0

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cluster = ctx.cluster
        statuses = cluster.status()
        if self.keep == "reachable":
            kept = reachable(cluster)
        else:
            kept = resolve(self.keep, cluster.members, statuses, random.Random(0))
        if not kept:
            raise StepFailed("no member to keep: none answers")
        runner = self.on or max(kept, key=lambda n: cluster.member(n).priority)
        if runner not in kept:
            raise StepFailed(f"on: {runner} is not one of the kept members ({', '.join(kept)})")
        config = current_config(cluster, runner)
        addresses = {cluster.member(n).address for n in kept}
        members = [m for m in config["members"] if m["host"] in addresses]
        if not members:
            raise StepFailed(f"the config on {runner} lists none of {', '.join(kept)}")
        removed = [m.name for m in cluster.members if m.address not in addresses]
        started = time.monotonic()
        try:
            cluster.admin_command(runner, {"replSetReconfig": {**config, "members": members}, "force": True})
        except PyMongoError as exc:
            why = cluster.redact(str(exc))
            raise StepFailed(f"forced replSetReconfig on {runner} failed: {why}") from None
        ctx.acted_on(kept)
        forced = current_config(cluster, runner)
        primary = wait_until(
            lambda: next((s.name for s in cluster.status() if s.state == "PRIMARY" and s.name in kept), None),
            self.primary_timeout,
            f"a primary among {', '.join(kept)}",
        )
        return {
            "kept": kept,
            "removed": removed,
            "ran_on": runner,
            "version_before": config["version"],
            "version_after": forced["version"],
            "primary": primary,
            "elected_after_s": round(time.monotonic() - started, 3),
        }
