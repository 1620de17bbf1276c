"""An SLO check of the orders service: how many checkouts failed over the whole drill.

Registered through the entry point `hubchaos.checks`; a profile turns it on and gives its
target under `checks:` (`checkout_failures: {max_fraction: 2%}`).
"""

from __future__ import annotations

from reports.checks import CheckContext
from reports.verdicts import Check, SLOResult

OPERATION = "orders.checkout"


def checkout_failures(ctx: CheckContext) -> list[SLOResult]:
    check = Check("checkout_failures", "checkout_failures", "failed checkouts over the drill", "ratio")
    limit = _fraction(ctx.params["max_fraction"])
    if ctx.data is None:
        return [check.unknown("no run directory to count checkouts in", limit)]
    events = ctx.data.events
    checkouts = events[events["op"].astype(str) == OPERATION]
    if checkouts.empty:
        return [check.unknown("no checkout was attempted", limit)]
    return [check.judge(float((~checkouts["ok"]).mean()), limit)]


def _fraction(value: object) -> float:
    text = str(value).strip()
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)
