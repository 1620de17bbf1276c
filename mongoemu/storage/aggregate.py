"""Aggregation pipelines.

A leading `$match` (with `$text`, which must come first) and the `$sort`/`$skip`/`$limit`
right after it run through the query planner, so they use indexes; the remaining stages run
over the documents in memory. `$sort`, `$lookup`, `$facet`, `$unset`, `$replaceWith` and
`$sortByCount` are implemented here (mongomock lacks or only partly has them, and `$sort` must
share the engine's BSON order); every other stage and all expressions are mongomock's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from mongomock import OperationFailure
from mongomock.aggregate import _PIPELINE_HANDLERS

from mongoemu.errors import CommandError
from mongoemu.storage import keystring
from mongoemu.storage.collection import Collection
from mongoemu.storage.engine import StorageEngine
from mongoemu.storage.projection import TEXT_SCORE
from mongoemu.storage.query import Overlay, Query, matches, parse_sort, run, split_text

# Where a document's text score travels between stages; removed from the output.
SCORE_FIELD = "__mongoemu_textScore"
_UNSUPPORTED = {
    "$out", "$merge", "$currentOp", "$collStats", "$indexStats", "$planCacheStats", "$listSessions",
    "$listLocalSessions", "$geoNear", "$changeStream",
}  # fmt: skip

Docs = list[dict[str, Any]]


class _CollectionView:
    """What mongomock's `$graphLookup` needs of a collection: find(filter)."""

    def __init__(self, engine: StorageEngine, db: str, name: str) -> None:
        self._coll = engine.collection(db, name)

    def find(self, filter_: Mapping[str, Any] | None = None) -> Docs:
        return [m.doc for m in run(self._coll, Query(filter=dict(filter_ or {})))]


class _DatabaseView:
    def __init__(self, engine: StorageEngine, db: str) -> None:
        self._engine = engine
        self._db = db

    def get_collection(self, name: str) -> _CollectionView:
        return _CollectionView(self._engine, self._db, name)


def _replace_meta(spec: Any) -> Any:
    """{$meta: "textScore"} -> a reference to the hidden score field."""
    if isinstance(spec, Mapping):
        if len(spec) == 1 and spec.get("$meta") == TEXT_SCORE:
            return "$" + SCORE_FIELD
        return {k: _replace_meta(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_replace_meta(v) for v in spec]
    return spec


def check_pipeline(pipeline: Any) -> list[tuple[str, Any]]:
    if not isinstance(pipeline, list):
        raise CommandError(14, "'pipeline' option must be specified as an array")
    stages = []
    for stage in pipeline:
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise CommandError(
                40323,
                "A pipeline stage specification object must contain exactly one field.",
                code_name="Location40323",
            )
        ((name, arg),) = stage.items()
        if name not in _PIPELINE_HANDLERS and name not in _OWN:
            raise CommandError(
                40324, f"Unrecognized pipeline stage name: '{name}'", code_name="Location40324"
            )
        if name in _UNSUPPORTED:
            raise CommandError(
                115, f"{name} is not supported by the emulator", code_name="CommandNotSupported"
            )
        stages.append((name, arg))
    for i, (name, arg) in enumerate(stages):
        if name == "$match" and isinstance(arg, Mapping) and split_text(arg)[1] is not None and i > 0:
            raise CommandError(
                17313,
                "$match with $text is only allowed as the first pipeline stage",
                code_name="Location17313",
            )
    return stages


def aggregate(
    engine: StorageEngine, db: str, coll: Collection | None, pipeline: Any, overlay: Overlay | None = None
) -> Docs:
    """Run a pipeline over `coll` (None: a collection that does not exist), reading `overlay`'s
    versions of the documents it has."""
    stages = check_pipeline(pipeline)
    q = Query()
    text = False
    i = 0
    if stages and stages[0][0] == "$match":
        arg = stages[0][1]
        if not isinstance(arg, Mapping):
            raise CommandError(
                15959, "the match filter must be an expression in an object", code_name="Location15959"
            )
        q.filter = dict(arg)
        text = split_text(q.filter)[1] is not None
        i = 1
        if i < len(stages) and stages[i][0] == "$sort" and isinstance(stages[i][1], Mapping):
            q.sort = parse_sort(stages[i][1])
            i += 1
        if i < len(stages) and stages[i][0] == "$skip" and _count_arg(stages[i][1]):
            q.skip = int(stages[i][1])
            i += 1
        if i < len(stages) and stages[i][0] == "$limit" and _count_arg(stages[i][1]) and stages[i][1] > 0:
            q.limit = int(stages[i][1])
            i += 1
    docs: Docs = []
    for m in run(coll, q, overlay):
        doc = m.doc
        if text:
            doc[SCORE_FIELD] = m.score
        docs.append(doc)
    rest = stages[i:]
    if text:
        rest = [(n, _replace_meta(a)) for n, a in rest]
    out = run_stages(engine, db, docs, rest)
    for doc in out:
        doc.pop(SCORE_FIELD, None)
    return out


def _count_arg(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def run_stages(engine: StorageEngine, db: str, docs: Docs, stages: list[tuple[str, Any]]) -> Docs:
    database = _DatabaseView(engine, db)
    for name, arg in stages:
        own = _OWN.get(name)
        try:
            if own is not None:
                docs = own(engine, db, docs, arg)
            else:
                handler = _PIPELINE_HANDLERS[name]
                if handler is None:
                    raise CommandError(
                        115, f"{name} is not supported by the emulator", code_name="CommandNotSupported"
                    )
                docs = list(handler(docs, database, copy.deepcopy(arg)))
        except OperationFailure as exc:
            raise CommandError(exc.code or 2, f"{name}: {exc}") from None
        except (NotImplementedError, KeyError, TypeError, ValueError) as exc:
            raise CommandError(2, f"{name} failed: {exc}") from None
    return docs


def _match(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    if not isinstance(arg, Mapping):
        raise CommandError(
            15959, "the match filter must be an expression in an object", code_name="Location15959"
        )
    return [d for d in docs if matches(arg, d)]


def _sort(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    if not isinstance(arg, Mapping) or not arg:
        raise CommandError(15976, "$sort stage must have at least one sort key", code_name="Location15976")
    spec = []
    for path, direction in arg.items():
        if direction == "$" + SCORE_FIELD:
            spec.append((SCORE_FIELD, -1))
        elif direction in (1, -1) and not isinstance(direction, bool):
            spec.append((path, int(direction)))
        else:
            raise CommandError(
                15974,
                "$sort key ordering must be 1 (for ascending) or -1 (for descending)",
                code_name="Location15974",
            )
    return sorted(docs, key=lambda d: keystring.sort_key(d, spec))


def _lookup(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    if (
        not isinstance(arg, Mapping)
        or not isinstance(arg.get("from"), str)
        or not isinstance(arg.get("as"), str)
    ):
        raise CommandError(9, "$lookup requires string 'from' and 'as' fields")
    if "let" in arg:
        raise CommandError(
            115, "$lookup with 'let' is not supported by the emulator", code_name="CommandNotSupported"
        )
    foreign = engine.collection(db, arg["from"])
    local_field, foreign_field = arg.get("localField"), arg.get("foreignField")
    if (local_field is None) != (foreign_field is None):
        raise CommandError(
            9, "$lookup requires both or neither of 'localField' and 'foreignField' to be specified"
        )
    candidates: Docs | None = None
    if "pipeline" in arg:
        candidates = aggregate(engine, db, foreign, arg["pipeline"])
    out = []
    for doc in docs:
        if local_field is None:
            found = copy.deepcopy(candidates or [])
        else:
            values = keystring.path_values(doc, local_field)
            flat = [x for v in values for x in (v if isinstance(v, list) else [v])] or [None]
            cond = {foreign_field: {"$in": flat}}
            if candidates is None:
                found = [m.doc for m in run(foreign, Query(filter=cond))]
            else:
                found = [copy.deepcopy(c) for c in candidates if matches(cond, c)]
        out.append({**doc, arg["as"]: found})
    return out


def _facet(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    if not isinstance(arg, Mapping) or not arg:
        raise CommandError(
            40169, "the $facet specification must be a non-empty object", code_name="Location40169"
        )
    result = {}
    for field, pipeline in arg.items():
        result[field] = run_stages(engine, db, copy.deepcopy(docs), check_pipeline(pipeline))
    return [result]


def _unset(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    fields = [arg] if isinstance(arg, str) else arg
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise CommandError(
            31002, "$unset specification must be a string or an array of strings", code_name="Location31002"
        )
    return run_stages(engine, db, docs, [("$project", dict.fromkeys(fields, 0))])


def _replace_with(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    return run_stages(engine, db, docs, [("$replaceRoot", {"newRoot": arg})])


def _sort_by_count(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    grouped = run_stages(engine, db, docs, [("$group", {"_id": arg, "count": {"$sum": 1}})])
    return sorted(grouped, key=lambda d: keystring.sort_key(d, [("count", -1)]))


_OWN: dict[str, Callable[[StorageEngine, str, Docs, Any], Docs]] = {
    "$match": _match,
    "$sort": _sort,
    "$lookup": _lookup,
    "$facet": _facet,
    "$unset": _unset,
    "$replaceWith": _replace_with,
    "$sortByCount": _sort_by_count,
}
