"""Merging the shards of every recording process into the run directory's files.

`merge_run(run_dir)` waits (boundedly) until the expected writers have closed their shards,
then writes `events.parquet`, `ledger.parquet` (time-ordered) and `discovery.jsonl`, and
checks the ledger: write ids are `<worker>-<n>` with n counting from 1 in each process, so a
duplicate or a missing n is visible. It is idempotent: shards stay, and merging again rewrites
the same files.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from locustfiles.shards import STREAM_SUFFIX, Manifest, manifests, read_stream
from reports.rundir import (
    DISCOVERY,
    DISCOVERY_SHARDS,
    EVENTS,
    EVENTS_SHARDS,
    LEDGER,
    LEDGER_SCHEMA,
    LEDGER_SHARDS,
    REQUEST_EVENT_SCHEMA,
    DiscoveryEvent,
    read_jsonl,
    write_jsonl,
)

LISTED_MAX = 100  # ids listed per problem; the counts are exact


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
    duplicates: int = 0
    missing: int = 0

    @property
    def complete(self) -> bool:
        """Every writer closed, nothing torn or short, no duplicate and no gap in the ledger."""
        return not (self.unclosed or self.torn or self.short or self.duplicates or self.missing)


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


def _merge_streams(folder: Path, schema: pa.Schema, report: MergeReport) -> tuple[pa.Table, dict[str, int]]:
    tables = []
    rows: dict[str, int] = {}
    for path in sorted(folder.glob(f"*{STREAM_SUFFIX}")) if folder.is_dir() else []:
        read = read_stream(path, schema)
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


def _check_write_ids(write_ids: list[str], report: MergeReport) -> None:
    counts = Counter(write_ids)
    dups = sorted(w for w, c in counts.items() if c > 1)
    report.duplicates = sum(counts[w] - 1 for w in dups)
    report.duplicate_write_ids = dups[:LISTED_MAX]
    numbers: dict[str, set[int]] = defaultdict(set)
    for write_id in counts:
        worker, _, n = write_id.rpartition("-")
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
    events, event_rows = _merge_streams(run_dir / EVENTS_SHARDS, REQUEST_EVENT_SCHEMA, report)
    ledger, ledger_rows = _merge_streams(run_dir / LEDGER_SHARDS, LEDGER_SCHEMA, report)
    for m in found:
        if event_rows.get(m.stem, 0) < m.events or ledger_rows.get(m.stem, 0) < m.ledger:
            report.short.append(m.stem)
    _write_parquet(events, run_dir / EVENTS)
    _write_parquet(ledger, run_dir / LEDGER)
    report.events, report.ledger = events.num_rows, ledger.num_rows
    _check_write_ids(ledger.column("write_id").to_pylist(), report)

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
    return report
