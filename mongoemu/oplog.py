"""Optimes and the in-memory oplog window.

Every write a member makes becomes an oplog entry first (insert `i`, update `u`, delete `d`,
command `c`, no-op `n`); storage applies entries, the journal persists them and secondaries
fetch them. Entries are kept as BSON-shaped dicts because that is what crosses the wire to
secondaries and what `local.oplog.rs` returns; `OplogEntry` is the typed view.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import total_ordering
from typing import Any

from bson import Int64, Timestamp

OPLOG_NS = "local.oplog.rs"


@total_ordering
@dataclass(frozen=True, slots=True)
class OpTime:
    """(timestamp, term): mongod orders optimes by term first, then timestamp."""

    ts: Timestamp
    term: int

    def key(self) -> tuple[int, int, int]:
        """The tuple optimes are ordered by: (term, seconds, increment)."""
        return (self.term, self.ts.time, self.ts.inc)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, OpTime):
            return NotImplemented
        return self.key() < other.key()

    def to_document(self) -> dict[str, Any]:
        return {"ts": self.ts, "t": Int64(self.term)}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> OpTime:
        return cls(doc["ts"], int(doc.get("t", -1)))


NULL_OPTIME = OpTime(Timestamp(0, 0), -1)


class TimestampClock:
    """Hands out strictly increasing cluster timestamps (seconds, increment)."""

    def __init__(self) -> None:
        self._last = Timestamp(0, 0)

    def advance_to(self, ts: Timestamp) -> None:
        if (ts.time, ts.inc) > (self._last.time, self._last.inc):
            self._last = ts

    def next(self) -> Timestamp:
        now = int(time.time())
        if now > self._last.time:
            self._last = Timestamp(now, 1)
        else:
            self._last = Timestamp(self._last.time, self._last.inc + 1)
        return self._last

    @property
    def last(self) -> Timestamp:
        return self._last


@dataclass(slots=True)
class OplogEntry:
    op: str
    ns: str
    o: dict[str, Any]
    optime: OpTime
    o2: dict[str, Any] | None = None
    wall: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))
    # Retryable-write bookkeeping, as mongod stores it on the entry.
    lsid: dict[str, Any] | None = None
    txn_number: int | None = None
    stmt_id: int | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ts": self.optime.ts,
            "t": Int64(self.optime.term),
            "v": Int64(2),
            "op": self.op,
            "ns": self.ns,
            "wall": self.wall,
            "o": self.o,
        }
        if self.o2 is not None:
            doc["o2"] = self.o2
        if self.lsid is not None:
            doc["lsid"] = self.lsid
            doc["txnNumber"] = Int64(self.txn_number or 0)
            doc["stmtId"] = self.stmt_id or 0
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> OplogEntry:
        return cls(
            op=doc["op"],
            ns=doc["ns"],
            o=doc["o"],
            optime=OpTime.from_document(doc),
            o2=doc.get("o2"),
            wall=doc.get("wall") or datetime.now(UTC).replace(tzinfo=None),
            lsid=doc.get("lsid"),
            txn_number=int(doc["txnNumber"]) if "txnNumber" in doc else None,
            stmt_id=doc.get("stmtId"),
        )


class OplogWindow:
    """The newest oplog entries in memory, capped by an approximate byte budget like mongod's
    capped `local.oplog.rs`. Older entries are dropped; a reader behind the window gets
    CappedPositionLost, as a too-stale secondary would."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: deque[tuple[OpTime, dict[str, Any], int]] = deque()
        self._keys: deque[tuple[int, int, int]] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, optime: OpTime, doc: dict[str, Any], size: int) -> None:
        self._entries.append((optime, doc, size))
        self._keys.append(optime.key())
        self._bytes += size
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, _, dropped = self._entries.popleft()
            self._keys.popleft()
            self._bytes -= dropped

    @property
    def first(self) -> OpTime | None:
        return self._entries[0][0] if self._entries else None

    @property
    def last(self) -> OpTime | None:
        return self._entries[-1][0] if self._entries else None

    def index_after(self, optime: OpTime) -> int:
        """Position of the first entry strictly newer than `optime`."""
        return bisect.bisect_right(self._keys, optime.key())

    def contains(self, optime: OpTime) -> bool:
        i = bisect.bisect_left(self._keys, optime.key())
        return i < len(self._keys) and self._keys[i] == optime.key()

    def entries_after(self, optime: OpTime, limit: int, max_bytes: int | None = None) -> list[dict[str, Any]]:
        return self.slice_from(self.index_after(optime), limit, max_bytes)

    def index_of_ts(self, ts: Timestamp, inclusive: bool) -> int:
        """Position of the first entry whose timestamp is >= `ts` (> when not inclusive); the
        window is ordered by timestamp as well as by optime."""
        probe = (ts.time, ts.inc)
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        return find(self._keys, probe, key=lambda k: (k[1], k[2]))

    def slice_from(self, start: int, limit: int, max_bytes: int | None = None) -> list[dict[str, Any]]:
        """Up to `limit` entries from position `start`, oldest first; at least one, then no more
        than `max_bytes` in all (a reply must fit in a wire message)."""
        stop = min(len(self._entries), start + limit)
        out: list[dict[str, Any]] = []
        total = 0
        for i in range(start, stop):
            _, doc, size = self._entries[i]
            total += size
            if out and max_bytes is not None and total > max_bytes:
                break
            out.append(doc)
        return out

    def entries_before(self, optime: OpTime | None, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` entries older than `optime` (from the newest when None), newest first."""
        stop = len(self._keys) if optime is None else bisect.bisect_left(self._keys, optime.key())
        start = max(0, stop - limit)
        return [self._entries[i][1] for i in range(stop - 1, start - 1, -1)]

    def truncate_after(self, optime: OpTime) -> list[dict[str, Any]]:
        """Remove and return every entry newer than `optime` (rollback)."""
        keep = self.index_after(optime)
        removed: list[dict[str, Any]] = []
        while len(self._entries) > keep:
            _, doc, size = self._entries.pop()
            self._keys.pop()
            self._bytes -= size
            removed.append(doc)
        removed.reverse()
        return removed

    def all(self) -> list[dict[str, Any]]:
        return [doc for _, doc, _ in self._entries]
