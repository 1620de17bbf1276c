"""Each SLO target judged against what the analysers measured (see `reports.verdicts`).

    rto[<fault>]                  the fault's RTO (reports.availability) ≤ rto_s of its class
    throughput_recovery[<fault>]  recovery time (reports.throughput) ≤ within_s, else the RTO target
    lost_acked_writes             acknowledged writes missing after recovery ≤ the allowance
    rpo                           the run's RPO (reports.dataloss) ≤ rpo_s
    latency[<op>].<stat>          steady-phase avg/p95/p99 of each operation ≤ its target
    error_rate[steady]            steady-phase error rate ≤ error_rate
    replication_lag               the largest steady-phase lag of any member ≤ max_replication_lag_s

A target set to null is not checked. A fault whose injection failed gets unknown verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.availability import WriteWindow
from reports.dataloss import RPO, DataLoss
from reports.errorrates import ErrorTables
from reports.faults import Fault
from reports.lag import MemberLag, worst_steady_lag
from reports.latency import LatencyRow
from reports.phases import Phase
from reports.results import Outcome
from reports.slo import ALL_OPERATIONS, SLOTargets
from reports.throughput import ThroughputRecovery
from reports.verdicts import Check, SLOResult

LATENCY_STATS = ("avg_ms", "p95_ms", "p99_ms")


@dataclass(slots=True)
class FaultAnalysis:
    fault: Fault
    writes: Outcome[WriteWindow | None]
    throughput: Outcome[ThroughputRecovery]


@dataclass(slots=True)
class Analysis:
    """The measurements the checks judge, each with the error that kept it from being made."""

    faults: list[FaultAnalysis] = field(default_factory=list)
    data_loss: Outcome[DataLoss] = field(default_factory=Outcome)
    rpo: Outcome[RPO] = field(default_factory=Outcome)
    latency: Outcome[list[LatencyRow]] = field(default_factory=Outcome)
    errors: Outcome[ErrorTables] = field(default_factory=Outcome)
    lag: Outcome[list[MemberLag]] = field(default_factory=Outcome)


def slo_results(targets: SLOTargets, analysis: Analysis) -> list[SLOResult]:
    results: list[SLOResult] = []
    for fa in analysis.faults:
        results += _fault_checks(targets, fa)
    results += _data_checks(targets, analysis)
    results += _latency_checks(targets, analysis.latency)
    results += _error_rate_checks(targets, analysis.errors)
    results += _lag_checks(targets, analysis.lag)
    return results


def _fault_checks(targets: SLOTargets, fa: FaultAnalysis) -> list[SLOResult]:
    f = fa.fault
    results = []
    label = f"{f.fault_id} ({f.kind} {f.target}, {f.fault_class})"
    observed = f.horizon_end - f.t_inject
    not_injected = None if f.injected else f"injection failed: {f.inject_error}"
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
        check = Check("lost_acked_writes", "lost_acked_writes", "acknowledged writes lost", "writes")
        allowed = float(targets.lost_acked_writes)
        loss = analysis.data_loss
        if loss.value is None:
            results.append(check.unknown(loss.error or "", allowed))
        else:
            results.append(check.judge(loss.value.lost_acked, allowed))
    if targets.rpo_s is not None:
        check = Check("rpo", "rpo", "RPO (span of lost acknowledged writes)", "s")
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
