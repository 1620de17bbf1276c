"""Read a run directory into memory once, checked: every bad or missing file is an AnalysisError.

Only the columns the analysers use are read; string columns with few values (operation names,
error classes) are read as dictionaries, which keeps a 10M-event run at a few hundred MB.
`run.json` and the request events are required; every other file is optional, and what is
absent is listed so the verdicts that need it can say "unknown" instead of guessing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from contract import rundir
from contract.errors import AnalysisError
from contract.rundir import AlertsRecord, DiscoveryEvent, FaultEvent, RunbookEvent, RunInfo, Verification
from reports.faults import Fault, pair_faults
from reports.members import MemberNames
from reports.rollback import RolledBackDoc, read_rollback_files
from reports.runbook import StepRecord, runbook_steps
from reports.runconfig import RunConfig, run_config
from reports.slo import SLOSpec, SLOTargets

EVENT_COLUMNS = ("t_start", "t_end", "duration_ms", "op", "ok", "is_write", "error_class", "worker")
LEDGER_COLUMNS = ("write_id", "collection", "doc_id", "t_start", "status", "t_ack", "token")
# The analysers' probe columns; the optime fields are recorded for audit and not read.
PROBE_COLUMNS = ("t", "observer", "reachable", "member", "state", "health", "term", "optime", "lag_s",
                 "primary", "rtt_ms")  # fmt: skip
RESOURCE_COLUMNS = tuple(rundir.RESOURCE_SCHEMA.names)
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())


@dataclass(slots=True)
class RunData:
    """Everything the analysers read; events are sorted by `t_start`; probes, discovery and
    resources by `t`."""

    run_dir: Path
    info: RunInfo
    names: MemberNames
    slos: SLOTargets
    events: pd.DataFrame
    faults: list[Fault]
    probes: pd.DataFrame | None = None
    discovery: pd.DataFrame | None = None
    ledger: pd.DataFrame | None = None
    verification: Verification | None = None
    resources: pd.DataFrame | None = None
    rollback: list[RolledBackDoc] = field(default_factory=list)
    runbook: list[StepRecord] = field(default_factory=list)
    alerts: AlertsRecord | None = None  # None: the drill ran no Prometheus
    absent: list[str] = field(default_factory=list)  # optional files the run directory lacks
    config: RunConfig | None = None  # from scenario.yaml; None without one
    faults_declared: bool | None = None  # whether scenario.yaml names faults; None without it

    @property
    def run_start(self) -> float:
        return float(self.events["t_start"].iat[0])

    @property
    def run_end(self) -> float:
        return float(self.events["t_end"].max())


def load_run(run_dir: Path, slos: SLOTargets | None = None) -> RunData:
    """The run directory's data; `slos` overrides the targets in its scenario.yaml."""
    if not run_dir.is_dir():
        raise AnalysisError(f"{run_dir}: not a run directory")
    info = rundir.read_json(run_dir / rundir.RUN_INFO, RunInfo)
    names = MemberNames(info.members)
    absent: list[str] = []

    events = read_table(
        run_dir,
        rundir.EVENTS,
        rundir.EVENTS_SHARDS,
        rundir.REQUEST_EVENT_SCHEMA,
        EVENT_COLUMNS,
        dictionary=("op", "error_class", "worker"),
        not_null=("t_start", "t_end", "duration_ms", "op", "ok", "is_write"),
    )
    if events is None:
        raise AnalysisError(
            f"{rundir.EVENTS}: missing from the run directory (no {rundir.EVENTS_SHARDS}/ either)"
        )
    if events.empty:
        raise AnalysisError(f"{rundir.EVENTS}: no request events, so there is nothing to analyse")
    if not events["t_start"].is_monotonic_increasing:
        events = events.sort_values("t_start", kind="stable", ignore_index=True)
    run_end = float(events["t_end"].max())

    scenario = rundir.read_scenario(run_dir)
    faults_declared = bool(scenario.get("faults")) if scenario is not None else None
    if scenario is None:
        absent.append(rundir.SCENARIO)
    fault_events = list(rundir.read_jsonl(run_dir / rundir.FAULTS, FaultEvent))
    if not (run_dir / rundir.FAULTS).exists() and faults_declared is not False:
        absent.append(rundir.FAULTS)  # a scenario without faults writes none

    probes = read_table(
        run_dir,
        rundir.PROBES,
        None,
        rundir.PROBE_SCHEMA,
        PROBE_COLUMNS,
        not_null=("t", "observer", "reachable", "member", "state"),
    )
    if probes is None:
        absent.append(rundir.PROBES)
    else:
        probes = probes.sort_values("t", kind="stable", ignore_index=True)
        for column in ("observer", "member", "primary"):
            probes[column] = names.canonical_series(probes[column])

    discovery = _read_discovery(run_dir, names)
    if discovery is None:
        absent.append(rundir.DISCOVERY)

    ledger = read_table(
        run_dir,
        rundir.LEDGER,
        rundir.LEDGER_SHARDS,
        rundir.LEDGER_SCHEMA,
        LEDGER_COLUMNS,
        not_null=("write_id", "status", "t_start"),
    )
    if ledger is None:
        absent.append(rundir.LEDGER)

    resources = read_table(
        run_dir,
        rundir.RESOURCES,
        None,
        rundir.RESOURCE_SCHEMA,
        RESOURCE_COLUMNS,
        dictionary=("source", "role"),
        not_null=("t", "source", "role", "cpu", "interval_s"),
    )
    if resources is None:
        absent.append(rundir.RESOURCES)

    verification_path = run_dir / rundir.VERIFICATION
    verification = None
    if verification_path.exists():
        verification = rundir.read_json(verification_path, Verification)
    else:
        absent.append(rundir.VERIFICATION)

    alerts_path = run_dir / rundir.ALERTS
    alerts = rundir.read_json(alerts_path, AlertsRecord) if alerts_path.exists() else None

    return RunData(
        run_dir=run_dir,
        info=info,
        names=names,
        slos=slos if slos is not None else load_slos(run_dir),
        events=events,
        faults=pair_faults(fault_events, names, run_end),
        probes=probes,
        discovery=discovery,
        ledger=ledger,
        verification=verification,
        resources=resources,
        rollback=read_rollback_files(run_dir),
        runbook=runbook_steps(list(rundir.read_jsonl(run_dir / rundir.RUNBOOK, RunbookEvent))),
        alerts=alerts,
        absent=absent,
        config=run_config(scenario),
        faults_declared=faults_declared,
    )


def load_slos(run_dir: Path) -> SLOTargets:
    """The targets of the run's scenario.yaml `slos:` section; the default profile without one."""
    return rundir.read_scenario_section(run_dir, "slos", SLOSpec).resolve()


def read_table(
    run_dir: Path,
    name: str,
    shards: str | None,
    schema: pa.Schema,
    columns: tuple[str, ...],
    *,
    dictionary: tuple[str, ...] = (),
    not_null: tuple[str, ...] = (),
) -> pd.DataFrame | None:
    """Columns of a Parquet file cast to the contract's types; None when the file is absent."""
    path = run_dir / name
    label = name
    if not path.exists():
        if shards is not None and (run_dir / shards).is_dir():
            raise AnalysisError(f"{name}: missing, and its {shards}/ shards were never merged into it")
        return None
    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=list(dictionary)))
    try:
        dataset = ds.dataset(path, format=fmt)
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise AnalysisError(f"{label}: missing column(s) {', '.join(missing)}")
        table = dataset.to_table(columns=list(columns))
    except (pa.ArrowException, OSError) as exc:
        raise AnalysisError(f"{label}: not a readable Parquet file ({exc})") from None
    cast: dict[str, pa.Array | pa.ChunkedArray] = {}
    for column in columns:
        target = _DICTIONARY if column in dictionary else schema.field(column).type
        values = table.column(column)
        try:
            cast[column] = values if values.type == target else values.cast(target)
        except (pa.ArrowException, ValueError):
            raise AnalysisError(f"{label}: column {column} holds {values.type}, expected {target}") from None
        if column in not_null and values.null_count:
            raise AnalysisError(f"{label}: column {column} has {values.null_count} empty value(s)")
    return pa.table(cast).to_pandas()


def _read_discovery(run_dir: Path, names: MemberNames) -> pd.DataFrame | None:
    path = run_dir / rundir.DISCOVERY
    if not path.exists():
        return None
    rows = [asdict(e) for e in rundir.read_jsonl(path, DiscoveryEvent)]
    frame = pd.DataFrame(rows, columns=[f for f in DiscoveryEvent.__dataclass_fields__])
    frame = frame.sort_values("t", kind="stable", ignore_index=True)
    for column in ("address", "primary"):
        frame[column] = names.canonical_series(frame[column])
    return frame
