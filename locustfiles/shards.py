"""Shard files: what one recording process writes while a run goes on.

A process writes, per record kind, one Arrow IPC *stream* file (`<kind>/<stem>.arrows`) and
appends a compressed record batch to it at every flush. A stream needs no footer, so a file
whose writer died is readable up to its last complete batch: a crash loses only what was not
yet flushed. Discovery events go to `discovery/<stem>.jsonl`, resource samples to
`resources/<stem>.jsonl`. A manifest
(`events/<stem>.json`) says how many rows of each kind were flushed and whether the writer
closed, so the merge knows when a worker is done and whether anything is missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from contract.rundir import DISCOVERY_SHARDS, EVENTS_SHARDS, LEDGER_SHARDS

STREAM_SUFFIX = ".arrows"
MANIFEST_SUFFIX = ".json"
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

    def close(self) -> None:
        self._writer.close()
        self._file.close()


@dataclass(slots=True)
class StreamRead:
    table: pa.Table
    torn: bool  # the file ended inside a batch (its writer was killed mid-write)


def read_stream(path: Path, schema: pa.Schema) -> StreamRead:
    """Every complete batch of a stream file, tolerating a torn tail or an empty file (then an
    empty table of `schema`)."""
    batches: list[pa.RecordBatch] = []
    torn = False
    with pa.OSFile(str(path)) as source:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError):
            return StreamRead(schema.empty_table(), torn=path.stat().st_size > 0)
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError):
                torn = True
                break
    # The stream's own schema: a reader may take more than one form of a kind (locustfiles/eventcodec.py).
    table = pa.Table.from_batches(batches) if batches else schema.empty_table()
    return StreamRead(table, torn)
