"""YAML with line numbers, so that a validation error can name the line of the offending field.

PyYAML's composer already knows where every node starts; we keep a map from the path of each
value (`("faults", 0, "target")`) to its 1-based line while constructing plain Python data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaos.errors import ScenarioError

PathKey = tuple[str | int, ...]


@dataclass(slots=True)
class Source:
    """Parsed YAML data plus where each value came from."""

    data: Any
    file: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def _scalar(node: yaml.Node) -> Any:
    # The composer has already resolved the node's tag; a loader turns it into a Python value.
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _construct(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, str | int | float | bool):
                raise ScenarioError(
                    "mapping keys must be plain scalars", file=file, line=key_node.start_mark.line + 1
                )
            key = str(key)
            if key in out:
                raise ScenarioError(f"duplicate key {key!r}", file=file, line=key_node.start_mark.line + 1)
            out[key] = _construct(value_node, (*path, key), lines, file)
            # Point at the key's line: that is where a reader looks for the field.
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, file) for i, item in enumerate(node.value)]
    return _scalar(node)


def parse(text: str, file: str) -> Source:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            f"invalid YAML: {problem}", file=file, line=mark.line + 1 if mark else None
        ) from None
    if node is None:
        raise ScenarioError("the file is empty", file=file)
    lines: dict[PathKey, int] = {}
    data = _construct(node, (), lines, file)
    return Source(data, file, lines)


def read(path: Path) -> Source:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError("no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file ({exc})", file=str(path)) from None
    return parse(text, str(path))
