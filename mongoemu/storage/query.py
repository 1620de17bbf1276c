"""Query execution: pick an access path (the `_id` table, a secondary index, the text index or
a collection scan), filter with mongomock's matcher, sort, skip and limit.

The planner is deliberately small, like mongod's for simple predicates: equality (and `$in`)
on a prefix of an index's fields, then at most one range, scored by how many fields it
constrains; an index whose order answers the sort lets a limited query stop early. Sparse and
partial indexes are never chosen, so a plan never misses documents. Every candidate is still
checked against the whole filter, so a plan only decides speed, never results.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.raw_bson import RawBSONDocument
from mongomock import OperationFailure
from mongomock.filtering import filter_applies

from mongoemu.errors import CommandError
from mongoemu.storage import keystring
from mongoemu.storage.collection import Collection, decode, id_key
from mongoemu.storage.engine import raw_of
from mongoemu.storage.indexes import SecondaryIndex
from mongoemu.storage.paths import field_clauses, is_operator_document
from mongoemu.storage.projection import Projection, is_meta_text_score
from mongoemu.storage.textindex import TextQuery

SortSpec = list[tuple[str, Any]]  # direction 1 / -1, or "textScore"
_RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")
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


def parse_sort(sort: Any) -> SortSpec:
    if sort is None:
        return []
    if not isinstance(sort, Mapping):
        raise CommandError(14, "sort must be an object")
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


def choose_index(coll: Collection, filter_: Mapping[str, Any], sort: SortSpec) -> IndexPlan | None:
    bounds = field_bounds(filter_)
    best: IndexPlan | None = None
    for index in coll.indexes.values():
        if index.spec.sparse or index.spec.partial is not None:
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


@dataclass(slots=True)
class Query:
    filter: dict[str, Any] = field(default_factory=dict)
    sort: SortSpec = field(default_factory=list)
    skip: int = 0
    limit: int = 0  # 0: no limit
    projection: Projection | None = None

    def needs_score(self) -> bool:
        return any(d == "textScore" for _, d in self.sort) or bool(self.projection and self.projection.meta)


def _candidates(
    coll: Collection, rest: Mapping[str, Any], text: Any, sort: SortSpec
) -> tuple[Iterable[Match], bool]:
    """Candidate documents, and whether they already come in `sort` order."""
    if text is not None:
        if coll.text is None:
            raise CommandError(27, "text index required for $text query", code_name="IndexNotFound")
        tq = TextQuery.parse(text, coll.text.spec.default_language)
        by_score = bool(sort) and all(d == "textScore" for _, d in sort)
        return _text_matches(coll, tq), by_score
    ids = _id_lookup(rest)
    if ids is not None:
        found = []
        seen = set()
        for v in ids:
            key = id_key(v)
            rid = coll.ids.get(key)
            if rid is not None and rid not in seen:
                seen.add(rid)
                found.append(Match(rid, coll.raw(rid)))  # type: ignore[arg-type]
        return found, len(found) <= 1
    plan = choose_index(coll, rest, sort)
    if plan is not None:
        return _fetch(coll, plan.rids()), plan.provides_sort
    return _fetch(coll, coll.rids()), not sort


def _text_matches(coll: Collection, tq: TextQuery) -> Iterator[Match]:
    """Text matches best first, fetched lazily so that a limited query reads few documents."""
    assert coll.text is not None
    phrased = tq.phrases or tq.negated_phrases
    for rid, score in coll.text.search(tq):
        raw = coll.raw(rid)
        if raw is None:
            continue
        m = Match(rid, raw, score)
        if phrased and not tq.phrases_match(t for t, _ in coll.text.spec.strings(m.doc)):
            continue
        yield m


def _fetch(coll: Collection, rids: Iterable[int]) -> Iterator[Match]:
    for rid in rids:
        raw = coll.raw(rid)
        if raw is not None:
            yield Match(rid, raw)


@dataclass(frozen=True, slots=True)
class Overlay:
    """Other versions of some documents to read instead of the stored ones (the majority-
    committed view): `versions` maps `key(_id)` to the document, or None where it is absent."""

    versions: Mapping[bytes, Mapping[str, Any] | None]
    key: Callable[[Any], bytes]

    def apply(self, live: Iterable[Match]) -> Iterator[Match]:
        for m in live:
            if self.key(m.doc["_id"]) not in self.versions:
                yield m
        for doc in self.versions.values():
            if doc is not None:
                yield Match(-1, raw_of(doc), 0.0, dict(doc))


def run(coll: Collection | None, query: Query, overlay: Overlay | None = None) -> Iterator[Match]:
    """Matching documents in order, after skip and limit (lazily where the plan allows)."""
    rest, text = split_text(query.filter)
    if rest:
        matches(rest, {})  # mongod rejects a malformed filter even when nothing is scanned
    if query.needs_score() and text is None:
        raise CommandError(
            17287 if query.sort else 2,
            "query requires text score metadata, but it is not available",
            code_name="Location17287" if query.sort else None,
        )
    if coll is None:
        return iter(())
    candidates, ordered = _candidates(coll, rest, text, query.sort)
    if overlay is not None and overlay.versions:
        candidates, ordered = overlay.apply(candidates), not query.sort
    found: Iterable[Match] = (m for m in candidates if not rest or matches(rest, m.doc))
    if query.sort and not ordered:
        stop = query.skip + query.limit if query.limit else None
        keyed = ((_sort_key(m, query.sort), i, m) for i, m in enumerate(found))
        ranked = heapq.nsmallest(stop, keyed) if stop is not None else sorted(keyed)
        found = (m for _, _, m in ranked)
    stop = query.skip + query.limit if query.limit else None
    return itertools.islice(found, query.skip, stop)


def _sort_key(m: Match, sort: SortSpec) -> bytes:
    parts = []
    for path, direction in sort:
        if direction == "textScore":
            parts.append(keystring.invert(keystring.encode(m.score or 0.0)))
        else:
            parts.append(keystring.sort_key(m.doc, [(path, direction)]))
    return b"".join(parts)


def output(m: Match, query: Query) -> Mapping[str, Any]:
    """What a reply carries for one match: the stored bytes as they are, or the projection."""
    if query.projection is None:
        return RawBSONDocument(m.raw)
    return query.projection.apply(m.doc, m.score, query.filter)


def count(
    coll: Collection | None,
    filter_: Mapping[str, Any],
    skip: int = 0,
    limit: int = 0,
    overlay: Overlay | None = None,
) -> int:
    if coll is None:
        return 0
    if not filter_ and (overlay is None or not overlay.versions):
        n = max(coll.count - skip, 0)
        return min(n, limit) if limit else n
    return sum(1 for _ in run(coll, Query(filter=dict(filter_), skip=skip, limit=limit), overlay))
