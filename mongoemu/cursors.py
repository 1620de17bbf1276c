"""Open cursors: `find` and `aggregate` results handed out batch by batch through `getMore`,
and tailable oplog cursors (which replication implements; this table only keeps them).

A query cursor holds a lazy iterator over the stored documents, so a large result is never
materialised before the client asks for it; an idle cursor dies after mongod's
cursorTimeoutMillis (10 minutes), and ending or killing a session kills its cursors. A batch
holds at most 16 MiB of documents (one larger document alone), as mongod's replies. What is
left of the opening command's `maxTimeMS` stays with the cursor: its getMores share it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import bson
from bson import Int64
from bson.raw_bson import RawBSONDocument

from mongoemu.errors import CommandError
from mongoemu.operation import checkpoint
from mongoemu.wire import CODEC, MAX_BSON_OBJECT_SIZE

CURSOR_TIMEOUT_S = 600.0
DEFAULT_FIRST_BATCH = 101
# mongod's kMaxBytesToReturnToClientAtOnce (BSONObjMaxUserSize): documents per reply.
MAX_BATCH_BYTES = MAX_BSON_OBJECT_SIZE


class Cursor(Protocol):
    ns: str
    session: bytes | None
    last_used: float
    no_timeout: bool
    # Seconds left of the opening command's maxTimeMS (None: no limit); getMores spend it.
    time_left: float | None

    @property
    def exhausted(self) -> bool: ...

    @property
    def await_data(self) -> bool:
        """A tailable awaitData cursor: a getMore's maxTimeMS is how long it waits for data."""
        ...

    async def next_batch(self, batch_size: int | None, max_time_ms: int | None) -> list[Any]: ...


def _size(doc: Mapping[str, Any]) -> int:
    if isinstance(doc, RawBSONDocument):
        return len(doc.raw)
    return len(bson.encode(doc, codec_options=CODEC))


@dataclass(slots=True)
class QueryCursor:
    ns: str
    source: Iterator[Mapping[str, Any]]
    session: bytes | None = None
    no_timeout: bool = False  # noCursorTimeout: never reaped for idleness
    # Read one result ahead to learn that none is left. A find without a limit does not: as on
    # mongod, a batch that ends exactly at the last result leaves the cursor open, and the
    # next getMore returns an empty batch.
    look_ahead: bool = True
    last_used: float = field(default_factory=time.monotonic)
    time_left: float | None = None
    _peeked: list[Mapping[str, Any]] = field(default_factory=list)
    _done: bool = False

    @property
    def await_data(self) -> bool:
        return False

    @property
    def exhausted(self) -> bool:
        if self._done or not self.look_ahead:
            return self._done
        if not self._peeked:
            try:
                self._peeked.append(next(self.source))
            except StopIteration:
                self._done = True
        return self._done

    def take(self, batch_size: int | None) -> list[Mapping[str, Any]]:
        """Up to `batch_size` documents (None: as many as fit one reply)."""
        out: list[Mapping[str, Any]] = []
        total = 0
        while batch_size is None or len(out) < batch_size:
            if self._peeked:
                doc = self._peeked.pop()
            else:
                try:
                    doc = next(self.source)
                except StopIteration:
                    self._done = True
                    break
            size = _size(doc)
            if out and total + size > MAX_BATCH_BYTES:
                self._peeked.append(doc)
                break
            out.append(doc)
            total += size
            checkpoint()
        return out

    async def next_batch(self, batch_size: int | None, max_time_ms: int | None) -> list[Any]:
        return self.take(batch_size)


class OplogCursorAdapter:
    """A replication oplog cursor (first batch already taken) in the cursor table."""

    no_timeout = False

    def __init__(self, ns: str, inner: Any, session: bytes | None) -> None:
        self.ns = ns
        self.inner = inner
        self.session = session
        self.last_used = time.monotonic()
        self.time_left: float | None = None

    @property
    def exhausted(self) -> bool:
        return bool(self.inner.exhausted)

    @property
    def await_data(self) -> bool:
        return bool(self.inner.await_data)

    async def next_batch(self, batch_size: int | None, max_time_ms: int | None) -> list[Any]:
        return await self.inner.get_more(batch_size, max_time_ms)


class CursorManager:
    def __init__(self) -> None:
        self._cursors: dict[int, Cursor] = {}
        self._random = random.Random()

    def __len__(self) -> int:
        return len(self._cursors)

    def register(self, cursor: Cursor) -> Int64:
        while True:
            cursor_id = self._random.randrange(1, 1 << 62)
            if cursor_id not in self._cursors:
                break
        self._cursors[cursor_id] = cursor
        return Int64(cursor_id)

    def get(self, cursor_id: int, ns: str) -> Cursor:
        cursor = self._cursors.get(int(cursor_id))
        if cursor is None:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        if cursor.ns != ns:
            raise CommandError(
                13,
                f"Requested getMore on namespace '{ns}', but cursor belongs to a different "
                f"namespace {cursor.ns}",
            )
        cursor.last_used = time.monotonic()
        return cursor

    def peek(self, cursor_id: Any) -> Cursor | None:
        """The open cursor with this id, if any (no checks, no use recorded)."""
        try:
            return self._cursors.get(int(cursor_id))
        except (TypeError, ValueError):
            return None

    def close(self, cursor_id: int) -> bool:
        return self._cursors.pop(int(cursor_id), None) is not None

    def all(self) -> list[Cursor]:
        return list(self._cursors.values())

    def kill_sessions(self, sessions: set[bytes]) -> None:
        for cid in [cid for cid, c in self._cursors.items() if c.session in sessions]:
            del self._cursors[cid]

    def reap(self, now: float | None = None) -> None:
        cutoff = (now if now is not None else time.monotonic()) - CURSOR_TIMEOUT_S
        for cid in [cid for cid, c in self._cursors.items() if c.last_used < cutoff and not c.no_timeout]:
            del self._cursors[cid]
