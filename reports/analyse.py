"""The analysis of a run directory: `analyse(run_dir) -> Summary`, `write_outputs(run_dir, summary)`.

Reading the run directory is checked once (`reports.load`: a bad or missing file is an
AnalysisError naming it); after that every analyser runs on its own, and one that raises leaves
its measurement empty, its error in the summary and its SLOs *unknown*, never a traceback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from contract import rundir
from reports.alerts import alert_analysis
from reports.availability import Completeness, LastWrites, WriteLog, is_canary, write_logs, write_window
from reports.checks import Analysis, FaultAnalysis, slo_results
from reports.columns import matches
from reports.dataloss import data_loss, match_rollback, rpo
from reports.drivercheck import Finding, run_load, run_timing
from reports.drivercheck import check as check_driver
from reports.errorrates import ErrorCounter
from reports.failover import causal_errors, detect, elect, rediscover, symptoms, witnessed
from reports.faults import Fault
from reports.host import host_load, judged_windows
from reports.impact import impact
from reports.junit import write_junit
from reports.lag import lag_samples, replication_lag
from reports.latency import LatencyRow, LatencyTable
from reports.load import RunData, load_run
from reports.phases import Phase, PhaseWindow, phase_windows, request_phases
from reports.recovery import restore_timelines
from reports.render import render_outputs
from reports.results import Outcome, attempt
from reports.runbook import disruptions
from reports.runconfig import timing
from reports.slo import ALL_OPERATIONS, FaultClass, SLOTargets, ThroughputRecoveryTarget
from reports.states import member_states
from reports.summary import AnalyserError, Counts, FaultAnatomy, Summary
from reports.throughput import throughput_recovery
from reports.timeline import TimelineBins
from reports.verdicts import compose, exit_code

T = TypeVar("T")


def analyse(run_dir: Path, slos: SLOTargets | None = None) -> Summary:
    """Analyse a run directory; `slos` replaces the targets of its scenario.yaml."""
    return summarise(load_run(run_dir, slos))


def write_outputs(run_dir: Path, summary: Summary) -> None:
    summary.write(run_dir / rundir.SUMMARY)
    write_junit(run_dir / rundir.JUNIT, summary)
    render_outputs(run_dir, summary)  # report.html and summary.md


class _Errors:
    """Collects analysers' errors for the summary while handing their values on."""

    def __init__(self) -> None:
        self.errors: list[AnalyserError] = []

    def take(self, name: str, outcome: Outcome[T], fault: Fault | None = None) -> T | None:
        if outcome.error is not None:
            self.errors.append(
                AnalyserError(analyser=name, fault_id=fault.fault_id if fault else None, error=outcome.error)
            )
        return outcome.value


def summarise(data: RunData) -> Summary:
    """The summary of loaded run data: a pure function of it (apart from `generated_at`)."""
    targets = data.slos
    disrupted = disruptions(data.runbook, data.run_end)
    windows = phase_windows(data.faults, data.run_start, data.run_end, targets.windows.recovery_s, disrupted)
    errors = _Errors()
    analysis = Analysis()
    scan = _Scan(data, windows)
    analysis.latency = scan.outcome("latency", scan.latency.rows)
    findings = attempt(_driver_findings, data, analysis.latency.value)

    context = _FaultContext(
        data=data,
        windows=windows,
        span_s=scan.tallies.span_s,
        last_writes=scan.last_writes,
        inject_times=np.sort([f.t_inject for f in data.faults if f.injected]),
        findings=findings.value or [],
    )
    anatomies = []
    for fault in data.faults:
        anatomy, fault_analysis = context.analyse(fault, errors)
        anatomies.append(anatomy)
        analysis.faults.append(fault_analysis)

    probes = data.probes
    analysis.data_loss = attempt(data_loss, data.verification, data.ledger, data.rollback)
    analysis.rpo = attempt(rpo, data.verification, data.ledger, data.faults)
    rollback = attempt(match_rollback, data.rollback, data.ledger, data.verification)
    analysis.errors = scan.outcome("errors", scan.errors.tables)
    samples = attempt(lambda: lag_samples(_required(probes, rundir.PROBES), data.run_start, data.run_end))
    analysis.lag = (
        attempt(replication_lag, samples.value, windows) if samples.ok else Outcome(error=samples.error)
    )
    analysis.host = attempt(
        lambda: host_load(
            _required(data.resources, rundir.RESOURCES),
            judged_windows(windows, data.faults),
            targets.saturation,
        )
    )
    states = attempt(lambda: member_states(_required(probes, rundir.PROBES)))
    if data.alerts is not None:
        analysis.alerts = attempt(alert_analysis, data.alerts, data.faults, windows, data.run_end)
    series = scan.outcome("timeline", lambda: scan.timeline.timeline(samples.value, data.resources))
    restores = attempt(restore_timelines, data.runbook, data.requests)

    results = slo_results(targets, analysis, data)
    verdict = compose(r.counted for r in results)
    return Summary(
        generated_at=time.time(),
        run=data.info,
        run_start=data.run_start,
        run_end=data.run_end,
        slos=targets,
        absent_files=data.absent,
        counts=scan.counts(data),
        phases=windows,
        faults=anatomies,
        runbook=data.runbook,
        disruptions=disrupted,
        restores=errors.take("restores", restores) or [],
        data_loss=errors.take("data_loss", analysis.data_loss),
        rpo=errors.take("rpo", analysis.rpo),
        rollback=errors.take("rollback", rollback),
        latency=errors.take("latency", analysis.latency) or [],
        errors=errors.take("errors", analysis.errors),
        lag=errors.take("replication_lag", analysis.lag) or [],
        host=errors.take("host", analysis.host) if data.resources is not None else None,
        member_states=errors.take("member_states", states) or [],
        timeline=errors.take("timeline", series),
        alerts=errors.take("alerts", analysis.alerts),
        results=results,
        verdict=verdict,
        exit_code=int(exit_code(verdict, targets.on_unknown)),
        analyser_errors=errors.errors,
        timing=timing(data.config) if data.config is not None else None,
        driver_findings=errors.take("driver_findings", findings) or [],
    )


def _driver_findings(data: RunData, latency: list[LatencyRow] | None) -> list[Finding]:
    """`hubchaos check-driver`'s findings for the run's own driver profile, cluster and load."""
    config = data.config
    if config is None:
        return []
    steady = [r for r in latency or [] if r.phase is Phase.STEADY and r.op != ALL_OPERATIONS]
    slowest = max(steady, key=lambda r: r.p99_ms, default=None)
    load = run_load(config, slowest, data.slos.rto_for(FaultClass.SINGLE_NODE))
    return check_driver(config.driver, run_timing(config), load)


@dataclass(frozen=True, slots=True)
class _FaultContext:
    """What every fault's analysers share, prepared once for the run."""

    data: RunData
    windows: list[PhaseWindow]
    span_s: float  # the longest time from a request's start to its completion (or its duration)
    last_writes: LastWrites | None  # None: the scan could not say (its error is the writes')
    inject_times: np.ndarray  # injected faults' injection times, sorted
    findings: list[Finding]  # the run's driver findings (reports.drivercheck)

    def events(self, fault: Fault) -> tuple[pd.DataFrame, Completeness | None]:
        """The events a fault's analysers look at, which hold every completion from the second
        `complete.start` on: from the throughput baseline before the injection (or as early as a
        stalled or still running request that reached the injection could start) to the end of
        its horizon."""
        data, targets, span = self.data, self.data.slos, self.span_s
        reach = max(targets.windows.baseline_s + 1, targets.slow_op_ms / 1000.0, span)
        complete = None
        if self.last_writes is not None:
            complete = self.last_writes.window(math.floor(fault.t_inject - reach - self.last_writes.origin))
        start = (complete.start if complete is not None else fault.t_inject - reach) - span
        return data.requests.window(start, fault.horizon_end), complete

    def analyse(self, fault: Fault, errors: _Errors) -> tuple[FaultAnatomy, FaultAnalysis]:
        if not fault.injected:
            failed: Outcome[object] = Outcome(error=f"the fault was not injected ({fault.inject_error})")
            return _anatomy(fault, [failed.error or ""]), FaultAnalysis(fault, failed, failed)  # type: ignore[arg-type]
        data, targets = self.data, self.data.slos
        stable_s, tolerance = targets.windows.stable_s, targets.windows.stable_tolerance
        tr = targets.throughput_recovery
        probes, discovery = data.probes, data.discovery
        events, complete = self.events(fault)
        logs = attempt(write_logs, events, targets.slow_op_ms, complete)
        if complete is None:
            logs = Outcome(error="the run's writes could not be scanned")
        ok = events["ok"].to_numpy()
        completed = events["t_end"].to_numpy()[ok]
        completions = np.sort(completed[completed >= complete.start] if complete is not None else completed)
        election = attempt(lambda: elect(fault, _required(probes, rundir.PROBES)))
        outcomes = {
            "detection": attempt(lambda: detect(fault, symptoms(events, targets.slow_op_ms))),
            "election": election,
            "rediscovery": attempt(
                lambda: rediscover(fault, _required(discovery, rundir.DISCOVERY), election.value, events)
            ),
            "canary": attempt(
                lambda: write_window(fault, _logged(logs)["canary"], self.inject_times, stable_s, tolerance)
            ),
            "writes": attempt(
                lambda: write_window(fault, _logged(logs)["writes"], self.inject_times, stable_s, tolerance)
            ),
            "throughput": attempt(
                throughput_recovery,
                fault,
                completions,
                self.windows,
                data.run_start,
                self.inject_times,
                fraction=tr.fraction if tr is not None else ThroughputRecoveryTarget().fraction,
                baseline_s=targets.windows.baseline_s,
                stable_s=stable_s,
            ),
        }
        notes = [f"{name}: {o.error}" for name, o in outcomes.items() if o.error is not None]
        values = {name: errors.take(name, o, fault) for name, o in outcomes.items()}
        # A moment out of causal order is a measuring error: reported, never drawn.
        inversions = causal_errors(values["election"], values["rediscovery"], values["writes"])
        for inversion in inversions:
            errors.take("anatomy", Outcome(error=inversion), fault)
            notes.append(f"anatomy: {inversion}; the driver's moment is left out")
        if inversions:
            values["rediscovery"] = None
        values["election"] = witnessed(values["election"], values["rediscovery"])
        config = data.config
        seen = attempt(
            impact,
            fault,
            events,
            self.windows,
            targets.slow_op_ms,
            config.driver if config is not None else None,
            election=values["election"],
            rediscovery=values["rediscovery"],
            findings=self.findings,
        )
        values["impact"] = errors.take("impact", seen, fault)
        if seen.error is not None:
            notes.append(f"impact: {seen.error}")
        analysis = FaultAnalysis(fault, outcomes["writes"], outcomes["throughput"], seen)  # type: ignore[arg-type]
        return _anatomy(fault, notes, **values), analysis


def _anatomy(fault: Fault, notes: list[str], **measured: Any) -> FaultAnatomy:
    writes = measured.get("writes")
    described = {k: v for k, v in asdict(fault).items() if k in FaultAnatomy.model_fields}
    return FaultAnatomy(
        **described,
        duration_s=fault.t_heal - fault.t_inject if fault.t_heal is not None else None,
        detection=measured.get("detection"),
        election=measured.get("election"),
        rediscovery=measured.get("rediscovery"),
        canary=measured.get("canary"),
        writes=writes,
        rto_s=writes.recovered.after_s if writes is not None and writes.recovered is not None else None,
        throughput=measured.get("throughput"),
        impact=measured.get("impact"),
        notes=notes,
    )


def _required(value: T | None, name: str) -> T:
    if value is None:
        raise ValueError(f"{name} is absent from the run directory")
    return value


def _logged(logs: Outcome[dict[str, WriteLog]]) -> dict[str, WriteLog]:
    if logs.value is None:
        raise ValueError(logs.error or "no write log")
    return logs.value


class _Tallies:
    """The run's request counts and longest request, accumulated over row batches."""

    def __init__(self) -> None:
        self.requests = self.ok = self.writes = self.writes_failed = self.canary_writes = 0
        self.span_s = 0.0

    def add(self, events: pd.DataFrame) -> None:
        took = np.maximum(
            events["t_end"].to_numpy() - events["t_start"].to_numpy(),
            events["duration_ms"].to_numpy() / 1000.0,
        )
        self.span_s = max(self.span_s, float(np.nanmax(took, initial=0.0)))
        ok = events["ok"].to_numpy()
        writes = events["is_write"].to_numpy()
        self.requests += len(events)
        self.ok += int(ok.sum())
        self.writes += int(writes.sum())
        self.writes_failed += int((writes & ~ok).sum())
        self.canary_writes += int((writes & matches(events["op"], is_canary)).sum())


class _Scan:
    """One pass over the run's events in row batches, feeding every whole-run analyser.

    Each analyser stays isolated: one that raises stops being fed, and its outcome is the error.
    """

    def __init__(self, data: RunData, windows: list[PhaseWindow]) -> None:
        targets = data.slos
        self.tallies = _Tallies()
        self.latency = LatencyTable(targets.slow_op_ms)
        self.errors = ErrorCounter()
        self.timeline = TimelineBins(data.run_start, data.run_end)
        self.last_writes: LastWrites | None = LastWrites(data.run_start, data.run_end)
        self._failed: dict[str, str] = {}
        feeds: dict[str, Callable[[pd.DataFrame, np.ndarray], None]] = {
            "counts": lambda batch, _: self.tallies.add(batch),
            "latency": self.latency.add,
            "errors": self.errors.add,
            "timeline": lambda batch, _: self.timeline.add(batch),
            "writes": lambda batch, _: self.last_writes.add(batch) if self.last_writes else None,
        }
        for batch in data.requests.batches():
            phase_codes = request_phases(batch["t_start"].to_numpy(), batch["t_end"].to_numpy(), windows)
            for name, feed in feeds.items():
                if name in self._failed:
                    continue
                fed = attempt(feed, batch, phase_codes)
                if fed.error is not None:
                    self._failed[name] = fed.error
        if "writes" in self._failed:
            self.last_writes = None

    def outcome(self, name: str, result: Callable[[], T]) -> Outcome[T]:
        if name in self._failed:
            return Outcome(error=self._failed[name])
        return attempt(result)

    def counts(self, data: RunData) -> Counts:
        t = self.tallies
        return Counts(
            requests=t.requests,
            ok=t.ok,
            failed=t.requests - t.ok,
            writes=t.writes,
            writes_failed=t.writes_failed,
            canary_writes=t.canary_writes,
            ledger_entries=len(data.ledger) if data.ledger is not None else None,
            probe_samples=len(data.probes) if data.probes is not None else None,
            discovery_events=len(data.discovery) if data.discovery is not None else None,
        )
