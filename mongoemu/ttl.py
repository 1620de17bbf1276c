"""The TTL monitor, as mongod's: every `ttlMonitorSleepSecs` (60 s by default, settable at
runtime) the primary deletes the documents whose TTL-indexed date is older than the index's
`expireAfterSeconds`, each as an ordinary replicated delete. Secondaries never expire anything:
they apply the primary's deletes. For an array, the earliest date counts; documents whose field
holds no date, and those outside a partial index's filter, never expire.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from mongoemu.commands.registry import CommandContext
from mongoemu.storage.collection import Collection, decode, unpack
from mongoemu.storage.indexes import IndexSpec
from mongoemu.storage.keystring import path_values
from mongoemu.storage.query import matches
from mongoemu.writes import WriteBatch

if TYPE_CHECKING:
    from mongoemu.member import Member

log = logging.getLogger("mongoemu.index")


def _ttl_specs(coll: Collection) -> Iterator[tuple[IndexSpec, float]]:
    for spec in coll.specs():
        seconds = dict(spec.options).get("expireAfterSeconds")
        if seconds is not None and len(spec.key) == 1 and spec.text is None:
            yield spec, float(seconds)


def _expiry_date(doc: dict[str, Any], field: str) -> datetime.datetime | None:
    values = path_values(doc, field)
    flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
    dates = [v for v in flat if isinstance(v, datetime.datetime)]
    return min(dates) if dates else None


def expired_ids(coll: Collection, now: datetime.datetime) -> list[Any]:
    """The `_id`s of the documents any TTL index of `coll` says have expired at `now` (UTC)."""
    specs = list(_ttl_specs(coll))
    if not specs:
        return []
    out = []
    for blob in list(coll.docs.values()):
        doc = decode(unpack(blob))
        for spec, seconds in specs:
            if spec.partial is not None and not matches(spec.partial, doc):
                continue
            when = _expiry_date(doc, spec.fields[0])
            if when is not None and when < now - datetime.timedelta(seconds=seconds):
                out.append(doc["_id"])
                break
    return out


class TTLMonitor:
    def __init__(self, member: Member) -> None:
        self.member = member
        self.passes = 0
        self.deleted = 0

    async def run(self) -> None:
        last = time.monotonic()
        while True:
            # Re-read the period each second, so a setParameter takes effect without a full wait.
            await asyncio.sleep(1.0)
            if time.monotonic() - last < self.member.parameters["ttlMonitorSleepSecs"]:
                continue
            last = time.monotonic()
            if self.member.parameters["ttlMonitorEnabled"] and self.member.coordinator.writable:
                try:
                    self.run_pass()
                except Exception:
                    log.exception("TTL monitor pass failed")

    def run_pass(self) -> int:
        """Delete what has expired in every collection; return how many documents."""
        member = self.member
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        deleted = 0
        for coll in list(member.engine.all_collections()):
            ids = expired_ids(coll, now)
            if not ids:
                continue
            ctx = CommandContext(member, cast(Any, None), coll.db, "delete", {"delete": coll.name})
            batch = WriteBatch(ctx)
            try:
                for _id in ids:
                    if member.coordinator.writable:
                        batch.write("d", coll.ns, {"_id": _id})
                        deleted += 1
            finally:
                batch.flush()
        self.passes += 1
        self.deleted += deleted
        return deleted
