"""createIndexes, listIndexes and dropIndexes. Index builds and drops are oplog `c` entries."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mongoemu.commands.arguments import array, cursor_reply, namespace
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError
from mongoemu.storage.collection import Collection
from mongoemu.storage.indexes import ID_INDEX, IndexSpec
from mongoemu.writes import WriteBatch


def _exists(existing: IndexSpec, wanted: IndexSpec) -> bool:
    """True when `wanted` is already built as `existing`; mongod's error when the two clash."""
    same_name = existing.name == wanted.name
    same_key = existing.key == wanted.key and (existing.text is None) == (wanted.text is None)
    if same_name and existing.same_definition(wanted):
        return True
    if same_name and not same_key:
        raise CommandError(
            86,
            "An existing index has the same name as the requested index. "
            f"Requested index: {wanted.to_document()}, existing index: {existing.to_document()}",
        )
    if same_name:
        raise CommandError(
            85,
            "An existing index has the same name as the requested index but different options. "
            f"Requested index: {wanted.to_document()}, existing index: {existing.to_document()}",
        )
    if same_key and existing.text is None:
        raise CommandError(85, f"Index already exists with a different name: {existing.name}")
    return False


@command("createIndexes", write=True)
async def create_indexes(ctx: CommandContext) -> dict[str, Any]:
    db, name, _ = namespace(ctx)
    docs = array(ctx, "indexes")
    engine = ctx.member.engine
    coll = engine.collection(db, name)
    specs = [_inherit_collation(IndexSpec.parse(doc), doc, coll) for doc in docs]
    if not specs:
        raise CommandError(2, "Must specify at least one index to create")
    batch = WriteBatch(ctx)
    before = len(coll.index_names()) if coll is not None else 1
    created_coll = False
    todo: list[IndexSpec] = []
    try:
        for spec in specs:
            if spec.name == ID_INDEX or (spec.key == (("_id", 1),) and spec.text is None):
                continue
            existing = coll.specs() if coll is not None else []
            if not any(_exists(other, spec) for other in [*existing, *todo]):
                todo.append(spec)
        if todo:
            created_coll = batch.ensure_collection(db, name)
            if batch.txn is None:  # a transaction's index is built as its commit applies it
                _build(ctx, db, name, todo)
        for spec in todo:
            batch.write("c", f"{db}.$cmd", {"createIndexes": name, **spec.to_document()})
    finally:
        built = engine.collection(db, name)
        for spec in todo if built is not None else []:
            built.abandon_index(spec.name)
        batch.flush()
    coll = engine.collection(db, name)
    after = len(coll.index_names()) if coll is not None else 1
    reply: dict[str, Any] = {
        "numIndexesBefore": before,
        "numIndexesAfter": after,
        "createdCollectionAutomatically": created_coll,
        "ok": 1.0,
    }
    if not todo:
        reply["note"] = "all indexes already exist"
    return await batch.finish(reply)


def _inherit_collation(spec: IndexSpec, doc: Any, coll: Collection | None) -> IndexSpec:
    """An index without a `collation` of its own takes its collection's default, as on mongod."""
    if coll is None or coll.collation is None or "collation" in doc:
        return spec
    return dataclasses.replace(spec, collation=coll.collation)


def _build(ctx: CommandContext, db: str, name: str, specs: list[IndexSpec]) -> None:
    """Build the indexes before their oplog entries are written: the build yields while
    writes go on, and each entry then only makes its finished index live (the caller abandons
    what is left unused)."""
    engine = ctx.member.engine
    coll = engine.collection(db, name)
    assert coll is not None
    for spec in specs:
        coll.prepare_index(spec)
    if engine.collection(db, name) is not coll:
        raise CommandError(
            276,
            f"Index build on {db}.{name} aborted: the collection was dropped",
            code_name="IndexBuildAborted",
        )


def _collection(ctx: CommandContext) -> tuple[str, str, Collection]:
    db, name, ns = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    if coll is None:
        raise CommandError(26, f"ns does not exist: {ns}")
    return db, name, coll


@command("listIndexes", read=True)
async def list_indexes(ctx: CommandContext) -> dict[str, Any]:
    db, name, coll = _collection(ctx)
    docs = iter([s.to_document() for s in coll.specs()])
    cursor = ctx.body.get("cursor") or {}
    batch_size = cursor.get("batchSize") if isinstance(cursor, Mapping) else None
    return cursor_reply(ctx, f"{db}.$cmd.listIndexes.{name}", docs, batch_size)


@command("dropIndexes", "deleteIndexes", write=True)
async def drop_indexes(ctx: CommandContext) -> dict[str, Any]:
    db, name, coll = _collection(ctx)
    which = ctx.body.get("index")
    names = coll.index_names()
    if which == "*":
        targets = [n for n in names if n != ID_INDEX]
    elif isinstance(which, str):
        targets = [which]
    elif isinstance(which, list) and all(isinstance(n, str) for n in which):
        targets = list(which)
    elif isinstance(which, Mapping):
        key = tuple((f, d) for f, d in which.items())
        targets = [n for n in names if (s := coll.find_spec(n)) is not None and _key_doc(s) == key]
        if not targets:
            raise CommandError(27, f"can't find index with key: {dict(which)}")
    else:
        raise CommandError(14, "dropIndexes 'index' must be a string, an array of strings or a key pattern")
    for target in targets:
        if target == ID_INDEX:
            raise CommandError(72, "cannot drop _id index")
        if target not in names:
            raise CommandError(27, f"index not found with name [{target}]")
    batch = WriteBatch(ctx)
    try:
        for target in targets:
            spec = coll.find_spec(target)
            # mongod logs the dropped index's spec in o2 (change streams describe it from there).
            o2 = spec.to_document() if spec is not None else None
            batch.write("c", f"{db}.$cmd", {"dropIndexes": name, "index": target}, o2=o2)
    finally:
        batch.flush()
    return await batch.finish({"nIndexesWas": len(names), "ok": 1.0})


def _key_doc(spec: IndexSpec) -> tuple[tuple[str, Any], ...]:
    return tuple(spec.key_pattern().items())
