"""`$out` and `$merge`: an aggregation's results written to a collection, through the one write
path (oplog entries, journal, write concern) like any other write.

`$out` builds the result in a temporary collection (with the target's options and indexes) and
renames it over the target, as mongod does, so a failure (a duplicate `_id`) leaves the target
as it was. `$merge` matches each result on its `on` fields, which need a unique index unless they
are `_id`, and applies `whenMatched` / `whenNotMatched`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from mongoemu.commands.registry import CommandContext
from mongoemu.errors import CommandError, WriteError, duplicate_key, not_writable_primary
from mongoemu.repl.peer import PeerError
from mongoemu.storage import keystring, query, update
from mongoemu.storage.engine import check_collection_name, check_db_name
from mongoemu.storage.expressions import current, let_variables, scope
from mongoemu.storage.indexes import ID_INDEX
from mongoemu.writes import ID_INDEX_SPEC, WriteBatch, encode_document, update_too_large

OUTPUT_STAGES = ("$out", "$merge")
# What a forwarded aggregate leaves behind: the session and routing of the client's request.
_NOT_FORWARDED = frozenset({"$db", "lsid", "txnNumber", "$clusterTime", "$readPreference", "$replData"})
_FORWARD_TIMEOUT_S = 60.0
_WHEN_MATCHED = ("replace", "keepExisting", "merge", "fail")
_WHEN_NOT_MATCHED = ("insert", "discard", "fail")


async def forward_to_primary(ctx: CommandContext) -> dict[str, Any]:
    """An aggregate ending in $out/$merge sent to a secondary (as drivers do for a secondary
    read preference since 5.0): the primary runs it, and its answer is the reply."""
    primary = ctx.member.coordinator.primary_host()
    if primary is None:
        raise not_writable_primary()
    command = {k: v for k, v in ctx.body.items() if k not in _NOT_FORWARDED}
    timeout = ctx.max_time_ms / 1000 if ctx.max_time_ms else _FORWARD_TIMEOUT_S
    try:
        reply = await ctx.member.coordinator.peers.get(primary).command(ctx.db, command, timeout)
    except PeerError as exc:
        raise CommandError(6, f"could not reach the primary to run {ctx.name}: {exc}") from None
    if not reply.get("ok"):
        raise CommandError(
            int(reply.get("code", 1)), str(reply.get("errmsg", "")), extra=_error_fields(reply)
        )
    return {k: v for k, v in reply.items() if not k.startswith("$") and k != "operationTime"}


def _error_fields(reply: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k in ("keyPattern", "keyValue", "errInfo", "writeConcernError")}


def _target(ctx: CommandContext, stage: str, spec: Any) -> tuple[str, str]:
    if isinstance(spec, str):
        db, coll = ctx.db, spec
    elif isinstance(spec, Mapping) and set(spec) <= {"db", "coll"} and isinstance(spec.get("coll"), str):
        db, coll = spec.get("db", ctx.db), spec["coll"]
    else:
        raise CommandError(
            13111 if stage == "$out" else 51178, f"{stage} needs a collection name or {{db, coll}}"
        )
    if not isinstance(db, str):
        raise CommandError(13111, f"{stage}'s db must be a string")
    check_db_name(db)
    check_collection_name(db, coll)
    if coll.startswith("system.") or db in ("admin", "local", "config"):
        raise CommandError(31321, f"Can't {stage} to special collection or database: {db}.{coll}")
    return db, coll


def _with_id(doc: dict[str, Any]) -> dict[str, Any]:
    return doc if "_id" in doc else {"_id": ObjectId(), **doc}


async def write_output(
    ctx: CommandContext, stage: str, spec: Any, docs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Write `docs` as the final stage says; the reply's write-concern fields, if any."""
    if stage == "$out":
        db, name = _target(ctx, stage, spec)
    else:
        if isinstance(spec, str):
            spec = {"into": spec}
        if not isinstance(spec, Mapping) or "into" not in spec:
            raise CommandError(40414, "BSON field '$merge.into' is missing but a required field")
        db, name = _target(ctx, stage, spec["into"])
    if not ctx.member.coordinator.can_accept_writes_for(db):
        raise not_writable_primary()
    if isinstance(ctx.read_concern, Mapping) and ctx.read_concern.get("level") == "linearizable":
        raise CommandError(72, f"{stage} cannot be used with a 'linearizable' read concern level")
    batch = WriteBatch(ctx)
    try:
        if stage == "$out":
            _out(ctx, batch, db, name, docs)
        else:
            _merge(ctx, batch, (db, name), spec, docs)
    finally:
        batch.flush()
    reply = await batch.finish({})
    return {k: v for k, v in reply.items() if k == "writeConcernError"}


def _out(ctx: CommandContext, batch: WriteBatch, db: str, name: str, docs: list[dict[str, Any]]) -> None:
    engine = ctx.member.engine
    old = engine.collection(db, name)
    tmp = f"tmp.agg_out.{uuid.uuid4().hex[:12]}"
    options = dict(old.options) if old is not None else {}
    batch.write("c", f"{db}.$cmd", {"create": tmp, **options, "idIndex": ID_INDEX_SPEC})
    try:
        for spec in old.specs() if old is not None else []:
            if spec.name != ID_INDEX:
                batch.write("c", f"{db}.$cmd", {"createIndexes": tmp, **spec.to_document()})
        for doc in docs:
            stored = _with_id(doc)
            batch.write("i", f"{db}.{tmp}", encode_document(stored), decoded=stored)
    except CommandError as exc:
        batch.write("c", f"{db}.$cmd", {"drop": tmp})
        raise CommandError(exc.code, str(exc), code_name=exc.code_name, extra=exc.extra) from None
    batch.write(
        "c", "admin.$cmd", {"renameCollection": f"{db}.{tmp}", "to": f"{db}.{name}", "dropTarget": True}
    )


def _on_fields(ctx: CommandContext, db: str, name: str, on: Any) -> list[str]:
    fields = [on] if isinstance(on, str) else on
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise CommandError(51186, "$merge 'on' must be a string or an array of strings")
    if fields == ["_id"]:
        return fields
    coll = ctx.member.engine.collection(db, name)
    unique = [s for s in (coll.specs() if coll is not None else []) if s.unique and s.partial is None]
    if not any(set(s.fields) == set(fields) and s.collation is None for s in unique):
        raise CommandError(51183, "Cannot find index to verify that join fields will be unique")
    return fields


def _merge(
    ctx: CommandContext,
    batch: WriteBatch,
    target: tuple[str, str],
    spec: Mapping[str, Any],
    docs: list[dict[str, Any]],
) -> None:
    db, name = target
    unknown = set(spec) - {"into", "on", "let", "whenMatched", "whenNotMatched"}
    if unknown:
        raise CommandError(40415, f"BSON field '$merge.{sorted(unknown)[0]}' is an unknown field.")
    on = _on_fields(ctx, db, name, spec.get("on", "_id"))
    matched = spec.get("whenMatched", "merge")
    not_matched = spec.get("whenNotMatched", "insert")
    if not isinstance(matched, list) and matched not in _WHEN_MATCHED:
        raise CommandError(2, f"Enumeration value '{matched}' for field 'whenMatched' is not a valid value.")
    if not_matched not in _WHEN_NOT_MATCHED:
        raise CommandError(
            2, f"Enumeration value '{not_matched}' for field 'whenNotMatched' is not a valid value."
        )
    if "let" in spec and not isinstance(matched, list):
        raise CommandError(51199, "Cannot use 'let' variables with 'whenMatched: " + str(matched) + "' mode")
    ns = f"{db}.{name}"
    batch.ensure_collection(db, name)
    # As mongod, a result without _id gets one when matching on _id.
    for doc in [_with_id(d) for d in docs] if on == ["_id"] else docs:
        key = {}
        for f in on:
            values = keystring.path_values(doc, f)
            if len(values) != 1 or values[0] is None or isinstance(values[0], list):
                raise CommandError(
                    51132, "$merge write error: 'on' field cannot be missing, null, undefined or an array"
                )
            key[f] = values[0]
        coll = ctx.member.engine.collection(db, name)
        existing = next(query.run(coll, query.Query(filter=key, limit=1)), None)
        if existing is None:
            if not_matched == "fail":
                raise CommandError(
                    13113,
                    "$merge could not find a matching document in the target collection for at least one "
                    "document in the source collection",
                )
            if not_matched == "insert":
                stored = _with_id(doc)
                batch.write("i", ns, encode_document(stored), decoded=stored)
            continue
        old = existing.doc
        if matched == "fail":
            raise duplicate_key(ns, ID_INDEX, {"_id": 1}, {"_id": old["_id"]})
        if matched == "keepExisting":
            continue
        if matched == "replace":
            new = update.replace(old, doc)
        elif matched == "merge":
            new = {**old, **{k: v for k, v in doc.items() if k != "_id"}}
            _same_id(old, doc)
        else:
            with scope(let_variables(spec.get("let", {"new": "$$ROOT"}), current(), doc)):
                new = update.apply(old, matched, {})
        stored = encode_document(new, update_too_large)
        if stored.raw != existing.raw:
            batch.write("u", ns, stored, o2={"_id": new["_id"]}, decoded=new)


def _same_id(old: Mapping[str, Any], doc: Mapping[str, Any]) -> None:
    if "_id" in doc and keystring.encode(doc["_id"]) != keystring.encode(old["_id"]):
        raise WriteError(66, "Performing an update on the path '_id' would modify the immutable field '_id'")
