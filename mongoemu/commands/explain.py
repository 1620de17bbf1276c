"""explain: the plan the emulator's planner chooses for a find, count, distinct, aggregate,
update, delete or findAndModify, and (verbosity executionStats and up) what running it examined.
Writes are planned and their matches counted, never applied, as mongod's explain does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from mongoemu.commands.arguments import GENERIC_ARGUMENTS, collation_for, known_fields, namespace, variables
from mongoemu.commands.crud import statement_query
from mongoemu.commands.query_args import count_query, find_query
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError
from mongoemu.storage import aggregate as pipeline
from mongoemu.storage import explain as render
from mongoemu.storage import query
from mongoemu.storage.expressions import scope
from mongoemu.storage.query import Query
from mongoemu.version import VERSION

Explained = dict[str, Any]


Wrap = Callable[[dict[str, Any]], dict[str, Any]]
WriteStats = Callable[[render.Run], dict[str, Any]]


def _plan(
    ctx: CommandContext, q: Query, wrap: Wrap | None = None, stats: WriteStats | None = None
) -> Explained:
    """queryPlanner (and executionStats) of one planned query, under `wrap`'s stage (COUNT, …);
    `stats`: the counters of a write stage (UPDATE, DELETE) that the query feeds."""
    db, name, ns = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    with scope(variables(ctx), q.collation):
        results, path = query.execute(coll, q)
        run = render.Run.drain(results, path)
    tree = render.plan_tree(path, q, write=stats is not None)
    winning = wrap(tree) if wrap else tree
    out: Explained = {"queryPlanner": render.query_planner(ns, q, winning)}
    if ctx.body.get("$verbosity") != "queryPlanner":
        execution = render.execution_stats(tree, run)
        if wrap is not None:
            outer = {k: v for k, v in winning.items() if k != "inputStage"}
            execution["executionStages"] = {
                **outer,
                **(stats(run) if stats else {}),
                "inputStage": execution["executionStages"],
            }
        out["executionStats"] = execution
        if ctx.body.get("$verbosity") == "allPlansExecution":
            execution["allPlansExecution"] = []
    return out


def _find(ctx: CommandContext) -> Explained:
    db, name, _ = namespace(ctx)
    return _plan(ctx, find_query(ctx, ctx.member.engine.collection(db, name)))


def _count(ctx: CommandContext) -> Explained:
    db, name, _ = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    q = count_query(ctx, coll)
    if not q.filter and q.hint is None and coll is not None:
        return _plan(ctx, q, lambda _: {"stage": "RECORD_STORE_FAST_COUNT"})
    return _plan(ctx, q, lambda tree: {"stage": "COUNT", "inputStage": tree})


def _distinct(ctx: CommandContext) -> Explained:
    db, name, _ = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    filter_ = ctx.body.get("query") or {}
    q = Query(filter=dict(filter_), collation=collation_for(ctx.body.get("collation"), coll))
    key = ctx.body.get("key")
    return _plan(
        ctx,
        q,
        lambda tree: {"stage": "PROJECTION_SIMPLE", "transformBy": {key: 1, "_id": 0}, "inputStage": tree},
    )


def _aggregate(ctx: CommandContext) -> Explained:
    db, name, _ = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    stages = pipeline.check_pipeline(ctx.body.get("pipeline"), allow_output=True)
    with scope(variables(ctx), collation_for(ctx.body.get("collation"), coll)):
        q, first_in_memory = pipeline.leading_query(stages, query.parse_hint(ctx.body.get("hint")))
    cursor = _plan(ctx, q)
    rest = stages[first_in_memory:]
    if not rest:
        return cursor
    return {"stages": [{"$cursor": cursor}, *({n: a} for n, a in rest)]}


def _write(ctx: CommandContext, statement_field: str) -> Explained:
    db, name, _ = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    statements = ctx.body.get(statement_field)
    if not isinstance(statements, list) or len(statements) != 1 or not isinstance(statements[0], Mapping):
        raise CommandError(2, f"explained {ctx.name} must have exactly one statement in '{statement_field}'")
    stmt = statements[0]
    if statement_field == "updates":
        q = statement_query(stmt, coll, limit=0 if stmt.get("multi") else 1)
        upsert = bool(stmt.get("upsert"))
        return _plan(
            ctx,
            q,
            lambda tree: {"stage": "UPDATE", "inputStage": tree},
            lambda run: {
                "nMatched": run.returned,
                "nWouldModify": run.returned,
                "nWouldUpsert": int(upsert and not run.returned),
            },
        )
    q = statement_query(stmt, coll, limit=int(stmt.get("limit", 0)))
    return _plan(
        ctx,
        q,
        lambda tree: {"stage": "DELETE", "inputStage": tree},
        lambda run: {"nWouldDelete": run.returned},
    )


def _find_and_modify(ctx: CommandContext) -> Explained:
    db, name, _ = namespace(ctx)
    coll = ctx.member.engine.collection(db, name)
    q = Query(
        filter=dict(ctx.body.get("query") or {}),
        sort=query.parse_sort(ctx.body.get("sort")),
        limit=1,
        hint=query.parse_hint(ctx.body.get("hint")),
        collation=collation_for(ctx.body.get("collation"), coll),
    )
    stage = "DELETE" if ctx.body.get("remove") else "UPDATE"
    return _plan(
        ctx,
        q,
        lambda tree: {"stage": stage, "inputStage": tree},
        lambda run: (
            {"nWouldDelete": run.returned}
            if stage == "DELETE"
            else {"nMatched": run.returned, "nWouldModify": run.returned}
        ),
    )


_EXPLAINERS: dict[str, Callable[[CommandContext], Explained]] = {
    "find": _find,
    "count": _count,
    "distinct": _distinct,
    "aggregate": _aggregate,
    "update": lambda ctx: _write(ctx, "updates"),
    "delete": lambda ctx: _write(ctx, "deletes"),
    "findAndModify": _find_and_modify,
    "findandmodify": _find_and_modify,
}


def explain_inner(ctx: CommandContext, inner: Mapping[str, Any], verbosity: str) -> Explained:
    """The explain document of `inner` (a command of ctx's database) at `verbosity`."""
    if not inner:
        raise CommandError(2, "explain command requires a nested object")
    name = next(iter(inner))
    explainer = _EXPLAINERS.get(name)
    if explainer is None:
        raise CommandError(59, f"Explain failed due to unknown command: {name}")
    body = {**inner, "$db": ctx.db, "$verbosity": verbosity}
    inner_ctx = dataclasses.replace(ctx, name=name, body=body)
    out = {"explainVersion": "1", **explainer(inner_ctx)}
    out["command"] = {k: v for k, v in inner.items() if k not in GENERIC_ARGUMENTS} | {"$db": ctx.db}
    host, _, port = ctx.member.name.rpartition(":")
    out["serverInfo"] = {"host": host, "port": int(port), "version": VERSION, "gitVersion": "mongoemu"}
    out["ok"] = 1.0
    return out


@command("explain", read=True)
async def explain(ctx: CommandContext) -> dict[str, Any]:
    known_fields(ctx, frozenset({"verbosity"}))
    inner = ctx.argument
    if not isinstance(inner, Mapping):
        raise CommandError(14, "explain command requires a nested object")
    verbosity = ctx.body.get("verbosity", "allPlansExecution")
    if verbosity not in render.VERBOSITIES:
        raise CommandError(
            2, "verbosity string must be one of {'queryPlanner', 'executionStats', 'allPlansExecution'}"
        )
    return explain_inner(ctx, inner, verbosity)
