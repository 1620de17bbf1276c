"""A snapshot read's view of a collection: its documents as they were at `atClusterTime`, read
by a scan that takes turns with the member's other work, as mongod's yielding scans read a
WiredTiger snapshot.

The store holds only current versions; the version history (`repl/majority.py`) holds what
documents were before each change made after the read's time. A collection scan keeps its
snapshot of record ids and, document by document in the same turn as it reads one:
- skips the documents that had already changed when it began (it returns their versions from
  the history at the end);
- returns a document unchanged since the read's time as it is stored, and one changed since
  (during the scan) as the history's version, or not at all if it did not exist then.
A record removed before the scan reached it (a delete, an update that moved the document, a
capped collection's trim) would be missed, so the scan watches the collection's removals and
returns those documents' versions from the history at the end. Natural order is ascending
record ids (`Collection.rids`), so "not reached yet" is a comparison with the last id read.

Other access paths (indexes, `_id` lookups, text) walk structures whose changes a scan cannot
place, so they read their candidates in one turn, holding the loop, as every snapshot read did
before. The history is pinned at the read's time while a scan is open (across getMores).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from bson import Timestamp

from mongoemu import operation
from mongoemu.storage.collection import Collection
from mongoemu.storage.query import AccessPath, Match

Version = dict[str, Any] | None  # a document as of the read's time; None: it did not exist


class History(Protocol):
    """The version history as a snapshot read uses it (repl/majority.py's MajorityView)."""

    def overlay(self, ns: str, at: Timestamp) -> dict[bytes, Version]: ...

    def version_of(self, ns: str, k: bytes, at: Timestamp) -> tuple[bool, Version]: ...

    def pin(self, at: Timestamp) -> None: ...

    def unpin(self, at: Timestamp) -> None: ...


class _Unreached:
    """The records present when a scan began that it has not reached yet, and the documents
    removed from them meanwhile (their `key(_id)`)."""

    def __init__(self, last_rid: int, forward: bool, key: Callable[[Any], bytes]) -> None:
        self.last_rid = last_rid  # later records were stored after the scan began
        self.forward = forward
        self.reached = 0 if forward else last_rid + 1
        self.removed: set[bytes] = set()
        self._key = key

    def watch(self, rid: int, doc: dict[str, Any]) -> None:
        ahead = rid > self.reached if self.forward else rid < self.reached
        if ahead and rid <= self.last_rid:
            self.removed.add(self._key(doc["_id"]))


@dataclass(frozen=True, slots=True)
class PointInTime:
    """What a snapshot read of `ns` sees: its documents as of `at`."""

    history: History
    ns: str
    at: Timestamp
    key: Callable[[Any], bytes]  # the history's key of an _id value

    @property
    def empty(self) -> bool:
        return False  # writes made during the read change what it must not see

    def read(self, coll: Collection | None, live: Iterable[Match], path: AccessPath) -> Iterable[Match]:
        scan = self._scan(coll, live, path.direction >= 0)
        if path.stage == "COLLSCAN":
            return scan
        op = operation.current()
        with op.atomic() if op is not None else nullcontext():
            return list(scan)

    def _scan(self, coll: Collection | None, live: Iterable[Match], forward: bool) -> Iterator[Match]:
        # Until the first checkpoint (in `live`'s first fetch, after it took its record ids)
        # nothing else runs: the history's versions and the watch start from one moment.
        history, ns, at = self.history, self.ns, self.at
        unreached = _Unreached(coll.last_rid() if coll is not None else 0, forward, self.key)
        watchers = coll.removal_watchers if coll is not None else []
        history.pin(at)
        try:
            changed_before = history.overlay(ns, at)
            watchers.append(unreached.watch)
            for m in live:
                unreached.reached = m.rid
                k = self.key(m.doc["_id"])
                if k in changed_before:
                    continue
                changed, version = history.version_of(ns, k, at)
                if not changed:
                    yield m
                elif version is not None:
                    yield Match.version(version)
            watchers.remove(unreached.watch)  # every record is reached now
            for version in changed_before.values():
                operation.checkpoint()
                if version is not None:
                    yield Match.version(version)
            for k in unreached.removed - changed_before.keys():
                operation.checkpoint()
                changed, version = history.version_of(ns, k, at)
                if changed and version is not None:
                    yield Match.version(version)
        finally:
            if unreached.watch in watchers:
                watchers.remove(unreached.watch)
            history.unpin(at)
