"""Read commands: find, getMore, killCursors, count, distinct and aggregate.

`find` on `local.oplog.rs` opens replication's oplog cursor instead of a collection query.
Reads with `readConcern: {level: "majority"}` see the majority-committed versions of
documents that changed after the commit point (the coordinator's majority view).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from bson import Int64

from mongoemu import readconcern, rwdefaults, tailable
from mongoemu.changestreams.stream import ChangeStreamCursor
from mongoemu.commands import changestream
from mongoemu.commands.arguments import (
    array,
    collation_for,
    cursor_reply,
    document,
    known_fields,
    namespace,
    non_negative,
    session_of,
    variables,
    wrong_type,
)
from mongoemu.commands.explain import explain_inner
from mongoemu.commands.pipeline_output import OUTPUT_STAGES, forward_to_primary, write_output
from mongoemu.commands.query_args import count_query, find_query
from mongoemu.commands.registry import CommandContext, command
from mongoemu.cursors import OplogCursorAdapter
from mongoemu.errors import CommandError, not_supported
from mongoemu.oplog import OPLOG_NS
from mongoemu.repl.majority import key as majority_key
from mongoemu.repl.oplog_reader import OplogCursor
from mongoemu.storage import aggregate as pipeline
from mongoemu.storage import keystring, query
from mongoemu.storage.expressions import Scoped, scope
from mongoemu.storage.pointintime import PointInTime
from mongoemu.storage.query import Overlay, Query, View


async def _read_concern(ctx: CommandContext) -> None:
    if not ctx.read_concern or not ctx.read_concern.get("level"):
        default = rwdefaults.default_read_concern(ctx.member.engine)
        if default is not None:
            ctx.read_concern = {**(ctx.read_concern or {}), **default}
    if ctx.read_concern:
        await ctx.member.coordinator.wait_for_read_concern(ctx.read_concern, ctx.op.remaining())
        if ctx.read_concern.get("level") == "linearizable":
            await readconcern.linearizable(ctx)


def _committed(ctx: CommandContext, ns: str) -> View | None:
    """The versions a read sees instead of the stored ones: a transaction's snapshot and its
    own writes, the collection as of a snapshot read's cluster time, or the versions of
    documents changed since the commit point (readConcern majority)."""
    if ctx.transaction is not None:
        return ctx.member.transactions.overlay(ctx.transaction, ns)
    if ctx.read_at is not None:
        return PointInTime(ctx.member.coordinator.majority, ns, ctx.read_at, majority_key)
    rc = ctx.read_concern
    if not isinstance(rc, Mapping) or rc.get("level") not in ("majority", "snapshot"):
        return None
    versions = ctx.member.coordinator.majority.overlay(ns)
    return Overlay(versions, majority_key) if versions else None


def _one_point(ctx: CommandContext) -> AbstractContextManager[object]:
    """A transaction's read scans without taking turns: its versions were taken before the
    scan, so a write let in between two of its documents would show through (a snapshot read's
    `PointInTime` takes turns and keeps to its time)."""
    if ctx.transaction is not None:
        return ctx.op.atomic()
    return nullcontext()


# The fields of mongod 6.0's commands (their IDL); anything else is refused with 40415.
_FIND_FIELDS = frozenset(
    {"filter", "projection", "sort", "hint", "skip", "limit", "batchSize", "singleBatch", "max", "min",
     "returnKey", "showRecordId", "tailable", "oplogReplay", "noCursorTimeout", "awaitData",
     "allowPartialResults", "collation", "allowDiskUse", "let", "readOnce", "allowSpeculativeMajorityRead",
     "term", "$_requestResumeToken", "$_resumeAfter", "ntoreturn"}
)  # fmt: skip
_COUNT_FIELDS = frozenset({"query", "limit", "skip", "hint", "collation", "fields", "sampleId"})
_DISTINCT_FIELDS = frozenset({"key", "query", "collation", "sampleId"})
_AGGREGATE_FIELDS = frozenset(
    {"pipeline", "explain", "allowDiskUse", "cursor", "bypassDocumentValidation", "collation", "hint",
     "let", "exchange", "isMapReduceCommand", "fromMongos", "needsMerge", "collectionUUID",
     "$_requestReshardingResumeToken", "$_generateV2ResumeTokens"}
)  # fmt: skip
_GET_MORE_FIELDS = frozenset({"collection", "batchSize", "term", "lastKnownCommittedOpTime"})


@command("find", read=True)
async def find(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    known_fields(ctx, _FIND_FIELDS)
    ctx.member.opcounters["query"] += 1
    batch_size = non_negative(ctx, "batchSize", None) if "batchSize" in ctx.body else None  # type: ignore[arg-type]
    if ns == OPLOG_NS:
        inner = OplogCursor(ctx.member, ctx.body)
        cursor_id = Int64(0)
        if not inner.exhausted:
            adapter = OplogCursorAdapter(ns, inner, session_of(ctx))
            adapter.time_left = ctx.op.remaining()
            cursor_id = ctx.member.cursors.register(adapter)
        return {"cursor": {"firstBatch": inner.first_batch, "id": cursor_id, "ns": ns}, "ok": 1.0}
    await _read_concern(ctx)
    _refuse_unhonoured(ctx)
    coll = ctx.member.engine.collection(db, name)
    if tailable.check_options(ctx.body, coll, ns):
        return tailable.first_batch(ctx.member, ns, coll, ctx.body, session_of(ctx))
    q = find_query(ctx, coll)
    single = bool(ctx.body.get("singleBatch", False)) or (ctx.body.get("limit") or 0) < 0
    let = variables(ctx)
    with scope(let, q.collation), _one_point(ctx):
        matches = query.run(coll, q, _committed(ctx, ns))
        results: Iterator[Mapping[str, Any]] = Scoped((query.output(m, q) for m in matches), let, q.collation)
        if ctx.transaction is not None:
            results = iter(list(results))  # later getMores must not see the transaction's later writes
    if q.limit and batch_size is None:
        batch_size = min(q.limit, 101)
    elif q.limit and batch_size:
        batch_size = min(batch_size, q.limit)
    no_timeout = bool(ctx.body.get("noCursorTimeout"))
    return cursor_reply(ctx, ns, results, batch_size, single, no_timeout=no_timeout, look_ahead=bool(q.limit))


def _refuse_unhonoured(ctx: CommandContext) -> None:
    """find options mongod acts on that the emulator does not: refused, not ignored."""
    body = ctx.body
    if body.get("returnKey"):
        raise not_supported("find with returnKey")
    for internal in ("$_requestResumeToken", "$_resumeAfter", "readOnce", "allowSpeculativeMajorityRead"):
        if body.get(internal):
            raise not_supported(f"find with {internal}")


@command("getMore", "getmore")
async def get_more(ctx: CommandContext) -> dict[str, Any]:
    cursor_id = ctx.argument
    if isinstance(cursor_id, bool) or not isinstance(cursor_id, int | Int64):
        raise wrong_type("getMore", "getMore", cursor_id, "long")
    coll_name = ctx.body.get("collection")
    if not isinstance(coll_name, str):
        raise wrong_type("getMore", "collection", coll_name, "string")
    ns = f"{ctx.db}.{coll_name}"
    known_fields(ctx, _GET_MORE_FIELDS)
    ctx.member.opcounters["getmore"] += 1
    batch_size = non_negative(ctx, "batchSize", 0) or None
    cursors = ctx.member.cursors
    cursor = cursors.get(cursor_id, ns)
    if ctx.max_time_ms is not None and not cursor.await_data:
        raise CommandError(2, "cannot set maxTimeMS on getMore command for a non-awaitData cursor")
    # A getMore spends what the opening command left of its maxTimeMS; for an awaitData cursor
    # maxTimeMS is instead how long to wait for new data.
    op = ctx.op
    op.limit_to(cursor.time_left)
    try:
        async with op.time_limit():
            op.check()
            batch = await cursor.next_batch(batch_size, ctx.max_time_ms)
    except CommandError:
        cursors.close(cursor_id)
        raise
    cursor.time_left = op.remaining()
    if cursor.exhausted:
        cursors.close(cursor_id)
        cursor_id = 0
    reply: dict[str, Any] = {"nextBatch": batch}
    if isinstance(cursor, ChangeStreamCursor):
        reply["postBatchResumeToken"] = cursor.post_batch_resume_token
    reply.update({"id": Int64(cursor_id), "ns": ns})
    return {"cursor": reply, "ok": 1.0}


@command("killCursors", always_allowed=True)
async def kill_cursors(ctx: CommandContext) -> dict[str, Any]:
    if not (isinstance(ctx.argument, str) and ctx.argument.startswith("$cmd.")):
        namespace(ctx)  # `$cmd.aggregate` names the cursors of collection-less aggregates
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
    known_fields(ctx, _COUNT_FIELDS)
    await _read_concern(ctx)
    coll = ctx.member.engine.collection(db, name)
    q = count_query(ctx, coll)
    with scope(variables(ctx), q.collation):
        n = query.count(coll, q, _committed(ctx, ns))
    return {"n": n, "ok": 1.0}


@command("distinct", read=True)
async def distinct(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    known_fields(ctx, _DISTINCT_FIELDS)
    await _read_concern(ctx)
    key = ctx.body.get("key")
    if not isinstance(key, str):
        raise wrong_type("distinct", "key", key, "string")
    if not key:
        raise CommandError(2, "FieldPath cannot be constructed with empty string")
    filter_ = document(ctx, "query", {}) or {}
    coll = ctx.member.engine.collection(db, name)
    seen: dict[bytes, Any] = {}
    q = Query(filter=dict(filter_), collation=collation_for(ctx.body.get("collation"), coll))
    # Values equal under the collation are one value; the first one met stands for them.
    same = q.collation.value if q.collation is not None else (lambda v: v)
    with scope(variables(ctx), q.collation), _one_point(ctx):
        for m in query.run(coll, q, _committed(ctx, ns)):
            for value in keystring.path_values(m.doc, key):
                for v in value if isinstance(value, list) else [value]:
                    seen.setdefault(keystring.encode(same(v)), v)
    return {"values": [seen[k] for k in sorted(seen)], "ok": 1.0}


@command("aggregate", read=True)
async def aggregate(ctx: CommandContext) -> dict[str, Any]:
    if not isinstance(ctx.argument, str):
        source = changestream.collectionless_source(ctx)
        if source is None:
            return changestream.collectionless_aggregate(ctx)
        return await _collectionless(ctx, *source)
    db, name, ns = namespace(ctx)
    if changestream.is_change_stream(ctx.body.get("pipeline")):
        return changestream.open_change_stream(ctx, name)
    known_fields(ctx, _AGGREGATE_FIELDS)
    await _read_concern(ctx)
    if ctx.body.get("exchange") or ctx.body.get("needsMerge") or ctx.body.get("fromMongos"):
        raise not_supported("aggregate's sharding options")
    if ctx.body.get("explain"):
        inner = {k: v for k, v in ctx.body.items() if k not in ("explain", "$db")}
        return explain_inner(ctx, inner, "queryPlanner")
    cursor_opts = ctx.body.get("cursor")
    if not isinstance(cursor_opts, Mapping):
        raise CommandError(
            9, "The 'cursor' option is required, except for aggregate with the explain argument"
        )
    batch_size = cursor_opts.get("batchSize")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 0):
        raise CommandError(2, "cursor.batchSize must be a non-negative number")
    engine = ctx.member.engine
    coll = engine.collection(db, name)
    collation = collation_for(ctx.body.get("collation"), coll)
    stages = pipeline.check_pipeline(ctx.body.get("pipeline"), allow_output=True)
    output = stages[-1] if stages and stages[-1][0] in OUTPUT_STAGES else None
    if output is not None and not ctx.member.coordinator.can_accept_writes_for(db):
        return await forward_to_primary(ctx)
    let = variables(ctx)
    with scope(let, collation):
        docs = pipeline.aggregate(
            engine,
            db,
            coll,
            ctx.body["pipeline"][:-1] if output else ctx.body["pipeline"],
            _committed(ctx, ns),
            hint=query.parse_hint(ctx.body.get("hint")),
        )
    with scope(let, collation):
        return await _results(ctx, ns, docs, output)


async def _collectionless(ctx: CommandContext, docs: list[dict[str, Any]], rest: Any) -> dict[str, Any]:
    """`aggregate: 1` whose first stage makes the documents ($documents, $listLocalSessions)."""
    stages = pipeline.check_pipeline(rest, allow_output=True)
    output = stages[-1] if stages and stages[-1][0] in OUTPUT_STAGES else None
    target_db = ctx.db
    if output is not None and not ctx.member.coordinator.can_accept_writes_for(target_db):
        return await forward_to_primary(ctx)
    let = variables(ctx)
    with scope(let):
        docs = pipeline.run_stages(ctx.member.engine, ctx.db, docs, stages[:-1] if output else stages)
        return await _results(ctx, f"{ctx.db}.$cmd.aggregate", docs, output)


async def _results(
    ctx: CommandContext, ns: str, docs: list[dict[str, Any]], output: tuple[str, Any] | None
) -> dict[str, Any]:
    """An aggregate's reply: its documents in a cursor, or written by its $out/$merge stage."""
    if output is not None:
        written = await write_output(ctx, output[0], output[1], docs)
        return {"cursor": {"firstBatch": [], "id": Int64(0), "ns": ns}, **written, "ok": 1.0}
    cursor_opts = ctx.body.get("cursor")
    batch_size = cursor_opts.get("batchSize") if isinstance(cursor_opts, Mapping) else None
    return cursor_reply(ctx, ns, iter(docs), batch_size)
