"""`wait_healthy`: wait until the set is healthy: one primary, every other member of the
current config SECONDARY within the lag bound (members the config leaves out are not judged)."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from chaos.backends.health import MemberStatus, await_healthy, current_primary, with_lag
from chaos.runbook.replset import config_hosts, current_config, primary_name
from chaos.runbook.step import RunbookStep, StepContext, StepFailed
from contract.durations import Duration


class WaitHealthy(RunbookStep):
    action: Literal["wait_healthy"] = "wait_healthy"
    colour = "#0072B2"
    timeout: Duration = Field(120.0, gt=0)
    max_lag: Duration = Field(10.0, ge=0)

    def budget_s(self) -> float:
        return self.timeout + 10.0

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cluster = ctx.cluster
        started = time.monotonic()
        deadline = started + self.timeout

        def members_of_the_config() -> list[MemberStatus]:
            primary = primary_name(cluster, max(0.5, deadline - time.monotonic()))
            hosts = config_hosts(current_config(cluster, primary))
            return with_lag([s for s in cluster.status() if s.address in hosts])

        statuses, reason = await_healthy(members_of_the_config, self.timeout, self.max_lag)
        if reason is not None:
            raise StepFailed(f"the set was not healthy within {self.timeout:g} s: {reason}")
        primary = current_primary(statuses)
        return {
            "waited_s": round(time.monotonic() - started, 3),
            "primary": primary.name if primary is not None else None,
            "members": {s.name: s.state for s in statuses},
        }
