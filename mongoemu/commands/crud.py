"""Write commands: insert, update, delete and findAndModify, all through `writes.WriteBatch`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from bson.raw_bson import RawBSONDocument

from mongoemu.commands.arguments import array, document, namespace
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError, WriteError
from mongoemu.sessions import StatementResult
from mongoemu.storage import query, update
from mongoemu.storage.projection import Projection
from mongoemu.storage.query import Query
from mongoemu.writes import WriteBatch, encode_document


def _check_id(doc: Mapping[str, Any]) -> None:
    _id = doc.get("_id")
    if isinstance(_id, list):
        raise WriteError(2, "can't use an array for _id")
    if type(_id).__name__ in ("Regex", "Pattern"):
        raise WriteError(2, "can't use a regex for _id")


def _stored(doc: dict[str, Any]) -> RawBSONDocument:
    try:
        return encode_document(doc)
    except CommandError as exc:
        raise WriteError(2, str(exc)) from None


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

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"


# Executes one statement (the element of documents/updates/deletes) at a step.
_Statement = Callable[[_Step, Any], None]
# A statement a retryable write already executed: (index, stored result, tally).
_Retried = Callable[[int, StatementResult, _Tally], None]


async def _write_command(
    ctx: CommandContext, field_name: str, counter: str, execute: _Statement, retried: _Retried
) -> dict[str, Any]:
    """Run each statement (ordered: stop at the first error), journal what applied, then wait
    for the write concern."""
    db, name, _ = namespace(ctx)
    statements = array(ctx, field_name)
    ordered = bool(ctx.body.get("ordered", True))
    batch = WriteBatch(ctx)
    tally = _Tally()
    try:
        for i, stmt in enumerate(statements):
            sid = batch.stmt_id(i)
            prior = batch.prior(sid)
            if prior is not None:
                retried(i, prior, tally)
                continue
            try:
                execute(_Step(batch, db, name, i, sid, tally), stmt)
            except WriteError as exc:
                tally.errors.append(exc.to_write_error(i))
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
    raw = _stored(doc)
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
    batch, tally = step.batch, step.tally
    found = list(
        query.run(
            batch.member.engine.collection(step.db, step.name), Query(filter=dict(q), limit=0 if multi else 1)
        )
    )
    for m in found:
        new = update.apply(m.doc, u, q, array_filters=filters)
        stored = _stored(new)
        tally.n += 1
        if stored.raw != m.raw:
            batch.write("u", step.ns, stored, o2={"_id": new["_id"]}, stmt_id=step.stmt_id, decoded=new)
            tally.modified += 1
    if not found and stmt.get("upsert"):
        new = upsert_document(q, u, filters)
        _check_id(new)
        stored = _stored(new)
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
    coll = step.batch.member.engine.collection(step.db, step.name)
    for m in list(query.run(coll, Query(filter=dict(stmt["q"]), limit=int(limit)))):
        step.batch.write("d", step.ns, {"_id": m.doc["_id"]}, stmt_id=step.stmt_id)
        step.tally.n += 1


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
    remove, u, new, upsert = _find_and_modify_args(ctx)
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
    match = next(query.run(coll, Query(filter=dict(q), sort=sort, limit=1)), None)
    value: Any = None
    op = ""
    upserted_id: Any = None
    try:
        if remove:
            if match is not None:
                value, op = match.doc, "d"
                _remember_image(batch, ns, value, sid)
                batch.write("d", ns, {"_id": value["_id"]}, stmt_id=sid)
        elif match is not None:
            updated = update.apply(match.doc, u, q, array_filters=filters)
            stored = encode_document(updated)
            value, op = (updated if new else match.doc), "u"
            _remember_image(batch, ns, value, sid)
            if stored.raw != match.raw:
                batch.write("u", ns, stored, o2={"_id": updated["_id"]}, stmt_id=sid, decoded=updated)
        elif upsert:
            created = upsert_document(q, u, filters)
            stored = encode_document(created)
            value, op = (created if new else None), "i"
            _remember_image(batch, ns, value, sid)
            batch.ensure_collection(db, name)
            batch.write("i", ns, stored, stmt_id=sid, decoded=created)
            upserted_id = created["_id"]
    finally:
        batch.flush()
    leo = _last_error(op, upserted_id, remove)
    return await batch.finish(_fam_reply(value, leo, fields, q))


def _remember_image(batch: WriteBatch, ns: str, value: Any, sid: int) -> None:
    """A retryable findAndModify keeps the document it returns in a no-op entry."""
    if batch.retryable and value is not None:
        batch.write("n", ns, encode_document(value), stmt_id=sid)


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
