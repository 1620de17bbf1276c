"""Dotted field paths and the top-level clauses of a filter, as the query, update and
projection code all walk them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path, creating (or replacing non-document) intermediate fields."""
    parts = path.split(".")
    for part in parts[:-1]:
        child = doc.get(part)
        if not isinstance(child, dict):
            child = doc[part] = {}
        doc = child
    doc[parts[-1]] = value


def field_clauses(filter_: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(path, condition) of the filter's field conditions, including those of a top-level $and."""
    clauses: list[Mapping[str, Any]] = [filter_]
    if isinstance(filter_.get("$and"), list):
        clauses.extend(c for c in filter_["$and"] if isinstance(c, Mapping))
    for clause in clauses:
        for path, cond in clause.items():
            if not path.startswith("$"):
                yield path, cond


def is_operator_document(value: Any) -> bool:
    return isinstance(value, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in value)
