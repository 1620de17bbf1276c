"""Query execution: pick an access path (the `_id` table, a secondary index, the text index or
a collection scan), filter with mongomock's matcher, sort, skip and limit.

The planner is deliberately small, like mongod's for simple predicates: equality (and `$in`)
on a prefix of an index's fields, then at most one range, scored by how many fields it
constrains; an index whose order answers the sort lets a limited query stop early. Sparse and
partial indexes are never chosen, so a plan never misses documents. Every candidate is still
checked against the whole filter, so a plan only decides speed, never results.

Every document fetched is a checkpoint (`mongoemu.operation`): a long scan gives the member's
event loop a turn every few milliseconds. A scan reads a snapshot of record ids (or walks an
index), so writes made meanwhile are seen or not, as in mongod's yielding scans.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bson import Int64
from bson.raw_bson import RawBSONDocument
from mongomock import OperationFailure
from mongomock.filtering import filter_applies

from mongoemu.errors import CommandError
from mongoemu.operation import checkpoint
from mongoemu.storage import expression_library, expressions, filters, keystring
from mongoemu.storage.collation import Collation
from mongoemu.storage.collection import Collection, decode, id_key
from mongoemu.storage.engine import raw_of
from mongoemu.storage.indexes import ID_INDEX, ID_SPEC, IndexSpec, SecondaryIndex
from mongoemu.storage.paths import field_clauses, is_operator_document
from mongoemu.storage.projection import Projection, is_meta_text_score
from mongoemu.storage.textindex import TextQuery

SortSpec = list[tuple[str, Any]]  # direction 1 / -1, or "textScore"
_RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")
# These modules extend mongomock's matcher and evaluator when imported; every query goes
# through here.
_EXTENSIONS = (expressions, expression_library, filters)
_MAX_INTERVALS = 256


class Match:
    """One matching document: raw BSON, decoded on demand, and its text score."""

    __slots__ = ("_doc", "raw", "rid", "score")

    def __init__(
        self, rid: int, raw: bytes, score: float | None = None, doc: dict[str, Any] | None = None
    ) -> None:
        self.rid = rid
        self.raw = raw
        self.score = score
        self._doc = doc

    @property
    def doc(self) -> dict[str, Any]:
        if self._doc is None:
            self._doc = decode(self.raw)
        return self._doc

    @classmethod
    def version(cls, doc: Mapping[str, Any]) -> Match:
        """A version of a document that is not the stored one (no record id)."""
        return cls(-1, raw_of(doc), 0.0, dict(doc))


def parse_sort(sort: Any) -> SortSpec:
    if sort is None:
        return []
    if not isinstance(sort, Mapping):
        raise CommandError(14, "sort must be an object")
    if "$natural" in sort and len(sort) > 1:
        raise CommandError(2, "$natural sort cannot be set in combination with other fields")
    spec: SortSpec = []
    for path, direction in sort.items():
        if is_meta_text_score(direction):
            spec.append((path, "textScore"))
        elif isinstance(direction, int | float) and not isinstance(direction, bool) and direction in (1, -1):
            spec.append((path, int(direction)))
        else:
            raise CommandError(2, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
    return spec


def matcher_error(exc: Exception) -> CommandError:
    """mongomock's complaints about a filter, as mongod's BadValue."""
    if isinstance(exc, NotImplementedError):
        return CommandError(2, f"query operator not supported by the emulator: {exc}")
    return CommandError(2, str(exc).removeprefix("BadValue "))


def matches(filter_: Mapping[str, Any], doc: Mapping[str, Any]) -> bool:
    try:
        return filter_applies(filter_, doc)
    except (OperationFailure, NotImplementedError, TypeError) as exc:
        raise matcher_error(exc) from None


# Operators whose operand is not a value to compare (collation leaves them alone).
_UNCOLLATED_OPS = frozenset(
    {"$regex", "$options", "$type", "$exists", "$size", "$mod", "$bitsAllSet", "$bitsAnySet",
     "$bitsAllClear", "$bitsAnyClear", "$where", "$text", "$expr", "$comment", "$jsonSchema"}
)  # fmt: skip


def _has_regex(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "$regex" in value or any(_has_regex(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_regex(v) for v in value)
    return type(value).__name__ in ("Regex", "Pattern")


def _collate_condition(c: Collation, cond: Any) -> Any:
    if not is_operator_document(cond):
        return c.value(cond)
    out = {}
    for op, arg in cond.items():
        if op in _UNCOLLATED_OPS:
            out[op] = arg
        elif op == "$elemMatch" and isinstance(arg, Mapping):
            out[op] = _collate_condition(c, arg) if is_operator_document(arg) else collate_filter(c, arg)
        elif op == "$not":
            out[op] = _collate_condition(c, arg)
        else:
            out[op] = c.value(arg)
    return out


def collate_filter(c: Collation, filter_: Mapping[str, Any]) -> dict[str, Any]:
    """The filter with its compared strings replaced by their collation keys."""
    out: dict[str, Any] = {}
    for key, cond in filter_.items():
        if key in ("$and", "$or", "$nor") and isinstance(cond, list):
            out[key] = [collate_filter(c, x) if isinstance(x, Mapping) else x for x in cond]
        elif key.startswith("$"):
            out[key] = cond
        else:
            out[key] = _collate_condition(c, cond)
    return out


@dataclass(frozen=True, slots=True)
class Matcher:
    """A filter under a collation: clauses with a regex, `$expr` or `$where` see the stored
    strings (mongod's regexes ignore collation; `$expr` compares under it itself), the others
    see collation keys on both sides."""

    raw: dict[str, Any]
    collated: dict[str, Any]
    collation: Collation | None

    @classmethod
    def build(cls, filter_: Mapping[str, Any], collation: Collation | None) -> Matcher:
        if collation is None:
            return cls(dict(filter_), {}, None)
        raw, keyed = {}, {}
        for key, cond in filter_.items():
            if key in ("$expr", "$where", "$text") or _has_regex(cond):
                raw[key] = cond
            else:
                keyed[key] = cond
        return cls(raw, collate_filter(collation, keyed), collation)

    def __call__(self, doc: Mapping[str, Any]) -> bool:
        if self.raw and not matches(self.raw, doc):
            return False
        return not self.collated or matches(self.collated, self.collation.value(doc))  # type: ignore[union-attr]


def split_text(filter_: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """Separate a top-level `$text` (also inside a top-level `$and`) from the rest."""
    rest = dict(filter_)
    text = rest.pop("$text", None)
    if text is None and isinstance(rest.get("$and"), list):
        remaining = []
        for clause in rest["$and"]:
            if isinstance(clause, Mapping) and "$text" in clause and text is None:
                others = dict(clause)
                text = others.pop("$text")
                if others:
                    remaining.append(others)
            else:
                remaining.append(clause)
        if remaining:
            rest["$and"] = remaining
        else:
            del rest["$and"]
    return rest, text


@dataclass(slots=True)
class FieldBounds:
    points: list[Any] | None = None
    low: tuple[Any, bool] | None = None  # (value, inclusive)
    high: tuple[Any, bool] | None = None


def _is_plain(value: Any) -> bool:
    """A value an index can look up directly (not a regex, array or operator document)."""
    if isinstance(value, list | tuple):
        return False
    if isinstance(value, Mapping):
        return not is_operator_document(value)
    return type(value).__name__ not in ("Regex", "Pattern")


def field_bounds(filter_: Mapping[str, Any]) -> dict[str, FieldBounds]:
    out: dict[str, FieldBounds] = {}
    for path, cond in field_clauses(filter_):
        b = out.setdefault(path, FieldBounds())
        if _is_plain(cond):
            b.points = [cond]
            continue
        if not isinstance(cond, Mapping):
            continue
        if "$eq" in cond and _is_plain(cond["$eq"]):
            b.points = [cond["$eq"]]
        elif isinstance(cond.get("$in"), list) and all(_is_plain(v) for v in cond["$in"]) and cond["$in"]:
            b.points = list(cond["$in"])
        for op in _RANGE_OPS:
            if op in cond and _is_plain(cond[op]) and cond[op] is not None:
                if op in ("$gt", "$gte"):
                    b.low = (cond[op], op == "$gte")
                else:
                    b.high = (cond[op], op == "$lte")
    return {p: b for p, b in out.items() if b.points is not None or b.low or b.high}


def _range(
    low: tuple[Any, bool] | None, high: tuple[Any, bool] | None, direction: int
) -> tuple[bytes, bytes]:
    """Byte bounds [start, end) of one component restricted to a value range (type-bracketed)."""
    probe = low[0] if low else high[0]  # type: ignore[index]
    t_low, t_high = keystring.type_bounds(probe)
    if direction > 0:
        start = t_low if low is None else keystring.encode(low[0])
        if low is not None and not low[1]:
            start = keystring.successor(start)
        end = t_high if high is None else keystring.encode(high[0])
        if high is not None and high[1]:
            end = keystring.successor(end)
        return start, end
    start = keystring.invert(t_low) if high is None else keystring.invert(keystring.encode(high[0]))
    if high is not None and not high[1]:
        start = keystring.successor(start)
    if low is None:
        end = bytes((keystring.invert(t_low)[0] + 1,))
    else:
        end = keystring.invert(keystring.encode(low[0]))
        if low[1]:
            end = keystring.successor(end)
    return start, end


@dataclass(slots=True)
class IndexPlan:
    index: SecondaryIndex
    intervals: list[tuple[bytes, bytes]]
    score: int
    provides_sort: bool = False
    reverse: bool = False

    def rids(self) -> Iterator[int]:
        seen: set[int] = set()
        multi = self.index.multikey or len(self.intervals) > 1
        intervals = reversed(self.intervals) if self.reverse else self.intervals
        for start, end in intervals:
            for rid in self.index.scan(start, end, self.reverse):
                if multi:
                    if rid in seen:
                        continue
                    seen.add(rid)
                yield rid


def _plan_index(index: SecondaryIndex, bounds: dict[str, FieldBounds], sort: SortSpec) -> IndexPlan | None:
    spec = index.spec
    prefixes: list[bytes] = [b""]
    score = 0
    used = 0
    ranged = False
    for path, direction in spec.key:
        b = bounds.get(path)
        if b is None:
            break
        if b.points is not None and not (index.multikey and b.low):
            if len(prefixes) * len(b.points) > _MAX_INTERVALS:
                break
            encoded = []
            for v in b.points:
                enc = keystring.encode(v)
                encoded.append(enc if direction > 0 else keystring.invert(enc))
            prefixes = sorted({p + e for p, e in itertools.product(prefixes, encoded)})
            score += 2
            used += 1
            continue
        if b.low or b.high:
            lo, hi = _range(b.low, b.high, direction)
            intervals = [(p + lo, p + hi) for p in prefixes]
            score += 1
            ranged = True
        break
    if not ranged:
        intervals = [(p, keystring.successor(p)) if p else (b"", b"\xff" * 8) for p in prefixes]
    # Does a walk in index order answer the sort? Equality fields before the sort fields are
    # constant, so the sort must continue the index's fields from there.
    provides, reverse = False, False
    if sort and len(intervals) == 1 and not index.multikey:
        rest = list(spec.key[used:])
        if len(sort) <= len(rest) and all(isinstance(d, int) for _, d in sort):
            same = all(s == r for s, r in zip(sort, rest, strict=False))
            flipped = all(s[0] == r[0] and s[1] == -r[1] for s, r in zip(sort, rest, strict=False))
            provides, reverse = same or flipped, flipped and not same
    if score == 0 and not provides:
        return None
    return IndexPlan(index, intervals, score, provides, reverse)


def _satisfies(b: FieldBounds, op: str, p: Any) -> bool:
    """Whether every value the query's bounds `b` allow passes `{op: p}` (False if unsure)."""
    if op == "$exists":
        return p is True and (bool(b.low or b.high) or (b.points is not None and None not in b.points))
    if b.points is not None:
        return all(matches({"v": {op: p}}, {"v": v}) for v in b.points)
    if op not in _RANGE_OPS or not (b.low or b.high):
        return False
    bound = b.high if op in ("$lt", "$lte") else b.low
    if bound is None or keystring.type_bounds(bound[0]) != keystring.type_bounds(p):
        return False
    mine, theirs = keystring.encode(bound[0]), keystring.encode(p)
    if op in ("$lt", "$lte"):
        return mine < theirs or (mine == theirs and (op == "$lte" or not bound[1]))
    return mine > theirs or (mine == theirs and (op == "$gte" or not bound[1]))


def implies(filter_: Mapping[str, Any], partial: Mapping[str, Any]) -> bool:
    """Whether every document the filter matches also matches a partial index's expression,
    so the index holds all of them (mongod's check before it uses a partial index)."""
    bounds = field_bounds(filter_)
    for path, cond in field_clauses(partial):
        b = bounds.get(path)
        ops = cond if is_operator_document(cond) else {"$eq": cond}
        if b is None or not all(_satisfies(b, op, p) for op, p in ops.items()):
            return False
    return not any(k.startswith("$") and k != "$and" for k in partial)


def _usable(spec: IndexSpec, filter_: Mapping[str, Any], bounds: dict[str, FieldBounds]) -> bool:
    """A partial index only when the filter implies its expression, a sparse one only when the
    filter cannot match a document missing the first key field; hidden ones never, nor those
    with a collation (they hold comparison keys, not the values the bounds name)."""
    if spec.hidden or spec.collation is not None:
        return False
    if spec.partial is not None and not implies(filter_, spec.partial):
        return False
    if spec.sparse:
        b = bounds.get(spec.fields[0])
        return b is not None and _satisfies(b, "$exists", True)
    return True


def choose_index(coll: Collection, filter_: Mapping[str, Any], sort: SortSpec) -> IndexPlan | None:
    bounds = field_bounds(filter_)
    best: IndexPlan | None = None
    for index in coll.indexes.values():
        if not _usable(index.spec, filter_, bounds):
            continue
        plan = _plan_index(index, bounds, sort)
        if plan is None:
            continue
        if best is None or (plan.score, plan.provides_sort) > (best.score, best.provides_sort):
            best = plan
    return best


def _id_lookup(filter_: Mapping[str, Any]) -> list[Any] | None:
    """The _id values a filter pins down (equality or $in), if it does."""
    if "_id" not in filter_:
        return None
    cond = filter_["_id"]
    if _is_plain(cond):
        return [cond]
    if isinstance(cond, Mapping):
        if "$eq" in cond and _is_plain(cond["$eq"]):
            return [cond["$eq"]]
        if isinstance(cond.get("$in"), list) and all(_is_plain(v) for v in cond["$in"]):
            return list(cond["$in"])
    return None


@dataclass(frozen=True, slots=True)
class Hint:
    """A resolved `hint`: one index of the collection (by name), or `$natural` order (1 / -1)."""

    index: str | None = None
    natural: int = 0


def parse_hint(hint: Any) -> Any:
    """A hint as commands receive it: an index name, a key pattern, or absent (None or "" or {})."""
    if hint is None or hint == "" or (isinstance(hint, Mapping) and not hint):
        return None
    if not isinstance(hint, str | Mapping):
        raise CommandError(9, "hint must be either a string or an object")
    return hint


def resolve_hint(coll: Collection | None, hint: Any) -> Hint | None:
    """The index a hint names, with mongod's BadValue when there is none."""
    if hint is None:
        return None
    if isinstance(hint, Mapping) and "$natural" in hint:
        return Hint(natural=-1 if hint["$natural"] in (-1, -1.0) else 1)
    if coll is not None:
        for spec in coll.specs():
            if (isinstance(hint, str) and spec.name == hint) or (
                isinstance(hint, Mapping) and dict(hint) == spec.key_pattern()
            ):
                return Hint(index=spec.name)
    raise CommandError(2, "hint provided does not correspond to an existing index")


@dataclass(slots=True)
class Query:
    filter: dict[str, Any] = field(default_factory=dict)
    sort: SortSpec = field(default_factory=list)
    skip: int = 0
    limit: int = 0  # 0: no limit
    projection: Projection | None = None
    hint: Any = None  # as given: an index name, a key pattern or {$natural: 1 / -1}
    collation: Collation | None = None
    record_id: bool = False  # showRecordId: each result carries its $recordId
    min: Mapping[str, Any] | None = None  # index bounds: inclusive lower, exclusive upper
    max: Mapping[str, Any] | None = None

    def needs_score(self) -> bool:
        return any(d == "textScore" for _, d in self.sort) or bool(self.projection and self.projection.meta)


@dataclass(slots=True)
class AccessPath:
    """What the planner chose for a query (explain shows it) and what running it examined."""

    stage: str  # COLLSCAN, IXSCAN, IDHACK, TEXT or EOF (no such collection)
    index: IndexSpec | None = None
    bounds: dict[str, FieldBounds] = field(default_factory=dict)
    direction: int = 1
    in_memory_sort: bool = False
    keys_examined: int = 0
    docs_examined: int = 0

    def counted_keys(self, rids: Iterable[int]) -> Iterator[int]:
        for rid in rids:
            self.keys_examined += 1
            yield rid


def _bound_key(bound: Mapping[str, Any] | None, key: tuple[tuple[str, int], ...]) -> bytes | None:
    """min/max as a key of the hinted index; its fields must be the index's, in order (51174)."""
    if bound is None:
        return None
    if [f for f, _ in key] != list(bound):
        raise CommandError(51174, "The index chosen is not compatible with min/max")
    parts = []
    for (_, direction), value in zip(key, bound.values(), strict=True):
        enc = keystring.encode(value)
        parts.append(enc if direction > 0 else keystring.invert(enc))
    return b"".join(parts)


def _hinted(
    coll: Collection, hint: Hint, rest: Mapping[str, Any], query: Query
) -> tuple[Iterable[Match], bool, AccessPath]:
    """Candidates read through the hinted index (or in natural order), as mongod's plan would."""
    if hint.natural:
        if query.min is not None or query.max is not None:
            raise CommandError(51174, "The index chosen is not compatible with min/max")
        path = AccessPath("COLLSCAN", direction=hint.natural)
        return _natural(coll, path), not query.sort, path
    spec = coll.find_spec(hint.index)  # type: ignore[arg-type]
    assert spec is not None
    if spec.text is not None:
        raise CommandError(2, "a text index can only be hinted with a $text query")
    low, high = _bound_key(query.min, spec.key), _bound_key(query.max, spec.key)
    path = AccessPath("IXSCAN", spec)
    if spec.name == ID_INDEX:
        keys = sorted(k for k in coll.ids if (low is None or k >= low) and (high is None or k < high))
        rids = path.counted_keys(coll.ids[k] for k in keys)
        return _fetch(coll, rids, path), not query.sort, path
    index = coll.indexes[spec.name]
    if low is not None or high is not None:
        plan = IndexPlan(index, [(low or b"", high or b"\xff" * 8)], 0)
    else:
        bounds = field_bounds(rest) if spec.collation is None and query.collation is None else {}
        plan = _plan_index(index, bounds, query.sort) or IndexPlan(index, [(b"", b"\xff" * 8)], 0)
        path.bounds = bounds
    path.direction = -1 if plan.reverse else 1
    return _fetch(coll, path.counted_keys(plan.rids()), path), plan.provides_sort or not query.sort, path


def _candidates(
    coll: Collection, rest: Mapping[str, Any], text: Any, query: Query
) -> tuple[Iterable[Match], bool, AccessPath]:
    """Candidate documents, whether they already come in `sort` order, and the access path."""
    sort = query.sort
    hint = resolve_hint(coll, query.hint)
    if len(sort) == 1 and sort[0][0] == "$natural":
        # A $natural sort is a collection scan in that direction, as a $natural hint is.
        hint, sort = Hint(natural=int(sort[0][1])), []
        query = dataclasses.replace(query, sort=[])
    if (query.min is not None or query.max is not None) and (hint is None or hint.natural):
        raise CommandError(51173, "When using min()/max() a hint of which index to use must be provided")
    if hint is not None and text is None:
        return _hinted(coll, hint, rest, query)
    if query.collation is not None and text is None:
        path = AccessPath("COLLSCAN")
        return _natural(coll, path), not sort, path
    if text is not None:
        if coll.text is None:
            raise CommandError(27, "text index required for $text query", code_name="IndexNotFound")
        tq = TextQuery.parse(text, coll.text.spec.default_language)
        by_score = bool(sort) and all(d == "textScore" for _, d in sort)
        path = AccessPath("TEXT", coll.find_spec(coll.text_name))  # type: ignore[arg-type]
        return _text_matches(coll, tq, path), by_score, path
    ids = _id_lookup(rest)
    if ids is not None:
        path = AccessPath("IDHACK", ID_SPEC)
        found = []
        seen = set()
        for v in ids:
            path.keys_examined += 1
            key = id_key(v)
            rid = coll.ids.get(key)
            if rid is not None and rid not in seen:
                seen.add(rid)
                path.docs_examined += 1
                found.append(Match(rid, coll.raw(rid)))  # type: ignore[arg-type]
        return found, len(found) <= 1, path
    plan = choose_index(coll, rest, sort)
    if plan is not None:
        path = AccessPath("IXSCAN", plan.index.spec, field_bounds(rest), -1 if plan.reverse else 1)
        return _fetch(coll, path.counted_keys(plan.rids()), path), plan.provides_sort, path
    path = AccessPath("COLLSCAN")
    return _natural(coll, path), not sort, path


def _text_matches(coll: Collection, tq: TextQuery, path: AccessPath) -> Iterator[Match]:
    """Text matches best first, fetched lazily so that a limited query reads few documents."""
    assert coll.text is not None
    phrased = tq.phrases or tq.negated_phrases
    for rid, score in coll.text.search(tq):
        path.keys_examined += 1
        path.docs_examined += 1
        checkpoint()
        raw = coll.raw(rid)
        if raw is None:
            continue
        m = Match(rid, raw, score)
        if phrased and not tq.phrases_match(t for t, _ in coll.text.spec.strings(m.doc)):
            continue
        yield m


def _natural(coll: Collection, path: AccessPath) -> Iterator[Match]:
    """A collection scan in `path.direction` over the records present when it starts (not when
    it is planned: a snapshot read starts watching the collection's removals at that moment)."""
    rids = coll.rids()
    yield from _fetch(coll, reversed(rids) if path.direction < 0 else rids, path)


def _fetch(coll: Collection, rids: Iterable[int], path: AccessPath) -> Iterator[Match]:
    for rid in rids:
        path.docs_examined += 1
        checkpoint()
        raw = coll.raw(rid)
        if raw is not None:
            yield Match(rid, raw)


class View(Protocol):
    """What a read sees instead of the stored documents alone: an `Overlay` (a transaction's
    snapshot, the majority-committed view) or a snapshot read's `pointintime.PointInTime`."""

    @property
    def empty(self) -> bool:
        """Whether the read sees the stored documents as they are."""
        ...

    def read(self, coll: Collection | None, live: Iterable[Match], path: AccessPath) -> Iterable[Match]:
        """The documents the read sees, given the candidates `path` finds in `coll`."""
        ...


@dataclass(frozen=True, slots=True)
class Overlay:
    """Other versions of some documents to read instead of the stored ones (the majority-
    committed view): `versions` maps `key(_id)` to the document, or None where it is absent."""

    versions: Mapping[bytes, Mapping[str, Any] | None]
    key: Callable[[Any], bytes]

    @property
    def empty(self) -> bool:
        return not self.versions

    def read(self, coll: Collection | None, live: Iterable[Match], path: AccessPath) -> Iterator[Match]:
        for m in live:
            if self.key(m.doc["_id"]) not in self.versions:
                yield m
        for doc in self.versions.values():
            checkpoint()
            if doc is not None:
                yield Match.version(doc)


def run(coll: Collection | None, query: Query, view: View | None = None) -> Iterator[Match]:
    """Matching documents in order, after skip and limit (lazily where the plan allows)."""
    return execute(coll, query, view)[0]


def execute(
    coll: Collection | None, query: Query, view: View | None = None
) -> tuple[Iterator[Match], AccessPath]:
    """`run`, and the access path it takes (whose counters fill as the results are read)."""
    rest, text = split_text(query.filter)
    if rest:
        matches(rest, {})  # mongod rejects a malformed filter even when nothing is scanned
    if query.needs_score() and text is None:
        raise CommandError(
            17287 if query.sort else 2,
            "query requires text score metadata, but it is not available",
            code_name="Location17287" if query.sort else None,
        )
    if coll is None and view is None:
        return iter(()), AccessPath("EOF")
    if coll is not None:
        candidates, ordered, path = _candidates(coll, rest, text, query)
    else:  # a collection only a transaction has created so far exists in its overlay alone
        candidates, ordered, path = (), True, AccessPath("EOF")
    if view is not None and not view.empty:
        candidates, ordered = view.read(coll, candidates, path), not query.sort
    path.in_memory_sort = bool(query.sort) and not ordered
    matcher = Matcher.build(rest, query.collation)
    found: Iterable[Match] = (m for m in candidates if not rest or matcher(m.doc))
    if query.sort and not ordered:
        stop = query.skip + query.limit if query.limit else None
        keyed = ((_sort_key(m, query.sort, query.collation), i, m) for i, m in enumerate(found))
        ranked = heapq.nsmallest(stop, keyed) if stop is not None else sorted(keyed)
        found = (m for _, _, m in ranked)
    stop = query.skip + query.limit if query.limit else None
    return itertools.islice(found, query.skip, stop), path


def _sort_key(m: Match, sort: SortSpec, collation: Collation | None = None) -> bytes:
    parts = []
    doc = m.doc if collation is None else collation.value(m.doc)
    for path, direction in sort:
        if direction == "textScore":
            parts.append(keystring.invert(keystring.encode(m.score or 0.0)))
        else:
            parts.append(keystring.sort_key(doc, [(path, direction)]))
    return b"".join(parts)


def output(m: Match, query: Query) -> Mapping[str, Any]:
    """What a reply carries for one match: the stored bytes as they are, or the projection."""
    if query.projection is None:
        out: Mapping[str, Any] = RawBSONDocument(m.raw)
    else:
        out = query.projection.apply(m.doc, m.score, query.filter)
    if query.record_id:
        out = {**out, "$recordId": Int64(m.rid)}
    return out


def count(coll: Collection | None, query: Query, view: View | None = None) -> int:
    if coll is None:
        return 0
    if not query.filter and query.hint is None and (view is None or view.empty):
        n = max(coll.count - query.skip, 0)
        return min(n, query.limit) if query.limit else n
    return sum(1 for _ in run(coll, query, view))
