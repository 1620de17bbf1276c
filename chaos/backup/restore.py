"""A point-in-time restore from a backup set into an empty target, through the driver.

    plan = plan_restore(folder, until)   # verifies the set first: a torn or tampered one is refused
    result = restore(client, plan)       # snapshot, oplog up to the point, then the indexes

`until` is an oplog timestamp (`<seconds>:<increment>`, mongorestore's --oplogLimit spelling, but
inclusive), a wall-clock time (the newest entry written at or before it), or None (as far as
the set reaches). The snapshot's documents are inserted, its own oplog.bson replayed (which makes
the fuzzy copy consistent at the snapshot's end), then the continuous backup's entries after
that up to the point; indexes are built last, from the snapshot's metadata and the index
builds the oplog held, as mongorestore does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from bson import Timestamp, json_util
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from chaos.backup.layout import (
    DUMP_OPLOG,
    SNAPSHOT,
    BackupCorrupt,
    Manifest,
    Point,
    Slice,
    parse_ts,
    ts_text,
    verify,
)
from chaos.backup.oplog import wall_seconds
from chaos.backup.replay import Replay, apply_entries
from contract.errors import UsageError

INSERT_BATCH = 1000
DROPPED_OPTIONS = ("v", "ns")


@dataclass(frozen=True, slots=True)
class RestorePlan:
    folder: Path
    manifest: Manifest
    cut: Timestamp  # apply every entry at or before this
    slices: list[Slice]  # the continuous backup's slices the point needs

    @property
    def database(self) -> str:
        return self.manifest.database


@dataclass(slots=True)
class RestoreResult:
    point: Point  # the restore point reached
    documents: int = 0
    bytes: int = 0
    replay: Replay = field(default_factory=Replay)
    indexes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per phase

    @property
    def mb_per_s(self) -> float:
        total = sum(self.seconds.values())
        return self.bytes / 1e6 / total if total > 0 else 0.0


def _raw_entries(path: Path) -> Iterator[RawBSONDocument]:
    with path.open("rb") as fh:
        yield from bson.decode_file_iter(fh, codec_options=bson.CodecOptions(document_class=RawBSONDocument))


def _cut_at_wall(folder: Path, slices: list[Slice], start: Point, until: float) -> Timestamp:
    """The newest entry written at or before `until` (wall clock)."""
    cut = start.timestamp
    for piece in slices:
        if piece.first.wall is not None and piece.first.wall > until:
            break
        for entry in _raw_entries(folder / piece.file):
            wall = wall_seconds(entry.get("wall"))
            if wall is not None and wall > until:
                return cut
            cut = max(cut, entry["ts"])
    return cut


def plan_restore(folder: Path, until: Timestamp | float | None) -> RestorePlan:
    """What restoring `folder` to `until` takes; BackupCorrupt or UsageError before anything
    is touched when the set cannot give it."""
    manifest = verify(folder)
    snapshot = manifest.snapshot
    if snapshot is None:
        raise BackupCorrupt(f"{folder}: the set has no snapshot to restore from")
    end = snapshot.end.timestamp
    oplog = manifest.oplog
    slices = list(oplog.slices) if oplog is not None else []
    previous = oplog.start.ts if oplog is not None else None
    for piece in slices:
        if piece.after != previous:
            raise BackupCorrupt(
                f"{folder}: {piece.file} continues from {piece.after}, not {previous}: a slice is missing"
            )
        previous = piece.last.ts
    if oplog is not None and oplog.start.timestamp > end:
        raise BackupCorrupt(f"{folder}: the continuous backup starts after the snapshot ends")
    reach = max(end, oplog.restorable_until.timestamp) if oplog is not None else end
    if until is None:
        cut = reach
    elif isinstance(until, Timestamp):
        cut = until
    else:
        cut = _cut_at_wall(folder, slices, snapshot.end, until)
    if cut < end:
        raise UsageError(
            f"the snapshot is consistent only from {ts_text(end)}, after the restore point {ts_text(cut)}"
        )
    if cut > reach:
        raise UsageError(f"the backup reaches {ts_text(reach)}, before the restore point {ts_text(cut)}")
    needed = [s for s in slices if s.last.timestamp > end and s.first.timestamp <= cut]
    return RestorePlan(folder, manifest, cut, needed)


def parse_until(text: str | None) -> Timestamp | float | None:
    """`<seconds>:<increment>` (an oplog timestamp), an ISO time, epoch seconds, or None."""
    if text is None or text == "latest":
        return None
    if ":" in text and text.replace(":", "").isdigit():
        return parse_ts(text)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--until {text!r}: expected seconds:increment, an ISO time or epoch seconds"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _entries_until(plan: RestorePlan, result: RestoreResult) -> Iterator[bytes]:
    """The snapshot's oplog, then the slices' entries after the snapshot's end, to the cut;
    `result.point` follows the last one given."""
    end = plan.manifest.snapshot.end.timestamp  # type: ignore[union-attr]
    sources = [plan.folder / SNAPSHOT / DUMP_OPLOG] + [plan.folder / s.file for s in plan.slices]
    for i, path in enumerate(sources):
        for entry in _raw_entries(path):
            ts = entry["ts"]
            if ts > plan.cut:
                return
            if i > 0 and ts <= end:
                continue
            result.point = Point(ts=ts_text(ts), wall=wall_seconds(entry.get("wall")))
            yield entry.raw


def restore(
    client: MongoClient[Any], plan: RestorePlan, log: Callable[[str], None] = lambda line: None
) -> RestoreResult:
    """Restore into `client`'s deployment, whose database must be empty."""
    db = client[plan.database]
    if db.list_collection_names():
        raise UsageError(
            f"the target already holds database {plan.database!r}: restore goes into an empty one"
        )
    result = RestoreResult(point=plan.manifest.snapshot.end)  # type: ignore[union-attr]
    snapshot_dir = plan.folder / SNAPSHOT / plan.database
    indexes: dict[str, list[dict[str, Any]]] = {}
    started = time.monotonic()
    for meta_path in sorted(snapshot_dir.glob("*.metadata.json")):
        meta = json_util.loads(meta_path.read_text())
        name = meta["collectionName"]
        db.create_collection(name, **meta.get("options", {}))
        indexes[name] = [ix for ix in meta.get("indexes", []) if ix["name"] != "_id_"]
        batch: list[RawBSONDocument] = []
        for doc in _raw_entries(snapshot_dir / f"{name}.bson"):
            batch.append(doc)
            result.bytes += len(doc.raw)
            if len(batch) >= INSERT_BATCH:
                db[name].insert_many(batch, ordered=False, bypass_document_validation=True)
                result.documents += len(batch)
                batch = []
        if batch:
            db[name].insert_many(batch, ordered=False, bypass_document_validation=True)
            result.documents += len(batch)
        log(f"restored {plan.database}.{name}")
    result.seconds["snapshot"] = time.monotonic() - started
    started = time.monotonic()
    apply_entries(db, _entries_until(plan, result), result.replay)
    result.seconds["oplog"] = time.monotonic() - started
    started = time.monotonic()
    for (dbname, coll), changes in result.replay.indexes.items():
        if dbname != plan.database:
            continue
        kept = {ix["name"]: ix for ix in indexes.setdefault(coll, [])}
        for index_name, spec in changes.items():
            if spec is None:
                kept.pop(index_name, None)
            else:
                kept[index_name] = spec
        indexes[coll] = list(kept.values())
    for name, wanted in indexes.items():
        specs = [{k: v for k, v in spec.items() if k not in DROPPED_OPTIONS} for spec in wanted]
        if specs and name in db.list_collection_names():
            db.command("createIndexes", name, indexes=specs)
            result.indexes += len(specs)
    result.seconds["indexes"] = time.monotonic() - started
    return result
