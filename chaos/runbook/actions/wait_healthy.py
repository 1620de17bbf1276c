"""`wait_healthy`: wait until the set is healthy: one primary, every other member of the
current config SECONDARY within the lag bound (members the config leaves out are not judged)."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from chaos.backends.health import unhealthy_reason, with_lag
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
        reason = "not checked yet"
        while time.monotonic() < deadline:
            primary = primary_name(cluster, max(0.5, deadline - time.monotonic()))
            hosts = config_hosts(current_config(cluster, primary))
            statuses = with_lag([s for s in cluster.status() if s.address in hosts])
            reason = unhealthy_reason(statuses, self.max_lag) or ""
            if not reason:
                return {
                    "waited_s": round(time.monotonic() - started, 3),
                    "primary": primary,
                    "members": {s.name: s.state for s in statuses},
                }
            time.sleep(0.25)
        raise StepFailed(f"the set was not healthy within {self.timeout:g} s: {reason}")
