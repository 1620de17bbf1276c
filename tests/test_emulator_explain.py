"""explain on a live member through PyMongo: mongod's document shape, and a winning plan that
says what the emulator's planner did (IXSCAN under FETCH, COLLSCAN, IDHACK, SORT)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import OperationFailure


@pytest.fixture
def coll(fresh_db: Any) -> Any:
    fresh_db.s.insert_many([{"_id": i, "x": i % 10, "y": i} for i in range(100)])
    fresh_db.s.create_index("x")
    return fresh_db.s


def _stages(plan: dict[str, Any]) -> list[str]:
    out = []
    while plan:
        out.append(plan["stage"])
        plan = plan.get("inputStage")  # type: ignore[assignment]
    return out


def test_find_explain_shows_the_index_used_and_what_was_examined(coll: Any) -> None:
    explained = coll.find({"x": 3}).explain()
    planner = explained["queryPlanner"]
    assert planner["namespace"] == f"{coll.database.name}.s"
    assert planner["parsedQuery"] == {"x": {"$eq": 3}}
    assert _stages(planner["winningPlan"]) == ["FETCH", "IXSCAN"]
    scan = planner["winningPlan"]["inputStage"]
    assert (scan["indexName"], scan["keyPattern"], scan["indexBounds"]) == (
        "x_1",
        {"x": 1},
        {"x": ["[3, 3]"]},
    )
    stats = explained["executionStats"]
    assert (stats["nReturned"], stats["totalKeysExamined"], stats["totalDocsExamined"]) == (10, 10, 10)
    assert explained["serverInfo"]["version"].startswith("6.0")


def test_plans_follow_the_planner(coll: Any) -> None:
    assert _stages(coll.find({"y": 5}).explain()["queryPlanner"]["winningPlan"]) == ["COLLSCAN"]
    by_id = coll.find({"_id": 5}).explain()
    assert _stages(by_id["queryPlanner"]["winningPlan"]) == ["IDHACK"]
    assert by_id["executionStats"]["totalDocsExamined"] == 1
    sorted_plan = (
        coll.find({"y": {"$gt": 90}}).sort("y", -1).limit(3).explain()["queryPlanner"]["winningPlan"]
    )
    assert _stages(sorted_plan) == ["SORT", "COLLSCAN"] and sorted_plan["limitAmount"] == 3
    index_order = coll.find({"x": {"$gte": 5}}).sort("x", -1).explain()["queryPlanner"]["winningPlan"]
    assert (
        _stages(index_order) == ["FETCH", "IXSCAN"] and index_order["inputStage"]["direction"] == "backward"
    )
    hinted = coll.find({}).hint("x_1").explain()["executionStats"]
    assert hinted["totalKeysExamined"] == 100


def test_explain_of_count_distinct_aggregate_and_writes(coll: Any) -> None:
    db = coll.database
    count = db.command("explain", {"count": "s", "query": {"x": {"$in": [1, 2]}}}, verbosity="executionStats")
    assert _stages(count["queryPlanner"]["winningPlan"]) == ["COUNT", "FETCH", "IXSCAN"]
    assert count["executionStats"]["nReturned"] == 20
    distinct = db.command("explain", {"distinct": "s", "key": "y", "query": {"x": 1}})
    assert _stages(distinct["queryPlanner"]["winningPlan"])[-1] == "IXSCAN"
    agg = db.command(
        "aggregate", "s", pipeline=[{"$match": {"x": 2}}, {"$group": {"_id": None}}], explain=True
    )
    assert _stages(agg["stages"][0]["$cursor"]["queryPlanner"]["winningPlan"]) == ["FETCH", "IXSCAN"]
    assert list(agg["stages"][1]) == ["$group"]
    update = {"update": "s", "updates": [{"q": {"x": 1}, "u": {"$set": {"z": 1}}, "multi": True}]}
    explained = db.command("explain", update, verbosity="executionStats")
    assert explained["executionStats"]["executionStages"]["nWouldModify"] == 10
    assert coll.count_documents({"z": 1}) == 0  # explain plans a write, never applies it
    delete = db.command("explain", {"delete": "s", "deletes": [{"q": {"_id": 3}, "limit": 1}]})
    assert _stages(delete["queryPlanner"]["winningPlan"]) == ["DELETE", "IDHACK"]
    assert coll.count_documents({}) == 100


def test_bad_explain_requests(coll: Any) -> None:
    with pytest.raises(OperationFailure) as exc:
        coll.database.command("explain", {"find": "s"}, verbosity="loud")
    assert exc.value.code == 2
    with pytest.raises(OperationFailure) as exc:
        coll.database.command("explain", {"insert": "s", "documents": [{}]})
    assert exc.value.code == 59


def test_partial_and_sparse_indexes_are_used_only_when_the_filter_allows(fresh_db: Any) -> None:
    coll = fresh_db.p
    coll.create_index("x", partialFilterExpression={"a": {"$lte": 1.5}})
    coll.create_index("s", sparse=True)
    coll.insert_many([{"x": 5, "a": 2}, {"x": 6, "a": 1}])

    def plan(filter_: dict[str, Any]) -> list[str]:
        return _stages(coll.find(filter_).explain()["queryPlanner"]["winningPlan"])

    for implied in ({"x": 6, "a": 1}, {"x": {"$gt": 1}, "a": 1}, {"x": 6, "a": {"$lte": 1}}):
        assert plan(implied) == ["FETCH", "IXSCAN"], implied
        assert coll.find(implied).explain()["queryPlanner"]["winningPlan"]["inputStage"]["isPartial"]
    for not_implied in ({"x": 6, "a": {"$lte": 1.6}}, {"x": 6}):
        assert plan(not_implied) == ["COLLSCAN"], not_implied
    assert plan({"s": 3}) == ["FETCH", "IXSCAN"]
    assert plan({"s": None}) == ["COLLSCAN"]  # a sparse index lacks the documents without s
