"""Read, override and validate a scenario; every problem is one ScenarioError naming the file,
the line and the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import ValidationError

from chaos.errors import ScenarioError, UsageError
from chaos.scenario.model import Scenario
from chaos.scenario.source import PathKey, Source, parse, read
from chaos.target import Target

# The backend names, i.e. the tags of the `target:` union.
BACKENDS = frozenset(m.model_fields["backend"].default for m in get_args(get_args(Target)[0]))
_INDEXED = re.compile(r"^(faults)\[(\d+)\]")


def _field(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean(path: tuple[Any, ...]) -> PathKey:
    """pydantic's error location as the YAML path: without the union tag it inserts after
    `target` (the backend) and without the `settings` level the workload section flattens."""
    out = list(path)
    if out[:1] == ["target"] and len(out) > 2 and out[1] in BACKENDS:
        del out[1]
    if out[:2] == ["workload", "settings"]:
        del out[1]
    return tuple(out)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `--set key.path=value` (value parsed as YAML) to raw scenario data."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise UsageError(f"--set {assignment!r}: expected KEY=VALUE, e.g. workload.users=50")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")]
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                raise UsageError(
                    f"--set {key}: index {part} is out of range (the list has {len(node)} items)"
                )
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(str(part), [] if isinstance(nxt, int) else {})
        else:
            raise UsageError(f"--set {key}: {_field(tuple(parts[: i + 1]))} is not a mapping or a list")
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    elif isinstance(node, dict):
        node[str(last)] = value
    elif isinstance(node, list):
        raise UsageError(f"--set {key}: index {last} is out of range (the list has {len(node)} items)")
    else:
        raise UsageError(f"--set {key}: {_field(tuple(parts[:-1]))} is not a mapping or a list")


def validate(source: Source, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    data = source.data
    if not isinstance(data, dict):
        raise ScenarioError(
            "a scenario is a mapping with name, target, workload, faults and slos", file=source.file
        )
    for assignment in overrides:
        apply_override(data, assignment)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = _clean(tuple(err["loc"]))
        message = str(err["msg"]).removeprefix("Value error, ")
        indexed = _INDEXED.match(message)
        if not path and indexed:
            path = (indexed.group(1), int(indexed.group(2)))
            message = message[indexed.end() :].lstrip()
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field is missing"
        raise ScenarioError(
            message, file=source.file, line=source.line_of(path), field=_field(path) or None
        ) from None


def load(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    return validate(read(path), overrides)


def loads(text: str, file: str = "<scenario>", overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    return validate(parse(text, file), overrides)
