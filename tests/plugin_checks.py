"""SLO checks from outside the suite's package, as a third party writes them."""

from __future__ import annotations

from reports.checks import CheckContext
from reports.verdicts import Check, SLOResult


def canary_failures(ctx: CheckContext) -> list[SLOResult]:
    """Failed canary requests over the whole run, at most `max`; unknown without the run."""
    check = Check("canary_failures", "canary_failures", "failed canary requests", "writes")
    limit = float(ctx.params["max"])
    if ctx.data is None:
        return [check.unknown("no run directory to count in", limit)]
    events = ctx.data.events
    failed = int((events["op"].astype(str).str.startswith("canary.") & ~events["ok"]).sum())
    return [check.judge(failed, limit)]


def broken(ctx: CheckContext) -> list[SLOResult]:
    raise RuntimeError("the check itself failed")
