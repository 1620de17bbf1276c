"""Read a run directory into memory once, checked: every bad or missing file is an AnalysisError.

Only the columns the analysers use are read; string columns with few values (operation names,
error classes) are read as dictionaries. The request events are not read into memory: they are
checked here in one pass and read in row batches by the analysis (`reports.events`), so a soak
of a hundred million events fits (the ledger likewise: `reports.ledger`). `run.json` and the
request events are required; every other file is optional, and what is absent is listed so
the verdicts that need it can say "unknown" instead of guessing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from contract import rundir
from contract.errors import AnalysisError
from contract.rundir import AlertsRecord, DiscoveryEvent, FaultEvent, RunbookEvent, RunInfo, Verification
from reports.events import EventSource, cast_table, open_dataset
from reports.faults import Fault, pair_faults
from reports.ledger import Ledger, read_ledger
from reports.members import MemberNames
from reports.rollback import RolledBackDoc, read_rollback_files
from reports.runbook import StepRecord, runbook_steps
from reports.runconfig import RunConfig, run_config
from reports.slo import SLOSpec, SLOTargets

# The analysers' probe columns; the optime fields are recorded for audit and not read.
PROBE_COLUMNS = ("t", "observer", "reachable", "member", "state", "health", "term", "optime", "lag_s",
                 "primary", "rtt_ms", "optime_ts", "optime_term")  # fmt: skip
RESOURCE_COLUMNS = tuple(rundir.RESOURCE_SCHEMA.names)


@dataclass(slots=True)
class RunData:
    """Everything the analysers read; probes, discovery and resources sorted by `t`."""

    run_dir: Path
    info: RunInfo
    names: MemberNames
    slos: SLOTargets
    requests: EventSource  # the request events, read in row batches
    faults: list[Fault]
    probes: pd.DataFrame | None = None
    discovery: pd.DataFrame | None = None
    ledger: Ledger | None = None
    verification: Verification | None = None
    resources: pd.DataFrame | None = None
    rollback: list[RolledBackDoc] = field(default_factory=list)
    runbook: list[StepRecord] = field(default_factory=list)
    alerts: AlertsRecord | None = None  # None: the drill ran no Prometheus
    absent: list[str] = field(default_factory=list)  # optional files the run directory lacks
    config: RunConfig | None = None  # from scenario.yaml; None without one
    faults_declared: bool | None = None  # whether scenario.yaml names faults; None without it
    _events: pd.DataFrame | None = field(default=None, init=False, repr=False)

    @property
    def events(self) -> pd.DataFrame:
        """Every request event in one frame, in start order, read on first use: for SLO checks
        of drills. The analysis reads `requests` in row batches, which fits any run."""
        if self._events is None:
            self._events = self.requests.read()
        return self._events

    @property
    def run_start(self) -> float:
        return self.requests.bounds.start

    @property
    def run_end(self) -> float:
        return self.requests.bounds.end


def load_run(run_dir: Path, slos: SLOTargets | None = None) -> RunData:
    """The run directory's data; `slos` overrides the targets in its scenario.yaml."""
    if not run_dir.is_dir():
        raise AnalysisError(f"{run_dir}: not a run directory")
    info = rundir.read_json(run_dir / rundir.RUN_INFO, RunInfo)
    names = MemberNames(info.members)
    absent: list[str] = []

    if not _present(run_dir, rundir.EVENTS, rundir.EVENTS_SHARDS):
        raise AnalysisError(
            f"{rundir.EVENTS}: missing from the run directory (no {rundir.EVENTS_SHARDS}/ either)"
        )
    events = EventSource(run_dir / rundir.EVENTS)
    run_end = events.bounds.end

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
        exact_ints=("optime_ts", "optime_term"),
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

    verification_path = run_dir / rundir.VERIFICATION
    verification = None
    if verification_path.exists():
        verification = rundir.read_json(verification_path, Verification)
    rollback = read_rollback_files(run_dir)
    ledger = None
    if _present(run_dir, rundir.LEDGER, rundir.LEDGER_SHARDS):
        ledger = read_ledger(run_dir / rundir.LEDGER, verification, rollback)
    else:
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
    if verification is None:
        absent.append(rundir.VERIFICATION)

    alerts_path = run_dir / rundir.ALERTS
    alerts = rundir.read_json(alerts_path, AlertsRecord) if alerts_path.exists() else None

    return RunData(
        run_dir=run_dir,
        info=info,
        names=names,
        slos=slos if slos is not None else load_slos(run_dir),
        requests=events,
        faults=pair_faults(fault_events, names, run_end),
        probes=probes,
        discovery=discovery,
        ledger=ledger,
        verification=verification,
        resources=resources,
        rollback=rollback,
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
    exact_ints: tuple[str, ...] = (),
) -> pd.DataFrame | None:
    """Columns of a Parquet file cast to the contract's types; None when the file is absent.
    `exact_ints` become pandas' nullable Int64: as floats (an integer column with gaps), 64-bit
    values such as optime timestamps would lose their low bits."""
    if not _present(run_dir, name, shards):
        return None
    dataset = open_dataset(run_dir / name, name, columns, dictionary)
    try:
        table = dataset.to_table(columns=list(columns))
    except (pa.ArrowException, OSError) as exc:
        raise AnalysisError(f"{name}: not a readable Parquet file ({exc})") from None
    cast = cast_table(table, name, schema, dictionary=dictionary, not_null=not_null)
    frame = cast.to_pandas()
    for column in exact_ints:
        frame[column] = cast.column(column).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return frame


def _present(run_dir: Path, name: str, shards: str | None) -> bool:
    """Whether the file is there; AnalysisError when only its unmerged shards are."""
    if (run_dir / name).exists():
        return True
    if shards is not None and (run_dir / shards).is_dir():
        raise AnalysisError(f"{name}: missing, and its {shards}/ shards were never merged into it")
    return False


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
