"""Index definitions (as createIndexes receives and listIndexes shows them) and the ordered
secondary indexes that hold their keys.

A secondary index is a sorted list of byte strings `key string + record id`, so an equality
prefix, a range and an ordered walk are all one bisection (see keystring.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mongomock import OperationFailure
from mongomock.filtering import filter_applies
from sortedcontainers import SortedList

from mongoemu.errors import CommandError, WriteError, duplicate_key
from mongoemu.storage import keystring
from mongoemu.storage.collation import Collation
from mongoemu.storage.collation import parse as parse_collation
from mongoemu.storage.textindex import MAX_WORD_WEIGHT, WILDCARD, TextSpec, language_name

ID_INDEX = "_id_"
_RID = struct.Struct(">Q")

# Options mongod accepts in an index specification (others answer InvalidIndexSpecificationOption).
_KNOWN_OPTIONS = frozenset(
    {
        "v", "key", "name", "unique", "sparse", "background", "partialFilterExpression",
        "expireAfterSeconds", "weights", "default_language", "language_override",
        "textIndexVersion", "hidden", "ns", "storageEngine", "collation", "wildcardProjection",
        "2dsphereIndexVersion", "bits", "min", "max", "bucketSize", "dropDups",
    }
)  # fmt: skip


def _cannot_create(message: str) -> CommandError:
    return CommandError(67, message)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    name: str
    key: tuple[tuple[str, int], ...]  # for a text index: the text fields, direction 0
    unique: bool = False
    sparse: bool = False
    partial: dict[str, Any] | None = None
    text: TextSpec | None = None
    options: tuple[tuple[str, Any], ...] = ()  # other options, echoed by listIndexes
    collation: Collation | None = None

    @property
    def fields(self) -> list[str]:
        return [f for f, _ in self.key]

    def key_pattern(self) -> dict[str, Any]:
        if self.text is not None:
            return {"_fts": "text", "_ftsx": 1}
        return dict(self.key)

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"v": 2, "key": self.key_pattern(), "name": self.name}
        if self.unique:
            doc["unique"] = True
        if self.sparse:
            doc["sparse"] = True
        if self.partial is not None:
            doc["partialFilterExpression"] = self.partial
        if self.text is not None:
            doc["weights"] = {f: _number(w) for f, w in sorted(self.text.weights.items())}
            doc["default_language"] = self.text.default_language
            doc["language_override"] = self.text.language_override
            doc["textIndexVersion"] = 3
        doc.update(dict(self.options))
        if self.collation is not None:
            doc["collation"] = self.collation.document()
        return doc

    def with_options(self, changes: Mapping[str, Any]) -> IndexSpec:
        """The same index with some options changed (collMod's `hidden`, `expireAfterSeconds`)."""
        return dataclasses.replace(self, options=tuple({**dict(self.options), **changes}.items()))

    @property
    def hidden(self) -> bool:
        return bool(dict(self.options).get("hidden", False))

    def same_definition(self, other: IndexSpec) -> bool:
        return (self.key, self.unique, self.sparse, self.partial, self.text, self.collation) == (
            other.key,
            other.unique,
            other.sparse,
            other.partial,
            other.text,
            other.collation,
        )

    @classmethod
    def parse(cls, doc: Any) -> IndexSpec:
        """Validate one element of createIndexes' `indexes` as mongod does."""
        if not isinstance(doc, Mapping):
            raise CommandError(14, "index specification must be an object")
        for option in doc:
            if option not in _KNOWN_OPTIONS:
                raise CommandError(
                    197,
                    f"The field '{option}' is not valid for an index specification. Specification: {doc}",
                    code_name="InvalidIndexSpecificationOption",
                )
        key = doc.get("key")
        if not isinstance(key, Mapping):
            raise CommandError(9, "The 'key' field is a required property of an index specification")
        if not key:
            raise _cannot_create("Index keys cannot be an empty field.")
        name = doc.get("name")
        if not isinstance(name, str):
            raise CommandError(9, "The 'name' field is a required property of an index specification")
        if not name:
            raise _cannot_create("The index name cannot be empty")
        fields: list[tuple[str, int]] = []
        text_fields: list[str] = []
        stored_text = key.get("_fts") == "text"  # the form listIndexes shows: fields in weights
        for field, direction in key.items():
            if stored_text and field in ("_fts", "_ftsx"):
                continue
            if not field or (field.startswith("$") and field != WILDCARD) or ".." in field:
                raise _cannot_create(f"Index key contains an illegal field name: '{field}'")
            if direction == "text":
                text_fields.append(field)
            elif isinstance(direction, str):
                raise _cannot_create(f"Unknown index plugin '{direction}'")
            elif isinstance(direction, bool) or not isinstance(direction, int | float):
                raise _cannot_create(f"Values in the index key pattern must be numbers or strings: {field}")
            elif direction == 0:
                raise _cannot_create("Values in the index key pattern can't be 0.")
            else:
                fields.append((field, 1 if direction > 0 else -1))
        partial = doc.get("partialFilterExpression")
        if partial is not None and not isinstance(partial, Mapping):
            raise CommandError(14, "partialFilterExpression must be an object")
        if partial is not None:
            _check_partial(partial)
        options = tuple(
            (k, v)
            for k, v in doc.items()
            if k in ("expireAfterSeconds", "hidden", "storageEngine", "wildcardProjection", "background")
        )
        common = {
            "collation": parse_collation(doc.get("collation")),
            "name": name,
            "unique": bool(doc.get("unique", False)),
            "sparse": bool(doc.get("sparse", False)),
            "partial": dict(partial) if partial is not None else None,
            "options": options,
        }
        if text_fields or stored_text:
            if fields:
                raise _cannot_create("compound text indexes (text fields with 1/-1 fields) are not supported")
            return cls(key=tuple((f, 0) for f in text_fields), text=_text_spec(doc, text_fields), **common)
        if name == ID_INDEX and fields != [("_id", 1)]:
            raise _cannot_create("The index name '_id_' is reserved for the _id index")
        return cls(key=tuple(fields), **common)


# What mongod 6.0 allows in a partialFilterExpression (anything else: 67 CannotCreateIndex).
_PARTIAL_OPERATORS = frozenset({"$eq", "$exists", "$gt", "$gte", "$lt", "$lte", "$type", "$in"})


def _check_partial(expression: Mapping[str, Any]) -> None:
    """An unknown operator is the match parser's BadValue; a known one a partial index cannot
    use is CannotCreateIndex, as mongod answers."""
    try:
        filter_applies(expression, {})
    except OperationFailure as exc:
        raise CommandError(2, str(exc).removeprefix("BadValue ")) from None
    except NotImplementedError as exc:
        raise CommandError(2, f"query operator not supported by the emulator: {exc}") from None
    for key, cond in expression.items():
        if key in ("$and", "$or") and isinstance(cond, list):
            for clause in cond:
                if isinstance(clause, Mapping):
                    _check_partial(clause)
            continue
        if key.startswith("$"):
            raise _cannot_create(f"Expression not supported in partial index: {key}")
        if isinstance(cond, Mapping) and any(str(op).startswith("$") for op in cond):
            for op, arg in cond.items():
                if op not in _PARTIAL_OPERATORS or (op == "$exists" and arg is not True):
                    raise _cannot_create(f"Expression not supported in partial index: {key} {op}")


def _number(w: float) -> int | float:
    return int(w) if float(w).is_integer() else w


def _text_spec(doc: Mapping[str, Any], text_fields: list[str]) -> TextSpec:
    weights: dict[str, float] = dict.fromkeys(text_fields, 1.0)
    given = doc.get("weights")
    if given == WILDCARD:
        weights[WILDCARD] = 1.0
    elif isinstance(given, Mapping):
        for field, w in given.items():
            if isinstance(w, bool) or not isinstance(w, int | float):
                raise CommandError(
                    17283, "weight for text index needs numeric type", code_name="Location17283"
                )
            if not 0 < w < MAX_WORD_WEIGHT:
                raise CommandError(16674, "score for word too high", code_name="Location16674")
            weights[field] = float(w)
    elif given is not None:
        raise CommandError(17284, "text index option 'weights' must be an object", code_name="Location17284")
    language = language_name(doc.get("default_language", "english"))
    override = doc.get("language_override", "language")
    if not isinstance(override, str) or not override or override.startswith("$") or "." in override:
        raise _cannot_create(f"language_override is invalid: {override!r}")
    return TextSpec(weights=weights, default_language=language, language_override=override)


ID_SPEC = IndexSpec(name=ID_INDEX, key=(("_id", 1),))


@dataclass(frozen=True, slots=True)
class IndexKey:
    """One key a document contributes to an index, with the values shown in duplicate-key errors."""

    key: bytes
    values: tuple[Any, ...]


class SecondaryIndex:
    """An ordered (possibly unique, sparse, partial or multikey) index over one collection."""

    def __init__(self, spec: IndexSpec, ns: str) -> None:
        self.spec = spec
        self.ns = ns
        self.entries: SortedList = SortedList()
        self.multikey = False
        self._directions = [d for _, d in spec.key]
        # Under a collation, strings are indexed by their comparison keys (so uniqueness follows it).
        self._key_of = spec.collation.value if spec.collation is not None else None

    def keys_for(self, doc: Mapping[str, Any]) -> list[IndexKey]:
        spec = self.spec
        if spec.partial is not None and not filter_applies(spec.partial, doc):
            return []
        per_field: list[list[Any]] = []
        arrays = 0
        present = False
        for field in spec.fields:
            values = keystring.path_values(doc, field)
            if values:
                present = True
            expanded: list[Any] = []
            for v in values:
                if isinstance(v, list):
                    arrays += 1
                    expanded.extend(v if v else [None])
                else:
                    expanded.append(v)
            if len(values) > 1:
                arrays += 1
            per_field.append(expanded or [None])
        if spec.sparse and not present:
            return []
        if arrays > 1 and sum(len(v) > 1 for v in per_field) > 1:
            raise WriteError(
                171,
                f"cannot index parallel arrays in index {spec.name}",
                code_name="CannotIndexParallelArrays",
            )
        if arrays:
            self.multikey = True
        keys: dict[bytes, IndexKey] = {}
        for combo in itertools.product(*per_field):
            parts = []
            for value, direction in zip(combo, self._directions, strict=True):
                enc = keystring.encode(value if self._key_of is None else self._key_of(value))
                parts.append(enc if direction > 0 else keystring.invert(enc))
            key = b"".join(parts)
            keys.setdefault(key, IndexKey(key, combo))
        return list(keys.values())

    def holders(self, k: IndexKey) -> Iterator[int]:
        """Record ids of the documents with exactly this key."""
        for entry in self.entries.irange(k.key, keystring.successor(k.key), inclusive=(True, False)):
            if len(entry) == len(k.key) + _RID.size:
                yield _RID.unpack_from(entry, len(k.key))[0]

    def duplicate(self, k: IndexKey) -> WriteError:
        values = dict(zip(self.spec.fields, k.values, strict=True))
        return duplicate_key(self.ns, self.spec.name, self.spec.key_pattern(), values)

    def check_unique(self, keys: list[IndexKey], own_rid: int | None = None) -> None:
        if not self.spec.unique:
            return
        for k in keys:
            if any(rid != own_rid for rid in self.holders(k)):
                raise self.duplicate(k)

    def insert(self, rid: int, keys: list[IndexKey]) -> None:
        suffix = _RID.pack(rid)
        for k in keys:
            self.entries.add(k.key + suffix)

    def remove(self, rid: int, keys: list[IndexKey]) -> None:
        suffix = _RID.pack(rid)
        for k in keys:
            self.entries.discard(k.key + suffix)

    def scan(self, start: bytes, end: bytes, reverse: bool = False) -> Iterator[int]:
        """Record ids whose key lies in [start, end), in key order (or reversed)."""
        for entry in self.entries.irange(start, end, inclusive=(True, False), reverse=reverse):
            yield _RID.unpack_from(entry, len(entry) - _RID.size)[0]
