"""`applyOps`: oplog-format operations applied as mongod 6.0's command applies them, which is
how `mongorestore --oplogReplay` (one entry per command) and point-in-time restores replay an
oplog into a cluster.

    {applyOps: [{op: "i"|"u"|"d"|"n"|"c", ns, o, o2?, ui?, b?}, ...],
     alwaysUpsert: true, allowAtomic: true, oplogApplicationMode: "ApplyOps"|"InitialSync",
     bypassDocumentValidation}
    -> {applied: N, results: [true, ...], ok: 1}

As mongod's oplog application in applyOps mode: an insert of an existing `_id` replaces it (the
idempotency upsert); an update of a missing document upserts it when `alwaysUpsert` (the
default) or the operation's `b` says so, else fails with UpdateOperationFailed (218); a delete
of a missing document succeeds; an insert or update needs its collection (NamespaceNotFound);
`ui` must name the collection `ns` names (3318200); `n` operations are skipped. When every
operation is CRUD and `allowAtomic` is not false the batch applies all-or-nothing at one optime
and is logged as one applyOps entry; otherwise each operation is applied and logged on its own,
an update that finds nothing is reported false in `results` and the command fails at the end
with UnknownError (8), and any other failure stops it there.

The logged operations are what took effect: an upsert that created a document is logged as its
insert, and a legacy modifier update as the whole new document (mongod logs the operation as
given, with `b: true`), so that secondaries and replay reach the same data. `preCondition` is
refused (115).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mongoemu.commands.arguments import known_fields
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError, not_supported
from mongoemu.oplog import OplogEntry
from mongoemu.storage import diff, update
from mongoemu.storage.collection import Collection
from mongoemu.writes import WriteBatch, encode_document

_FIELDS = frozenset(
    {"applyOps", "alwaysUpsert", "allowAtomic", "oplogApplicationMode", "bypassDocumentValidation"}
)
MODES = ("ApplyOps", "InitialSync")
CRUD = frozenset("iudn")
# The command entries the emulator's storage applies (engine._apply_command).
COMMANDS = frozenset(
    {"create", "drop", "createIndexes", "dropIndexes", "dropDatabase", "collMod", "renameCollection"}
)
UPDATE_OPERATION_FAILED = 218


@dataclass(frozen=True, slots=True)
class _Effect:
    """What one operation does to the data now: the entry to apply and log, or None (nothing)."""

    op: str
    ns: str
    o: Mapping[str, Any]
    o2: dict[str, Any] | None = None


def _flag(ctx: CommandContext, name: str, default: bool) -> bool:
    value = ctx.body.get(name, default)
    if not isinstance(value, bool | int | float):
        raise CommandError(14, f"BSON field 'applyOps.{name}' is the wrong type '{type(value).__name__}'")
    return bool(value)


def _operations(ctx: CommandContext) -> list[dict[str, Any]]:
    ops = ctx.body.get("applyOps")
    if not isinstance(ops, list):
        raise CommandError(14, "applyOps must be an array of oplog operations")
    for i, op in enumerate(ops):
        if not isinstance(op, Mapping):
            raise CommandError(14, f"applyOps.{i} must be a document")
        kind = op.get("op")
        if not isinstance(kind, str) or kind not in CRUD | {"c"}:
            raise CommandError(2, f"applyOps.{i}: unknown oplog operation type {kind!r}")
        if not isinstance(op.get("ns"), str):
            raise CommandError(14, f"applyOps.{i}: ns must be a string")
        if kind != "n" and not isinstance(op.get("o"), Mapping):
            raise CommandError(14, f"applyOps.{i}: o must be a document")
        if kind == "c":
            name = next(iter(op["o"]), None)
            if name not in COMMANDS:
                known = ", ".join(sorted(COMMANDS))
                raise not_supported(f"applyOps of the command {name!r} (the emulator applies {known})")
    return [dict(op) for op in ops]


def _collection(ctx: CommandContext, op: Mapping[str, Any]) -> Collection | None:
    coll = ctx.member.engine.collection_ns(op["ns"])
    ui = op.get("ui")
    if ui is not None and (coll is None or coll.uuid != ui):
        raise CommandError(3318200, f"Namespace '{op['ns']}' and UUID '{ui}' point to different collections")
    return coll


def _effect(ctx: CommandContext, op: Mapping[str, Any], upsert: bool) -> _Effect | None:
    """The entry an operation turns into against the current data (mongod's applyOperation_inlock
    in applyOps mode); CommandError when it cannot apply."""
    kind, ns, o = op["op"], op["ns"], op.get("o") or {}
    if kind == "c":
        return _Effect("c", ns, o)
    coll = _collection(ctx, op)
    if kind == "d":
        if "_id" not in o:
            raise CommandError(4, f"Failed to apply delete due to missing _id: {dict(op)}")
        found = coll is not None and coll.get(o["_id"]) is not None
        return _Effect("d", ns, {"_id": o["_id"]}) if found else None
    if coll is None:
        raise CommandError(
            26, f"cannot apply insert or update operation on a non-existent namespace {ns}: {dict(op)}"
        )
    if kind == "i":
        if "_id" not in o:
            raise CommandError(4, f"Failed to apply insert due to missing _id: {dict(op)}")
        if coll.get(o["_id"]) is None:
            return _Effect("i", ns, o)
        return _Effect("u", ns, o, {"_id": o["_id"]})  # the idempotency upsert: a replacement
    o2 = op.get("o2")
    if not isinstance(o2, Mapping) or "_id" not in o2:
        raise CommandError(4, f"Failed to apply update due to missing _id: {dict(op)}")
    _id = o2["_id"]
    before = coll.get(_id)
    if before is None:
        if not (upsert or op.get("b")):
            raise CommandError(UPDATE_OPERATION_FAILED, f"failed to apply update: {dict(op)}")
        return _Effect("i", ns, _new_document({"_id": _id}, o, _id, inserting=True))
    if diff.is_update_diff(o) or update.kind(o) == "replacement":
        return _Effect("u", ns, o, {"_id": _id})
    return _Effect("u", ns, _new_document(before, o, _id, inserting=False), {"_id": _id})


def _logged(effect: _Effect) -> Mapping[str, Any]:
    """The `o` an effect is applied and logged with: a whole document as stored (`_id` first)."""
    if effect.op == "i" or (effect.op == "u" and not diff.is_update_diff(effect.o)):
        return encode_document(dict(effect.o))
    return effect.o


def _new_document(base: dict[str, Any], o: Mapping[str, Any], _id: Any, inserting: bool) -> dict[str, Any]:
    if diff.is_update_diff(o):
        return diff.apply(base, o["diff"])
    new = update.apply(base, o, {"_id": _id}, inserting=inserting)
    new.setdefault("_id", _id)
    return new


@command("applyOps", write=True)
async def apply_ops(ctx: CommandContext) -> dict[str, Any]:
    for internal, code in (("prepare", 2), ("partialTxn", 31056), ("count", 31240)):
        if internal in ctx.body:
            raise CommandError(code, f"applyOps command can't have '{internal}' field")
    if "preCondition" in ctx.body:
        raise not_supported("applyOps with preCondition")
    known_fields(ctx, _FIELDS)
    upsert = _flag(ctx, "alwaysUpsert", True)
    atomic = _flag(ctx, "allowAtomic", True)
    mode = ctx.body.get("oplogApplicationMode", "ApplyOps")
    if mode not in MODES:
        raise CommandError(
            2,
            "Could not parse oplogApplicationMode :: caused by :: "
            f"Invalid oplog application mode provided: {mode}",
        )
    ops = [op for op in _operations(ctx) if op["op"] != "n"]
    batch = WriteBatch(ctx)
    if atomic and all(op["op"] in CRUD for op in ops):
        return await _apply_atomically(ctx, batch, ops, upsert)
    return await _apply_one_by_one(batch, ctx, ops, upsert)


async def _apply_atomically(
    ctx: CommandContext, batch: WriteBatch, ops: list[dict[str, Any]], upsert: bool
) -> dict[str, Any]:
    """All or nothing, at one optime, logged as one applyOps entry."""
    member = ctx.member
    applied: list[tuple[OplogEntry, dict[str, Any] | None]] = []
    inner: list[dict[str, Any]] = []
    if ops:
        optime = member.coordinator.next_optime()
        try:
            for op in ops:
                effect = _effect(ctx, op, upsert)
                if effect is None:
                    continue
                o = _logged(effect)
                if effect.op in ("i", "u") and batch.validate:
                    batch.check_validator(effect.ns, o, effect.o2, None)
                entry = OplogEntry(effect.op, effect.ns, o, optime, effect.o2)  # type: ignore[arg-type]
                before = member.engine.apply(entry)
                applied.append((entry, before))
                coll = member.engine.collection_ns(effect.ns)
                inner.append(
                    {"op": effect.op, "ns": effect.ns, "ui": coll.uuid if coll else None, "o": o}
                    | ({"o2": effect.o2} if effect.o2 is not None else {})
                )
        except CommandError:
            _undo(ctx, applied)
            raise
        if inner:
            for op_entry, before in applied:
                member.record_pre_image(op_entry, before)
            logged = OplogEntry("c", f"{ctx.db}.$cmd", {"applyOps": inner}, optime)
            batch.pending.append(logged)
            batch.last_optime = optime
    return await batch.finish({"applied": len(ops), "results": [True] * len(ops), "ok": 1.0})


def _undo(ctx: CommandContext, applied: list[tuple[OplogEntry, dict[str, Any] | None]]) -> None:
    """Put back what an atomic batch changed before one of its operations failed."""
    for entry, before in reversed(applied):
        coll = ctx.member.engine.collection_ns(entry.ns)
        if coll is None:
            continue
        _id = (entry.o2 or entry.o)["_id"]
        if before is None:
            coll.delete(_id)
        elif entry.op == "d":
            coll.insert(encode_document(before).raw, before, False)
        else:
            coll.replace(encode_document(before).raw, before, False)


async def _apply_one_by_one(
    batch: WriteBatch, ctx: CommandContext, ops: list[dict[str, Any]], upsert: bool
) -> dict[str, Any]:
    """Each operation applied and logged on its own (mongod's non-atomic mode)."""
    results: list[bool] = []
    try:
        for op in ops:
            try:
                effect = _effect(ctx, op, upsert)
            except CommandError as exc:
                if exc.code != UPDATE_OPERATION_FAILED:
                    results.append(False)
                    exc.extra.update({"applied": len(results), "results": results})
                    raise
                results.append(False)
                continue
            if effect is not None:
                batch.write(effect.op, effect.ns, _logged(effect), o2=effect.o2)
            results.append(True)
    finally:
        batch.flush()
    reply = await batch.finish({"applied": len(results), "results": results, "ok": 1.0})
    if not all(results):
        raise CommandError(
            8,
            "applyOps had one or more errors applying ops",
            extra={"applied": len(results), "results": results},
        )
    return reply
