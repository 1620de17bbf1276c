"""The production guide's application-level backup: one timestamped JSON document with the
users (without `password`), the prompts and the vector stores' metadata (one entry per store,
without embeddings), and its integrity check.

    {"timestamp": "2026-...Z", "users": [...], "prompts": [...], "vectorStores": [...],
     "integrity": {"counts": {"users": N, ...}, "sha256": "<of the three lists>"}}

Values are Extended JSON (relaxed), documents in `_id` order, so the same data exports to the
same bytes: an export of a restored cluster taken at the restore point equals the one taken from
the live cluster at that point (the round trip).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bson import decode, json_util
from bson.json_util import RELAXED_JSON_OPTIONS
from pymongo import MongoClient

from chaos.backup.backupset import BackupSet
from chaos.backup.layout import EXPORT, BackupCorrupt, ExportInfo, Point, ts_text, write_file
from chaos.backup.snapshotread import SnapshotReader

USERS, PROMPTS, VECTORS = "users", "prompts", "vectorstores"
SECTIONS = ("users", "prompts", "vectorStores")
FILE = f"{EXPORT}/app.json"  # in a backup set


def _docs(
    reader: SnapshotReader, collection: str, projection: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    for raw in reader.find(collection, projection, sort={"_id": 1}):
        yield decode(raw.raw)


def vector_stores(chunks: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per store: its owner, topics and chunk count (what an app needs to rebuild it)."""
    stores: dict[str, dict[str, Any]] = {}
    for chunk in chunks:
        store = stores.setdefault(
            chunk["storeId"],
            {"storeId": chunk["storeId"], "userId": chunk.get("userId"), "topics": set(), "chunks": 0},
        )
        store["chunks"] += 1
        if "topic" in chunk:
            store["topics"].add(chunk["topic"])
    return [{**s, "topics": sorted(s["topics"])} for _, s in sorted(stores.items())]


def digest(content: dict[str, Any]) -> str:
    canonical = json.dumps({k: content[k] for k in SECTIONS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def export(reader: SnapshotReader) -> dict[str, Any]:
    """The export of the hub's database `reader` reads (at its snapshot)."""
    content = {
        "users": list(_docs(reader, USERS, {"password": 0})),
        "prompts": list(_docs(reader, PROMPTS)),
        "vectorStores": vector_stores(_docs(reader, VECTORS, {"storeId": 1, "userId": 1, "topic": 1})),
    }
    content = json.loads(json_util.dumps(content, json_options=RELAXED_JSON_OPTIONS))
    integrity = {"counts": {k: len(content[k]) for k in SECTIONS}, "sha256": digest(content)}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"timestamp": stamp, **content, "integrity": integrity}


def check(document: dict[str, Any]) -> list[str]:
    """The export's integrity problems (none: it is whole and unchanged)."""
    problems = []
    missing = [k for k in (*SECTIONS, "integrity", "timestamp") if k not in document]
    if missing:
        return [f"missing {', '.join(missing)}"]
    integrity = document["integrity"]
    for k in SECTIONS:
        if integrity.get("counts", {}).get(k) != len(document[k]):
            problems.append(
                f"{k}: {len(document[k])} entries, the integrity record says {integrity['counts'].get(k)}"
            )
    if digest(document) != integrity.get("sha256"):
        problems.append("the content does not match its sha256")
    if any("password" in u for u in document["users"]):
        problems.append("a user carries a password")
    return problems


def write(path: Path, document: dict[str, Any]) -> None:
    write_file(path, json.dumps(document, separators=(",", ":")).encode())


def read(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupCorrupt(f"{path}: not an application export ({exc})") from None
    if not isinstance(found, dict):
        raise BackupCorrupt(f"{path}: not an application export")
    return found


def export_into(client: MongoClient[Any], backup: BackupSet) -> dict[str, Any]:
    """The export of the set's database, read at one snapshot, added to the set; its document."""
    reader = SnapshotReader(client[backup.manifest.database])
    document = export(reader)
    write(backup.folder / FILE, document)
    counts = document["integrity"]["counts"]
    at = Point(ts=ts_text(reader.at)) if reader.at is not None else None
    backup.add([FILE], lambda m: setattr(m, "export", ExportInfo(file=FILE, at=at, counts=counts)))
    return document
