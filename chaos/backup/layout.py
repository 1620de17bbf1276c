"""A backup set's files and manifest, written atomically and verified before any use.

Writers put each file under a temporary name in its final folder and rename it (`write_file`),
then record it in the manifest, which is itself replaced atomically (`Manifest.save`). `verify`
re-reads every file the manifest lists (size and sha256) and refuses unlisted files, so a
torn set (a writer killed mid-way) or a tampered one is refused naming the first bad file.
Temporary files and folders (`*.tmp`) are a write that never completed and are not judged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bson import Timestamp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.errors import UsageError

FORMAT = "hubchaos-backup/1"
MANIFEST = "manifest.json"
SNAPSHOT = "snapshot"
OPLOG = "oplog"
EXPORT = "export"
DUMP_OPLOG = "oplog.bson"  # mongodump --oplog's file, at the top of the dump
TMP_SUFFIX = ".tmp"
CHUNK = 1 << 20


class BackupCorrupt(UsageError):
    """A backup set that is torn, tampered with or not a backup: refused before any restore."""


def ts_text(ts: Timestamp) -> str:
    """mongorestore's --oplogLimit spelling of an oplog timestamp: `<seconds>:<increment>`."""
    return f"{ts.time}:{ts.inc}"


def parse_ts(text: str) -> Timestamp:
    seconds, sep, inc = text.partition(":")
    if not seconds.isdigit() or (sep and not inc.isdigit()):
        raise ValueError(f"{text!r} is not an oplog timestamp <seconds>:<increment>")
    return Timestamp(int(seconds), int(inc or 0))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Point(_Model):
    """A place in the oplog: its timestamp (`seconds:increment`) and the entry's wall time."""

    ts: str
    wall: float | None = None

    @property
    def timestamp(self) -> Timestamp:
        return parse_ts(self.ts)


class FileEntry(_Model):
    sha256: str
    bytes: int


class CollectionDump(_Model):
    documents: int
    bytes: int
    indexes: list[str]


class SnapshotInfo(_Model):
    tool: str  # builtin | mongodump
    started_at: float
    seconds: float
    start: Point  # the oplog's newest entry when the dump began
    end: Point  # ... when it ended: replaying oplog.bson makes the copy consistent here
    collections: dict[str, CollectionDump] = Field(default_factory=dict)  # "<db>.<coll>"


class Slice(_Model):
    file: str
    after: str  # the timestamp this slice continues from (the previous slice's last, or the start)
    first: Point
    last: Point
    entries: int


class OplogInfo(_Model):
    """The continuous backup: slices in order, each continuing where the previous ended."""

    start: Point  # tailing began after this entry
    slices: list[Slice] = Field(default_factory=list)
    ended: str | None = None  # why tailing stopped (None: still running, or stopped cleanly)

    @property
    def restorable_until(self) -> Point:
        return self.slices[-1].last if self.slices else self.start


class ExportInfo(_Model):
    file: str
    at: Point | None  # the snapshot the export read, when it read at one
    counts: dict[str, int]


class Manifest(_Model):
    format: str = FORMAT
    created_at: float
    set_name: str | None
    database: str
    snapshot: SnapshotInfo | None = None
    oplog: OplogInfo | None = None
    export: ExportInfo | None = None
    files: dict[str, FileEntry] = Field(default_factory=dict)  # relative path -> checksum

    def save(self, folder: Path) -> None:
        write_file(folder / MANIFEST, self.model_dump_json(indent=1).encode())

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            manifest = cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise BackupCorrupt(f"{folder}: no {MANIFEST} (not a backup, or a torn one)") from None
        except (OSError, ValidationError) as exc:
            raise BackupCorrupt(f"{path}: not a backup manifest ({exc})") from None
        if manifest.format != FORMAT:
            raise BackupCorrupt(f"{path}: format {manifest.format!r}, expected {FORMAT}")
        return manifest

    def record(self, folder: Path, relative: Iterable[str]) -> None:
        """Checksum files already in place and list them."""
        for name in relative:
            self.files[name] = checksum(folder / name)


def checksum(path: Path) -> FileEntry:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(sha256=digest.hexdigest(), bytes=size)


def write_file(path: Path, data: bytes) -> None:
    """Write under a temporary name, fsync, rename: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class AtomicFile:
    """A file written in pieces under a temporary name, renamed into place by `commit()`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(path.name + TMP_SUFFIX)
        self.fh = self.tmp.open("wb")
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.bytes += len(data)

    def commit(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abandon(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


def verify(folder: Path) -> Manifest:
    """The set's manifest once every listed file matches it and nothing unlisted is there;
    BackupCorrupt naming the first problem otherwise."""
    if not folder.is_dir():
        raise BackupCorrupt(f"{folder}: no such backup folder")
    manifest = Manifest.load(folder)
    for name, expected in sorted(manifest.files.items()):
        path = folder / name
        if not path.is_file():
            raise BackupCorrupt(f"{folder}: {name} is missing (the manifest lists it)")
        found = checksum(path)
        if found.bytes != expected.bytes:
            raise BackupCorrupt(
                f"{folder}: {name} has {found.bytes} bytes, the manifest says {expected.bytes}"
            )
        if found.sha256 != expected.sha256:
            raise BackupCorrupt(
                f"{folder}: {name} does not match its checksum (changed after it was written)"
            )
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if (
            path.is_file()
            and name != MANIFEST
            and not name.endswith(TMP_SUFFIX)
            and name not in manifest.files
        ):
            raise BackupCorrupt(f"{folder}: {name} is not in the manifest")
    return manifest


def describe(manifest: Manifest) -> dict[str, Any]:
    """What a set holds, in a few fields (runbook findings, the CLI's summary)."""
    found: dict[str, Any] = {
        "files": len(manifest.files),
        "bytes": sum(f.bytes for f in manifest.files.values()),
    }
    if manifest.snapshot is not None:
        found["snapshot_end"] = manifest.snapshot.end.ts
        found["documents"] = sum(c.documents for c in manifest.snapshot.collections.values())
    if manifest.oplog is not None:
        found["slices"] = len(manifest.oplog.slices)
        found["restorable_until"] = manifest.oplog.restorable_until.ts
    return found
