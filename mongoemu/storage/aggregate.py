"""Aggregation pipelines.

A leading `$match` (with `$text`, which must come first) and the `$sort`/`$skip`/`$limit`
right after it run through the query planner, so they use indexes; the remaining stages run
over the documents in memory. `$sort`, `$lookup`, `$facet`, `$unset`, `$replaceWith` and
`$sortByCount` are implemented here (mongomock lacks or only partly has them, and `$sort` must
share the engine's BSON order); every other stage and all expressions are mongomock's. Stages
read their input through `_Yielding`, so every document a stage takes is a checkpoint.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mongomock import OperationFailure
from mongomock.aggregate import _PIPELINE_HANDLERS

from mongoemu.errors import CommandError
from mongoemu.operation import checkpoint
from mongoemu.storage import expressions, fields, grouping, keystring
from mongoemu.storage.collection import Collection
from mongoemu.storage.engine import StorageEngine
from mongoemu.storage.paths import is_operator_document
from mongoemu.storage.projection import TEXT_SCORE
from mongoemu.storage.query import Matcher, Query, View, matches, parse_sort, run, split_text

# Where a document's text score travels between stages; removed from the output.
SCORE_FIELD = "__mongoemu_textScore"
_UNSUPPORTED = {
    "$currentOp", "$collStats", "$indexStats", "$planCacheStats", "$listSessions",
    "$listLocalSessions", "$geoNear", "$changeStream",
}  # fmt: skip

Docs = list[dict[str, Any]]


class _Yielding(list):  # type: ignore[type-arg]
    """A stage's input: iterating it is a checkpoint per document (mongomock's stages loop in
    Python over whole lists), so a long pipeline gives the event loop its turns."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for doc in super().__iter__():
            checkpoint()
            yield doc


class _CollectionView:
    """What mongomock's `$graphLookup` needs of a collection: find(filter)."""

    def __init__(self, engine: StorageEngine, db: str, name: str) -> None:
        self._coll = engine.collection(db, name)

    def find(self, filter_: Mapping[str, Any] | None = None) -> Docs:
        return [m.doc for m in run(self._coll, Query(filter=dict(filter_ or {})))]


class _DatabaseView:
    def __init__(self, engine: StorageEngine | None, db: str) -> None:
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


def check_pipeline(pipeline: Any, *, allow_output: bool = False) -> list[tuple[str, Any]]:
    """The stages, checked; `allow_output`: a top-level pipeline, which may end in $out/$merge
    (the command writes those, aggregate() never sees them)."""
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
    for i, (name, _) in enumerate(stages):
        if name in ("$out", "$merge") and not (allow_output and i == len(stages) - 1):
            raise CommandError(40601, f"{name} can only be the final stage in the pipeline")
    for i, (name, arg) in enumerate(stages):
        if name == "$match" and isinstance(arg, Mapping) and split_text(arg)[1] is not None and i > 0:
            raise CommandError(
                17313,
                "$match with $text is only allowed as the first pipeline stage",
                code_name="Location17313",
            )
    return stages


def documents_stage(spec: Any) -> Docs:
    """`$documents`: the documents its expression evaluates to (an `aggregate: 1` source)."""
    value = expressions.evaluate(spec, {})
    if not isinstance(value, list) or not all(isinstance(d, Mapping) for d in value):
        raise CommandError(5858203, "error during $documents: an array of objects is required")
    return [dict(d) for d in value]


def leading_query(stages: list[tuple[str, Any]], hint: Any = None) -> tuple[Query, int]:
    """The query the planner runs for a pipeline (a leading `$match` and the `$sort`, `$skip` and
    `$limit` right after it), and the index of the first stage left to run in memory."""
    q = Query(hint=hint, collation=expressions.current_collation())
    i = 0
    if stages and stages[0][0] == "$match":
        arg = stages[0][1]
        if not isinstance(arg, Mapping):
            raise CommandError(
                15959, "the match filter must be an expression in an object", code_name="Location15959"
            )
        q.filter = dict(arg)
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
    return q, i


def aggregate(
    engine: StorageEngine,
    db: str,
    coll: Collection | None,
    pipeline: Any,
    view: View | None = None,
    *,
    hint: Any = None,
) -> Docs:
    """Run a pipeline over `coll` (None: a collection that does not exist), reading the
    documents `view` sees; `hint` chooses the index of the leading query."""
    stages = check_pipeline(pipeline)
    q, i = leading_query(stages, hint)
    text = split_text(q.filter)[1] is not None
    docs: Docs = []
    for m in run(coll, q, view):
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


def update_pipeline(doc: dict[str, Any], stages: list[tuple[str, Any]]) -> dict[str, Any]:
    """The document an update pipeline's stages make of `doc`: the aggregation's own stages, so
    both compute alike. The stages an update allows read no collection, hence no engine."""
    return run_stages(None, "", [doc], stages)[0]


def run_stages(engine: StorageEngine | None, db: str, docs: Docs, stages: list[tuple[str, Any]]) -> Docs:
    database = _DatabaseView(engine, db)
    for name, arg in stages:
        own = _OWN.get(name)
        try:
            if own is not None:
                docs = own(engine, db, _Yielding(docs), arg)
            else:
                handler = _PIPELINE_HANDLERS[name]
                if handler is None:
                    raise CommandError(
                        115, f"{name} is not supported by the emulator", code_name="CommandNotSupported"
                    )
                docs = list(handler(_Yielding(docs), database, copy.deepcopy(arg)))
        except OperationFailure as exc:
            raise expressions.mongomock_error(exc, f"{name}: ") from None
        except (NotImplementedError, KeyError, TypeError, ValueError) as exc:
            raise CommandError(2, f"{name} failed: {exc}") from None
    return docs


def _match(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    if not isinstance(arg, Mapping):
        raise CommandError(
            15959, "the match filter must be an expression in an object", code_name="Location15959"
        )
    matcher = Matcher.build(arg, expressions.current_collation())
    return [d for d in docs if matcher(d)]


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
    collation = expressions.current_collation()
    # Keys computed while iterating (a checkpoint per document), then one sort in C.
    keyed = [
        (keystring.sort_key(d if collation is None else collation.value(d), spec), i, d)
        for i, d in enumerate(docs)
    ]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [d for _, _, d in keyed]


def _lookup(engine: StorageEngine, db: str, docs: Docs, arg: Any) -> Docs:
    if (
        not isinstance(arg, Mapping)
        or not isinstance(arg.get("from"), str)
        or not isinstance(arg.get("as"), str)
    ):
        raise CommandError(9, "$lookup requires string 'from' and 'as' fields")
    let = arg.get("let", {})
    if not isinstance(let, Mapping):
        raise CommandError(9, "$lookup argument 'let' must be an object")
    if let and "pipeline" not in arg:
        raise CommandError(51758, "$lookup with 'let' must also specify 'pipeline'")
    names = [expressions.check_variable_name(n) for n in let]
    foreign = engine.collection(db, arg["from"])
    local_field, foreign_field = arg.get("localField"), arg.get("foreignField")
    if (local_field is None) != (foreign_field is None):
        raise CommandError(
            9, "$lookup requires both or neither of 'localField' and 'foreignField' to be specified"
        )
    # Without `let` the sub-pipeline is the same for every document: run it once.
    shared: Docs | None = None
    if "pipeline" in arg and not let:
        shared = aggregate(engine, db, foreign, arg["pipeline"])
    out = []
    for doc in docs:
        candidates = shared
        if let:
            values = [expressions.evaluate(e, doc) for e in let.values()]
            bound = {n: None if v is expressions.MISSING else v for n, v in zip(names, values, strict=True)}
            with expressions.scope({**expressions.current(), **bound}):
                candidates = aggregate(engine, db, foreign, arg["pipeline"])
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


def _project(engine: StorageEngine | None, db: str, docs: Docs, arg: Any) -> Docs:
    """mongomock's $project, but an inclusion that computes a field on a dotted path, which
    mongomock writes as a flat field name (`{"ns.viewOn": ...}`), is mongod's projection tree."""
    paths = _flat_spec(arg) if isinstance(arg, Mapping) else []
    spec = dict(paths)
    if (
        not any("." in path and fields.is_computed(v) for path, v in paths)
        or any(not path or path.startswith("$") or "" in path.split(".") for path, _ in paths)
        # mongomock refuses a computed field in an exclusion projection itself.
        or any(path != "_id" and not fields.is_computed(v) and not v for path, v in paths)
    ):
        return list(_PIPELINE_HANDLERS["$project"](docs, _DatabaseView(engine, db), copy.deepcopy(arg)))
    for i, (path, _) in enumerate(paths):
        for other, _ in paths[i + 1 :]:
            if other == path or other.startswith(path + ".") or path.startswith(other + "."):
                raise CommandError(31250, f"Invalid $project :: caused by :: Path collision at {other}")
    return fields.project(list(docs), spec)


def _flat_spec(spec: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """A projection's (path, value) pairs, its embedded specifications (`{"a": {"b": 1}}`) as
    dotted paths."""
    out = []
    for name, value in spec.items():
        if isinstance(value, Mapping) and value and not is_operator_document(value):
            out.extend(_flat_spec(value, f"{prefix}{name}."))
        else:
            out.append((f"{prefix}{name}", value))
    return out


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
    "$addFields": lambda engine, db, docs, arg: fields.add_fields(docs, arg),
    "$set": lambda engine, db, docs, arg: fields.add_fields(docs, arg, "$set"),
    "$group": lambda engine, db, docs, arg: grouping.group(docs, arg),
    "$bucket": lambda engine, db, docs, arg: grouping.bucket(docs, arg),
    "$bucketAuto": lambda engine, db, docs, arg: grouping.bucket_auto(docs, arg),
    "$setWindowFields": lambda engine, db, docs, arg: grouping.set_window_fields(docs, arg),
    "$match": _match,
    "$sort": _sort,
    "$lookup": _lookup,
    "$facet": _facet,
    "$unset": _unset,
    "$project": _project,
    "$replaceWith": _replace_with,
    "$sortByCount": _sort_by_count,
}
