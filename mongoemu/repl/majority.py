"""The majority-committed view that `readConcern: {level: "majority"}` reads.

Storage reports every document change with its pre-image and optime. For documents changed
after the commit point, this keeps the chain of pre-images; the committed version of such a
document is the pre-image of its first change newer than the commit point (None: it did not
exist then). History at or before the commit point is dropped as the point advances, so the
memory held is bounded by the uncommitted window. A rollback drops the history after the
common point, since those changes no longer exist.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import bson

from mongoemu.oplog import NULL_OPTIME, OpTime


def key(_id: Any) -> bytes:
    """A hashable identity for any _id value: its BSON encoding."""
    return bson.encode({"_id": _id})


class MajorityView:
    def __init__(self) -> None:
        self.commit_point = NULL_OPTIME
        # ns -> id key -> [(optime of change, document before it)], oldest first.
        self._history: dict[str, dict[bytes, deque[tuple[OpTime, dict[str, Any] | None]]]] = {}
        # Every change, oldest first, to drop history in order as the commit point advances.
        self._order: deque[tuple[OpTime, str, bytes]] = deque()

    def __len__(self) -> int:
        return len(self._order)

    def record(self, ns: str, _id: Any, before: dict[str, Any] | None, optime: OpTime) -> None:
        if optime <= self.commit_point:
            return
        k = key(_id)
        self._history.setdefault(ns, {}).setdefault(k, deque()).append((optime, before))
        self._order.append((optime, ns, k))

    def overlay(self, ns: str) -> dict[bytes, dict[str, Any] | None]:
        """Committed versions of the documents of `ns` that changed after the commit point."""
        return {k: chain[0][1] for k, chain in self._history.get(ns, {}).items() if chain}

    def advance(self, commit_point: OpTime) -> None:
        if commit_point <= self.commit_point:
            return
        self.commit_point = commit_point
        while self._order and self._order[0][0] <= commit_point:
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
        while self._order and self._order[-1][0] > optime:
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
