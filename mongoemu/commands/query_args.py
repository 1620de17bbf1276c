"""The Query a find or count command describes; the commands and explain build it alike."""

from __future__ import annotations

from bson import Int64

from mongoemu.commands.arguments import collation_for, document, non_negative, wrong_type
from mongoemu.commands.registry import CommandContext
from mongoemu.storage import query
from mongoemu.storage.collection import Collection
from mongoemu.storage.projection import Projection
from mongoemu.storage.query import Query


def find_query(ctx: CommandContext, coll: Collection | None) -> Query:
    """The query a find command describes (explain plans the same one)."""
    limit = ctx.body.get("limit", 0) or 0
    if isinstance(limit, bool) or not isinstance(limit, int | float | Int64):
        raise wrong_type("find", "limit", limit, "long")
    return Query(
        filter=dict(document(ctx, "filter", {}) or {}),
        sort=query.parse_sort(document(ctx, "sort")),
        skip=non_negative(ctx, "skip"),
        limit=abs(int(limit)),
        projection=Projection.parse(document(ctx, "projection")),
        hint=query.parse_hint(ctx.body.get("hint")),
        min=document(ctx, "min") or None,
        max=document(ctx, "max") or None,
        collation=collation_for(ctx.body.get("collation"), coll),
        record_id=bool(ctx.body.get("showRecordId")),
    )


def count_query(ctx: CommandContext, coll: Collection | None) -> Query:
    limit = ctx.body.get("limit", 0) or 0
    return Query(
        filter=dict(document(ctx, "query", {}) or {}),
        skip=non_negative(ctx, "skip"),
        limit=abs(int(limit)),
        hint=query.parse_hint(ctx.body.get("hint")),
        collation=collation_for(ctx.body.get("collation"), coll),
    )
