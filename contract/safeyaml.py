"""YAML read safely, with line numbers, so that a validation error can name the offending line.

PyYAML's composer already knows where every node starts; we keep a map from the path of each
value (`("faults", 0, "target")`) to its 1-based line while constructing plain Python data.

Scenarios, settings files, SLO profiles, alert rules, driver options, compose files and run
directories may come from anyone (a CI job, a pull request), so every YAML the suite reads goes
through here, bounded: its size, its nesting, its aliases and the values they expand to. PyYAML
expands an alias into a copy of what it names, so nine lines of nine aliases each (a "billion
laughs") would become 10^9 values and a node that names itself would recurse forever; the
budgets below refuse both in milliseconds, with the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract.errors import ScenarioError

PathKey = tuple[str | int, ...]

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_ALIASES = 100
MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_VALUES = 20_000  # a shipped scenario has a few hundred


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


class _Loader(yaml.SafeLoader):
    """The safe loader with a nesting limit and an alias budget: the composer's own recursion
    would end in a RecursionError on deep nesting, and its scanner takes quadratic time over
    nested flow collections (`[[[[...`), so those are counted as they are scanned."""

    file = "<scenario>"

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def fetch_flow_collection_start(self, TokenClass: type[yaml.Token]) -> None:
        super().fetch_flow_collection_start(TokenClass)  # type: ignore[misc]
        if self.flow_level > MAX_DEPTH:
            raise _refused(f"nested deeper than {MAX_DEPTH} levels", self.file, self.get_mark())

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _refused(f"more than {MAX_ALIASES} aliases (*name) in one file", self.file, mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _refused(f"nested deeper than {MAX_DEPTH} levels", self.file, mark)
        try:
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1


def _refused(message: str, file: str, mark: yaml.Mark | None) -> ScenarioError:
    return ScenarioError(message, file=file, line=mark.line + 1 if mark else None)


class _Builder:
    """Plain data from the node graph, with the line of every path; aliases are expanded within
    the value budget, and a node inside itself is refused."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[PathKey, int] = {}
        self.values = 0
        self._open: set[int] = set()  # the nodes being built: one met again names itself
        # The composer has resolved each scalar's tag; a loader's constructor makes the value.
        self._constructor = yaml.SafeLoader("")

    def _scalar(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _refused(
                f"the YAML expands to more than {MAX_VALUES:,} values (aliases repeat what they name)",
                self.file,
                node.start_mark,
            )
        if len(path) > MAX_DEPTH:
            raise _refused(
                f"nested deeper than {MAX_DEPTH} levels (counting aliases)", self.file, node.start_mark
            )
        self.lines[path] = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self._scalar(node)
        if id(node) in self._open:
            raise _refused("an alias refers to itself (a value inside itself)", self.file, node.start_mark)
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        explicit = [(k, v) for k, v in node.value if k.tag != MERGE_TAG]
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *anchor`: its keys, unless given here
                for key, value in self._merged(value_node, path).items():
                    out.setdefault(key, value)
        merged = set(out)
        for key_node, value_node in explicit:
            if isinstance(key_node, yaml.MappingNode | yaml.SequenceNode):
                raise _refused("mapping keys must be plain scalars", self.file, key_node.start_mark)
            key = self._scalar(key_node)
            if not isinstance(key, str | int | float | bool):
                raise _refused("mapping keys must be plain scalars", self.file, key_node.start_mark)
            key = str(key)
            if key in out and key not in merged:
                raise _refused(f"duplicate key {key!r}", self.file, key_node.start_mark)
            merged.discard(key)
            out[key] = self.build(value_node, (*path, key))
            # Point at the key's line: that is where a reader looks for the field.
            self.lines[(*path, key)] = key_node.start_mark.line + 1
        return out

    def _merged(self, node: yaml.Node, path: PathKey) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[str, Any] = {}
        for source in sources:
            value = self.build(source, path)
            if not isinstance(value, dict):
                raise _refused(
                    "a merge key (<<) takes a mapping or a list of mappings", self.file, source.start_mark
                )
            for key, item in value.items():
                out.setdefault(key, item)
        return out


def _too_large(file: str) -> ScenarioError:
    return ScenarioError(f"larger than {MAX_BYTES:,} bytes: refused unread", file=file)


def parse(text: str, file: str) -> Source:
    if len(text) > MAX_BYTES:
        raise _too_large(file)
    loader = _Loader(text)
    loader.file = file
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise _refused(f"invalid YAML: {problem}", file, mark) from None
    finally:
        loader.dispose()
    if node is None:
        raise ScenarioError("the file is empty", file=file)
    builder = _Builder(file)
    data = builder.build(node, ())
    return Source(data, file, builder.lines)


def load(text: str, file: str) -> Any:
    """Only the data (ScenarioError naming the file and line when it is refused)."""
    return parse(text, file).data


def read(path: Path, name: str | None = None) -> Source:
    """The file parsed; `name` is how errors call it (its path by default)."""
    file = name or str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise _too_large(file)
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError("no such file", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file ({exc})", file=file) from None
    return parse(text, file)
