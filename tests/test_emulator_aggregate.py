"""Aggregation stages on a live member; expected results follow MongoDB's documentation."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import TEXT

SALES = [
    {"_id": 1, "item": "abc", "price": 10, "qty": 2, "tags": ["x", "y"]},
    {"_id": 2, "item": "jkl", "price": 20, "qty": 1, "tags": ["y"]},
    {"_id": 3, "item": "xyz", "price": 5, "qty": 10, "tags": []},
    {"_id": 4, "item": "abc", "price": 10, "qty": 5, "tags": ["z"]},
]


@pytest.fixture
def sales(fresh_db: Any) -> Any:
    fresh_db.sales.insert_many(SALES)
    fresh_db.items.insert_many([{"_id": "abc", "desc": "first"}, {"_id": "xyz", "desc": "third"}])
    return fresh_db.sales


def _agg(coll: Any, *stages: dict[str, Any]) -> list[dict[str, Any]]:
    return list(coll.aggregate(list(stages)))


def test_match_sort_skip_limit_project(sales: Any) -> None:
    out = _agg(
        sales,
        {"$match": {"price": {"$gte": 10}}},
        {"$sort": {"qty": -1}},
        {"$skip": 1},
        {"$limit": 2},
        {"$project": {"_id": 0, "item": 1, "total": {"$multiply": ["$price", "$qty"]}}},
    )
    assert out == [{"item": "abc", "total": 20}, {"item": "jkl", "total": 20}]


def test_group_unwind_count(sales: Any) -> None:
    groups = _agg(
        sales, {"$group": {"_id": "$item", "qty": {"$sum": "$qty"}, "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}
    )
    assert groups == [
        {"_id": "abc", "qty": 7, "n": 2},
        {"_id": "jkl", "qty": 1, "n": 1},
        {"_id": "xyz", "qty": 10, "n": 1},
    ]
    tags = _agg(
        sales, {"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}
    )
    assert tags == [{"_id": "x", "n": 1}, {"_id": "y", "n": 2}, {"_id": "z", "n": 1}]
    assert _agg(sales, {"$match": {"item": "abc"}}, {"$count": "howMany"}) == [{"howMany": 2}]


def test_add_fields_and_set(sales: Any) -> None:
    out = _agg(
        sales,
        {"$match": {"_id": 3}},
        {"$addFields": {"total": {"$multiply": ["$price", "$qty"]}}},
        {"$set": {"cheap": {"$lt": ["$price", 6]}}},
        {"$project": {"tags": 0}},
    )
    assert out == [{"_id": 3, "item": "xyz", "price": 5, "qty": 10, "total": 50, "cheap": True}]


def test_lookup_joins_another_collection(sales: Any) -> None:
    out = _agg(
        sales,
        {"$match": {"_id": {"$in": [1, 2]}}},
        {"$lookup": {"from": "items", "localField": "item", "foreignField": "_id", "as": "info"}},
        {"$project": {"info": 1}},
        {"$sort": {"_id": 1}},
    )
    assert out == [{"_id": 1, "info": [{"_id": "abc", "desc": "first"}]}, {"_id": 2, "info": []}]


def test_facet_runs_sub_pipelines_over_the_same_input(sales: Any) -> None:
    out = _agg(
        sales,
        {"$facet": {
            "byItem": [{"$group": {"_id": "$item"}}, {"$sort": {"_id": 1}}],
            "expensive": [{"$match": {"price": {"$gt": 10}}}, {"$project": {"_id": 1}}],
            "count": [{"$count": "n"}],
        }},
    )  # fmt: skip
    assert out == [
        {
            "byItem": [{"_id": "abc"}, {"_id": "jkl"}, {"_id": "xyz"}],
            "expensive": [{"_id": 2}],
            "count": [{"n": 4}],
        }
    ]


def test_sample_returns_distinct_documents_of_the_collection(sales: Any) -> None:
    out = _agg(sales, {"$sample": {"size": 3}})
    ids = [d["_id"] for d in out]
    assert len(ids) == 3 and len(set(ids)) == 3 and set(ids) <= {1, 2, 3, 4}
    assert len(_agg(sales, {"$sample": {"size": 10}})) == 4


def test_text_match_with_score_in_aggregation(fresh_db: Any) -> None:
    coll = fresh_db.docs
    coll.create_index([("body", TEXT)])
    coll.insert_many(
        [{"_id": 1, "body": "red apple"}, {"_id": 2, "body": "red red red"}, {"_id": 3, "body": "blue"}]
    )
    out = _agg(
        coll,
        {"$match": {"$text": {"$search": "red"}}},
        {"$sort": {"score": {"$meta": "textScore"}}},
        {"$project": {"score": {"$meta": "textScore"}}},
    )
    assert [d["_id"] for d in out] == [2, 1]
    assert out[0]["score"] == pytest.approx(1.75 * 1.0, rel=1e-6)  # c=3 of n=3: (2 - 2**-2) * 1
    assert out[1]["score"] == pytest.approx(0.75, rel=1e-6)  # c=1 of n=2


def test_aggregate_cursor_spans_batches(fresh_db: Any) -> None:
    fresh_db.many.insert_many([{"i": i} for i in range(450)])
    out = list(fresh_db.many.aggregate([{"$sort": {"i": -1}}, {"$project": {"_id": 0}}], batchSize=40))
    assert [d["i"] for d in out] == list(range(449, -1, -1))
