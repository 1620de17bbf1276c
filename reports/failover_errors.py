"""The `failover_errors` SLO check: per fault, the errors the application surfaced (the
application's requests that failed after its driver's retries, `reports.impact`) are at most
`max`; 0 by default, i.e. no more than retryWrites and retryReads absorb.

    slos:
      checks:
        failover_errors: {max: 0, ops: all}      # ops: all | reads | writes

Its target model is `Params`, so a scenario with a bad target is refused when it is read; this
module imports no analysis library, so reading a scenario stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from reports.verdicts import Check, SLOResult

if TYPE_CHECKING:
    from reports.checks import CheckContext


class FailoverErrorsTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max: int = Field(0, ge=0)
    ops: Literal["all", "reads", "writes"] = "all"


def failover_errors_checks(ctx: CheckContext) -> list[SLOResult]:
    target = FailoverErrorsTarget.model_validate(ctx.params or {})
    results = []
    for fa in ctx.analysis.faults:
        f = fa.fault
        label = f"{f.fault_id} ({f.kind} {f.target}, {f.fault_class})"
        what = "errors surfaced" + ("" if target.ops == "all" else f" by {target.ops}") + f" in {label}"
        check = Check(
            f"failover_errors[{f.fault_id}]", "failover_errors", what, "errors", fault_id=f.fault_id
        )
        found = fa.impact.value
        if not f.injected or found is None:
            error = f"injection failed: {f.inject_error}" if not f.injected else fa.impact.error or ""
            results.append(check.unknown(error, float(target.max)))
            continue
        surfaced = {"all": found.surfaced, "reads": found.reads_surfaced, "writes": found.writes_surfaced}
        result = check.judge(surfaced[target.ops], float(target.max))
        # The classes' explanations cover every request; a reads- or writes-only target keeps the count.
        why = [row.explanation for row in found.by_class if row.explanation and target.ops == "all"]
        if found.guide_basis == "estimated" and found.guide_surfaced is not None:
            why.append(f"with the guide's driver settings ≈ {found.guide_surfaced} errors")
        if why:
            result = result.model_copy(update={"explanation": f"{result.explanation} ({'; '.join(why)})"})
        results.append(result)
    return results


# The check's target model: SLOTargets validates `checks.failover_errors` with it.
failover_errors_checks.Params = FailoverErrorsTarget  # type: ignore[attr-defined]
