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
      probes.parquet       ProbeSample rows, one per (probe round, observer, member)
      discovery.jsonl      DiscoveryEvent lines from the workload's PyMongo clients (merged from discovery/)
      verification.json    Verification: the ledger checked against the recovered cluster
      members/<name>/      logs and ground truth of members the backend started
      summary.json         the analysis (reports.summary.Summary), schema-versioned
      junit.xml, report.html, summary.md
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from chaos.errors import AnalysisError

SCENARIO = "scenario.yaml"
RUN_INFO = "run.json"
EVENTS = "events.parquet"
EVENTS_SHARDS = "events"
LEDGER = "ledger.parquet"
LEDGER_SHARDS = "ledger"
FAULTS = "faults.jsonl"
PROBES = "probes.parquet"
DISCOVERY = "discovery.jsonl"
DISCOVERY_SHARDS = "discovery"
VERIFICATION = "verification.json"
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
    lag_s: float | None = None  # primary's optime minus this member's, as the observer sees them
    primary: str | None = None  # the primary according to the observer
    rtt_ms: float | None = None  # round trip of the probe itself


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


def write_jsonl(path: Path, records: Iterable[Any]) -> None:
    with path.open("a") as fh:
        for record in records:
            fh.write(json.dumps(asdict(record), separators=(",", ":")) + "\n")


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


def read_scenario_section(run_dir: Path, section: str, model: type[M]) -> M:
    """One section of the run's scenario.yaml validated by `model`; the model's defaults when the
    file or the section is absent. AnalysisError naming the file and field when it is invalid."""
    path = run_dir / SCENARIO
    scenario = None
    if path.exists():
        try:
            scenario = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise AnalysisError(f"{SCENARIO}: not valid YAML ({exc})") from None
    data = scenario.get(section) if isinstance(scenario, dict) else None
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise AnalysisError(f"{SCENARIO}: {section}.{describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's first error as one line: `field.path: message` (and how many more there are)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"
