"""Databases and collections: create, drop, listCollections, listDatabases, dropDatabase,
collStats, dbStats. Creating and dropping are oplog `c` entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongoemu.commands.arguments import cursor_reply, document, namespace
from mongoemu.commands.registry import GENERIC_ARGUMENTS, CommandContext, command
from mongoemu.errors import CommandError, not_supported
from mongoemu.storage import collation, validation
from mongoemu.storage.collection import Collection
from mongoemu.storage.engine import check_collection_name, check_db_name
from mongoemu.storage.query import matches
from mongoemu.writes import ID_INDEX_SPEC, WriteBatch

_CREATE_OPTIONS = frozenset(
    {"capped", "size", "max", "validator", "validationLevel", "validationAction", "collation",
     "storageEngine", "indexOptionDefaults", "viewOn", "pipeline", "timeseries", "expireAfterSeconds",
     "clusteredIndex", "changeStreamPreAndPostImages", "autoIndexId", "flags", "encryptedFields"}
)  # fmt: skip
# Options mongod acts on that the emulator does not implement: refused rather than ignored.
_CREATE_REFUSED = frozenset(
    {"storageEngine", "indexOptionDefaults", "expireAfterSeconds", "clusteredIndex",
     "autoIndexId", "flags", "encryptedFields"}
)  # fmt: skip


@command("create", write=True)
async def create(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    options = {k: v for k, v in ctx.body.items() if k != "create" and k not in GENERIC_ARGUMENTS}
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
    for option in _CREATE_REFUSED & options.keys():
        raise not_supported(f"create option '{option}'")
    validation.check_options(options)
    _check_pre_images_option("create", options)
    if "collation" in options:
        default = collation.parse(options.pop("collation"))
        if default is not None:
            options["collation"] = default.document()
    _check_capped(options)
    if ctx.member.engine.collection(db, name) is not None:
        raise CommandError(48, f"Collection {ns} already exists.")
    batch = WriteBatch(ctx)
    try:
        batch.write("c", f"{db}.$cmd", {"create": name, **options, "idIndex": ID_INDEX_SPEC})
    finally:
        batch.flush()
    return await batch.finish({"ok": 1.0})


def _check_capped(options: Mapping[str, Any]) -> None:
    if not options.get("capped"):
        if "size" in options or "max" in options:
            raise CommandError(72, "the 'size' and 'max' fields only apply to capped collections")
        return
    size, most = options.get("size"), options.get("max", 0)
    if isinstance(size, bool) or not isinstance(size, int | float) or size <= 0:
        raise CommandError(72, "the 'size' field is required when 'capped' is true")
    if isinstance(most, bool) or not isinstance(most, int | float):
        raise CommandError(14, "the 'max' field must be a number")


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


_COLLMOD_OPTIONS = frozenset(
    {"validator", "validationLevel", "validationAction", "index", "changeStreamPreAndPostImages"}
)
_COLLMOD_REFUSED = frozenset(
    {"viewOn", "pipeline", "expireAfterSeconds", "timeseries", "cappedSize",
     "cappedMax", "recordPreImages", "dryRun", "prepareUnique", "forceNonUnique"}
)  # fmt: skip


def _check_pre_images_option(command: str, options: Mapping[str, Any]) -> None:
    """`changeStreamPreAndPostImages: {enabled: <bool>}` (change streams keep pre-images)."""
    if "changeStreamPreAndPostImages" not in options:
        return
    value = options["changeStreamPreAndPostImages"]
    field = f"{command}.changeStreamPreAndPostImages"
    if not isinstance(value, Mapping):
        raise CommandError(14, f"BSON field '{field}' is the wrong type, expected type 'object'")
    if "enabled" not in value:
        raise CommandError(
            40414, f"BSON field '{field}.enabled' is missing but a required field", code_name="Location40414"
        )
    if not isinstance(value["enabled"], bool):
        raise CommandError(14, f"BSON field '{field}.enabled' is the wrong type, expected type 'bool'")
    for key in value:
        if key != "enabled":
            raise CommandError(
                40415, f"BSON field '{field}.{key}' is an unknown field.", code_name="Location40415"
            )


def _index_mod(coll: Collection, spec: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """collMod's `index` argument: (index name, new options, the reply's *_old/*_new fields)."""
    if not isinstance(spec, Mapping):
        raise CommandError(14, "BSON field 'collMod.index' is the wrong type, expected type 'object'")
    if ("name" in spec) == ("keyPattern" in spec):
        raise CommandError(2, "must specify either index name or key pattern")
    changes = {k: v for k, v in spec.items() if k not in ("name", "keyPattern")}
    for key in changes:
        if key not in ("hidden", "expireAfterSeconds"):
            raise not_supported(f"collMod index option '{key}'")
    if not changes:
        raise CommandError(2, "no expireAfterSeconds or hidden field")
    pattern = dict(spec["keyPattern"]) if isinstance(spec.get("keyPattern"), Mapping) else None
    found = [s for s in coll.specs() if s.name == spec.get("name") or s.key_pattern() == pattern]
    if not found:
        raise CommandError(
            27, f"cannot find index {spec.get('name', spec.get('keyPattern'))} for ns {coll.ns}"
        )
    if len(found) > 1:
        raise CommandError(2, f"index keyPattern {spec['keyPattern']} matches more than one index")
    index = found[0]
    if index.name == "_id_":
        raise CommandError(2, "cannot modify the _id index")
    current = dict(index.options)
    reply: dict[str, Any] = {}
    if "hidden" in changes:
        if not isinstance(changes["hidden"], bool):
            raise CommandError(
                14, "BSON field 'collMod.index.hidden' is the wrong type, expected type 'bool'"
            )
        reply.update(hidden_old=bool(current.get("hidden", False)), hidden_new=changes["hidden"])
    if "expireAfterSeconds" in changes:
        ttl = changes["expireAfterSeconds"]
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 <= ttl <= 2**31 - 1:
            raise CommandError(2, "TTL index 'expireAfterSeconds' option must be within an acceptable range")
        if len(index.key) != 1:
            raise CommandError(2, "TTL indexes are single-field indexes, compound indexes do not support TTL")
        if "expireAfterSeconds" in current:
            reply["expireAfterSeconds_old"] = current["expireAfterSeconds"]
        reply["expireAfterSeconds_new"] = ttl
    return index.name, changes, reply


@command("collMod", write=True)
async def coll_mod(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    options = {k: v for k, v in ctx.body.items() if k != "collMod" and k not in GENERIC_ARGUMENTS}
    for option in options:
        if option in _COLLMOD_REFUSED:
            raise not_supported(f"collMod option '{option}'")
        if option not in _COLLMOD_OPTIONS:
            raise CommandError(
                40415, f"BSON field 'collMod.{option}' is an unknown field.", code_name="Location40415"
            )
    coll = ctx.member.engine.collection(db, name)
    if coll is None:
        raise CommandError(26, f"ns does not exist: {ns}")
    validation.check_options(options)
    _check_pre_images_option("collMod", options)
    entry: dict[str, Any] = {"collMod": name, **{k: v for k, v in options.items() if k != "index"}}
    reply: dict[str, Any] = {}
    if "index" in options:
        index_name, changes, reply = _index_mod(coll, options["index"])
        entry["index"] = {"name": index_name, **changes}
    batch = WriteBatch(ctx)
    try:
        batch.write("c", f"{db}.$cmd", entry)
    finally:
        batch.flush()
    return await batch.finish({**reply, "ok": 1.0})


@command("renameCollection", admin_only=True, write=True)
async def rename_collection(ctx: CommandContext) -> dict[str, Any]:
    source, target = ctx.argument, ctx.body.get("to")
    if not isinstance(source, str) or not isinstance(target, str):
        raise CommandError(2, "renameCollection takes the source and target namespaces as strings")
    src_db, _, src_name = source.partition(".")
    dst_db, _, dst_name = target.partition(".")
    check_db_name(src_db)
    check_db_name(dst_db)
    check_collection_name(dst_db, dst_name)
    if source == target:
        raise CommandError(20, "Can't rename a collection to itself")
    engine = ctx.member.engine
    if engine.collection(src_db, src_name) is None:
        raise CommandError(26, f"Source collection {source} does not exist")
    drop_target = bool(ctx.body.get("dropTarget", False))
    if engine.collection(dst_db, dst_name) is not None and not drop_target:
        raise CommandError(48, "target namespace exists")
    batch = WriteBatch(ctx)
    try:
        batch.write("c", "admin.$cmd", {"renameCollection": source, "to": target, "dropTarget": drop_target})
    finally:
        batch.flush()
    return await batch.finish({"ok": 1.0})


@command("dropDatabase", write=True)
async def drop_database(ctx: CommandContext) -> dict[str, Any]:
    check_db_name(ctx.db)
    batch = WriteBatch(ctx)
    colls = ctx.member.engine.collections(ctx.db)
    if colls:
        try:
            # As mongod: each collection's drop is logged first, then the database's.
            for coll in colls:
                batch.write("c", f"{ctx.db}.$cmd", {"drop": coll.name})
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
