"""Expression variables (`let`, `$$NOW`, `$$CLUSTER_TIME`) on a live member through PyMongo,
with the results and error codes mongod gives."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from bson import Timestamp
from pymongo.errors import OperationFailure


@pytest.fixture
def coll(fresh_db: Any) -> Any:
    fresh_db.c.insert_many([{"_id": i, "x": i % 3} for i in range(6)])
    return fresh_db.c


def _recent(value: Any) -> bool:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return isinstance(value, datetime.datetime) and abs((now - value).total_seconds()) < 60


def test_now_and_cluster_time_in_a_pipeline_update_are_set(coll: Any) -> None:
    result = coll.update_one({"_id": 1}, [{"$set": {"t": "$$NOW", "ct": "$$CLUSTER_TIME"}}])
    assert result.modified_count == 1
    doc = coll.find_one({"_id": 1})
    assert _recent(doc["t"])
    assert isinstance(doc["ct"], Timestamp)


def test_now_is_one_value_for_the_whole_command(coll: Any) -> None:
    coll.update_many({}, [{"$set": {"t": "$$NOW"}}])
    assert len(coll.distinct("t")) == 1
    out = list(coll.aggregate([{"$addFields": {"n": "$$NOW"}}, {"$group": {"_id": "$n"}}]))
    assert len(out) == 1 and _recent(out[0]["_id"])


def test_now_in_expr_filters(coll: Any) -> None:
    coll.update_one({"_id": 0}, {"$set": {"due": datetime.datetime(2999, 1, 1)}})
    coll.update_one({"_id": 1}, {"$set": {"due": datetime.datetime(2000, 1, 1)}})
    # a missing field sorts below every value, as in mongod
    assert [d["_id"] for d in coll.find({"$expr": {"$lt": ["$$NOW", "$due"]}})] == [0]


def test_let_on_find_aggregate_and_count(coll: Any) -> None:
    assert list(coll.find({"$expr": {"$eq": ["$_id", "$$id"]}}, let={"id": 2})) == [{"_id": 2, "x": 2}]
    out = coll.aggregate(
        [{"$match": {"$expr": {"$eq": ["$x", "$$v"]}}}, {"$project": {"v": "$$v"}}], let={"v": 1}
    )
    assert list(out) == [{"_id": 1, "v": 1}, {"_id": 4, "v": 1}]
    # let values are expressions, evaluated once
    out = coll.aggregate([{"$limit": 1}, {"$project": {"_id": 0, "s": "$$s"}}], let={"s": {"$add": [1, 2]}})
    assert list(out) == [{"s": 3}]


def test_let_on_writes(coll: Any) -> None:
    r = coll.update_many({"$expr": {"$eq": ["$x", "$$v"]}}, [{"$set": {"y": "$$v"}}], let={"v": 1})
    assert r.modified_count == 2
    assert sorted(d["_id"] for d in coll.find({"y": 1})) == [1, 4]
    doc = coll.find_one_and_update(
        {"$expr": {"$eq": ["$_id", "$$i"]}}, [{"$set": {"z": "$$i"}}], let={"i": 3}, return_document=True
    )
    assert doc == {"_id": 3, "x": 0, "z": 3}
    assert coll.delete_many({"$expr": {"$gt": ["$_id", "$$i"]}}, let={"i": 3}).deleted_count == 2
    assert coll.find_one_and_delete({"$expr": {"$eq": ["$_id", "$$i"]}}, let={"i": 0}) == {"_id": 0, "x": 0}


def test_undefined_and_invalid_variables_are_refused(coll: Any) -> None:
    with pytest.raises(OperationFailure) as exc:
        list(coll.find({"$expr": {"$eq": ["$_id", "$$nope"]}}))
    assert exc.value.code == 17276
    with pytest.raises(OperationFailure) as exc:
        list(coll.find({}, let={"Upper": 1}))
    assert exc.value.code == 16870
    with pytest.raises(OperationFailure) as exc:
        list(coll.find({}, let={"NOW": 1}))
    assert exc.value.code == 16870


ENOUGH_SKU = {"$eq": ["$sku", "$$item"]}
ENOUGH_N = {"$gte": ["$n", "$$qty"]}


def test_lookup_with_let_and_pipeline(fresh_db: Any) -> None:
    fresh_db.orders.insert_many([{"_id": 1, "item": "a", "qty": 5}, {"_id": 2, "item": "b", "qty": 1}])
    fresh_db.stock.insert_many(
        [{"_id": 10, "sku": "a", "n": 10}, {"_id": 11, "sku": "a", "n": 2}, {"_id": 12, "sku": "b", "n": 0}]
    )
    out = fresh_db.orders.aggregate(
        [
            {
                "$lookup": {
                    "from": "stock",
                    "let": {"item": "$item", "qty": "$qty"},
                    "pipeline": [
                        {"$match": {"$expr": {"$and": [ENOUGH_SKU, ENOUGH_N]}}},
                        {"$project": {"_id": 1}},
                    ],
                    "as": "enough",
                }
            },
            {"$sort": {"_id": 1}},
        ]
    )
    assert [d["enough"] for d in out] == [[{"_id": 10}], []]
