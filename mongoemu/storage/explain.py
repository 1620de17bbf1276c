"""explain output in mongod 6.0's classic-engine shape, built from the access path the planner
actually took (storage/query.py's AccessPath) and what running it examined.

The plan tree reads bottom-up as mongod's does: COLLSCAN / IXSCAN (under FETCH) / IDHACK /
TEXT_MATCH, then SORT when the order is not the index's, SKIP, LIMIT and PROJECTION_DEFAULT.
Index bounds are written from the filter's constraints on each key field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bson import json_util

from mongoemu.storage.query import AccessPath, FieldBounds, Match, Query

VERBOSITIES = ("queryPlanner", "executionStats", "allPlansExecution")
_SORT_MEMORY_LIMIT = 100 * 1024 * 1024


def parsed_query(filter_: Mapping[str, Any]) -> dict[str, Any]:
    """The filter as mongod's explain prints it: equalities as $eq, several clauses under $and."""
    clauses = []
    for key, cond in filter_.items():
        if key.startswith("$"):
            clauses.append({key: cond})
        elif isinstance(cond, Mapping) and any(str(k).startswith("$") for k in cond):
            clauses.extend({key: {op: arg}} for op, arg in cond.items())
        else:
            clauses.append({key: {"$eq": cond}})
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    return json_util.dumps(value)


def _interval(b: FieldBounds | None) -> list[str]:
    if b is None:
        return ["[MinKey, MaxKey]"]
    if b.points is not None:
        return [f"[{_show(v)}, {_show(v)}]" for v in b.points]
    low = f"{'[' if b.low[1] else '('}{_show(b.low[0])}" if b.low else "[MinKey"
    high = f"{_show(b.high[0])}{']' if b.high[1] else ')'}" if b.high else "MaxKey]"
    return [f"{low}, {high}"]


def _leaf(path: AccessPath, query: Query) -> dict[str, Any]:
    direction = "forward" if path.direction > 0 else "backward"
    residual = parsed_query(query.filter)
    if path.stage == "EOF":
        return {"stage": "EOF"}
    if path.stage == "IDHACK":
        return {"stage": "IDHACK"}
    if path.stage == "COLLSCAN":
        return {"stage": "COLLSCAN", **({"filter": residual} if residual else {}), "direction": direction}
    assert path.index is not None
    spec = path.index
    if path.stage == "TEXT":
        return {"stage": "TEXT_MATCH", "indexPrefix": {}, "indexName": spec.name, "parsedTextQuery": {}}
    scan = {
        "stage": "IXSCAN",
        "keyPattern": spec.key_pattern(),
        "indexName": spec.name,
        "isMultiKey": False,
        "multiKeyPaths": {f: [] for f in spec.fields},
        "isUnique": spec.unique,
        "isSparse": spec.sparse,
        "isPartial": spec.partial is not None,
        "indexVersion": 2,
        "direction": direction,
        "indexBounds": {f: _interval(path.bounds.get(f)) for f in spec.fields},
    }
    return {"stage": "FETCH", **({"filter": residual} if residual else {}), "inputStage": scan}


def plan_tree(path: AccessPath, query: Query, *, write: bool = False) -> dict[str, Any]:
    """The winning plan of a find-shaped query (of an update or delete: its limit is the write
    stage's, not a LIMIT stage)."""
    plan = _leaf(path, query)
    if path.in_memory_sort:
        plan = {
            "stage": "SORT",
            "sortPattern": {p: (d if isinstance(d, int) else {"$meta": "textScore"}) for p, d in query.sort},
            "memLimit": _SORT_MEMORY_LIMIT,
            **({"limitAmount": query.skip + query.limit} if query.limit else {}),
            "type": "simple",
            "inputStage": plan,
        }
    if query.skip:
        plan = {"stage": "SKIP", "skipAmount": query.skip, "inputStage": plan}
    if query.limit and not path.in_memory_sort and not write:
        plan = {"stage": "LIMIT", "limitAmount": query.limit, "inputStage": plan}
    if query.projection is not None:
        plan = {"stage": "PROJECTION_DEFAULT", "transformBy": {}, "inputStage": plan}
    return plan


@dataclass(slots=True)
class Run:
    """A query's plan executed for explain: how many documents it returned, in what time."""

    path: AccessPath
    returned: int = 0
    millis: int = 0

    @classmethod
    def drain(cls, results: Iterator[Match], path: AccessPath) -> Run:
        start = time.perf_counter()
        returned = sum(1 for _ in results)
        return cls(path, returned, int((time.perf_counter() - start) * 1000))


def query_planner(namespace: str, query: Query, winning: dict[str, Any]) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "indexFilterSet": False,
        "parsedQuery": parsed_query(query.filter),
        "maxIndexedOrSolutionsReached": False,
        "maxIndexedAndSolutionsReached": False,
        "maxScansToExplodeReached": False,
        "winningPlan": winning,
        "rejectedPlans": [],
    }


def _with_stats(plan: dict[str, Any], run: Run, returned: int) -> dict[str, Any]:
    """A plan tree annotated with execution counters (the leaf carries what was examined)."""
    out = {"stage": plan["stage"], "nReturned": returned, "executionTimeMillisEstimate": run.millis}
    out.update({k: v for k, v in plan.items() if k not in ("stage", "inputStage")})
    out.update(
        {"works": run.path.keys_examined + run.path.docs_examined + 1, "advanced": returned, "isEOF": 1}
    )
    if plan["stage"] in ("COLLSCAN", "FETCH", "IDHACK"):
        out["docsExamined"] = run.path.docs_examined
    if plan["stage"] in ("IXSCAN", "IDHACK"):
        out["keysExamined"] = run.path.keys_examined
    if "inputStage" in plan:
        out["inputStage"] = _with_stats(plan["inputStage"], run, returned)
    return out


def execution_stats(plan: dict[str, Any], run: Run, returned: int | None = None) -> dict[str, Any]:
    n = run.returned if returned is None else returned
    return {
        "executionSuccess": True,
        "nReturned": n,
        "executionTimeMillis": run.millis,
        "totalKeysExamined": run.path.keys_examined,
        "totalDocsExamined": run.path.docs_examined,
        "executionStages": _with_stats(plan, run, n),
    }
