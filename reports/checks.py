"""Each SLO target judged against what the analysers measured (see `reports.verdicts`).

    rto[<fault>]                  the fault's RTO (reports.availability) ≤ rto_s of its class
    throughput_recovery[<fault>]  recovery time (reports.throughput) ≤ within_s, else the RTO target
    lost_acked_writes             acknowledged writes missing after recovery ≤ the allowance
    rpo                           the run's RPO (reports.dataloss) ≤ rpo_s
    latency[<op>].<stat>          steady-phase avg/p95/p99 of each operation ≤ its target
    error_rate[steady]            steady-phase error rate ≤ error_rate
    replication_lag               the largest steady-phase lag of any member ≤ max_replication_lag_s

A target set to null is not checked. A fault whose injection failed gets unknown verdicts.

Registered, and run when the targets name them under `checks:` (the ai-hub-production profile
names failover_errors), each in a module of its own:

    failover_errors[<fault>]      errors the application surfaced (reports.impact) ≤ max
                                  (reports/failover_errors.py)
    alert_fired[<fault>].<alert>  an alert the fault should fire: its time to fire ≤ target
                                  (reports/alert_checks.py, with an alert drill)
    false_alarms                  alerts that fired in steady state ≤ max (reports/alert_checks.py)

Checks are composed from the registry `reports.slo.CHECKS` (Jepsen's `checker/compose`): the
built-in ones above run for every run, in that order; any other check runs when the targets
name it under `checks:`, its entry there being its target (null switches it off). A check is
a function `(ctx: CheckContext) -> list[SLOResult]`, usually made with `reports.verdicts.Check`
(`judge`, `never`, `unknown`); one that raises yields one *unknown* result carrying the error.
Last, a failure the targets list under `known_failures` is marked known (`mark_known`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.rundir import FAULTS, SCENARIO
from reports.alerts import AlertsSummary
from reports.availability import WriteWindow
from reports.dataloss import RPO, DataLoss
from reports.errorrates import ErrorTables
from reports.faults import Fault
from reports.host import HostLoad, unknown_when_saturated
from reports.impact import FaultImpact
from reports.lag import MemberLag, worst_steady_lag
from reports.latency import LatencyRow
from reports.load import RunData
from reports.phases import Phase
from reports.results import Outcome
from reports.slo import ALL_OPERATIONS, BUILTIN_CHECKS, CHECKS, SLOTargets
from reports.throughput import ThroughputRecovery
from reports.verdicts import Check, SLOResult, Verdict

LATENCY_STATS = ("avg_ms", "p95_ms", "p99_ms")


@dataclass(slots=True)
class FaultAnalysis:
    fault: Fault
    writes: Outcome[WriteWindow | None]
    throughput: Outcome[ThroughputRecovery]
    impact: Outcome[FaultImpact] = field(default_factory=Outcome)


@dataclass(slots=True)
class Analysis:
    """The measurements the checks judge, each with the error that kept it from being made."""

    faults: list[FaultAnalysis] = field(default_factory=list)
    data_loss: Outcome[DataLoss] = field(default_factory=Outcome)
    rpo: Outcome[RPO] = field(default_factory=Outcome)
    latency: Outcome[list[LatencyRow]] = field(default_factory=Outcome)
    errors: Outcome[ErrorTables] = field(default_factory=Outcome)
    lag: Outcome[list[MemberLag]] = field(default_factory=Outcome)
    host: Outcome[HostLoad] = field(default_factory=Outcome)
    alerts: Outcome[AlertsSummary] = field(default_factory=Outcome)  # value None: no alert drill


@dataclass(slots=True)
class CheckContext:
    """What a check judges: the targets, the analysers' measurements and the loaded run."""

    name: str  # the check's registered name (or module:function reference)
    targets: SLOTargets
    analysis: Analysis
    data: RunData | None = None  # None when judging measurements without a run directory
    params: Any = None  # the check's entry under the targets' `checks:` (None for built-in ones)


def slo_results(targets: SLOTargets, analysis: Analysis, data: RunData | None = None) -> list[SLOResult]:
    """Every check's results: the built-in ones, then those the targets name under `checks:`."""
    chosen = [(name, None) for name in BUILTIN_CHECKS]
    chosen += [(name, params) for name, params in targets.checks.items() if params is not None]
    results: list[SLOResult] = []
    names: list[str] = []
    for name, params in chosen:
        found = run_check(CheckContext(name, targets, analysis, data, params))
        results += found
        names += [name] * len(found)
    judged = unknown_when_saturated(results, analysis.host.value)
    return [mark_known(r, name, targets.known_failures) for r, name in zip(judged, names, strict=True)]


def mark_known(r: SLOResult, check: str, known: dict[str, str]) -> SLOResult:
    """A failure the targets declare known (by SLO id, category or the name of its check) with
    its reason; a declared one that passed says it did not reproduce."""
    reason = known.get(r.slo, known.get(r.category, known.get(check)))
    if reason is None or r.verdict is Verdict.UNKNOWN:
        return r
    if r.verdict is Verdict.FAIL:
        update = {"known_failure": reason, "explanation": f"{r.explanation}; known failure: {reason}"}
    else:
        update = {"explanation": f"{r.explanation}; a known failure that did not reproduce"}
    return r.model_copy(update=update)


def run_check(ctx: CheckContext) -> list[SLOResult]:
    """One check's results; a check that cannot be found or raises is one unknown result."""
    try:
        return list(CHECKS.get(ctx.name)(ctx))
    except Exception as exc:  # a third party's check must not take the verdict table down with it
        error = f"{type(exc).__name__}: {exc}"
        return [Check(f"check[{ctx.name}]", ctx.name, f"check {ctx.name}", "").unknown(error, None)]


def faults_checks(ctx: CheckContext) -> list[SLOResult]:
    results: list[SLOResult] = []
    data = ctx.data
    if data is not None and FAULTS in data.absent and data.faults_declared:
        # The scenario declares faults but their record is lost: recovery is unknown, not a pass.
        check = Check("rto", "rto", "RTO of the scenario's faults", "s")
        error = f"{FAULTS} is absent, though {SCENARIO} declares faults, so no fault's recovery can be judged"
        results.append(check.unknown(error, None))
    for fa in ctx.analysis.faults:
        results += _fault_checks(ctx.targets, fa)
    return results


def data_loss_checks(ctx: CheckContext) -> list[SLOResult]:
    return _data_checks(ctx.targets, ctx.analysis)


def latency_checks(ctx: CheckContext) -> list[SLOResult]:
    return _latency_checks(ctx.targets, ctx.analysis.latency)


def error_rate_checks(ctx: CheckContext) -> list[SLOResult]:
    return _error_rate_checks(ctx.targets, ctx.analysis.errors)


def replication_lag_checks(ctx: CheckContext) -> list[SLOResult]:
    return _lag_checks(ctx.targets, ctx.analysis.lag)


def _fault_checks(targets: SLOTargets, fa: FaultAnalysis) -> list[SLOResult]:
    f = fa.fault
    results = []
    label = f"{f.fault_id} ({f.kind} {f.target}, {f.fault_class})"
    observed = f.horizon_end - f.t_inject
    not_injected = None if f.injected else f"injection failed: {f.inject_error}"
    if not_injected is None and observed <= 0:
        # A fault that came after the last recorded request: no request could measure it.
        not_injected = "injected after the last recorded request, so nothing measured it"
    rto_target = targets.rto_for(f.fault_class)
    if rto_target is not None:
        check = Check(f"rto[{f.fault_id}]", "rto", f"RTO of {label}", "s", fault_id=f.fault_id)
        window = fa.writes.value
        if not_injected or not fa.writes.ok:
            results.append(check.unknown(not_injected or fa.writes.error or "", rto_target))
        elif window is None:
            results.append(check.unknown("no writes were recorded", rto_target))
        elif window.recovered is None:
            results.append(check.never(observed, rto_target))
        else:
            results.append(check.judge(window.recovered.after_s, rto_target))

    spec = targets.throughput_recovery
    within = (spec.within_s if spec.within_s is not None else rto_target) if spec is not None else None
    if spec is not None and within is not None:
        what = f"throughput back to {spec.fraction:.0%} of the pre-fault median after {label}"
        check = Check(
            f"throughput_recovery[{f.fault_id}]", "throughput_recovery", what, "s", fault_id=f.fault_id
        )
        tp = fa.throughput.value
        if not_injected or tp is None:
            results.append(check.unknown(not_injected or fa.throughput.error or "", within))
        elif tp.baseline_per_s is None:
            results.append(
                check.unknown("no steady-state second before the fault to take a baseline", within)
            )
        elif tp.recovered is None:
            results.append(check.never(observed, within))
        else:
            results.append(check.judge(tp.recovered.after_s, within))
    return results


def _data_checks(targets: SLOTargets, analysis: Analysis) -> list[SLOResult]:
    results = []
    if targets.lost_acked_writes is not None:
        what = "acknowledged writes lost"
        check = Check("lost_acked_writes", "lost_acked_writes", what, "writes", timed=False)
        allowed = float(targets.lost_acked_writes)
        loss = analysis.data_loss
        if loss.value is None:
            results.append(check.unknown(loss.error or "", allowed))
        else:
            results.append(check.judge(loss.value.lost_acked, allowed))
    if targets.rpo_s is not None:
        check = Check("rpo", "rpo", "RPO (span of lost acknowledged writes)", "s", timed=False)
        if analysis.rpo.value is None:
            results.append(check.unknown(analysis.rpo.error or "", targets.rpo_s))
        else:
            results.append(check.judge(analysis.rpo.value.rpo_s, targets.rpo_s))
    return results


def _latency_checks(targets: SLOTargets, latency: Outcome[list[LatencyRow]]) -> list[SLOResult]:
    if latency.value is None:
        if any(t.model_dump(exclude_none=True) for t in targets.latency_ms.values()):
            return [
                Check("latency", "latency", "steady-state latency", "ms").unknown(latency.error or "", None)
            ]
        return []
    steady = {r.op: r for r in latency.value if r.phase is Phase.STEADY and r.op != ALL_OPERATIONS}
    named = [op for op in targets.latency_ms if op != ALL_OPERATIONS]
    results = []
    for op in sorted(set(steady) | set(named)):
        target = targets.latency_for(op)
        for stat in LATENCY_STATS:
            limit = getattr(target, stat)
            if limit is None:
                continue
            what = f"steady-state {stat.removesuffix('_ms')} latency of {op}"
            check = Check(f"latency[{op}].{stat}", "latency", what, "ms", op=op)
            row = steady.get(op)
            if row is None:
                results.append(check.unknown("no successful steady-state operations", limit))
            else:
                results.append(check.judge(getattr(row, stat), limit))
    return results


def _error_rate_checks(targets: SLOTargets, errors: Outcome[ErrorTables]) -> list[SLOResult]:
    if targets.error_rate is None:
        return []
    check = Check("error_rate[steady]", "error_rate", "steady-state error rate", "ratio")
    if errors.value is None:
        return [check.unknown(errors.error or "", targets.error_rate)]
    steady = errors.value.rate(Phase.STEADY)
    if steady.error_rate is None:
        return [check.unknown("no steady-state requests", targets.error_rate)]
    return [check.judge(steady.error_rate, targets.error_rate)]


def _lag_checks(targets: SLOTargets, lag: Outcome[list[MemberLag]]) -> list[SLOResult]:
    target = targets.max_replication_lag_s
    if target is None:
        return []
    check = Check("replication_lag", "replication_lag", "largest steady-state replication lag", "s")
    if lag.value is None:
        return [check.unknown(lag.error or "", target)]
    worst = worst_steady_lag(lag.value)
    if worst is None or worst.max_steady_lag_s is None:
        return [check.unknown("no steady-state lag samples", target)]
    worst_check = Check("replication_lag", "replication_lag", f"{check.what} ({worst.member})", "s")
    return [worst_check.judge(worst.max_steady_lag_s, target)]
