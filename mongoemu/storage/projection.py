"""find()'s projection: inclusion or exclusion of dotted paths, `$slice`, `$elemMatch`, the
positional `arr.$`, `{$meta: "textScore"}` and (as since MongoDB 4.4) aggregation expressions,
which mongomock evaluates."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mongomock.aggregate import _parse_expression
from mongomock.filtering import filter_applies

from mongoemu.errors import CommandError
from mongoemu.storage.paths import set_path

TEXT_SCORE = "textScore"
_Tree = dict[str, Any]


def is_meta_text_score(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and value.get("$meta") == TEXT_SCORE


def _flag(value: Any) -> bool | None:
    """True/False for an inclusion/exclusion flag, None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    return None


@dataclass(slots=True)
class Projection:
    include: bool | None = None  # None: only computed fields or _id given
    include_id: bool = True
    paths: _Tree = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    slices: dict[str, Any] = field(default_factory=dict)
    elem_match: dict[str, Any] = field(default_factory=dict)
    positional: str | None = None
    meta: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, spec: Any) -> Projection | None:
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise CommandError(14, "projection must be an object")
        if not spec:
            return None
        p = cls()
        id_given = False
        for path, value in spec.items():
            flag = _flag(value)
            if path == "_id" and flag is not None:
                p.include_id, id_given = flag, True
                continue
            if is_meta_text_score(value):
                p.meta.append(path)
            elif isinstance(value, Mapping) and "$slice" in value and len(value) == 1:
                p.slices[path] = value["$slice"]
            elif isinstance(value, Mapping) and "$elemMatch" in value and len(value) == 1:
                p.elem_match[path] = value["$elemMatch"]
                p._mode(True, path)
            elif path.endswith(".$"):
                if p.include is False:
                    raise CommandError(31395, "positional projection cannot be used with exclusion")
                p.positional = path[:-2]
                p._mode(True, path)
                p._add(p.positional)
            elif flag is not None:
                p._mode(flag, path)
                p._add(path)
            else:
                p.computed[path] = value
                p._mode(True, path)
        if p.include is None:
            # As mongod: `{_id: 1}` alone (or with $slice/$meta) is an inclusion projection.
            p.include = p.include_id and id_given
        if p.include:
            for path in p.slices:
                p._add(path)
        return p

    def _mode(self, include: bool, path: str) -> None:
        if self.include is None:
            self.include = include
        elif self.include != include:
            if include:
                raise CommandError(31253, f"Cannot do inclusion on field {path} in exclusion projection")
            raise CommandError(31254, f"Cannot do exclusion on field {path} in inclusion projection")

    def _add(self, path: str) -> None:
        node = self.paths
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is True:
                return
            node = node.setdefault(part, {})
        node[parts[-1]] = True

    def apply(
        self, doc: dict[str, Any], score: float | None = None, query: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if self.include:
            out: dict[str, Any] = {}
            if self.include_id and "_id" in doc:
                out["_id"] = doc["_id"]
            out.update(_include(doc, self.paths))
        else:
            out = copy.copy(doc)
            _exclude(out, self.paths)
            if not self.include_id:
                out.pop("_id", None)
        for path, cond in self.elem_match.items():
            value = doc.get(path)
            out.pop(path, None)
            if isinstance(value, list):
                for item in value:
                    if filter_applies({path: {"$elemMatch": cond}}, {path: [item]}):
                        out[path] = [item]
                        break
        if self.positional is not None and query is not None:
            _positional(out, doc, self.positional, query)
        for path, arg in self.slices.items():
            _slice(out, path, arg)
        for path, expression in self.computed.items():
            try:
                set_path(out, path, _parse_expression(expression, doc, ignore_missing_keys=True))
            except KeyError:
                continue
        for path in self.meta:
            set_path(out, path, score if score is not None else 0.0)
        return out


def _include(doc: Mapping[str, Any], tree: _Tree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        sub = tree.get(key)
        if sub is None or (key == "_id" and sub is not True):
            continue
        if sub is True:
            out[key] = value
        elif isinstance(value, Mapping):
            out[key] = _include(value, sub)
        elif isinstance(value, list):
            out[key] = [_include(v, sub) for v in value if isinstance(v, Mapping)]
    return out


def _exclude(doc: dict[str, Any], tree: _Tree) -> None:
    for key, sub in tree.items():
        if key not in doc:
            continue
        if sub is True:
            del doc[key]
            continue
        value = doc[key]
        if isinstance(value, Mapping):
            doc[key] = dict(value)
            _exclude(doc[key], sub)
        elif isinstance(value, list):
            items = []
            for v in value:
                if isinstance(v, Mapping):
                    copied = dict(v)
                    _exclude(copied, sub)
                    items.append(copied)
                else:
                    items.append(v)
            doc[key] = items


def _positional(out: dict[str, Any], doc: Mapping[str, Any], path: str, query: Mapping[str, Any]) -> None:
    array = doc.get(path)
    if not isinstance(array, list):
        return
    conditions = {k: v for k, v in query.items() if k == path or k.startswith(path + ".")}
    for item in array if conditions else []:
        if filter_applies(conditions, {path: [item]}):
            out[path] = [item]
            return
    raise CommandError(
        51246,
        "Executor error during find command :: caused by :: positional operator '.$' couldn't find a "
        "matching element in the array",
    )


def _slice(out: dict[str, Any], path: str, arg: Any) -> None:
    value = out.get(path)
    if not isinstance(value, list):
        return
    if isinstance(arg, int) and not isinstance(arg, bool):
        out[path] = value[arg:] if arg < 0 else value[:arg]
    elif isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, int) for a in arg):
        skip, limit = arg
        if limit <= 0:
            raise CommandError(2, "$slice limit must be positive")
        start = max(len(value) + skip, 0) if skip < 0 else skip
        out[path] = value[start : start + limit]
    else:
        raise CommandError(2, "$slice only supports numbers and [skip, limit] arrays")
