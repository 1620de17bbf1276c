"""Argument checks shared by the data commands, with mongod's codes and messages, and the
cursor reply shape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bson import Int64

from mongoemu.commands.registry import GENERIC_ARGUMENTS, CommandContext
from mongoemu.cursors import DEFAULT_FIRST_BATCH, QueryCursor
from mongoemu.errors import CommandError
from mongoemu.sessions import session_key
from mongoemu.storage import collation, expressions
from mongoemu.storage.collation import Collation
from mongoemu.storage.collection import Collection
from mongoemu.storage.engine import check_collection_name, check_db_name
from mongoemu.storage.keystring import type_name
from mongoemu.wire import DocumentSequence


def known_fields(ctx: CommandContext, fields: frozenset[str]) -> None:
    """mongod parses a command strictly: a field it does not know is an error, not ignored."""
    for name in ctx.body:
        if name != ctx.name and name not in fields and name not in GENERIC_ARGUMENTS:
            raise CommandError(40415, f"BSON field '{ctx.name}.{name}' is an unknown field.")


def known_statement_fields(command: str, field: str, stmt: Mapping[str, Any], fields: frozenset[str]) -> None:
    for name in stmt:
        if name not in fields:
            raise CommandError(40415, f"BSON field '{command}.{field}.{name}' is an unknown field.")


def namespace(ctx: CommandContext) -> tuple[str, str, str]:
    """(db, collection, "db.collection") named by the command's first field."""
    check_db_name(ctx.db)
    name = check_collection_name(ctx.db, ctx.argument)
    return ctx.db, name, f"{ctx.db}.{name}"


def wrong_type(command: str, field: str, value: Any, expected: str) -> CommandError:
    return CommandError(
        14,
        f"BSON field '{command}.{field}' is the wrong type '{type_name(value)}', expected type '{expected}'",
    )


def document(ctx: CommandContext, field: str, default: Any = None) -> Any:
    value = ctx.body.get(field, default)
    if value is not None and not isinstance(value, Mapping):
        raise wrong_type(ctx.name, field, value, "object")
    return value


def array(ctx: CommandContext, field: str) -> Sequence[Any]:
    """An array argument: a BSON array in the body or an OP_MSG document sequence."""
    if field not in ctx.body:
        raise missing(ctx.name, field)
    value = ctx.body[field]
    if not isinstance(value, list | DocumentSequence):
        raise wrong_type(ctx.name, field, value, "array")
    return value


def missing(command: str, field: str) -> CommandError:
    return CommandError(
        40414, f"BSON field '{command}.{field}' is missing but a required field", code_name="Location40414"
    )


def non_negative(ctx: CommandContext, field: str, default: int = 0) -> int:
    value = ctx.body.get(field, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | Int64):
        raise wrong_type(ctx.name, field, value, "long")
    if value < 0:
        raise CommandError(
            51024,
            f"BSON field '{field}' value must be >= 0, actual value '{int(value)}'",
            code_name="Location51024",
        )
    return int(value)


def variables(ctx: CommandContext) -> expressions.Variables:
    """The command's expression variables: `$$NOW`, `$$CLUSTER_TIME` and its `let`."""
    system = expressions.system_variables(ctx.member.coordinator.clock.last)
    return expressions.let_variables(ctx.body.get("let"), system)


def collation_for(given: Any, coll: Collection | None) -> Collation | None:
    """The collation of an operation: its own `collation`, else its collection's default."""
    return collation.effective(given, coll.collation if coll is not None else None)


def session_of(ctx: CommandContext) -> bytes | None:
    return session_key(ctx.lsid) if isinstance(ctx.lsid, Mapping) else None


def cursor_reply(
    ctx: CommandContext,
    ns: str,
    source: Iterator[Mapping[str, Any]],
    batch_size: int | None,
    single_batch: bool = False,
    *,
    no_timeout: bool = False,
    look_ahead: bool = True,
) -> dict[str, Any]:
    """The first batch of a result; the rest stays in an open cursor unless this is all."""
    cursor = QueryCursor(ns, source, session_of(ctx), no_timeout=no_timeout, look_ahead=look_ahead)
    first = cursor.take(DEFAULT_FIRST_BATCH if batch_size is None else batch_size)
    cursor_id = Int64(0)
    if not single_batch and not cursor.exhausted:
        cursor.time_left = ctx.op.remaining()
        cursor_id = ctx.member.cursors.register(cursor)
    return {"cursor": {"firstBatch": first, "id": cursor_id, "ns": ns}, "ok": 1.0}
