"""Cursors over `local.oplog.rs`: what secondaries, rollback and initial sync read from a member.

Forward cursors keep their place by the last optime returned, so entries appended later are
found by a tailable cursor, and `awaitData` getMores wait for new entries up to `maxTimeMS`.
A cursor whose place was dropped from the capped window, or whose entries were rolled back,
fails with CappedPositionLost (136) as mongod's does. Filters on `ts` use the window's order;
other conditions are matched with mongomock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bson import Timestamp
from mongomock import filtering

from mongoemu.cursors import MAX_BATCH_BYTES
from mongoemu.errors import CommandError
from mongoemu.operation import checkpoint
from mongoemu.oplog import OplogWindow, OpTime, Record, decoded

if TYPE_CHECKING:
    from mongoemu.member import Member

DEFAULT_FIRST_BATCH = 101
DEFAULT_BATCH = 10_000
DEFAULT_AWAIT_MS = 1000
# Entries read from the window between two checkpoints.
_CHUNK = 256

_TS_OPS = {"$gt", "$gte", "$lt", "$lte", "$eq"}


def _bad_filter(message: str) -> CommandError:
    return CommandError(2, f"unsupported filter on local.oplog.rs: {message}")


class _TsRange:
    """Bounds on `ts` taken out of a filter: (timestamp, inclusive) or None."""

    def __init__(self) -> None:
        self.low: tuple[Timestamp, bool] | None = None
        self.high: tuple[Timestamp, bool] | None = None

    def add(self, op: str, value: Any) -> None:
        if not isinstance(value, Timestamp):
            raise _bad_filter(f"ts.{op} needs a timestamp, got {type(value).__name__}")
        if op in ("$gt", "$gte", "$eq"):
            self.low = (value, op != "$gt")
        if op in ("$lt", "$lte", "$eq"):
            self.high = (value, op != "$lt")

    def admits(self, ts: Timestamp) -> bool:
        key = (ts.time, ts.inc)
        if self.low is not None:
            bound = (self.low[0].time, self.low[0].inc)
            if key < bound or (key == bound and not self.low[1]):
                return False
        if self.high is not None:
            bound = (self.high[0].time, self.high[0].inc)
            if key > bound or (key == bound and not self.high[1]):
                return False
        return True


def _split_filter(filter_doc: Any) -> tuple[_TsRange, dict[str, Any]]:
    if filter_doc is None:
        return _TsRange(), {}
    if not isinstance(filter_doc, dict):
        raise CommandError(14, "filter must be an object", code_name="TypeMismatch")
    ts_range = _TsRange()
    rest = dict(filter_doc)
    cond = rest.pop("ts", None)
    if isinstance(cond, Timestamp):
        ts_range.add("$eq", cond)
    elif isinstance(cond, dict):
        for op, value in cond.items():
            if op not in _TS_OPS:
                raise _bad_filter(f"operator {op} on ts")
            ts_range.add(op, value)
    elif cond is not None:
        raise _bad_filter("ts must be compared with a timestamp")
    return ts_range, rest


def _matches(rest: dict[str, Any], doc: Mapping[str, Any]) -> bool:
    if not rest:
        return True
    try:
        return bool(filtering.filter_applies(rest, decoded(doc)))
    except NotImplementedError as exc:
        raise _bad_filter(str(exc)) from None


class OplogCursor:
    """One open cursor on the oplog; `find` builds it, `getMore` calls `get_more`.

    A batch holds at most `batch_size` entries and, as every mongod reply, at most 16 MiB of
    them (one larger entry alone); entries are read in chunks so that a long batch yields."""

    def __init__(self, member: Member, body: dict[str, Any]) -> None:
        self._member = member
        coordinator = member.coordinator
        self._generation = coordinator.oplog_generation
        self._range, self._rest = _split_filter(body.get("filter"))
        sort = body.get("sort") or {}
        if not isinstance(sort, dict):
            raise CommandError(14, "sort must be an object", code_name="TypeMismatch")
        direction = sort.get("$natural", sort.get("ts", 1))
        self._reverse = direction == -1
        self.tailable = bool(body.get("tailable")) and not self._reverse
        self.await_data = self.tailable and bool(body.get("awaitData"))
        limit = int(body.get("limit") or 0)
        self._remaining = abs(limit) if limit else None
        self._last: OpTime | None = None
        self.exhausted = False
        batch = body.get("batchSize")
        first = int(batch) if batch is not None else DEFAULT_FIRST_BATCH
        if body.get("singleBatch"):
            self._remaining = min(self._remaining or first, first)
        self.first_batch = self.next_batch(first) if first > 0 else []

    def next_batch(self, batch_size: int) -> list[Mapping[str, Any]]:
        window = self._member.oplog
        want = batch_size if self._remaining is None else min(batch_size, self._remaining)
        out: list[Mapping[str, Any]] = []
        total = 0
        full = False
        while len(out) < want and not full:
            chunk = self._chunk(window, min(want - len(out), _CHUNK))
            if not chunk:
                break
            for optime, doc, size in chunk:
                if not self._range.admits(optime.ts):
                    if self._past_range(optime.ts):
                        self._stop()
                        return out
                elif _matches(self._rest, doc):
                    if out and total + size > MAX_BATCH_BYTES:
                        full = True
                        break
                    out.append(doc)
                    total += size
                self._last = optime
                if len(out) >= want:
                    break
            checkpoint()
        if self._remaining is not None:
            self._remaining -= len(out)
            if self._remaining <= 0:
                self._stop()
        if len(out) < want and not full and not self.tailable:
            self._stop()
        return out

    def _chunk(self, window: OplogWindow, n: int) -> list[Record]:
        """The next entries to read; the cursor dies if its place is gone (read again after
        every checkpoint, as a rollback or the capped window may have moved meanwhile)."""
        if self._member.coordinator.oplog_generation != self._generation:
            self.exhausted = True
            raise CommandError(136, "CollectionScan died due to position in capped collection being deleted")
        if self._reverse:
            return window.records_before(self._last, n)
        if self._last is not None:
            if window.first is not None and self._last < window.first and not window.contains(self._last):
                self.exhausted = True
                raise CommandError(
                    136, "CollectionScan died due to position in capped collection being deleted"
                )
            return window.records_from(window.index_after(self._last), n)
        start = 0 if self._range.low is None else window.index_of_ts(*self._range.low)
        return window.records_from(start, n)

    def _past_range(self, ts: Timestamp) -> bool:
        key = (ts.time, ts.inc)
        if self._reverse:
            return self._range.low is not None and key < (self._range.low[0].time, self._range.low[0].inc)
        return self._range.high is not None and key > (self._range.high[0].time, self._range.high[0].inc)

    def _stop(self) -> None:
        self.exhausted = True
        self.tailable = False

    async def get_more(self, batch_size: int | None, await_ms: int | None) -> list[Mapping[str, Any]]:
        """The next batch; an awaitData cursor with nothing new waits up to `await_ms` (the
        getMore's maxTimeMS, 1 s by default) for entries to be written."""
        size = batch_size or DEFAULT_BATCH
        batch = self.next_batch(size)
        if batch or not self.await_data or self.exhausted:
            return batch
        return await self._member.coordinator.oplog_written.wait_for(
            (await_ms if await_ms else DEFAULT_AWAIT_MS) / 1000,
            lambda: self.next_batch(size),
            lambda: self.exhausted,
        )
