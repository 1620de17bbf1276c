"""The run directory: the files a drill writes and the analysers read, and their record types.

Every arrow of the data flow is a file here, so each stage can be re-run alone. Writers
(`chaos/` and `locustfiles/`) and readers (`reports/`) share these definitions and nothing
else. Times are wall-clock seconds since the epoch (float), taken on the machine that runs the
drill; members started by a backend share that clock.

    <run>/
      scenario.yaml        the scenario as run (overrides applied)
      run.json             RunInfo: command, versions, seed, start/end, status, members
      events.parquet       RequestEvent rows (merged from events/ shards after the run)
      ledger.parquet       LedgerEntry rows (merged from ledger/ shards)
      faults.jsonl         FaultEvent lines, one per inject and heal
      runbook.jsonl        RunbookEvent lines, one per operator action of the scenario's runbook
      probes.parquet       ProbeSample rows, one per (probe round, observer, member)
      discovery.jsonl      DiscoveryEvent lines from the workload's PyMongo clients (merged from discovery/)
      resources.parquet    ResourceSample rows: the measuring host, the drill process, Locust workers
                           and local members, every second (merged from resources/)
      verification.json    Verification: the ledger checked against the recovered cluster
      exporter.json        ExporterInfo: where the drill served its live metrics (/metrics)
      hubchaos.log         what the libraries the drill drives logged (PyMongo, Locust, the recorder)
      alerts.json          AlertsRecord: the alert rules as evaluated and Prometheus' answers
      prometheus/          the Prometheus of an alert drill: config, rules as evaluated, log, storage
      members/<name>/      logs and ground truth of members the backend started
      backups/<name>/      backups the runbook took (chaos/backup/: snapshot, oplog slices, export)
      summary.json         the analysis (reports.summary.Summary), schema-versioned
      junit.xml, report.html, summary.md
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from pydantic import BaseModel, TypeAdapter, ValidationError

from contract import safeyaml
from contract.alerting import AlertRule
from contract.errors import AnalysisError, describe_validation_error

SCENARIO = "scenario.yaml"
RUN_INFO = "run.json"
EVENTS = "events.parquet"
EVENTS_SHARDS = "events"
LEDGER = "ledger.parquet"
LEDGER_SHARDS = "ledger"
FAULTS = "faults.jsonl"
RUNBOOK = "runbook.jsonl"
BACKUPS = "backups"
PROBES = "probes.parquet"
DISCOVERY = "discovery.jsonl"
DISCOVERY_SHARDS = "discovery"
RESOURCES = "resources.parquet"
RESOURCES_SHARDS = "resources"
VERIFICATION = "verification.json"
EXPORTER = "exporter.json"
ALERTS = "alerts.json"
PROMETHEUS_DIR = "prometheus"
MEMBERS = "members"
SUMMARY = "summary.json"
JUNIT = "junit.xml"
REPORT = "report.html"
SUMMARY_MD = "summary.md"

# The field in which every document the workload writes carries its ledger token (the write id),
# so that a document found after recovery, or in a rollback file, names the write it holds.
TOKEN_FIELD = "_w"


class ErrorClass(StrEnum):
    """How a failed operation failed, so failover errors can be told from bugs."""

    NOT_PRIMARY = "not_primary"  # NotWritablePrimary, NotPrimaryNoSecondaryOk, stepdown interruptions
    NETWORK = "network"  # connection refused/reset/closed, socket timeout (AutoReconnect family)
    SELECTION_TIMEOUT = "selection_timeout"  # ServerSelectionTimeoutError: no suitable member
    WRITE_CONCERN = "write_concern"  # writeConcernError / WriteConcernError, wtimeout
    DUPLICATE_KEY = "duplicate_key"  # E11000
    OTHER = "other"


class WriteStatus(StrEnum):
    ACKED = "acked"  # the server acknowledged it with the write concern asked for
    INDETERMINATE = "indeterminate"  # sent, but no definite answer (network error, timeout)
    FAILED = "failed"  # a definite failure: the write did not happen


class FaultAction(StrEnum):
    INJECT = "inject"
    HEAL = "heal"


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # the run fails with it (exit 3), naming the step


@dataclass(slots=True)
class RequestEvent:
    t_start: float
    t_end: float
    duration_ms: float  # measured with perf_counter around the round trip
    op: str  # stable name: prompts.create, vectors.query.knn, canary.write, ...
    user_class: str
    ok: bool
    is_write: bool
    error_class: str | None = None  # an ErrorClass value when not ok
    error: str | None = None  # the message, at most 500 characters
    response_size: int = 0
    worker: str = "local"


@dataclass(slots=True)
class LedgerEntry:
    write_id: str  # unique in the run: "<worker>-<n>"
    collection: str
    op: str  # insert | update | delete
    doc_id: str  # the document's _id rendered by id_type
    id_type: str  # oid | str | int
    write_concern: str  # "majority", "1", "2", ...
    t_start: float
    status: str  # a WriteStatus value
    t_ack: float | None = None
    # The value the write stored in the document's TOKEN_FIELD, so that an update can be checked.
    token: str | None = None
    seq: int | None = None  # the canary's sequence number
    user_class: str = ""
    worker: str = "local"


@dataclass(slots=True)
class FaultEvent:
    fault_id: str  # "f1", "f2", ... in timeline order; inject and heal share it
    kind: str  # kill, stop, pause, partition, stepdown, ...
    action: str  # a FaultAction value
    target: str  # as written in the scenario: primary, secondary, region:eu, a member name
    members: list[str]  # what the target resolved to when the action ran
    t_wall: float
    t_mono: float
    outcome: str  # ok | error
    primary: str | None = None  # the primary when the action ran, as the runner saw it
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    colour: str | None = None  # the fault kind's colour in the report (None: the report's default)


# mongod's stateStr for a member it cannot reach (and the probe's for a member that did not answer).
UNREACHABLE = "(not reachable/healthy)"


@dataclass(slots=True)
class RunbookEvent:
    """One operator action of a runbook: not healed, recorded once it ended, with what it found."""

    step_id: str  # "r1", "r2", ... in runbook order
    action: str  # force_reconfig, add_members, backup, restore, wipe, ...
    status: str  # a StepStatus value
    t_trigger: float  # what the operator reacted to: the load's start, a fault, an earlier step
    t_start: float  # t_trigger plus the operator delay
    t_end: float
    members: list[str] = field(default_factory=list)  # the members it acted on
    params: dict[str, Any] = field(default_factory=dict)
    findings: dict[str, Any] = field(default_factory=dict)  # what it found, in the action's terms
    error: str | None = None
    colour: str | None = None  # the action's colour in the report
    # "down": the step takes the cluster out of service (a wipe); "up": it brings it back (a
    # restore); "repair": the operator changes the set while it serves (a forced reconfig,
    # members re-added). From a down step's start to the end of the next up step is an outage,
    # a fault window for the phases and error rates; a repair is a recovery window.
    service: str | None = None

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start


@dataclass(slots=True)
class ProbeSample:
    t: float  # when the observer answered
    observer: str  # the member that was asked replSetGetStatus
    reachable: bool  # False: the observer did not answer (then member == observer)
    member: str  # the member described by this row
    state: str  # PRIMARY, SECONDARY, RECOVERING, ROLLBACK, (not reachable), ...
    health: int = 0
    term: int = -1
    optime: float = 0.0  # the member's last applied optime as seconds (ts.time + ts.inc / 1e6)
    # How far the member is behind the primary, as the observer sees both (chaos/probes.py):
    # the primary's last applied wall time minus the member's while the member's optime is
    # older than the primary's, else 0; None when the observer knows no primary or cannot
    # reach the member.
    lag_s: float | None = None
    primary: str | None = None  # the primary according to the observer
    rtt_ms: float | None = None  # round trip of the probe itself
    optime_ts: int | None = None  # the optime's timestamp as its 64-bit value (time << 32 | inc)
    optime_term: int | None = None  # the optime's term
    applied_wall: float | None = None  # lastAppliedWallTime (optimeDate where absent), seconds


@dataclass(slots=True)
class DiscoveryEvent:
    t: float
    kind: str  # server_changed | topology_changed | heartbeat_failed
    client: str  # which workload client saw it (worker name)
    address: str | None = None
    previous_type: str | None = None
    new_type: str | None = None  # RSPrimary, RSSecondary, Unknown, ...
    primary: str | None = None  # the topology's primary after the event, if any
    error: str | None = None


class ResourceRole(StrEnum):
    """What a resource sample measures."""

    HOST = "host"  # the machine the drill runs on
    LOAD = "load"  # a process generating or measuring the load: the drill process, a Locust worker
    MEMBER = "member"  # a replica-set member's process on this machine


@dataclass(slots=True)
class ResourceSample:
    """What one process, or the whole host, used over the `interval_s` before `t`."""

    t: float
    source: str  # "host", "hubchaos" (the drill process), "worker-<n>", or a member's name
    role: str  # a ResourceRole value
    cpu: float  # cores busy: 1.0 is one core fully used (the host: all its cores together)
    interval_s: float
    memory_bytes: int | None = None  # a process's resident memory; the host's memory in use
    cores: int | None = None  # the host's logical CPUs
    runnable: int | None = None  # the host's runnable threads at `t`, the sampler not counted
    load1: float | None = None  # the host's one-minute load average
    memory_total_bytes: int | None = None  # the host's memory


@dataclass(slots=True)
class Verification:
    """The ledger checked against the recovered cluster with a majority read."""

    checked_at: float
    read_from: str  # the member that answered
    acked_missing: list[str]  # write_ids acknowledged but not found
    indeterminate_present: list[str]
    indeterminate_absent: list[str]
    failed_present: list[str]  # definitely failed, yet there (a retry applied it)
    error: str | None = None  # verification could not run


@dataclass(slots=True)
class ExporterInfo:
    """The drill's live metrics endpoint, in Prometheus' exposition format (loopback only)."""

    url: str  # http://127.0.0.1:<port>/metrics
    port: int
    started_at: float
    stopped_at: float | None = None
    requests_counted: int | None = None  # the requests the endpoint had counted when it stopped


@dataclass(slots=True)
class AlertsRecord:
    """An alert drill's Prometheus and what it answered, kept so the analysis needs no Prometheus.

    `alerts` and `for_state` are the `data` of Prometheus' answers to the instant queries
    `ALERTS[<range>]` and `ALERTS_FOR_STATE[<range>]` at `end`: every evaluation's raw samples
    (a matrix), so firing intervals are exact to one evaluation. `rule_health` is the rules'
    health and last error from `/api/v1/rules`.
    """

    prometheus_version: str
    scrape_interval_s: float
    evaluation_interval_s: float
    start: float  # the range asked for
    end: float
    rules: list[AlertRule]
    # Which alerts each fault should fire: keyed by a fault kind (kill) or a fault id (f1).
    expect: dict[str, list[str]] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    for_state: dict[str, Any] = field(default_factory=dict)
    rule_health: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # why Prometheus' answers are missing


@dataclass(slots=True)
class MemberInfo:
    name: str
    host: str  # host:port as the replica set knows it
    region: str | None = None
    priority: float = 1.0
    votes: int = 1
    log_dir: str | None = None  # relative to the run directory, when the backend started it


@dataclass(slots=True)
class RunInfo:
    run_id: str
    scenario: str
    description: str
    command: list[str]
    started_at: float
    ended_at: float | None
    status: str  # running | completed | failed
    backend: str
    seed: int
    versions: dict[str, str]
    members: list[MemberInfo]
    error: str | None = None


REQUEST_EVENT_SCHEMA = pa.schema(
    [
        ("t_start", pa.float64()),
        ("t_end", pa.float64()),
        ("duration_ms", pa.float64()),
        ("op", pa.string()),
        ("user_class", pa.string()),
        ("ok", pa.bool_()),
        ("is_write", pa.bool_()),
        ("error_class", pa.string()),
        ("error", pa.string()),
        ("response_size", pa.int64()),
        ("worker", pa.string()),
    ]
)

LEDGER_SCHEMA = pa.schema(
    [
        ("write_id", pa.string()),
        ("collection", pa.string()),
        ("op", pa.string()),
        ("doc_id", pa.string()),
        ("id_type", pa.string()),
        ("write_concern", pa.string()),
        ("t_start", pa.float64()),
        ("status", pa.string()),
        ("t_ack", pa.float64()),
        ("token", pa.string()),
        ("seq", pa.int64()),
        ("user_class", pa.string()),
        ("worker", pa.string()),
    ]
)

PROBE_SCHEMA = pa.schema(
    [
        ("t", pa.float64()),
        ("observer", pa.string()),
        ("reachable", pa.bool_()),
        ("member", pa.string()),
        ("state", pa.string()),
        ("health", pa.int64()),
        ("term", pa.int64()),
        ("optime", pa.float64()),
        ("lag_s", pa.float64()),
        ("primary", pa.string()),
        ("rtt_ms", pa.float64()),
        ("optime_ts", pa.int64()),
        ("optime_term", pa.int64()),
        ("applied_wall", pa.float64()),
    ]
)

RESOURCE_SCHEMA = pa.schema(
    [
        ("t", pa.float64()),
        ("source", pa.string()),
        ("role", pa.string()),
        ("cpu", pa.float64()),
        ("interval_s", pa.float64()),
        ("memory_bytes", pa.int64()),
        ("cores", pa.int64()),
        ("runnable", pa.int64()),
        ("load1", pa.float64()),
        ("memory_total_bytes", pa.int64()),
    ]
)

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def to_table(records: Iterable[Any], schema: pa.Schema) -> pa.Table:
    """Columns from dataclass records, in the schema's order."""
    rows = list(records)
    names = schema.names
    columns = {name: [getattr(r, name) for r in rows] for name in names}
    return pa.Table.from_pydict(columns, schema=schema)


def to_jsonl(records: Iterable[Any]) -> str:
    """Dataclass records as JSON lines, each ending in a newline."""
    return "".join(json.dumps(asdict(record), separators=(",", ":")) + "\n" for record in records)


def write_jsonl(path: Path, records: Iterable[Any]) -> None:
    with path.open("a") as fh:
        fh.write(to_jsonl(records))


def write_atomic(path: Path, text: str) -> None:
    """Replace a file in one step, so that a reader (or a crash) never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_jsonl(path: Path, record_type: type[R]) -> Iterator[R]:
    """Records of a JSON-lines file, validated against the record type.

    A torn last line (no newline: the writer was killed mid-line) is skipped; any other line that
    is not a valid record raises AnalysisError naming the file and the line.
    """
    if not path.exists():
        return
    adapter = TypeAdapter(record_type)
    names = {f.name for f in fields(record_type)}  # type: ignore[arg-type]
    with path.open() as fh:
        lines = fh.readlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            if number == len(lines) and not line.endswith("\n"):
                return
            raise AnalysisError(f"{path.name}:{number}: not a JSON object ({exc})") from None
        if not isinstance(raw, dict):
            raise AnalysisError(f"{path.name}:{number}: not a JSON object")
        try:
            yield adapter.validate_python({k: v for k, v in raw.items() if k in names})
        except ValidationError as exc:
            raise AnalysisError(f"{path.name}:{number}: {describe_validation_error(exc)}") from None


def read_json(path: Path, record_type: type[R]) -> R:
    """One record from a JSON file; AnalysisError naming the file when it is missing or invalid."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise AnalysisError(f"{path.name}: missing from the run directory") from None
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{path.name}: not valid JSON ({exc})") from None
    try:
        return TypeAdapter(record_type).validate_python(raw)
    except ValidationError as exc:
        raise AnalysisError(f"{path.name}: {describe_validation_error(exc)}") from None


def read_scenario(run_dir: Path) -> dict[str, Any] | None:
    """The run's scenario.yaml as read (None when absent). A file the bounded YAML reader refuses
    is a ScenarioError naming its path (exit 2), as the same file given to `hubchaos run` is."""
    path = run_dir / SCENARIO
    if not path.exists():
        return None
    scenario = safeyaml.read(path).data
    return scenario if isinstance(scenario, dict) else {}


def read_scenario_section(run_dir: Path, section: str, model: type[M]) -> M:
    """One section of the run's scenario.yaml validated by `model`; the model's defaults when the
    file or the section is absent. AnalysisError naming the file and field when it is invalid."""
    data = (read_scenario(run_dir) or {}).get(section)
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise AnalysisError(f"{SCENARIO}: {section}.{describe_validation_error(exc)}") from None
