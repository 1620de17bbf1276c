"""Read, override and validate a scenario; every problem is one ScenarioError naming the file,
the line and the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaos.scenario.model import Scenario
from contract.errors import ScenarioError, UsageError
from contract.safeyaml import PathKey, Source, parse, read
from reports.profiles import is_path

_INDEXED = re.compile(r"^(faults|runbook)\[(\d+)\]")


def field_name(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean(path: tuple[Any, ...]) -> PathKey:
    """pydantic's error location as the YAML path: without the `settings` level the workload
    section flattens."""
    out = list(path)
    if out[:2] == ["workload", "settings"]:
        del out[1]
    return tuple(out)


def override_path(assignment: str) -> PathKey:
    """The path an `--set key.path=value` sets (`faults.0.at` -> ("faults", 0, "at"))."""
    key = assignment.partition("=")[0]
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `--set key.path=value` (value parsed as YAML, within the same budgets as a
    scenario file) to raw scenario data."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise UsageError(f"--set {assignment!r}: expected KEY=VALUE, e.g. workload.users=50")
    try:
        value = parse(text, f"--set {assignment}").data if text.strip() else None
    except ScenarioError as exc:
        if "invalid YAML" not in str(exc):
            raise
        value = text
    parts = list(override_path(assignment))
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
            raise UsageError(f"--set {key}: {field_name(tuple(parts[: i + 1]))} is not a mapping or a list")
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    elif isinstance(node, dict):
        node[str(last)] = value
    elif isinstance(node, list):
        raise UsageError(f"--set {key}: index {last} is out of range (the list has {len(node)} items)")
    else:
        raise UsageError(f"--set {key}: {field_name(tuple(parts[:-1]))} is not a mapping or a list")


def validate(source: Source, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    data = source.data
    if not isinstance(data, dict):
        raise ScenarioError(
            "a scenario is a mapping with name, target, workload, faults and slos", file=source.file
        )
    for assignment in overrides:
        apply_override(data, assignment)
    _anchor_paths(data, Path(source.file).parent)
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
        field = field_name(path) or None
        setter = _setter_of(path, overrides)
        if setter is not None:
            raise ScenarioError(message, file=f"--set {setter}", field=field) from None
        raise ScenarioError(message, file=source.file, line=source.line_of(path), field=field) from None


def _setter_of(path: PathKey, overrides: list[str] | tuple[str, ...]) -> str | None:
    """The `--set` that gave the value at `path` (or inside it), if one did: the file's line
    would point at a value that is not the one refused."""
    for assignment in reversed(overrides):
        key = override_path(assignment)
        if (path and key[: len(path)] == path) or path[: len(key)] == key:
            return assignment
    return None


def _anchor_paths(data: dict[str, Any], base: Path) -> None:
    """Files a scenario names (an SLO profile, a locustfile, alert rules) are relative to the scenario's own
    folder; made absolute here, so the run directory's copy names the same files."""
    slos = data.get("slos")
    if isinstance(slos, dict) and isinstance(slos.get("profile"), str) and is_path(slos["profile"]):
        slos["profile"] = str((base / Path(slos["profile"]).expanduser()).resolve())
    alerts = data.get("alerts")
    if isinstance(alerts, dict) and isinstance(alerts.get("rules"), list):
        alerts["rules"] = [
            str((base / Path(r).expanduser()).resolve()) if isinstance(r, str) else r for r in alerts["rules"]
        ]
    workload = data.get("workload")
    if isinstance(workload, dict) and isinstance(workload.get("locustfile"), str):
        workload["locustfile"] = str((base / Path(workload["locustfile"]).expanduser()).resolve())


def load(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    return validate(read(path), overrides)


def loads(text: str, file: str = "<scenario>", overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    return validate(parse(text, file), overrides)
