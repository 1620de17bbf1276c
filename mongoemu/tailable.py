"""Tailable cursors on capped collections (`find` with `tailable`, optionally `awaitData`).

The cursor remembers the record id of the last document it returned; a getMore returns the
matching documents inserted since, in insertion order, and with `awaitData` waits up to its
`maxTimeMS` (1 s by default) for one to arrive. It stays open when it runs dry, as on mongod,
and fails with 136 CappedPositionLost when the collection deleted the document it stood on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bson import Int64

from mongoemu.errors import CommandError
from mongoemu.operation import checkpoint
from mongoemu.storage.collection import Collection, decode, unpack
from mongoemu.storage.projection import Projection
from mongoemu.storage.query import matches

if TYPE_CHECKING:
    from mongoemu.member import Member

DEFAULT_AWAIT_MS = 1000


@dataclass(slots=True)
class TailableCursor:
    ns: str
    member: Member
    coll: Collection
    filter: Mapping[str, Any]
    projection: Projection | None
    await_data: bool
    session: bytes | None = None
    skip: int = 0
    # Documents still to return (the find's limit); 0 for no limit.
    remaining: int = 0
    last_rid: int = 0
    last_used: float = field(default_factory=time.monotonic)
    time_left: float | None = None
    _dropped: bool = False

    @property
    def exhausted(self) -> bool:
        return self._dropped

    def take(self, batch_size: int | None) -> list[dict[str, Any]]:
        coll = self.coll
        if self.member.engine.collection(coll.db, coll.name) is not coll:
            self._dropped = True  # the collection was dropped or renamed: the cursor dies
            return []
        bounds = [n for n in (batch_size, self.remaining) if n]
        limit = min(bounds) if bounds else 0
        if (
            self.last_rid
            and self.last_rid not in coll.docs
            and coll.docs
            and next(iter(coll.docs)) > self.last_rid
        ):
            raise CommandError(136, "CollectionScan died due to position in capped collection being deleted")
        out: list[dict[str, Any]] = []
        for rid in [r for r in coll.docs if r > self.last_rid]:
            if limit and len(out) >= limit:
                break
            checkpoint()
            doc = decode(unpack(coll.docs[rid]))
            self.last_rid = rid
            if not matches(self.filter, doc):
                continue
            if self.skip:
                self.skip -= 1
                continue
            out.append(self.projection.apply(doc, None, self.filter) if self.projection else doc)
        if self.remaining:
            self.remaining -= len(out)
            if self.remaining <= 0:
                self._dropped = True  # the limit is reached: the cursor is done
        return out

    async def next_batch(self, batch_size: int | None, max_time_ms: int | None) -> list[Any]:
        if not self.await_data:
            return self.take(batch_size)
        return await self.member.coordinator.oplog_written.wait_for(
            (max_time_ms or DEFAULT_AWAIT_MS) / 1000, lambda: self.take(batch_size), lambda: self._dropped
        )


def check_options(body: Mapping[str, Any], coll: Collection | None, ns: str) -> bool:
    """Whether a find asks for a tailable cursor; refuses what mongod refuses."""
    tailable, await_data = bool(body.get("tailable")), bool(body.get("awaitData"))
    if await_data and not tailable:
        raise CommandError(9, "Cannot set 'awaitData' without also setting 'tailable'")
    if not tailable:
        return False
    if coll is not None and not coll.capped:
        raise CommandError(
            2, f"error processing query: ns={ns} tailable cursor requested on non capped collection"
        )
    sort = body.get("sort")
    if sort and dict(sort) != {"$natural": 1}:
        raise CommandError(2, "cannot use tailable option with a sort other than {$natural: 1}")
    return True


def first_batch(
    member: Member, ns: str, coll: Collection | None, body: Mapping[str, Any], session: bytes | None
) -> dict[str, Any]:
    """A tailable find's reply: the first batch and, unless the collection is missing, an open cursor."""
    filter_ = body.get("filter") or {}
    projection = Projection.parse(body.get("projection"))
    if coll is None:
        return {"cursor": {"firstBatch": [], "id": Int64(0), "ns": ns}, "ok": 1.0}
    limit = int(body.get("limit") or 0)
    cursor = TailableCursor(
        ns, member, coll, filter_, projection, bool(body.get("awaitData")), session,
        skip=int(body.get("skip") or 0), remaining=abs(limit),
    )  # fmt: skip
    batch_size = body.get("batchSize")
    first = cursor.take(int(batch_size) if batch_size is not None else 101)
    single = limit < 0 or bool(body.get("singleBatch"))
    cursor_id = Int64(0) if cursor.exhausted or single else member.cursors.register(cursor)
    return {"cursor": {"firstBatch": first, "id": cursor_id, "ns": ns}, "ok": 1.0}
