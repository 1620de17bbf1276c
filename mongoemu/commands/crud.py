"""Write commands: insert, update, delete and findAndModify, all through `writes.WriteBatch`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from bson import ObjectId
from bson.raw_bson import RawBSONDocument

from mongoemu.commands.arguments import (
    array,
    collation_for,
    document,
    known_fields,
    known_statement_fields,
    namespace,
    variables,
)
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import INTERRUPTION_CODES, CommandError, WriteError, not_supported
from mongoemu.labels import is_transient
from mongoemu.operation import checkpoint
from mongoemu.sessions import StatementResult
from mongoemu.storage import query, update
from mongoemu.storage.collection import Collection, id_key
from mongoemu.storage.expressions import scope
from mongoemu.storage.projection import Projection
from mongoemu.storage.query import Match, Query
from mongoemu.writes import (
    WriteBatch,
    encode_document,
    insert_too_large,
    update_too_large,
    upsert_too_large,
)

# The fields of mongod 6.0's write commands (their IDL); anything else is refused with 40415.
_WRITE_BASE = frozenset(
    {"ordered", "bypassDocumentValidation", "stmtIds", "isTimeseriesNamespace", "collectionUUID",
     "encryptionInformation"}
)  # fmt: skip
_COMMAND_FIELDS = {
    "documents": _WRITE_BASE | {"documents"},
    "updates": _WRITE_BASE | {"updates", "let"},
    "deletes": _WRITE_BASE | {"deletes", "let"},
}
_STATEMENT_FIELDS = {
    "updates": frozenset(
        {"q", "u", "c", "arrayFilters", "hint", "multi", "upsert", "upsertSupplied", "collation", "sampleId"}
    ),
    "deletes": frozenset({"q", "limit", "hint", "collation", "sampleId"}),
}
_FIND_AND_MODIFY_FIELDS = frozenset(
    {"query", "fields", "sort", "remove", "update", "new", "upsert", "bypassDocumentValidation",
     "arrayFilters", "hint", "collation", "let", "sampleId", "encryptionInformation"}
)  # fmt: skip


def _check_id(doc: Mapping[str, Any]) -> None:
    _id = doc.get("_id")
    if isinstance(_id, list):
        raise WriteError(2, "can't use an array for _id")
    if type(_id).__name__ in ("Regex", "Pattern"):
        raise WriteError(2, "can't use a regex for _id")
    if isinstance(_id, Mapping):
        _check_id_fields(_id)


def _check_id_fields(value: Mapping[str, Any]) -> None:
    """mongod 5.0+ stores `$`-prefixed field names, except anywhere inside `_id`."""
    for key, inner in value.items():
        if key.startswith("$"):
            raise WriteError(
                52, f"_id fields may not contain '$'-prefixed fields: {key} is not valid for storage."
            )
        if isinstance(inner, Mapping):
            _check_id_fields(inner)


def _stored(doc: dict[str, Any], too_large: Callable[[int], CommandError]) -> RawBSONDocument:
    try:
        return encode_document(doc, too_large)
    except CommandError as exc:
        raise WriteError.of(exc) from None


@dataclass(slots=True)
class _Tally:
    """What a write command reports: counts, upserted ids and per-statement errors."""

    n: int = 0
    modified: int = 0
    upserted: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, with_modified: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {"n": self.n, "ok": 1.0}
        if with_modified:
            doc["nModified"] = self.modified
        if self.upserted:
            doc["upserted"] = self.upserted
        if self.errors:
            doc["writeErrors"] = self.errors
        return doc


@dataclass(slots=True)
class _Step:
    """Where one statement of a write command runs."""

    batch: WriteBatch
    db: str
    name: str
    index: int
    stmt_id: int
    tally: _Tally

    # The documents a multi-update already changed: a statement run again (after waiting for a
    # transaction's lock met between two of its turns) does not change them twice.
    changed: set[bytes] = field(default_factory=set)

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"

    def collection(self) -> Collection | None:
        return self.batch.member.engine.collection(self.db, self.name)


# Executes one statement (the element of documents/updates/deletes) at a step.
_Statement = Callable[[_Step, Any], None]
# A statement a retryable write already executed: (index, stored result, tally).
_Retried = Callable[[int, StatementResult, _Tally], None]


async def _write_command(
    ctx: CommandContext, field_name: str, counter: str, execute: _Statement, retried: _Retried
) -> dict[str, Any]:
    """Run each statement (ordered: stop at the first error), journal what applied, then wait
    for the write concern. Each statement is a checkpoint: a big batch takes turns with the
    member's other work, and an interruption (maxTimeMS, a stepdown) fails the rest of the
    command, as mongod fails the whole batch, keeping what was written."""
    db, name, _ = namespace(ctx)
    known_fields(ctx, _COMMAND_FIELDS[field_name])
    statements = array(ctx, field_name)
    for stmt in statements if field_name in _STATEMENT_FIELDS else ():
        checkpoint()
        if isinstance(stmt, Mapping):
            known_statement_fields(ctx.name, field_name, stmt, _STATEMENT_FIELDS[field_name])
            for internal in ("c", "upsertSupplied"):
                if internal in stmt:
                    raise not_supported(f"the {ctx.name} statement field '{internal}'")
    ordered = bool(ctx.body.get("ordered", True))
    batch = WriteBatch(ctx)
    tally = _Tally()
    try:
        with scope(variables(ctx)):
            for i, stmt in enumerate(statements):
                checkpoint()
                sid = batch.stmt_id(i)
                prior = batch.prior(sid)
                if prior is not None:
                    retried(i, prior, tally)
                    continue
                try:
                    await batch.run(partial(execute, _Step(batch, db, name, i, sid, tally), stmt))
                except CommandError as exc:
                    if exc.code in INTERRUPTION_CODES:
                        raise
                    if batch.txn is not None and is_transient(exc.code, False, False):
                        raise  # mongod fails the command: the client retries the whole transaction
                    # A statement's own failure (its filter, hint or update): a write error.
                    tally.errors.append(WriteError.of(exc).to_write_error(i))
                    if ordered:
                        break
    finally:
        batch.flush()
        ctx.member.opcounters[counter] += len(statements)
    return await batch.finish(tally.reply(with_modified=field_name == "updates"))


def _insert_one(step: _Step, given: Any) -> None:
    if not isinstance(given, dict):
        raise WriteError(2, "each document to insert must be an object")
    doc = given if "_id" in given else {"_id": ObjectId(), **given}
    _check_id(doc)
    raw = _stored(doc, insert_too_large)
    step.batch.ensure_collection(step.db, step.name)
    step.batch.write("i", step.ns, raw, stmt_id=step.stmt_id, decoded=doc)
    step.tally.n += 1


def _count_retried(i: int, prior: StatementResult, tally: _Tally) -> None:
    tally.n += 1


@command("insert", write=True)
async def insert(ctx: CommandContext) -> dict[str, Any]:
    return await _write_command(ctx, "documents", "insert", _insert_one, _count_retried)


def _statement(stmt: Any, command: str, field_name: str) -> Mapping[str, Any]:
    if not isinstance(stmt, Mapping):
        raise WriteError(14, f"each element of '{command}.{field_name}' must be an object")
    if not isinstance(stmt.get("q"), Mapping):
        raise WriteError(
            40414,
            f"BSON field '{command}.{field_name}.q' is missing but a required field",
            code_name="Location40414",
        )
    return stmt


def statement_query(stmt: Mapping[str, Any], coll: Collection | None, limit: int) -> Query:
    """What an update or delete statement selects: its filter, hint and collation."""
    return Query(
        filter=dict(stmt["q"]),
        limit=limit,
        hint=query.parse_hint(stmt.get("hint")),
        collation=collation_for(stmt.get("collation"), coll),
    )


def _array_filters(stmt: Mapping[str, Any]) -> list[Any] | None:
    filters = stmt.get("arrayFilters")
    if filters is not None and not isinstance(filters, list):
        raise WriteError(14, "arrayFilters must be an array")
    return filters


def upsert_document(q: Mapping[str, Any], u: Any, array_filters: list[Any] | None) -> dict[str, Any]:
    """The document an upsert inserts: the query's equalities, then the update applied."""
    return update.finish_upsert(
        update.apply(update.upsert_seed(q), u, q, inserting=True, array_filters=array_filters)
    )


def _update_one(step: _Step, raw_stmt: Any) -> None:
    stmt = _statement(raw_stmt, "update", "updates")
    q, u = stmt["q"], stmt.get("u")
    multi = bool(stmt.get("multi", False))
    if multi and update.kind(u) == "replacement":
        raise WriteError(9, "multi update is not supported for replacement-style update")
    filters = _array_filters(stmt)
    update.validate(u)
    batch, tally = step.batch, step.tally
    selected, found, seen = _matching(step, stmt, limit=0 if multi else 1)
    for found_match in found:
        m = _current(step, found_match, selected, seen)
        if m is None or id_key(m.doc["_id"]) in step.changed:
            continue
        new = update.apply(m.doc, u, q, array_filters=filters)
        stored = _stored(new, update_too_large)
        tally.n += 1
        if stored.raw != m.raw:
            batch.update(step.ns, m.doc, new, stored, u, stmt_id=step.stmt_id)
            tally.modified += 1
        step.changed.add(id_key(m.doc["_id"]))
        seen = _changes(step)
        checkpoint()
    if not found and stmt.get("upsert"):
        new = upsert_document(q, u, filters)
        _check_id(new)
        stored = _stored(new, upsert_too_large)
        batch.ensure_collection(step.db, step.name)
        batch.write("i", step.ns, stored, stmt_id=step.stmt_id, decoded=new)
        tally.n += 1
        tally.upserted.append({"index": step.index, "_id": new["_id"]})


def _update_retried(i: int, prior: StatementResult, tally: _Tally) -> None:
    tally.n += 1
    if prior.op == "i":
        tally.upserted.append({"index": i, "_id": prior.doc_id})
    else:
        tally.modified += 1


@command("update", write=True)
async def update_command(ctx: CommandContext) -> dict[str, Any]:
    return await _write_command(ctx, "updates", "update", _update_one, _update_retried)


def _delete_one(step: _Step, raw_stmt: Any) -> None:
    stmt = _statement(raw_stmt, "delete", "deletes")
    limit = stmt.get("limit", 0)
    if limit not in (0, 1):
        raise WriteError(9, f"The limit field in delete objects must be 0 or 1. Got {limit}")
    selected, found, seen = _matching(step, stmt, limit=int(limit))
    for found_match in found:
        m = _current(step, found_match, selected, seen)
        if m is None:
            continue
        step.batch.write("d", step.ns, {"_id": m.doc["_id"]}, stmt_id=step.stmt_id)
        step.tally.n += 1
        seen = _changes(step)
        checkpoint()


def _changes(step: _Step) -> int:
    coll = step.collection()
    return coll.changes if coll is not None else -1


def _matching(step: _Step, stmt: Mapping[str, Any], limit: int) -> tuple[Query, list[Match], int]:
    """What a statement selects, found before anything changes (a write does not see its own),
    and the collection's change count before the scan began."""
    seen = _changes(step)
    selected = statement_query(stmt, step.collection(), limit)
    return selected, step.batch.find(step.db, step.name, selected), seen


def _current(step: _Step, m: Match | None, selected: Query, seen: int) -> Match | None:
    """The version of a matched document to change now: the one found unless another
    operation wrote to the collection since `seen` (while this one gave it a turn); then the
    document's current version if that still matches, as mongod checks a document again after
    yielding. A transaction reads its own snapshot: what it found stands."""
    coll = step.collection()
    if m is None or step.batch.txn is not None:
        return m
    if coll is None:
        return None
    if coll.changes == seen or coll.raw(m.rid) == m.raw:
        return m
    again = replace(
        selected, filter={"$and": [selected.filter], "_id": m.doc["_id"]}, sort=[], skip=0, limit=1
    )
    return next(query.run(coll, again), None)


@command("delete", write=True)
async def delete_command(ctx: CommandContext) -> dict[str, Any]:
    return await _write_command(ctx, "deletes", "delete", _delete_one, _count_retried)


def _find_and_modify_args(ctx: CommandContext) -> tuple[bool, Any, bool, bool]:
    body = ctx.body
    remove = bool(body.get("remove", False))
    u = body.get("update")
    new = bool(body.get("new", False))
    upsert = bool(body.get("upsert", False))
    if remove and u is not None:
        raise CommandError(9, "Cannot specify both an update and remove=true")
    if not remove and u is None:
        raise CommandError(9, "Either an update or remove=true must be specified")
    if remove and new:
        raise CommandError(
            9, "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document"
        )
    if remove and upsert:
        raise CommandError(9, "Cannot specify both upsert=true and remove=true")
    return remove, u, new, upsert


@command("findAndModify", "findandmodify", write=True)
async def find_and_modify(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    known_fields(ctx, _FIND_AND_MODIFY_FIELDS)
    remove, u, new, upsert = _find_and_modify_args(ctx)
    if u is not None:
        update.validate(u)
    q = document(ctx, "query", {}) or {}
    sort = query.parse_sort(document(ctx, "sort"))
    fields = Projection.parse(document(ctx, "fields"))
    filters = ctx.body.get("arrayFilters")
    batch = WriteBatch(ctx)
    sid = batch.stmt_id(0)
    prior = batch.prior(sid)
    if prior is not None:
        value, leo = prior.image, _last_error(prior.op, prior.doc_id)
        return await batch.finish(_fam_reply(value, leo, fields, q))
    coll = ctx.member.engine.collection(db, name)
    let = variables(ctx)
    collation = collation_for(ctx.body.get("collation"), coll)
    hint = query.parse_hint(ctx.body.get("hint"))
    selected = Query(filter=dict(q), sort=sort, limit=1, hint=hint, collation=collation)
    step = _Step(batch, db, name, 0, sid, _Tally())

    def modify() -> tuple[Any, str, Any]:
        """(returned document, op done, upserted _id) of the one statement."""
        seen = _changes(step)
        # A sort ranks every match first: the winner may have changed meanwhile.
        match = _current(step, next(iter(batch.find(db, name, selected)), None), selected, seen)
        if remove:
            if match is None:
                return None, "", None
            _remember_image(batch, ns, match.doc, sid)
            batch.write("d", ns, {"_id": match.doc["_id"]}, stmt_id=sid)
            return match.doc, "d", None
        if match is not None:
            updated = update.apply(match.doc, u, q, array_filters=filters)
            stored = encode_document(updated, update_too_large)
            value = updated if new else match.doc
            _remember_image(batch, ns, value, sid)
            if stored.raw != match.raw:
                batch.update(ns, match.doc, updated, stored, u, stmt_id=sid)
            return value, "u", None
        if not upsert:
            return None, "", None
        created = upsert_document(q, u, filters)
        _check_id(created)
        stored = encode_document(created, upsert_too_large)
        value = created if new else None
        _remember_image(batch, ns, value, sid)
        batch.ensure_collection(db, name)
        batch.write("i", ns, stored, stmt_id=sid, decoded=created)
        return value, "i", created["_id"]

    with scope(let, collation):
        try:
            value, op, upserted_id = await batch.run(modify)
        finally:
            batch.flush()
    leo = _last_error(op, upserted_id, remove)
    return await batch.finish(_fam_reply(value, leo, fields, q))


def _remember_image(batch: WriteBatch, ns: str, value: Any, sid: int) -> None:
    """A retryable findAndModify keeps the document it returns in a no-op entry."""
    if batch.retryable and value is not None:
        batch.write("n", ns, encode_document(value, update_too_large), stmt_id=sid)


def _last_error(op: str, upserted_id: Any, remove: bool = False) -> dict[str, Any]:
    """findAndModify's lastErrorObject for what happened (op "" when nothing matched)."""
    if not op:
        return {"n": 0} if remove else {"n": 0, "updatedExisting": False}
    if op == "d":
        return {"n": 1}
    if op == "i":
        return {"n": 1, "updatedExisting": False, "upserted": upserted_id}
    return {"n": 1, "updatedExisting": True}


def _fam_reply(
    value: Any, leo: dict[str, Any], fields: Projection | None, q: Mapping[str, Any]
) -> dict[str, Any]:
    if value is not None and fields is not None:
        value = fields.apply(dict(value), None, q)
    return {"lastErrorObject": leo, "value": value, "ok": 1.0}
