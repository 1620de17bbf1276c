"""Merging the shards of every recording process into the run directory's files.

`merge_run(run_dir)` waits (boundedly) until the expected writers have closed their shards,
then writes `events.parquet`, `ledger.parquet` (time-ordered) and `discovery.jsonl`, and
checks the ledger: write ids are `<worker>-<n>` with n counting from 1 in each process, so a
duplicate or a missing n is visible. A batch recorded twice (a flush cut short by a signal and
made again) is recorded once: the ledger keeps one row per write id, the events one row per
identical event, and the report counts what it dropped. It is idempotent: shards stay, and
merging again rewrites the same files.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from contract.rundir import (
    DISCOVERY,
    DISCOVERY_SHARDS,
    EVENTS,
    EVENTS_SHARDS,
    LEDGER,
    LEDGER_SCHEMA,
    LEDGER_SHARDS,
    REQUEST_EVENT_SCHEMA,
    RESOURCE_SCHEMA,
    RESOURCES,
    RESOURCES_SHARDS,
    DiscoveryEvent,
    LedgerEntry,
    ResourceSample,
    WriteStatus,
    read_jsonl,
    to_table,
    write_jsonl,
)
from locustfiles.shards import STREAM_SUFFIX, Manifest, StreamRead, manifests, read_events, read_stream

LISTED_MAX = 100  # ids listed per problem; the counts are exact
SHOWN_MAX = 3  # ids shown per problem in the one-line description
# Of two rows of one write, the one kept: an acknowledgement is the claim the data-loss check tests.
_STATUS_RANK = {WriteStatus.ACKED.value: 0, WriteStatus.INDETERMINATE.value: 1, WriteStatus.FAILED.value: 2}


class MergeError(RuntimeError):
    """The run directory cannot be merged (it does not exist)."""


@dataclass(slots=True)
class MergeReport:
    events: int
    ledger: int
    discovery: int
    workers: list[str]
    shards: int
    unclosed: list[str] = field(default_factory=list)  # shard stems whose writer never closed
    torn: list[str] = field(default_factory=list)  # shard files cut inside a batch
    short: list[str] = field(default_factory=list)  # shards holding fewer rows than their manifest says
    duplicate_write_ids: list[str] = field(default_factory=list)
    missing_write_ids: list[str] = field(default_factory=list)
    duplicates: int = 0  # ledger rows dropped: a write id recorded more than once
    duplicate_events: int = 0  # request events dropped: recorded more than once
    missing: int = 0

    @property
    def complete(self) -> bool:
        """Every writer closed, nothing torn or short, and no gap in the ledger (duplicates are
        dropped by the merge, so they leave it whole)."""
        return not (self.unclosed or self.torn or self.short or self.missing)

    def describe(self) -> str:
        """One line: what is wrong with the recordings, a few ids at most; "complete" if nothing."""
        problems = [
            (len(self.unclosed), "shard(s) never closed", self.unclosed),
            (len(self.torn), "shard(s) cut inside a batch", self.torn),
            (len(self.short), "shard(s) shorter than their manifest", self.short),
            (self.missing, "write id(s) missing from the ledger", self.missing_write_ids),
            (self.duplicates, "duplicate ledger row(s) dropped", self.duplicate_write_ids),
            (self.duplicate_events, "duplicate request event(s) dropped", []),
        ]
        parts = []
        for count, what, ids in problems:
            if count:
                more = ", ..." if count > SHOWN_MAX else ""
                shown = f" ({', '.join(ids[:SHOWN_MAX])}{more})" if ids else ""
                parts.append(f"{count} {what}{shown}")
        return "; ".join(parts) or "complete"


def wait_closed(run_dir: Path, expect_workers: Collection[str], timeout_s: float) -> list[Manifest]:
    """The manifests once every shard is closed and every expected worker has one, or at timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = _readable_manifests(run_dir)
        workers = {m.worker for m in found}
        if (all(m.closed for m in found) and set(expect_workers) <= workers) or time.monotonic() >= deadline:
            return found
        time.sleep(0.1)


def _readable_manifests(run_dir: Path) -> list[Manifest]:
    try:
        return manifests(run_dir)
    except ValueError:  # a manifest claimed but not yet written: look again shortly
        return []


def _merge_streams(
    folder: Path, schema: pa.Schema, report: MergeReport, read_shard: Callable[[Path], StreamRead]
) -> tuple[pa.Table, dict[str, int]]:
    tables = []
    rows: dict[str, int] = {}
    for path in sorted(folder.glob(f"*{STREAM_SUFFIX}")) if folder.is_dir() else []:
        read = read_shard(path)
        stem = path.name.removesuffix(STREAM_SUFFIX)
        rows[stem] = read.table.num_rows
        if read.torn:
            report.torn.append(f"{folder.name}/{path.name}")
        tables.append(read.table)
    merged = pa.concat_tables(tables) if tables else schema.empty_table()
    return merged.sort_by([("t_start", "ascending")]), rows


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _dedupe_events(events: pa.Table, report: MergeReport) -> pa.Table:
    """Identical rows are one event recorded twice: two requests of one process never share
    their start time to the microsecond. `events` is ordered by start time, so only rows whose
    start repeats the previous row's are compared in full (a merge of 500,000 events stays fast)."""
    starts = events.column("t_start").to_numpy()
    repeats = np.flatnonzero(starts[1:] == starts[:-1]) + 1
    if not len(repeats):
        return events
    candidates = np.unique(np.concatenate([repeats - 1, repeats]))
    frame = events.take(candidates).to_pandas()
    twice = candidates[frame.duplicated().to_numpy()]
    report.duplicate_events = len(twice)
    keep = np.ones(events.num_rows, dtype=bool)
    keep[twice] = False
    return events.filter(pa.array(keep))


def _dedupe_ledger(ledger: pa.Table, report: MergeReport) -> pa.Table:
    """One row per write id; `ledger` is time-ordered and stays so."""
    counts = Counter(ledger.column("write_id").to_pylist())
    dups = sorted(w for w, c in counts.items() if c > 1)
    report.duplicates = sum(counts[w] - 1 for w in dups)
    report.duplicate_write_ids = dups[:LISTED_MAX]
    _check_gaps(counts, report)
    if not dups:
        return ledger
    frame = ledger.to_pandas()
    frame["_rank"] = frame["status"].map(_STATUS_RANK).fillna(len(_STATUS_RANK))
    kept = frame.sort_values("_rank", kind="stable").drop_duplicates("write_id").sort_index()
    return pa.Table.from_pandas(kept.drop(columns="_rank"), schema=ledger.schema, preserve_index=False)


def _check_gaps(counts: Counter[str], report: MergeReport) -> None:
    numbers: dict[str, set[int]] = defaultdict(set)
    for write_id in counts:
        worker, _, n = write_id.rpartition("-")
        if n.isdigit():  # another writer's ids (a third-party workload's) have no gaps to find
            numbers[worker].add(int(n))
    missing = [
        f"{worker}-{n}"
        for worker, seen in sorted(numbers.items())
        for n in range(1, max(seen) + 1)
        if n not in seen
    ]
    report.missing = len(missing)
    report.missing_write_ids = missing[:LISTED_MAX]


def merge_run(run_dir: Path, expect_workers: Collection[str] = (), wait_s: float = 10.0) -> MergeReport:
    """Merge every shard under `run_dir`; see the module docstring."""
    if not run_dir.is_dir():
        raise MergeError(f"run directory {run_dir} does not exist")
    found = wait_closed(run_dir, expect_workers, wait_s)
    report = MergeReport(
        events=0,
        ledger=0,
        discovery=0,
        workers=sorted({m.worker for m in found}),
        shards=len(found),
        unclosed=sorted(m.stem for m in found if not m.closed),
    )
    events, event_rows = _merge_streams(run_dir / EVENTS_SHARDS, REQUEST_EVENT_SCHEMA, report, read_events)
    ledger, ledger_rows = _merge_streams(run_dir / LEDGER_SHARDS, LEDGER_SCHEMA, report, _read_ledger)
    for m in found:
        if event_rows.get(m.stem, 0) < m.events or ledger_rows.get(m.stem, 0) < m.ledger:
            report.short.append(m.stem)
    events = _dedupe_events(events, report)
    ledger = _dedupe_ledger(ledger, report)
    _write_parquet(events, run_dir / EVENTS)
    _write_parquet(ledger, run_dir / LEDGER)
    report.events, report.ledger = events.num_rows, ledger.num_rows

    discovery: list[DiscoveryEvent] = []
    folder = run_dir / DISCOVERY_SHARDS
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        discovery.extend(read_jsonl(path, DiscoveryEvent))
    discovery.sort(key=lambda e: e.t)
    target = run_dir / DISCOVERY
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    write_jsonl(tmp, discovery)
    os.replace(tmp, target)
    report.discovery = len(discovery)
    merge_resources(run_dir)
    return report


def merge_resources(run_dir: Path) -> int:
    """`resources/*.jsonl` (every recording process's, and the drill's) → `resources.parquet`,
    time-ordered; the number of samples. Nothing is written when no process sampled."""
    folder = run_dir / RESOURCES_SHARDS
    samples: list[ResourceSample] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        samples.extend(read_jsonl(path, ResourceSample))
    if samples:
        samples.sort(key=lambda s: s.t)
        _write_parquet(to_table(samples, RESOURCE_SCHEMA), run_dir / RESOURCES)
    return len(samples)


def current_ledger(run_dir: Path) -> list[LedgerEntry]:
    """The ledger as the shards hold it now, while the load still runs (a torn last batch of a
    shard being written is left out): what a restore in the middle of a drill is checked by."""
    table, _ = _merge_streams(
        run_dir / LEDGER_SHARDS, LEDGER_SCHEMA, MergeReport(0, 0, 0, [], 0), _read_ledger
    )
    return [LedgerEntry(**row) for row in table.to_pylist()]


def _read_ledger(path: Path) -> StreamRead:
    return read_stream(path, LEDGER_SCHEMA)
