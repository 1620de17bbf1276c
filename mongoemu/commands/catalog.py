"""Databases and collections: create, drop, listCollections, listDatabases, dropDatabase,
collStats, dbStats. Creating and dropping are oplog `c` entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongoemu.commands.arguments import cursor_reply, document, namespace
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError
from mongoemu.storage.collection import Collection
from mongoemu.storage.engine import check_db_name
from mongoemu.storage.query import matches
from mongoemu.writes import ID_INDEX_SPEC, WriteBatch

_CREATE_OPTIONS = frozenset(
    {"capped", "size", "max", "validator", "validationLevel", "validationAction", "collation",
     "storageEngine", "indexOptionDefaults", "viewOn", "pipeline", "timeseries", "expireAfterSeconds",
     "clusteredIndex", "changeStreamPreAndPostImages", "autoIndexId", "flags", "encryptedFields"}
)  # fmt: skip
_GENERIC = frozenset(
    {"lsid", "txnNumber", "$clusterTime", "readConcern", "writeConcern", "$readPreference", "maxTimeMS",
     "comment", "apiVersion", "apiStrict", "apiDeprecationErrors", "$db", "$replData", "$oplogQueryData"}
)  # fmt: skip


@command("create", write=True)
async def create(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    options = {k: v for k, v in ctx.body.items() if k != "create" and k not in _GENERIC}
    for option in options:
        if option not in _CREATE_OPTIONS:
            raise CommandError(
                40415, f"BSON field 'create.{option}' is an unknown field.", code_name="Location40415"
            )
    if "viewOn" in options or "timeseries" in options:
        raise CommandError(
            115,
            "views and time-series collections are not supported by the emulator",
            code_name="CommandNotSupported",
        )
    if ctx.member.engine.collection(db, name) is not None:
        raise CommandError(48, f"Collection {ns} already exists.")
    batch = WriteBatch(ctx)
    try:
        batch.write("c", f"{db}.$cmd", {"create": name, **options, "idIndex": ID_INDEX_SPEC})
    finally:
        batch.flush()
    return await batch.finish({"ok": 1.0})


@command("drop", write=True)
async def drop(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    if coll is None:
        raise CommandError(26, "ns not found")
    batch = WriteBatch(ctx)
    try:
        batch.write("c", f"{db}.$cmd", {"drop": name})
    finally:
        batch.flush()
    return await batch.finish({"nIndexesWas": len(coll.index_names()), "ns": ns, "ok": 1.0})


@command("dropDatabase", write=True)
async def drop_database(ctx: CommandContext) -> dict[str, Any]:
    check_db_name(ctx.db)
    batch = WriteBatch(ctx)
    if ctx.member.engine.collections(ctx.db):
        try:
            batch.write("c", f"{ctx.db}.$cmd", {"dropDatabase": 1})
        finally:
            batch.flush()
    return await batch.finish({"dropped": ctx.db, "ok": 1.0})


def _collection_info(coll: Collection, name_only: bool) -> dict[str, Any]:
    if name_only:
        return {"name": coll.name, "type": "collection"}
    return {
        "name": coll.name,
        "type": "collection",
        "options": dict(coll.options),
        "info": {"readOnly": False, "uuid": coll.uuid},
        "idIndex": ID_INDEX_SPEC,
    }


@command("listCollections", read=True)
async def list_collections(ctx: CommandContext) -> dict[str, Any]:
    check_db_name(ctx.db)
    filter_ = document(ctx, "filter", {}) or {}
    name_only = bool(ctx.body.get("nameOnly", False))
    infos = [_collection_info(c, name_only) for c in ctx.member.engine.collections(ctx.db)]
    if ctx.db == "local" and ctx.member.coordinator.set_name:
        infos.append({"name": "oplog.rs", "type": "collection", "options": {"capped": True}})
    selected = [i for i in infos if matches(filter_, i)] if filter_ else infos
    cursor = ctx.body.get("cursor") or {}
    batch_size = cursor.get("batchSize") if isinstance(cursor, Mapping) else None
    return cursor_reply(ctx, f"{ctx.db}.$cmd.listCollections", iter(selected), batch_size)


def _db_size(ctx: CommandContext, db: str) -> int:
    return sum(c.data_size for c in ctx.member.engine.collections(db))


@command("listDatabases", admin_only=True, read=True)
async def list_databases(ctx: CommandContext) -> dict[str, Any]:
    filter_ = document(ctx, "filter", {}) or {}
    names = ctx.member.engine.database_names()
    if ctx.member.coordinator.set_name and "local" not in names:
        names.append("local")
    dbs = [
        {"name": n, "sizeOnDisk": float(_db_size(ctx, n)), "empty": _db_size(ctx, n) == 0}
        for n in sorted(names)
    ]
    if filter_:
        dbs = [d for d in dbs if matches(filter_, d)]
    if ctx.body.get("nameOnly"):
        return {"databases": [{"name": d["name"]} for d in dbs], "ok": 1.0}
    return {
        "databases": dbs,
        "totalSize": float(sum(d["sizeOnDisk"] for d in dbs)),
        "totalSizeMb": 0,
        "ok": 1.0,
    }


@command("collStats", read=True)
async def coll_stats(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    if coll is None:
        raise CommandError(26, f"Collection [{ns}] not found.")
    size = coll.data_size
    stored = sum(len(b) for b in coll.docs.values())
    return {
        "ns": ns,
        "count": coll.count,
        "size": size,
        "avgObjSize": size // coll.count if coll.count else 0,
        "storageSize": stored,
        "nindexes": len(coll.index_names()),
        "indexNames": coll.index_names(),
        "ok": 1.0,
    }


@command("dbStats", read=True)
async def db_stats(ctx: CommandContext) -> dict[str, Any]:
    check_db_name(ctx.db)
    colls = ctx.member.engine.collections(ctx.db)
    objects = sum(c.count for c in colls)
    size = sum(c.data_size for c in colls)
    return {
        "db": ctx.db,
        "collections": len(colls),
        "views": 0,
        "objects": objects,
        "avgObjSize": size / objects if objects else 0,
        "dataSize": float(size),
        "storageSize": float(sum(len(b) for c in colls for b in c.docs.values())),
        "indexes": sum(len(c.index_names()) for c in colls),
        "ok": 1.0,
    }


@command("fsync", admin_only=True, always_allowed=True)
async def fsync(ctx: CommandContext) -> dict[str, Any]:
    """Flush everything to disk: here, write a checkpoint (which also fsyncs)."""
    if ctx.body.get("lock"):
        raise CommandError(
            115, "fsync with lock is not supported by the emulator", code_name="CommandNotSupported"
        )
    await ctx.member.checkpoint()
    return {"numFiles": 1, "ok": 1.0}
