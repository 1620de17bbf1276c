"""`summary.json`: everything the analysis found, schema-versioned, for renderers and CI.

The report, the Markdown summary and `hubchaos compare` read this model back with
`Summary.read(path)`; a summary written by another schema version is refused by name.
Times are wall-clock seconds since the epoch; `after_s` fields count from a fault's injection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from contract.errors import AnalysisError, describe_validation_error
from contract.rundir import RunInfo
from reports.alerts import AlertsSummary
from reports.availability import WriteWindow
from reports.dataloss import RPO, DataLoss, RollbackMatch
from reports.drivercheck import Finding
from reports.errorrates import ErrorTables
from reports.failover import Detection, Election, Rediscovery
from reports.host import HostLoad
from reports.impact import FaultImpact
from reports.lag import MemberLag
from reports.latency import LatencyRow
from reports.phases import PhaseWindow
from reports.recovery import RestoreTimeline
from reports.results import Result
from reports.runbook import Disruption, StepRecord
from reports.runconfig import Timing
from reports.slo import FaultClass, SLOTargets
from reports.states import StateSpan
from reports.throughput import ThroughputRecovery
from reports.timeline import Timeline
from reports.verdicts import SLOResult, Verdict

SCHEMA_VERSION = 1


class Counts(Result):
    requests: int
    ok: int
    failed: int
    writes: int
    writes_failed: int
    canary_writes: int
    ledger_entries: int | None  # None: the file is absent
    probe_samples: int | None
    discovery_events: int | None


class FaultAnatomy(Result):
    """One fault, from injection to recovery, as the clients, the cluster and the driver saw it."""

    fault_id: str
    kind: str
    target: str
    members: list[str]
    params: dict[str, Any]
    fault_class: FaultClass
    class_source: str  # "params" (declared) or "derived" (see reports.faults)
    injected: bool
    inject_error: str | None
    heal_error: str | None
    t_inject: float
    t_heal: float | None
    duration_s: float | None  # inject to heal
    horizon_end: float
    overlaps: list[str]
    primary_before: str | None
    detection: Detection | None
    election: Election | None
    rediscovery: Rediscovery | None
    canary: WriteWindow | None
    writes: WriteWindow | None
    rto_s: float | None  # None: writes did not recover within the horizon (or could not be measured)
    throughput: ThroughputRecovery | None
    notes: list[str]  # measurements that could not be made, and why
    colour: str | None = None  # the fault kind's colour in plots (None: the report's default)
    impact: FaultImpact | None = None  # what the application saw (reports.impact)


class AnalyserError(Result):
    analyser: str
    fault_id: str | None
    error: str


class Summary(Result):
    schema_version: Literal[1] = SCHEMA_VERSION
    generated_at: float
    run: RunInfo
    run_start: float  # the first request's start
    run_end: float  # the last request's completion
    slos: SLOTargets
    absent_files: list[str]
    counts: Counts
    phases: list[PhaseWindow]
    faults: list[FaultAnatomy]
    data_loss: DataLoss | None
    rpo: RPO | None
    rollback: RollbackMatch | None
    latency: list[LatencyRow]
    errors: ErrorTables | None
    lag: list[MemberLag]
    host: HostLoad | None = None  # None: the run recorded no resource samples
    member_states: list[StateSpan]
    timeline: Timeline | None
    results: list[SLOResult]
    verdict: Verdict
    exit_code: int
    analyser_errors: list[AnalyserError]
    # The operator's actions (the scenario's runbook) and the outages some of them made.
    runbook: list[StepRecord] = []
    disruptions: list[Disruption] = []
    restores: list[RestoreTimeline] = []  # reports/recovery.py
    # Whether the run's election and driver clocks are production's; None: no scenario.yaml.
    timing: Timing | None = None
    # `hubchaos check-driver` on the run's own driver profile, cluster and load.
    driver_findings: list[Finding] = []
    # An alert drill's Prometheus: which alerts fired, how fast, and false alarms (None: no Prometheus).
    alerts: AlertsSummary | None = None

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> Summary:
        try:
            text = path.read_text()
        except OSError as exc:
            raise AnalysisError(f"{path.name}: cannot be read ({exc.strerror})") from None
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise AnalysisError(
                f"{path.name}: not a summary of schema {SCHEMA_VERSION} ({describe_validation_error(exc)})"
            ) from None
