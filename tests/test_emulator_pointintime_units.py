"""A snapshot read's scan (storage/pointintime.py) on synthetic data: the scan is paused after a
few documents, as a checkpoint would pause it, the collection and its version history change
as writes would change them, and the scan must still return the collection as of its time."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import bson
import pytest
from bson import Timestamp

from mongoemu.oplog import OpTime
from mongoemu.repl.majority import MajorityView, key
from mongoemu.storage.collection import Collection
from mongoemu.storage.pointintime import PointInTime
from mongoemu.storage.query import Match, Query, execute

NS = "db.c"
AT = Timestamp(100, 10)


class Writes:
    """A collection and its history, changed as the primary's write path changes them."""

    def __init__(self) -> None:
        self.coll = Collection("db", "c", {}, None, itertools.count(1).__next__)
        self.history = MajorityView()
        self._inc = itertools.count(1)

    def _logged(self, _id: Any, before: dict[str, Any] | None) -> None:
        self.history.record(NS, _id, before, OpTime(Timestamp(100, next(self._inc)), 1))

    def insert(self, _id: int, v: int = 0) -> None:
        doc = {"_id": _id, "v": v}
        self.coll.insert(bson.encode(doc), doc)
        self._logged(_id, None)

    def update(self, _id: int) -> None:
        """In place: the record keeps its id."""
        doc = {"_id": _id, "v": 1}
        self._logged(_id, self.coll.replace(bson.encode(doc), doc))

    def move(self, _id: int) -> None:
        """An update that stores the document under a new record id (a collection with a text
        index, or one with an index build under way)."""
        before = self.coll.delete(_id)
        doc = {"_id": _id, "v": 1}
        self.coll.insert(bson.encode(doc), doc)
        self._logged(_id, before)

    def delete(self, _id: int) -> None:
        self._logged(_id, self.coll.delete(_id))


@pytest.fixture
def writes() -> Writes:
    w = Writes()
    for _id in range(1, 11):
        w.insert(_id)  # at 100:1 … 100:10, so all ten exist at AT
    w.history.advance(OpTime(AT, 1))
    return w


def _scan(writes: Writes, direction: int = 1) -> Iterator[Match]:
    """A lazy collection scan in natural order (a sort would read every document at once)."""
    view = PointInTime(writes.history, NS, AT, key)
    return execute(writes.coll, Query(hint={"$natural": direction}), view)[0]


@pytest.mark.parametrize("direction", [1, -1])
def test_the_scan_returns_the_collection_as_of_its_time_whatever_is_written_meanwhile(
    writes: Writes, direction: int
) -> None:
    writes.update(2)  # before the scan began
    writes.delete(3)
    writes.insert(11)
    scan = _scan(writes, direction)
    first = [next(scan).doc for _ in range(3)]
    writes.update(1)  # reached already going forward, not yet going backward
    writes.delete(10)  # the other way round
    writes.update(6)  # not reached yet either way
    writes.delete(7)
    writes.move(8)
    writes.move(5)
    writes.delete(5)  # its moved record was not in the scan's snapshot
    writes.delete(11)  # inserted after the scan's time
    writes.insert(12)
    writes.move(4)  # may be one of the three returned already
    rest = [m.doc for m in scan]
    got = sorted((d["_id"], d["v"]) for d in first + rest)
    assert got == [(i, 0) for i in range(1, 11)]
    assert writes.coll.removal_watchers == [] and writes.history.horizon == (AT.time, AT.inc)


def test_a_scan_left_unfinished_stops_watching_and_releases_the_history(writes: Writes) -> None:
    scan = _scan(writes)
    next(scan)
    assert len(writes.coll.removal_watchers) == 1
    writes.history.advance(OpTime(Timestamp(200, 1), 1))
    assert writes.history.horizon == (AT.time, AT.inc)  # pinned at the scan's time
    del scan  # a killed cursor, a limit reached: the generators are closed as they are freed
    assert writes.coll.removal_watchers == [] and writes.history.horizon == (200, 1)


def test_other_access_paths_read_at_the_time_too(writes: Writes) -> None:
    writes.update(2)
    writes.delete(3)
    view = PointInTime(writes.history, NS, AT, key)
    by_id = execute(writes.coll, Query(filter={"_id": {"$in": [2, 3, 4]}}), view)[0]
    assert sorted((m.doc["_id"], m.doc["v"]) for m in by_id) == [(2, 0), (3, 0), (4, 0)]
