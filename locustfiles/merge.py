"""Merging the shards of every recording process into the run directory's files.

`merge_run(run_dir)` waits (boundedly) until the expected writers have closed their shards,
then writes `events.parquet`, `ledger.parquet` (time-ordered) and `discovery.jsonl`, and
checks the ledger: write ids are `<worker>-<n>` with n counting from 1 in each process, so a
duplicate or a missing n is visible. A batch recorded twice (a flush cut short by a signal and
made again) is recorded once: the ledger keeps one row per write id, the events one row per
identical event, and the report counts what it dropped. It is idempotent: shards stay, and
merging again rewrites the same files.

Memory stays bounded however long the run: the rows are first spilled by start time into
buckets of `BUCKET_S` (files in the shards' own compact form, in a temporary folder of the run
directory), then each bucket in turn is sorted, deduplicated and appended to the merged file.
A row recorded twice shares its start time with its copy, so both fall in one bucket.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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
from locustfiles import eventcodec
from locustfiles.shards import STREAM_SUFFIX, WRITE_OPTIONS, Manifest, StreamBatches, manifests, read_stream

LISTED_MAX = 100  # ids listed per problem; the counts are exact
BUCKET_S = 600.0  # the start times sorted at once: a day-long run's merge holds ten minutes of rows
SPILL = ".merging"  # the merge's temporary folder in the run directory
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


@dataclass(frozen=True)
class _Kind:
    """One kind of row as the merge handles it: its shards, its merged file and forms."""

    shards: str  # the folder of shard files
    merged: str  # the merged file
    schema: pa.Schema  # the merged file's
    spill_schema: pa.Schema  # the buckets' files' (the shards' compact form where there is one)
    decode: Callable[[pa.Table], pa.Table]  # shard or bucket rows -> the merged form
    encode: Callable[[pa.Table], pa.Table]  # merged form -> the buckets' form


def _as_ledger(table: pa.Table) -> pa.Table:
    return table.select(LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA)


_EVENTS = _Kind(
    EVENTS_SHARDS,
    EVENTS,
    REQUEST_EVENT_SCHEMA,
    eventcodec.SHARD_SCHEMA,
    eventcodec.decode,
    eventcodec.encode_table,
)
_LEDGER = _Kind(LEDGER_SHARDS, LEDGER, LEDGER_SCHEMA, LEDGER_SCHEMA, _as_ledger, _as_ledger)


class _Buckets:
    """Rows spilled by start time into one stream file per `span_s`, read back a bucket at a
    time in time order (each file deleted once read). Rows wait in memory until `pending_max`
    have come, so that the spill writes few large batches (a shard's batch is one flush)."""

    def __init__(self, folder: Path, kind: _Kind, span_s: float, pending_max: int = 200_000) -> None:
        self.folder = folder
        self.kind = kind
        self.span_s = span_s
        self.pending_max = pending_max
        self._writers: dict[int, tuple[BinaryIO, pa.ipc.RecordBatchStreamWriter]] = {}
        self._pending: dict[int, list[pa.Table]] = defaultdict(list)
        self._pending_rows = 0
        folder.mkdir()

    def add(self, table: pa.Table) -> None:
        keys = np.floor(table.column("t_start").to_numpy() / self.span_s).astype(np.int64)
        for key in np.unique(keys):
            part = table if keys[0] == keys[-1] == key else table.filter(pa.array(keys == key))
            self._pending[int(key)].append(part)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.pending_max:
            self._write_pending()

    def _write_pending(self) -> None:
        for key, parts in self._pending.items():
            if key not in self._writers:
                sink = (self.folder / f"{key}{STREAM_SUFFIX}").open("wb")
                self._writers[key] = (
                    sink,
                    pa.ipc.new_stream(sink, self.kind.spill_schema, options=WRITE_OPTIONS),
                )
            self._writers[key][1].write_table(self.kind.encode(pa.concat_tables(parts)))
        self._pending.clear()
        self._pending_rows = 0

    def __iter__(self) -> Iterator[pa.Table]:
        self._write_pending()
        for key in sorted(self._writers):
            sink, writer = self._writers.pop(key)
            writer.close()
            sink.close()
            path = self.folder / f"{key}{STREAM_SUFFIX}"
            table = self.kind.decode(read_stream(path, self.kind.spill_schema).table)
            path.unlink()
            yield table.sort_by([("t_start", "ascending")])


def _spill(run_dir: Path, buckets: _Buckets, report: MergeReport) -> dict[str, int]:
    """Every complete batch of the kind's shards into `buckets`; rows read per shard stem."""
    folder = run_dir / buckets.kind.shards
    rows: dict[str, int] = {}
    for path in sorted(folder.glob(f"*{STREAM_SUFFIX}")) if folder.is_dir() else []:
        stem = path.name.removesuffix(STREAM_SUFFIX)
        stream = StreamBatches(path)
        rows[stem] = 0
        for batch in stream:
            table = buckets.kind.decode(pa.Table.from_batches([batch]))
            rows[stem] += table.num_rows
            buckets.add(table)
        if stream.torn:
            report.torn.append(f"{folder.name}/{path.name}")
    return rows


def _merge_kind(
    run_dir: Path, spill: Path, kind: _Kind, report: MergeReport, dedupe: Callable[[pa.Table], pa.Table]
) -> tuple[int, dict[str, int]]:
    """Spill, then sort, deduplicate and write bucket by bucket; rows written, rows read per stem."""
    buckets = _Buckets(spill / kind.shards, kind, BUCKET_S)
    rows = _spill(run_dir, buckets, report)
    target = run_dir / kind.merged
    tmp = target.with_suffix(".tmp")
    written = 0
    with pq.ParquetWriter(tmp, kind.schema, compression="zstd") as out:
        for bucket in buckets:
            table = dedupe(bucket)
            out.write_table(table)
            written += table.num_rows
    os.replace(tmp, target)
    return written, rows


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
    report.duplicate_events += len(twice)
    keep = np.ones(events.num_rows, dtype=bool)
    keep[twice] = False
    return events.filter(pa.array(keep))


def _dedupe_ledger(ledger: pa.Table, report: MergeReport, numbers: _WriteNumbers) -> pa.Table:
    """One row per write id (a write's rows share its start time); `ledger` is time-ordered and
    stays so. Its write ids' numbers go into `numbers`."""
    counts = Counter(ledger.column("write_id").to_pylist())
    dups = sorted(w for w, c in counts.items() if c > 1)
    report.duplicates += sum(counts[w] - 1 for w in dups)
    report.duplicate_write_ids = sorted([*report.duplicate_write_ids, *dups])[:LISTED_MAX]
    numbers.add(counts)
    if not dups:
        return ledger
    frame = ledger.to_pandas()
    frame["_rank"] = frame["status"].map(_STATUS_RANK).fillna(len(_STATUS_RANK))
    kept = frame.sort_values("_rank", kind="stable").drop_duplicates("write_id").sort_index()
    return pa.Table.from_pandas(kept.drop(columns="_rank"), schema=ledger.schema, preserve_index=False)


class _WriteNumbers:
    """The n of every `<worker>-<n>` write id seen, per worker, as arrays (a day's ledger holds
    tens of millions); then the gaps."""

    def __init__(self) -> None:
        self._seen: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, write_ids: Collection[str]) -> None:
        numbers: dict[str, list[int]] = defaultdict(list)
        for write_id in write_ids:
            worker, _, n = write_id.rpartition("-")
            if n.isdigit():  # another writer's ids (a third-party workload's) have no gaps to find
                numbers[worker].append(int(n))
        for worker, ns in numbers.items():
            self._seen[worker].append(np.array(ns, dtype=np.int64))

    def check(self, report: MergeReport) -> None:
        missing: list[str] = []
        report.missing = 0
        for worker, chunks in sorted(self._seen.items()):
            seen = np.unique(np.concatenate(chunks))
            seen = seen[seen > 0]
            if not len(seen):
                continue
            report.missing += int(seen[-1]) - len(seen)
            # Each gap runs from one more than a number seen (or 1) to one less than the next.
            after = np.concatenate([[0], seen[:-1]])
            for i in np.flatnonzero(seen - after > 1):
                first, last = int(after[i]) + 1, int(seen[i]) - 1
                missing += [f"{worker}-{n}" for n in range(first, min(last, first + LISTED_MAX) + 1)]
                if len(missing) >= LISTED_MAX:
                    break
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
    numbers = _WriteNumbers()
    spill = run_dir / SPILL
    shutil.rmtree(spill, ignore_errors=True)  # a merge that was killed
    spill.mkdir()
    try:
        report.events, event_rows = _merge_kind(
            run_dir, spill, _EVENTS, report, lambda t: _dedupe_events(t, report)
        )
        report.ledger, ledger_rows = _merge_kind(
            run_dir, spill, _LEDGER, report, lambda t: _dedupe_ledger(t, report, numbers)
        )
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    numbers.check(report)
    for m in found:
        if event_rows.get(m.stem, 0) < m.events or ledger_rows.get(m.stem, 0) < m.ledger:
            report.short.append(m.stem)

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
    folder = run_dir / LEDGER_SHARDS
    paths = sorted(folder.glob(f"*{STREAM_SUFFIX}")) if folder.is_dir() else []
    tables = [_as_ledger(read_stream(path, LEDGER_SCHEMA).table) for path in paths]
    table = pa.concat_tables(tables) if tables else LEDGER_SCHEMA.empty_table()
    return [LedgerEntry(**row) for row in table.sort_by([("t_start", "ascending")]).to_pylist()]
