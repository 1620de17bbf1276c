"""Computed fields as mongod adds them: `$addFields` / `$set`, and the `$project` inclusions
that compute fields on dotted paths.

Written by hand because mongomock's `$addFields` leaves a field in place when its expression is
missing (`$$REMOVE`, a missing path) instead of removing it, and replaces an embedded document
that an object expression should merge into; its `$project` writes a computed dotted field as a
flat field name ("a.b") and drops the array elements mongod fills with computed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongoemu.errors import CommandError
from mongoemu.storage.expressions import MISSING, evaluate
from mongoemu.storage.paths import is_operator_document

Docs = list[dict[str, Any]]


def add_fields(docs: Docs, spec: Any, stage: str = "$addFields") -> Docs:
    if not isinstance(spec, Mapping) or not spec:
        raise CommandError(
            40272, f"Invalid {stage} :: caused by :: specification must have at least one field"
        )
    return [_add(dict(doc), doc, spec) for doc in docs]


def project(docs: Docs, spec: Mapping[str, Any]) -> Docs:
    """An inclusion `$project` (a flat spec: dotted paths to flags or expressions, no two on one
    path) as mongod's projection tree computes it: the included paths are kept, in the input's
    field order and through arrays element by element; then each computed field is added as
    `$addFields` adds it. Under a path that computes fields, an array element that keeps nothing
    (a scalar) stays as a place the computed fields turn into a document."""
    computed = {path: value for path, value in spec.items() if is_computed(value)}
    tree = _Node() if "_id" in spec else _Node(_id=True)
    for path, value in spec.items():
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, _Node())
            node.computes = node.computes or path in computed
        if path not in computed and value:
            node[leaf] = True
    out = []
    for doc in docs:
        projected = _keep(doc, tree)
        for path, expression in computed.items():
            _add(projected, doc, {path: expression})
        out.append(projected)
    return out


def is_computed(value: Any) -> bool:
    """A `$project` value that computes a field (not an inclusion or exclusion flag)."""
    return not isinstance(value, bool | int | float)


class _Node(dict):  # type: ignore[type-arg]
    """A projection-tree node: its children (True: kept whole); `computes`: a field below it is
    computed."""

    computes = False


def _keep(doc: Mapping[str, Any], tree: _Node) -> dict[str, Any]:
    out = {}
    for name, value in doc.items():
        node = tree.get(name)
        if node is True:
            out[name] = value
        elif isinstance(node, _Node):
            kept = _keep_value(value, node)
            if kept is not MISSING:
                out[name] = kept
    return out


def _keep_value(value: Any, node: _Node) -> Any:
    if isinstance(value, Mapping):
        return _keep(value, node)
    if isinstance(value, list):
        kept = [_keep_value(v, node) for v in value]
        return kept if node.computes else [v for v in kept if v is not MISSING]
    return MISSING


def _add(target: dict[str, Any], root: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    for path, expression in spec.items():
        head, _, rest = path.partition(".")
        if rest:
            _add_nested(target, root, head, {rest: expression})
        elif isinstance(expression, Mapping) and expression and not is_operator_document(expression):
            _add_nested(target, root, head, expression)
        else:
            value = evaluate(expression, root)
            if value is MISSING:
                target.pop(head, None)
            else:
                target[head] = value
    return target


def _add_nested(target: dict[str, Any], root: Mapping[str, Any], head: str, spec: Mapping[str, Any]) -> None:
    target[head] = _add_into(target.get(head), root, spec)


def _add_into(current: Any, root: Mapping[str, Any], spec: Mapping[str, Any]) -> Any:
    if isinstance(current, list):
        # Each element gets the fields (nested arrays' too); other values are replaced, as mongod does.
        return [_add_into(v, root, spec) for v in current]
    return _add(dict(current) if isinstance(current, Mapping) else {}, root, spec)
