"""A restore point and what the data looked like there: the reference a restore is judged by.

`take(db)` reads, at one snapshot (the majority commit point when it is called), each
collection's count and md5 (its documents' BSON in `_id` order, which is what mongod's dbHash
hashes), every index with its options, and the application export. The snapshot's time is the
restore point: `restore --until <that timestamp>` must reproduce all of it, and `compare` says
where a restored database differs (also against the server's own dbHash).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pydantic import BaseModel, ConfigDict
from pymongo.database import Database

from chaos.backup import export
from chaos.backup.layout import Point, ts_text
from chaos.backup.oplog import oplog, point_of
from chaos.backup.snapshotread import SnapshotReader


class CollectionState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int
    md5: str
    indexes: dict[str, str]  # name -> the spec (without v and ns) as canonical Extended JSON


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    taken_at: float
    database: str
    at: Point  # the restore point
    collections: dict[str, CollectionState]
    export_sha256: str
    export_counts: dict[str, int]


def index_specs(db: Database[Any], collection: str) -> dict[str, str]:
    return {
        spec["name"]: json_util.dumps(
            {k: v for k, v in spec.items() if k not in ("v", "ns")}, json_options=CANONICAL_JSON_OPTIONS
        )
        for spec in db[collection].list_indexes()
    }


def state(db: Database[Any], reader: SnapshotReader) -> dict[str, CollectionState]:
    found = {}
    for name in sorted(db.list_collection_names(filter={"type": "collection"})):
        if name.startswith("system."):
            continue
        digest = hashlib.md5()  # dbHash's hash, to compare with it
        count = 0
        for doc in reader.find(name, sort={"_id": 1}):
            digest.update(doc.raw)
            count += 1
        found[name] = CollectionState(count=count, md5=digest.hexdigest(), indexes=index_specs(db, name))
    return found


def take(db: Database[Any]) -> Reference:
    reader = SnapshotReader(db)
    collections = state(db, reader)
    exported = export.export(reader)
    assert reader.at is not None
    entry = oplog(db.client).find_one({"ts": reader.at}, {"ts": 1, "wall": 1})
    return Reference(
        taken_at=time.time(),
        database=db.name,
        at=point_of(entry) if entry is not None else Point(ts=ts_text(reader.at)),
        collections=collections,
        export_sha256=exported["integrity"]["sha256"],
        export_counts=exported["integrity"]["counts"],
    )


def compare(db: Database[Any], reference: Reference) -> list[str]:
    """Where `db` (a restored database, not written to since) differs from the reference."""
    problems: list[str] = []
    reader = SnapshotReader(db)
    restored = state(db, reader)
    server = db.command("dbHash")["collections"]
    for name in sorted(set(reference.collections) | set(restored)):
        want, got = reference.collections.get(name), restored.get(name)
        if want is None or got is None:
            problems.append(
                f"{name}: {'not in the reference' if want is None else 'missing after the restore'}"
            )
            continue
        if got.count != want.count:
            problems.append(f"{name}: {got.count} documents, {want.count} at the restore point")
        if got.md5 != want.md5:
            problems.append(f"{name}: the documents differ from the restore point's (md5)")
        if server.get(name) != want.md5:
            problems.append(
                f"{name}: the server's dbHash {server.get(name)} is not the restore point's {want.md5}"
            )
        for index in sorted(set(want.indexes) | set(got.indexes)):
            if want.indexes.get(index) != got.indexes.get(index):
                found, expected = got.indexes.get(index, "missing"), want.indexes.get(index, "none")
                problems.append(f"{name}: index {index} is {found}, expected {expected}")
    exported = export.export(reader)
    problems += [f"the application export: {p}" for p in export.check(exported)]
    if exported["integrity"]["sha256"] != reference.export_sha256:
        problems.append(
            f"the application export does not round-trip: {exported['integrity']['counts']} "
            f"against {reference.export_counts} at the restore point"
        )
    return problems
