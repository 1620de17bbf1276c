"""Shard files: what one writer (a recording process, or a Locust master for a worker's
batches) writes while a run goes on.

A writer writes, per record kind, one Arrow IPC *stream* file (`<kind>/<stem>.arrows`) and
appends a compressed record batch to it at every flush. A stream needs no footer, so a file
whose writer died is readable up to its last complete batch: a crash loses only what was not
yet flushed. Discovery events go to `discovery/<stem>.jsonl`, resource samples to
`resources/<stem>.jsonl`. A manifest
(`events/<stem>.json`) says how many rows of each kind were flushed and whether the writer
closed, so the merge knows when a worker is done and whether anything is missing.
`ShardSet` is one writer's files; `Parts` is what one flush adds to them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from contract.rundir import (
    DISCOVERY_SHARDS,
    EVENTS_SHARDS,
    LEDGER_SCHEMA,
    LEDGER_SHARDS,
    RESOURCES_SHARDS,
    DiscoveryEvent,
    LedgerEntry,
    RequestEvent,
    ResourceSample,
    to_jsonl,
    to_table,
)
from locustfiles import eventcodec

STREAM_SUFFIX = ".arrows"
LINES_SUFFIX = ".jsonl"
MANIFEST_SUFFIX = ".json"
KINDS = ("events", "ledger", "discovery", "resources")  # the record kinds, as the manifest counts them
WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


@dataclass(slots=True)
class Manifest:
    stem: str  # the shard files' common name: "<worker>.<part>"
    worker: str
    pid: int
    events: int = 0
    ledger: int = 0
    discovery: int = 0
    resources: int = 0
    closed: bool = False

    def save(self, run_dir: Path) -> None:
        path = manifest_path(run_dir, self.stem)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)  # readers never see half a manifest

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text()))


def manifest_path(run_dir: Path, stem: str) -> Path:
    return run_dir / EVENTS_SHARDS / f"{stem}{MANIFEST_SUFFIX}"


def manifests(run_dir: Path) -> list[Manifest]:
    folder = run_dir / EVENTS_SHARDS
    return [Manifest.load(p) for p in sorted(folder.glob(f"*{MANIFEST_SUFFIX}"))] if folder.is_dir() else []


def claim_stem(run_dir: Path, worker: str) -> str:
    """A shard name no other writer uses: `<worker>.<part>`, claimed by creating its manifest."""
    for folder in (EVENTS_SHARDS, LEDGER_SHARDS, DISCOVERY_SHARDS):
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
    part = 0
    while True:
        stem = f"{worker}.{part}"
        try:
            with manifest_path(run_dir, stem).open("x"):
                return stem
        except FileExistsError:
            part += 1


class StreamShard:
    """An Arrow IPC stream file that grows by one record batch per `append`."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self._file: BinaryIO = path.open("wb")
        self._writer = pa.ipc.new_stream(self._file, schema, options=WRITE_OPTIONS)

    def append(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        self._file.flush()  # into the OS: a killed process loses nothing that got here

    def sync(self) -> None:
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._writer.close()
        self._file.close()


@dataclass(slots=True)
class Parts:
    """What one flush of one writer adds to its shards: the new rows of each kind as the shard
    files take them (Arrow tables; JSON lines for discovery events and resource samples)."""

    events: pa.Table | None = None
    ledger: pa.Table | None = None
    discovery: bytes = b""
    resources: bytes = b""

    @classmethod
    def of(
        cls,
        events: Sequence[RequestEvent],
        ledger: Sequence[LedgerEntry],
        discovery: Sequence[DiscoveryEvent],
        resources: Sequence[ResourceSample],
    ) -> Parts:
        return cls(
            eventcodec.encode(events) if events else None,
            to_table(ledger, LEDGER_SCHEMA) if ledger else None,
            to_jsonl(discovery).encode(),
            to_jsonl(resources).encode(),
        )

    def rows(self) -> dict[str, int]:
        return {
            "events": self.events.num_rows if self.events is not None else 0,
            "ledger": self.ledger.num_rows if self.ledger is not None else 0,
            "discovery": self.discovery.count(b"\n"),
            "resources": self.resources.count(b"\n"),
        }


class ShardSet:
    """One writer's shard files under a stem it claimed in `run_dir`, and their manifest.

    `write(parts, durable=True)` returns only once the rows are on disk (fsync), for a writer
    that acknowledges them to someone else."""

    def __init__(self, run_dir: Path, worker: str, pid: int | None = None) -> None:
        self.run_dir = run_dir
        self.stem = claim_stem(run_dir, worker)
        self.manifest = Manifest(stem=self.stem, worker=worker, pid=pid or os.getpid())
        self.paths = shard_paths(run_dir, self.stem)
        self._events = StreamShard(self.paths["events"], eventcodec.SHARD_SCHEMA)
        self._ledger = StreamShard(self.paths["ledger"], LEDGER_SCHEMA)
        self.manifest.save(run_dir)

    def write(self, parts: Parts, durable: bool = False) -> None:
        for shard, table in ((self._events, parts.events), (self._ledger, parts.ledger)):
            if table is not None:
                shard.append(table)
                if durable:
                    shard.sync()
        for kind, lines in (("discovery", parts.discovery), ("resources", parts.resources)):
            if lines:
                _append(self.paths[kind], lines, durable)
        for kind, n in parts.rows().items():
            setattr(self.manifest, kind, getattr(self.manifest, kind) + n)
        self.manifest.save(self.run_dir)

    def sizes(self) -> dict[str, int]:
        """Each shard file's size now (0 for one not yet written)."""
        return {kind: path.stat().st_size if path.exists() else 0 for kind, path in self.paths.items()}

    def close(self) -> None:
        self._events.close()
        self._ledger.close()
        self.manifest.closed = True
        self.manifest.save(self.run_dir)


def shard_paths(run_dir: Path, stem: str) -> dict[str, Path]:
    """The shard file of each record kind of one writer."""
    return {
        "events": run_dir / EVENTS_SHARDS / f"{stem}{STREAM_SUFFIX}",
        "ledger": run_dir / LEDGER_SHARDS / f"{stem}{STREAM_SUFFIX}",
        "discovery": run_dir / DISCOVERY_SHARDS / f"{stem}{LINES_SUFFIX}",
        "resources": run_dir / RESOURCES_SHARDS / f"{stem}{LINES_SUFFIX}",
    }


def _append(path: Path, data: bytes, durable: bool) -> None:
    path.parent.mkdir(exist_ok=True)  # resources/ exists only once some process sampled
    with path.open("ab") as fh:
        fh.write(data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())


@dataclass(slots=True)
class StreamRead:
    table: pa.Table
    torn: bool  # the file ended inside a batch (its writer was killed mid-write)


class StreamBatches:
    """Every complete batch of a stream file in turn, tolerating a torn tail or an empty file;
    once they are read, `torn` says whether the file ended inside a batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        with pa.OSFile(str(self.path)) as source:
            try:
                reader = pa.ipc.open_stream(source)
            except (pa.ArrowInvalid, OSError):
                self.torn = self.path.stat().st_size > 0
                return
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowInvalid, OSError):
                    self.torn = True
                    return
                yield batch


def read_stream(path: Path, schema: pa.Schema) -> StreamRead:
    """Every complete batch of a stream file (see `StreamBatches`); an empty table of `schema`
    when there is none."""
    stream = StreamBatches(path)
    batches = list(stream)
    # The stream's own schema: a reader may take more than one form of a kind (locustfiles/eventcodec.py).
    table = pa.Table.from_batches(batches) if batches else schema.empty_table()
    return StreamRead(table, stream.torn)


def read_events(path: Path) -> StreamRead:
    """A request-event shard's complete batches in the run directory's form."""
    read = read_stream(path, eventcodec.SHARD_SCHEMA)
    return StreamRead(eventcodec.decode(read.table), read.torn)
