"""Argument checks shared by the data commands, with mongod's codes and messages, and the
cursor reply shape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bson import Int64

from mongoemu.commands.registry import CommandContext
from mongoemu.cursors import DEFAULT_FIRST_BATCH, QueryCursor
from mongoemu.errors import CommandError
from mongoemu.sessions import session_key
from mongoemu.storage.engine import check_collection_name, check_db_name
from mongoemu.storage.keystring import type_name


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


def array(ctx: CommandContext, field: str) -> list[Any]:
    if field not in ctx.body:
        raise missing(ctx.name, field)
    value = ctx.body[field]
    if not isinstance(value, list):
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


def session_of(ctx: CommandContext) -> bytes | None:
    return session_key(ctx.lsid) if isinstance(ctx.lsid, Mapping) else None


def cursor_reply(
    ctx: CommandContext,
    ns: str,
    source: Iterator[Mapping[str, Any]],
    batch_size: int | None,
    single_batch: bool = False,
) -> dict[str, Any]:
    """The first batch of a result; the rest stays in an open cursor unless this is all."""
    cursor = QueryCursor(ns, source, session_of(ctx))
    first = cursor.take(DEFAULT_FIRST_BATCH if batch_size is None else batch_size)
    cursor_id = Int64(0)
    if not single_batch and not cursor.exhausted:
        cursor_id = ctx.member.cursors.register(cursor)
    return {"cursor": {"firstBatch": first, "id": cursor_id, "ns": ns}, "ok": 1.0}
