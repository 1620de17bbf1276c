"""Aggregation stages and expressions added for fidelity (`$group` accumulators, `$bucketAuto`,
`$setWindowFields`, `$out`, `$merge`, `$round`, `$dateTrunc`, `$setField`) on a live member;
expected values follow mongod's documentation."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from bson import Int64
from pymongo import ReadPreference, WriteConcern, monitoring
from pymongo.errors import OperationFailure

SECONDARY_OK = ReadPreference.SECONDARY_PREFERRED
VALUES = [5, 3, 0, 8, 3, 1, 9, 0]


@pytest.fixture
def nums(fresh_db: Any) -> Any:
    fresh_db.s.insert_many([{"_id": i, "g": "ab"[i % 2], "v": v} for i, v in enumerate(VALUES)])
    return fresh_db.s


def _agg(coll: Any, *stages: dict[str, Any]) -> list[dict[str, Any]]:
    return list(coll.aggregate(list(stages)))


def test_group_accumulators(nums: Any) -> None:
    out = _agg(
        nums,
        {
            "$group": {
                "_id": "$g",
                "n": {"$count": {}},
                "sum": {"$sum": "$v"},
                "set": {"$addToSet": "$v"},
                "top2": {"$topN": {"n": 2, "sortBy": {"v": -1}, "output": "$_id"}},
                "low": {"$bottom": {"sortBy": {"v": -1}, "output": "$v"}},
                "max2": {"$maxN": {"n": 2, "input": "$v"}},
                "min2": {"$minN": {"n": 2, "input": "$v"}},
                "first2": {"$firstN": {"n": 2, "input": "$v"}},
                "last2": {"$lastN": {"n": 2, "input": "$v"}},
            }
        },
        {"$sort": {"_id": 1}},
    )
    a, b = out
    assert (a["n"], a["sum"], sorted(a["set"])) == (4, 17, [0, 3, 5, 9])  # 0 stays 0 in $addToSet
    assert (a["top2"], a["low"], a["max2"], a["min2"]) == ([6, 0], 0, [9, 5], [0, 3])
    assert (b["first2"], b["last2"]) == ([3, 8], [1, 0])
    assert _agg(nums, {"$group": {"_id": None, "big": {"$sum": Int64(2**40)}}})[0]["big"] == 8 * 2**40
    with pytest.raises(OperationFailure) as exc:
        _agg(nums, {"$group": {"_id": "$g", "x": {"$nope": 1}}})
    assert exc.value.code == 15952


def test_bucket_auto_keeps_equal_values_together(nums: Any) -> None:
    out = _agg(nums, {"$bucketAuto": {"groupBy": "$v", "buckets": 3}})
    assert out == [
        {"_id": {"min": 0, "max": 3}, "count": 3},
        {"_id": {"min": 3, "max": 8}, "count": 3},
        {"_id": {"min": 8, "max": 9}, "count": 2},
    ]
    with pytest.raises(OperationFailure) as exc:
        _agg(nums, {"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": "R5"}})
    assert exc.value.code == 115


def test_set_window_fields(nums: Any) -> None:
    out = _agg(
        nums,
        {
            "$setWindowFields": {
                "partitionBy": "$g",
                "sortBy": {"v": 1},
                "output": {
                    "rank": {"$rank": {}},
                    "dense": {"$denseRank": {}},
                    "running": {"$sum": "$v", "window": {"documents": ["unbounded", "current"]}},
                    "near": {"$push": "$v", "window": {"range": [-3, 0]}},
                    "prev": {"$shift": {"output": "$v", "by": -1, "default": None}},
                },
            }
        },
        {"$match": {"g": "b"}},
    )
    assert [d["v"] for d in out] == [0, 1, 3, 8]
    assert [d["rank"] for d in out] == [1, 2, 3, 4]
    assert [d["running"] for d in out] == [0, 1, 4, 12]
    assert [d["near"] for d in out] == [[0], [0, 1], [0, 1, 3], [8]]
    assert [d["prev"] for d in out] == [None, 0, 1, 3]
    ties = _agg(
        nums,
        {"$match": {"g": "a"}},
        {"$setWindowFields": {"sortBy": {"v": -1}, "output": {"r": {"$rank": {}}}}},
    )
    assert [d["r"] for d in ties] == [1, 2, 3, 4]


def test_round_date_trunc_and_set_field(fresh_db: Any) -> None:
    fresh_db.d.insert_one({"_id": 1, "x": 2.5, "y": 1234, "t": datetime.datetime(2024, 3, 14, 15, 9, 26)})
    out = _agg(
        fresh_db.d,
        {
            "$project": {
                "r0": {"$round": ["$x", 0]},
                "r1": {"$round": [3.45, 1]},
                "r2": {"$round": ["$y", -2]},
                "week": {"$dateTrunc": {"date": "$t", "unit": "week"}},
                "hours": {"$dateTrunc": {"date": "$t", "unit": "hour", "binSize": 6}},
                "month": {"$dateTrunc": {"date": "$t", "unit": "month", "timezone": "+05:30"}},
                "doc": {"$setField": {"field": {"$literal": "$p"}, "input": {"a": 1}, "value": 2}},
                "got": {"$getField": {"field": "a", "input": {"a": 7}}},
            }
        },
    )[0]
    assert (out["r0"], out["r1"], out["r2"]) == (2.0, 3.4, 1200)  # ties round to even
    assert out["week"] == datetime.datetime(2024, 3, 10)  # weeks start on Sunday
    assert out["hours"] == datetime.datetime(2024, 3, 14, 12)
    assert out["month"] == datetime.datetime(2024, 2, 29, 18, 30)  # March 1st in +05:30
    assert out["doc"] == {"a": 1, "$p": 2} and out["got"] == 7


def test_out_replaces_the_target_and_keeps_its_indexes(nums: Any) -> None:
    db = nums.database
    db.target.insert_one({"_id": "old"})
    db.target.create_index("v")
    assert _agg(nums, {"$match": {"g": "a"}}, {"$out": "target"}) == []
    assert sorted(d["_id"] for d in db.target.find()) == [0, 2, 4, 6]
    assert "v_1" in db.target.index_information()
    with pytest.raises(OperationFailure) as exc:  # a duplicate _id: the target stays as it was
        _agg(nums, {"$project": {"_id": "$g"}}, {"$out": "target"})
    assert exc.value.code == 11000
    assert sorted(d["_id"] for d in db.target.find()) == [0, 2, 4, 6]
    assert not [n for n in db.list_collection_names() if n.startswith("tmp.")]
    with pytest.raises(OperationFailure) as exc:
        _agg(nums, {"$out": "target"}, {"$match": {}})
    assert exc.value.code == 40601


def test_merge_modes(nums: Any) -> None:
    db = nums.database
    db.totals.insert_one({"_id": "a", "total": 100, "keep": True})
    by_group = {"$group": {"_id": "$g", "total": {"$sum": "$v"}}}
    _agg(nums, by_group, {"$merge": {"into": "totals"}})
    assert list(db.totals.find().sort("_id", 1)) == [
        {"_id": "a", "total": 17, "keep": True},
        {"_id": "b", "total": 12},
    ]
    add = [{"$set": {"total": {"$add": ["$total", "$$new.total"]}}}]
    _agg(nums, by_group, {"$merge": {"into": "totals", "whenMatched": add, "whenNotMatched": "discard"}})
    assert [d["total"] for d in db.totals.find().sort("_id", 1)] == [34, 24]
    with pytest.raises(OperationFailure) as exc:
        _agg(nums, by_group, {"$merge": {"into": "totals", "whenMatched": "fail"}})
    assert exc.value.code == 11000
    with pytest.raises(OperationFailure) as exc:
        _agg(nums, {"$merge": {"into": "totals", "on": "g"}})
    assert exc.value.code == 51183
    db.named.create_index("name", unique=True)
    db.named.insert_one({"name": "x", "v": -1})
    named = {"$project": {"_id": 0, "name": "x", "v": 1}}
    _agg(nums, {"$limit": 1}, named, {"$merge": {"into": "named", "on": "name", "whenMatched": "replace"}})
    assert db.named.find_one({"name": "x"})["v"] == 5


class AggregateTargets(monitoring.CommandListener):
    """The server each aggregate command was sent to."""

    def __init__(self) -> None:
        self.addresses: list[Any] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "aggregate":
            self.addresses.append(event.connection_id)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_out_and_merge_replicate_to_every_member(start_replica_set: Any) -> None:
    rs = start_replica_set(3)
    sent = AggregateTargets()
    with rs.client(event_listeners=[sent]) as client:
        coll = client.t.get_collection("s", write_concern=WriteConcern(w=3))
        coll.insert_many([{"_id": i, "g": i % 2} for i in range(6)])
        list(coll.aggregate([{"$match": {"g": 0}}, {"$out": "evens"}]))
        # sent to a secondary, as drivers do for a secondary read preference: the primary writes
        from_secondary = coll.with_options(read_preference=ReadPreference.SECONDARY)
        list(
            from_secondary.aggregate(
                [{"$group": {"_id": "$g", "n": {"$sum": 1}}}, {"$merge": {"into": "counts"}}]
            )
        )
        assert sorted(d["n"] for d in client.t.counts.find()) == [3, 3]
        assert sent.addresses[-1] != client.primary
    hashes = []
    for m in rs.members:
        with m.client() as direct:
            reply = direct.t.command("dbHash", collections=["evens", "counts"], read_preference=SECONDARY_OK)
            hashes.append(reply["collections"])
    assert hashes[0] == hashes[1] == hashes[2] and set(hashes[0]) == {"evens", "counts"}


def test_add_fields_removes_missing_values_and_merges_embedded_documents(fresh_db: Any) -> None:
    fresh_db.c.insert_one({"_id": 1, "a": 5, "e": {"c": 2}, "arr": [{"x": 1}, {"x": 2}]})
    stage = {"a": "$$REMOVE", "e": {"b": 1}, "arr.y": 3, "z": "$nope", "n": {"$add": ["$e.c", 1]}}
    out = _agg(fresh_db.c, {"$set": stage})
    assert out == [{"_id": 1, "e": {"c": 2, "b": 1}, "arr": [{"x": 1, "y": 3}, {"x": 2, "y": 3}], "n": 3}]
    fresh_db.c.update_one({"_id": 1}, [{"$set": {"a": "$$REMOVE", "e.d": 4}}])
    assert fresh_db.c.find_one() == {"_id": 1, "e": {"c": 2, "d": 4}, "arr": [{"x": 1}, {"x": 2}]}


def test_project_computes_fields_on_dotted_paths(fresh_db: Any) -> None:
    fresh_db.c.insert_one({"_id": 1, "e": {"c": 2, "d": 3}, "arr": [{"x": 1}, {"x": 2}]})
    stage = {
        "t": "insert",
        "ns.viewOn": "db.coll",
        "e.c": 1,
        "e.n": {"$add": ["$e.d", 1]},
        "arr.x": 1,
        "arr.y": {"$literal": 3},
    }
    assert _agg(fresh_db.c, {"$project": stage}) == [
        {
            "_id": 1,
            "t": "insert",
            "e": {"c": 2, "n": 4},
            "arr": [{"x": 1, "y": 3}, {"x": 2, "y": 3}],
            "ns": {"viewOn": "db.coll"},
        }
    ]
    with pytest.raises(OperationFailure) as err:
        _agg(fresh_db.c, {"$project": {"e": 1, "e.n": "$e.d"}})
    assert err.value.code == 31250


def test_project_computes_dotted_fields_per_array_element(fresh_db: Any) -> None:
    """Where the projection keeps nothing else of a path, mongod still computes the fields in
    every element of an array there (a scalar element becomes a document; nested arrays too),
    keeps the input's field order and adds new fields after it."""
    fresh_db.c.insert_one(
        {"_id": 1, "a": {"q": 1, "b": [{"z": 1}, 2]}, "arr": [{"x": 1}, 5, [{"x": 2}]], "t": 7}
    )
    out = _agg(
        fresh_db.c, {"$project": {"arr.y": {"$literal": 3}, "n": "$t", "a": {"b": {"c": "$t"}}, "t": 1}}
    )
    assert out == [
        {"_id": 1, "a": {"b": [{"c": 7}, {"c": 7}]}, "arr": [{"y": 3}, {"y": 3}, [{"y": 3}]], "t": 7, "n": 7}
    ]
    assert list(out[0]) == ["_id", "a", "arr", "t", "n"]
    out = _agg(fresh_db.c, {"$project": {"_id": 0, "arr.x": 1, "arr.y": "$t"}})
    assert out == [{"arr": [{"x": 1, "y": 7}, {"y": 7}, [{"x": 2, "y": 7}]]}]


def test_update_pipeline_stages_compute_as_the_aggregation_does(fresh_db: Any) -> None:
    """An update pipeline's stages are the aggregation's: a dotted computed field of `$project`
    is an embedded path, not a flat field name "e.n"."""
    coll = fresh_db.c
    coll.insert_one({"_id": 1, "t": "x", "e": {"c": 2, "d": 3}, "arr": [{"x": 1}, {"x": 2}]})
    project = {"t": 1, "e.c": 1, "e.n": {"$add": ["$e.d", 1]}, "arr.x": 1, "arr.y": {"$literal": 3}}
    coll.update_one({"_id": 1}, [{"$project": project}])
    assert coll.find_one() == {
        "_id": 1,
        "t": "x",
        "e": {"c": 2, "n": 4},
        "arr": [{"x": 1, "y": 3}, {"x": 2, "y": 3}],
    }
    coll.update_one(
        {"_id": 1},
        [
            {"$addFields": {"e.m": "$t"}},
            {"$unset": ["e.c", "arr.x"]},
            {"$replaceWith": {"_id": "$_id", "t": "$t", "e": "$e", "arr": "$arr", "f": "$e.n"}},
        ],
    )
    assert coll.find_one() == {
        "_id": 1,
        "t": "x",
        "e": {"n": 4, "m": "x"},
        "arr": [{"y": 3}, {"y": 3}],
        "f": 4,
    }
    with pytest.raises(OperationFailure) as err:
        coll.update_one({"_id": 1}, [{"$project": {"e": 1, "e.n": "$t"}}])
    assert err.value.code == 31250


def test_more_expression_operators(fresh_db: Any) -> None:
    fresh_db.e.insert_one({"_id": 1, "s": "  a-b-b  ", "n": "2.5", "d": datetime.datetime(2024, 1, 31)})
    out = _agg(
        fresh_db.e,
        {
            "$project": {
                "_id": 0,
                "dbl": {"$toDouble": "$n"},
                "bool": {"$toBool": 0},
                "oid": {"$toObjectId": "5f0000000000000000000000"},
                "l": {"$ltrim": {"input": "$s"}},
                "all": {"$replaceAll": {"input": "$s", "find": "b", "replacement": "c"}},
                "one": {"$replaceOne": {"input": "$s", "find": "b", "replacement": "c"}},
                "sorted": {"$sortArray": {"input": [3, 1, 2], "sortBy": -1}},
                "month": {"$dateAdd": {"startDate": "$d", "unit": "month", "amount": 1}},
                "back": {"$dateSubtract": {"startDate": "$d", "unit": "day", "amount": 31}},
                "sin": {"$sin": 0},
                "size": {"$bsonSize": {"a": 1}},
            }
        },
    )[0]
    assert out["dbl"] == 2.5 and out["bool"] is False and str(out["oid"]) == "5f0000000000000000000000"
    assert (out["l"], out["all"], out["one"]) == ("a-b-b  ", "  a-c-c  ", "  a-c-b  ")
    assert out["sorted"] == [3, 2, 1]
    assert out["month"] == datetime.datetime(2024, 2, 29)  # clamped to the month's last day
    assert out["back"] == datetime.datetime(2023, 12, 31)
    assert (out["sin"], out["size"]) == (0.0, 12)
    with pytest.raises(OperationFailure) as exc:
        _agg(
            fresh_db.e,
            {"$project": {"x": {"$dateDiff": {"startDate": "$d", "endDate": "$d", "unit": "day"}}}},
        )
    assert exc.value.code == 115
    with pytest.raises(OperationFailure) as exc:
        _agg(fresh_db.e, {"$project": {"x": {"$noSuchOperator": 1}}})
    assert exc.value.code == 168


def test_database_aggregate_with_documents_and_output_stages(fresh_db: Any) -> None:
    docs = [{"_id": 1, "v": "a"}, {"_id": 2, "v": "b"}]
    assert list(fresh_db.aggregate([{"$documents": docs}, {"$match": {"_id": 2}}])) == [docs[1]]
    assert list(fresh_db.aggregate([{"$documents": docs}, {"$merge": {"into": "merged"}}])) == []
    assert list(fresh_db.merged.find().sort("_id", 1)) == docs
    list(fresh_db.aggregate([{"$documents": [{"v": "c"}]}, {"$merge": {"into": "merged"}}]))
    assert fresh_db.merged.count_documents({"v": "c"}) == 1  # given an _id, as by mongod
    with pytest.raises(OperationFailure) as exc:  # the same _id again, whenMatched fail
        list(
            fresh_db.aggregate([{"$documents": docs}, {"$merge": {"into": "merged", "whenMatched": "fail"}}])
        )
    assert exc.value.code == 11000
    sessions = fresh_db.client.admin.aggregate(
        [{"$listLocalSessions": {}}, {"$limit": 1}, {"$project": {"_id": 0, "seen": {"$literal": True}}},
         {"$out": {"db": fresh_db.name, "coll": "sessions"}}]
    )  # fmt: skip
    assert list(sessions) == [] and fresh_db.sessions.find_one({}, {"_id": 0}) == {"seen": True}
