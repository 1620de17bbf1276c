"""Read commands: find, getMore, killCursors, count, distinct and aggregate.

`find` on `local.oplog.rs` opens replication's oplog cursor instead of a collection query.
Reads with `readConcern: {level: "majority"}` see the majority-committed versions of
documents that changed after the commit point (the coordinator's majority view).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bson import Int64

from mongoemu.commands.arguments import (
    array,
    cursor_reply,
    document,
    namespace,
    non_negative,
    session_of,
    wrong_type,
)
from mongoemu.commands.registry import CommandContext, command
from mongoemu.cursors import OplogCursorAdapter
from mongoemu.errors import CommandError
from mongoemu.oplog import OPLOG_NS
from mongoemu.repl.majority import key as majority_key
from mongoemu.repl.oplog_reader import OplogCursor
from mongoemu.storage import aggregate as pipeline
from mongoemu.storage import keystring, query
from mongoemu.storage.projection import Projection
from mongoemu.storage.query import Overlay, Query


async def _read_concern(ctx: CommandContext) -> None:
    if ctx.read_concern:
        timeout = ctx.max_time_ms / 1000 if ctx.max_time_ms else None
        await ctx.member.coordinator.wait_for_read_concern(ctx.read_concern, timeout)


def _committed(ctx: CommandContext, ns: str) -> Overlay | None:
    """The majority-committed versions of documents changed since the commit point, when the
    read asks for that view (readConcern majority or snapshot)."""
    rc = ctx.read_concern
    if not isinstance(rc, Mapping) or rc.get("level") not in ("majority", "snapshot"):
        return None
    versions = ctx.member.coordinator.majority.overlay(ns)
    return Overlay(versions, majority_key) if versions else None


@command("find", read=True)
async def find(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    ctx.member.opcounters["query"] += 1
    batch_size = non_negative(ctx, "batchSize", None) if "batchSize" in ctx.body else None  # type: ignore[arg-type]
    if ns == OPLOG_NS:
        inner = OplogCursor(ctx.member, ctx.body)
        cursor_id = Int64(0)
        if not inner.exhausted:
            cursor_id = ctx.member.cursors.register(OplogCursorAdapter(ns, inner, session_of(ctx)))
        return {"cursor": {"firstBatch": inner.first_batch, "id": cursor_id, "ns": ns}, "ok": 1.0}
    await _read_concern(ctx)
    filter_ = document(ctx, "filter", {}) or {}
    limit = ctx.body.get("limit", 0) or 0
    if isinstance(limit, bool) or not isinstance(limit, int | float | Int64):
        raise wrong_type("find", "limit", limit, "long")
    single = bool(ctx.body.get("singleBatch", False)) or limit < 0
    q = Query(
        filter=dict(filter_),
        sort=query.parse_sort(document(ctx, "sort")),
        skip=non_negative(ctx, "skip"),
        limit=abs(int(limit)),
        projection=Projection.parse(document(ctx, "projection")),
    )
    coll = ctx.member.engine.collection(db, name)
    results = (query.output(m, q) for m in query.run(coll, q, _committed(ctx, ns)))
    if q.limit and batch_size is None:
        batch_size = min(q.limit, 101)
    elif q.limit and batch_size:
        batch_size = min(batch_size, q.limit)
    return cursor_reply(ctx, ns, results, batch_size, single)


@command("getMore", "getmore")
async def get_more(ctx: CommandContext) -> dict[str, Any]:
    cursor_id = ctx.argument
    if isinstance(cursor_id, bool) or not isinstance(cursor_id, int | Int64):
        raise wrong_type("getMore", "getMore", cursor_id, "long")
    coll_name = ctx.body.get("collection")
    if not isinstance(coll_name, str):
        raise wrong_type("getMore", "collection", coll_name, "string")
    ns = f"{ctx.db}.{coll_name}"
    ctx.member.opcounters["getmore"] += 1
    batch_size = non_negative(ctx, "batchSize", 0) or None
    cursors = ctx.member.cursors
    cursor = cursors.get(cursor_id, ns)
    try:
        batch = await cursor.next_batch(batch_size, ctx.body.get("maxTimeMS"))
    except CommandError:
        cursors.close(cursor_id)
        raise
    if cursor.exhausted:
        cursors.close(cursor_id)
        cursor_id = 0
    return {"cursor": {"nextBatch": batch, "id": Int64(cursor_id), "ns": ns}, "ok": 1.0}


@command("killCursors", always_allowed=True)
async def kill_cursors(ctx: CommandContext) -> dict[str, Any]:
    namespace(ctx)
    killed, not_found = [], []
    for cursor_id in array(ctx, "cursors"):
        (killed if ctx.member.cursors.close(cursor_id) else not_found).append(Int64(cursor_id))
    return {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": [],
        "cursorsUnknown": [],
        "ok": 1.0,
    }


@command("count", read=True)
async def count(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    await _read_concern(ctx)
    filter_ = document(ctx, "query", {}) or {}
    limit = ctx.body.get("limit", 0) or 0
    coll = ctx.member.engine.collection(db, name)
    n = query.count(coll, filter_, non_negative(ctx, "skip"), abs(int(limit)), _committed(ctx, ns))
    return {"n": n, "ok": 1.0}


@command("distinct", read=True)
async def distinct(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    await _read_concern(ctx)
    key = ctx.body.get("key")
    if not isinstance(key, str):
        raise wrong_type("distinct", "key", key, "string")
    if not key:
        raise CommandError(2, "FieldPath cannot be constructed with empty string")
    filter_ = document(ctx, "query", {}) or {}
    coll = ctx.member.engine.collection(db, name)
    seen: dict[bytes, Any] = {}
    for m in query.run(coll, Query(filter=dict(filter_)), _committed(ctx, ns)):
        for value in keystring.path_values(m.doc, key):
            for v in value if isinstance(value, list) else [value]:
                seen.setdefault(keystring.encode(v), v)
    return {"values": [seen[k] for k in sorted(seen)], "ok": 1.0}


@command("aggregate", read=True)
async def aggregate(ctx: CommandContext) -> dict[str, Any]:
    if not isinstance(ctx.argument, str):
        raise CommandError(
            115,
            "collection-less aggregate (aggregate: 1) is not supported by the emulator",
            code_name="CommandNotSupported",
        )
    db, name, ns = namespace(ctx)
    await _read_concern(ctx)
    if ctx.body.get("explain"):
        raise CommandError(115, "explain is not supported by the emulator", code_name="CommandNotSupported")
    cursor_opts = ctx.body.get("cursor")
    if not isinstance(cursor_opts, Mapping):
        raise CommandError(
            9, "The 'cursor' option is required, except for aggregate with the explain argument"
        )
    batch_size = cursor_opts.get("batchSize")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 0):
        raise CommandError(2, "cursor.batchSize must be a non-negative number")
    engine = ctx.member.engine
    docs = pipeline.aggregate(
        engine, db, engine.collection(db, name), ctx.body.get("pipeline"), _committed(ctx, ns)
    )
    results: Iterator[dict[str, Any]] = iter(docs)
    return cursor_reply(ctx, ns, results, batch_size)
