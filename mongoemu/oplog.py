"""Optimes and the in-memory oplog window.

Every write a member makes becomes an oplog entry first (insert `i`, update `u`, delete `d`,
command `c`, no-op `n`); storage applies entries, the journal persists them and secondaries
fetch them. Entries are kept as BSON-shaped dicts because that is what crosses the wire to
secondaries and what `local.oplog.rs` returns; `OplogEntry` is the typed view.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import total_ordering
from typing import Any

import bson
from bson import Int64, Timestamp
from bson.raw_bson import RawBSONDocument

from mongoemu.wire import CODEC

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

    @classmethod
    def from_key(cls, key: tuple[int, int, int]) -> OpTime:
        return cls(Timestamp(key[1], key[2]), key[0])


NULL_OPTIME = OpTime(Timestamp(0, 0), -1)

# One oplog window entry: its optime, the entry document and its BSON size.
Record = tuple[OpTime, Mapping[str, Any], int]


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
    # Session bookkeeping, as mongod stores it on the entry: a retryable write's statement, or
    # a transaction's commit (no stmtId; prevOpTime null, as the first entry of its chain).
    lsid: dict[str, Any] | None = None
    txn_number: int | None = None
    stmt_id: int | None = None
    ui: Any = None  # the collection's UUID, on document operations
    prev_optime: OpTime | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ts": self.optime.ts,
            "t": Int64(self.optime.term),
            "v": Int64(2),
            "op": self.op,
            "ns": self.ns,
        }
        if self.ui is not None:
            doc["ui"] = self.ui
        doc["wall"] = self.wall
        doc["o"] = self.o
        if self.o2 is not None:
            doc["o2"] = self.o2
        if self.lsid is not None:
            doc["lsid"] = self.lsid
            doc["txnNumber"] = Int64(self.txn_number or 0)
            if self.stmt_id is not None:
                doc["stmtId"] = self.stmt_id
        if self.prev_optime is not None:
            doc["prevOpTime"] = self.prev_optime.to_document()
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> OplogEntry:
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
            ui=doc.get("ui"),
            prev_optime=OpTime.from_document(doc["prevOpTime"]) if "prevOpTime" in doc else None,
        )


class OplogWindow:
    """The newest oplog entries in memory, capped by an approximate byte budget like mongod's
    capped `local.oplog.rs`. Older entries are dropped; a reader behind the window gets
    CappedPositionLost, as a too-stale secondary would.

    Entries are kept as parallel deques of plain values (the optime's key, the BSON bytes or a
    mapping that reads itself, the size): none of them is tracked by Python's cycle collector,
    whose full passes would otherwise walk every entry and stall the member's event loop for
    a second once the window holds a few hundred thousand. Records are built when read."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._keys: deque[tuple[int, int, int]] = deque()
        self._docs: deque[bytes | Mapping[str, Any]] = deque()
        self._sizes: deque[int] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._keys)

    def append(self, optime: OpTime, doc: bytes | Mapping[str, Any], size: int) -> None:
        """Add the newest entry: its BSON (bytes, or a mapping such as a raw document)."""
        self._keys.append(optime.key())
        self._docs.append(doc.raw if isinstance(doc, RawBSONDocument) else doc)
        self._sizes.append(size)
        self._bytes += size
        while self._bytes > self.max_bytes and len(self._keys) > 1:
            self._keys.popleft()
            self._docs.popleft()
            self._bytes -= self._sizes.popleft()

    @property
    def first(self) -> OpTime | None:
        return OpTime.from_key(self._keys[0]) if self._keys else None

    @property
    def last(self) -> OpTime | None:
        return OpTime.from_key(self._keys[-1]) if self._keys else None

    def index_after(self, optime: OpTime) -> int:
        """Position of the first entry strictly newer than `optime`."""
        return bisect.bisect_right(self._keys, optime.key())

    def contains(self, optime: OpTime) -> bool:
        i = bisect.bisect_left(self._keys, optime.key())
        return i < len(self._keys) and self._keys[i] == optime.key()

    def index_of_ts(self, ts: Timestamp, inclusive: bool) -> int:
        """Position of the first entry whose timestamp is >= `ts` (> when not inclusive); the
        window is ordered by timestamp as well as by optime."""
        probe = (ts.time, ts.inc)
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        return find(self._keys, probe, key=lambda k: (k[1], k[2]))

    def records_from(self, start: int, limit: int) -> list[Record]:
        """Up to `limit` records (optime, entry, size) from position `start`, oldest first.

        A deque is walked from the end nearer to `start`: secondaries tail the newest entries,
        and walking from the oldest would cost the whole window on every fetch."""
        n = len(self._keys)
        stop = min(n, start + limit)
        if start >= stop:
            return []
        queues = (self._keys, self._docs, self._sizes)
        if start <= n - stop:
            return list(map(_record, *(itertools.islice(q, start, stop) for q in queues)))
        tail = (itertools.islice(reversed(q), n - stop, n - start) for q in queues)
        newest_first = list(map(_record, *tail))
        newest_first.reverse()
        return newest_first

    def records_before(self, optime: OpTime | None, limit: int) -> list[Record]:
        """Up to `limit` records older than `optime` (from the newest when None), newest first."""
        stop = len(self._keys) if optime is None else bisect.bisect_left(self._keys, optime.key())
        skip = len(self._keys) - stop
        return list(
            map(
                _record,
                itertools.islice(reversed(self._keys), skip, skip + limit),
                itertools.islice(reversed(self._docs), skip, skip + limit),
                itertools.islice(reversed(self._sizes), skip, skip + limit),
            )
        )

    def slice_from(self, start: int, limit: int, max_bytes: int | None = None) -> list[Mapping[str, Any]]:
        """Up to `limit` entries from position `start`, oldest first; at least one, then no more
        than `max_bytes` in all (a reply must fit in a wire message)."""
        out: list[Mapping[str, Any]] = []
        total = 0
        for _, doc, size in self.records_from(start, limit):
            total += size
            if out and max_bytes is not None and total > max_bytes:
                break
            out.append(doc)
        return out

    def entries_after(self, optime: OpTime, limit: int) -> list[Mapping[str, Any]]:
        return [doc for _, doc, _ in self.records_from(self.index_after(optime), limit)]

    def entries_before(self, optime: OpTime | None, limit: int) -> list[Mapping[str, Any]]:
        """Up to `limit` entries older than `optime` (from the newest when None), newest first."""
        return [doc for _, doc, _ in self.records_before(optime, limit)]

    def truncate_after(self, optime: OpTime) -> list[Mapping[str, Any]]:
        """Remove and return every entry newer than `optime` (rollback)."""
        keep = self.index_after(optime)
        removed: list[Mapping[str, Any]] = []
        while len(self._keys) > keep:
            self._keys.pop()
            removed.append(_entry(self._docs.pop()))
            self._bytes -= self._sizes.pop()
        removed.reverse()
        return removed

    def all(self) -> list[Mapping[str, Any]]:
        return [_entry(doc) for doc in self._docs]


def _entry(doc: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    return RawBSONDocument(doc) if isinstance(doc, bytes) else doc


def _record(key: tuple[int, int, int], doc: bytes | Mapping[str, Any], size: int) -> Record:
    return OpTime.from_key(key), _entry(doc), size


def decoded(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An entry of the window as plain dicts all the way down (the window keeps raw BSON, whose
    nested documents mongomock's matcher cannot read)."""
    if isinstance(doc, dict):
        return doc
    if isinstance(doc, RawBSONDocument):
        return bson.decode(doc.raw, CODEC)
    return dict(doc.items())  # a large entry read back from the journal: decoded already


def is_apply_ops(doc: Mapping[str, Any]) -> bool:
    """A transaction's commit: one `c` entry on `admin.$cmd` whose `o.applyOps` lists its writes."""
    return doc.get("op") == "c" and "applyOps" in doc.get("o", {})


def expand(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The operations an entry applies: the entry itself, or each operation of an applyOps entry
    with the entry's optime and wall time (the session fields stay on the entry: they describe
    the transaction, not its statements)."""
    if not is_apply_ops(doc):
        return [doc]
    outer = {"ts": doc["ts"], "t": doc.get("t", -1), "wall": doc.get("wall")}
    return [{**inner, **outer} for inner in doc["o"]["applyOps"]]
