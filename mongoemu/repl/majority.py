"""Older versions of documents: the majority-committed view that `readConcern: {level:
"majority"}` reads, the snapshots transactions read, and snapshot reads at a cluster time.

Storage reports every document change with its pre-image and optime. For documents changed
after the horizon, this keeps the chain of pre-images; the version of such a document at a time
T is the pre-image of its first change newer than T (None: it did not exist then). The horizon
is the commit point, or an older time something still reads at: an open transaction's snapshot
(pinned while it runs) or a snapshot read's `atClusterTime` (leased for
minSnapshotHistoryWindowInSeconds). WiredTiger's history store plays this part in mongod; like
it, the memory held is the uncommitted window plus the changes made since the oldest such
reader. Times are compared by timestamp, which orders one member's history as optimes do. A
rollback drops the history after the common point, since those changes no longer exist.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

import bson
from bson import Timestamp

from mongoemu.oplog import NULL_OPTIME, OpTime

Key = tuple[int, int]


def key(_id: Any) -> bytes:
    """A hashable identity for any _id value: its BSON encoding."""
    return bson.encode({"_id": _id})


def _at(when: OpTime | Timestamp) -> Key:
    ts = when.ts if isinstance(when, OpTime) else when
    return (ts.time, ts.inc)


class MajorityView:
    def __init__(self) -> None:
        self.commit_point = NULL_OPTIME
        # ns -> id key -> [(time of change, document before it)], oldest first.
        self._history: dict[str, dict[bytes, deque[tuple[Key, dict[str, Any] | None]]]] = {}
        # Every change, oldest first, to drop history in order as the horizon advances.
        self._order: deque[tuple[Key, str, bytes]] = deque()
        self._pins: Counter[Key] = Counter()
        self._leases: dict[Key, float] = {}  # time read at -> monotonic expiry

    def __len__(self) -> int:
        return len(self._order)

    @property
    def horizon(self) -> Key:
        """History at or before this time is not kept."""
        now = time.monotonic()
        for at in [at for at, until in self._leases.items() if until <= now]:
            del self._leases[at]
        return min([_at(self.commit_point), *self._pins, *self._leases])

    def readable(self, at: OpTime | Timestamp) -> bool:
        """Whether versions as of `at` can still be read."""
        return _at(at) >= self.horizon

    def record(self, ns: str, _id: Any, before: dict[str, Any] | None, optime: OpTime) -> None:
        when = _at(optime)
        if when <= self.horizon:
            return
        k = key(_id)
        self._history.setdefault(ns, {}).setdefault(k, deque()).append((when, before))
        self._order.append((when, ns, k))

    def overlay(self, ns: str, at: OpTime | Timestamp | None = None) -> dict[bytes, dict[str, Any] | None]:
        """The versions, as of `at` (default: the commit point), of the documents of `ns` that
        changed after it; `at` must be readable."""
        limit = _at(self.commit_point if at is None else at)
        out: dict[bytes, dict[str, Any] | None] = {}
        for k, chain in self._history.get(ns, {}).items():
            for when, before in chain:
                if when > limit:
                    out[k] = before
                    break
        return out

    def version_at(self, ns: str, _id: Any, at: OpTime | Timestamp) -> tuple[bool, dict[str, Any] | None]:
        """(True, the version as of `at`) when the document changed after `at`; else (False,
        None): the current version is the one."""
        return self.version_of(ns, key(_id), at)

    def version_of(self, ns: str, k: bytes, at: OpTime | Timestamp) -> tuple[bool, dict[str, Any] | None]:
        """`version_at` for the document whose `key(_id)` is `k`."""
        chain = self._history.get(ns, {}).get(k)
        if chain:
            limit = _at(at)
            for when, before in chain:
                if when > limit:
                    return True, before
        return False, None

    def changed_after(self, ns: str, _id: Any, at: OpTime | Timestamp) -> bool:
        """Whether the document changed after `at` (a readable time)."""
        chain = self._history.get(ns, {}).get(key(_id))
        return bool(chain) and chain[-1][0] > _at(at)  # type: ignore[index]

    def pin(self, at: OpTime | Timestamp) -> None:
        """Keep the history needed to read as of `at` until `unpin(at)`."""
        self._pins[_at(at)] += 1

    def unpin(self, at: OpTime | Timestamp) -> None:
        when = _at(at)
        self._pins[when] -= 1
        if self._pins[when] <= 0:
            del self._pins[when]
        self._drop_through(self.horizon)

    def lease(self, at: OpTime | Timestamp, seconds: float) -> None:
        """Keep the history needed to read as of `at` for `seconds` (or longer, if leased again)."""
        when = _at(at)
        self._leases[when] = max(self._leases.get(when, 0.0), time.monotonic() + seconds)

    def advance(self, commit_point: OpTime) -> None:
        if commit_point <= self.commit_point:
            return
        self.commit_point = commit_point
        self._drop_through(self.horizon)

    def _drop_through(self, horizon: Key) -> None:
        while self._order and self._order[0][0] <= horizon:
            _, ns, k = self._order.popleft()
            per_ns = self._history[ns]
            chain = per_ns[k]
            chain.popleft()
            if not chain:
                del per_ns[k]
                if not per_ns:
                    del self._history[ns]

    def truncate_after(self, optime: OpTime) -> None:
        """Forget changes newer than `optime` (they were rolled back)."""
        when = _at(optime)
        while self._order and self._order[-1][0] > when:
            _, ns, k = self._order.pop()
            chain = self._history[ns][k]
            chain.pop()
            if not chain:
                del self._history[ns][k]
                if not self._history[ns]:
                    del self._history[ns]

    def reset(self, commit_point: OpTime) -> None:
        """Start over from a consistent copy (after initial sync or recovery)."""
        self._history.clear()
        self._order.clear()
        self.commit_point = commit_point
