"""Oplog entries replayed into a target with `applyOps`, as `mongorestore --oplogReplay` does:
entry fields that belong to the source (ts, t, wall, the collection UUID `ui`, session fields)
are dropped, `n` entries and the target's own namespaces (local, config) skipped, transactions'
applyOps entries applied operation by operation, and index builds kept aside to be built with
the snapshot's indexes at the end. Consecutive CRUD operations go in one applyOps command (an
atomic batch); commands (create, drop, ...) go alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.codec_options import CodecOptions
from pymongo.database import Database

from chaos.backup.oplog import SKIPPED_DATABASES

BATCH_OPS = 1000
BATCH_BYTES = 8 * 1024 * 1024
KEPT_FIELDS = ("op", "ns", "o", "o2")
INDEX_BUILDS = frozenset({"createIndexes", "commitIndexBuild"})
INDEX_DROPS = frozenset({"dropIndexes", "deleteIndexes", "dropIndex"})
IGNORED_COMMANDS = frozenset({"startIndexBuild", "abortIndexBuild"})
DECODE = CodecOptions(tz_aware=False)


@dataclass(slots=True)
class Replay:
    """What a replay did: entries applied and skipped, and the index changes it kept aside."""

    applied: int = 0
    skipped: int = 0
    commands: int = 0
    # (db, collection) -> index name -> spec; None marks an index dropped by the oplog.
    indexes: dict[tuple[str, str], dict[str, dict[str, Any] | None]] = field(default_factory=dict)


def operations(entry: dict[str, Any], replay: Replay) -> Iterator[dict[str, Any]]:
    """The operations an entry applies on the target, in applyOps form."""
    ns, op, o = entry.get("ns", ""), entry.get("op"), entry.get("o") or {}
    if op == "c" and "applyOps" in o:
        for inner in o["applyOps"]:
            yield from operations(inner, replay)
        return
    if op == "n" or ns.startswith(SKIPPED_DATABASES):
        replay.skipped += 1
        return
    if op == "c":
        name = next(iter(o), "")
        db = ns.split(".", 1)[0]
        if name in INDEX_BUILDS:
            indexes = o.get("indexes") or [{k: v for k, v in o.items() if k != name}]
            for spec in indexes:
                replay.indexes.setdefault((db, o[name]), {})[spec["name"]] = spec
            return
        if name in INDEX_DROPS:
            dropped = o.get("index")
            if isinstance(dropped, str):
                replay.indexes.setdefault((db, o[name]), {})[dropped] = None
            return
        if name in IGNORED_COMMANDS:
            replay.skipped += 1
            return
    yield {k: entry[k] for k in KEPT_FIELDS if k in entry}


def apply_entries(db: Database[Any], entries: Iterable[bytes], replay: Replay) -> Replay:
    """Apply raw entries (in oplog order) through `db`'s client with applyOps."""
    admin = db.client.admin
    batch: list[dict[str, Any]] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        if batch:
            admin.command("applyOps", batch, bypassDocumentValidation=True)
            replay.applied += len(batch)
        batch, size = [], 0

    for raw in entries:
        for op in operations(bson.decode(raw, DECODE), replay):
            if op["op"] == "c":
                flush()
                admin.command("applyOps", [op], bypassDocumentValidation=True)
                replay.applied += 1
                replay.commands += 1
                continue
            batch.append(op)
            size += len(raw)
            if len(batch) >= BATCH_OPS or size >= BATCH_BYTES:
                flush()
    flush()
    return replay
