"""Prometheus rule files: read, their alerting rules listed, and rewritten with a drill's `for:`.

Prometheus itself (and `promtool check rules`) judges the expressions; this module reads only
the structure a drill needs: each alerting rule's name, group, expression and `for:`. The
rewritten files keep every other rule and field as written, so the drill evaluates the user's
rules and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from contract import safeyaml
from contract.alerting import AlertRule
from contract.errors import UsageError

ALL_ALERTS = "*"
# Prometheus' duration syntax: units from largest to smallest, each at most once.
_PROM_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNITS_S = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_prometheus_duration(text: str) -> float:
    match = _PROM_DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a Prometheus duration (such as 30s, 1m, 1h30m)")
    return sum(int(n) * unit for n, unit in zip(match.groups(), _UNITS_S, strict=True) if n)


def prometheus_duration(seconds: float) -> str:
    """Seconds as Prometheus writes a duration, to the millisecond: 90 -> 1m30s, 0.5 -> 500ms."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, name in ((3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")):
        n, ms = divmod(ms, unit)
        if n:
            parts.append(f"{n}{name}")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class RuleFile:
    path: Path
    document: dict[str, Any]  # as read
    alerts: tuple[AlertRule, ...]


def _alerting_rules(path: Path, document: Any) -> tuple[AlertRule, ...]:
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise UsageError(f"alert rules {path}: not a Prometheus rule file (no groups: list)")
    found = []
    for i, group in enumerate(document["groups"]):
        rules = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(rules, list):
            raise UsageError(f"alert rules {path}: groups[{i}] has no rules: list")
        for j, rule in enumerate(rules):
            if not isinstance(rule, dict) or "alert" not in rule:
                continue  # a recording rule
            where = f"alert rules {path}: groups[{i}].rules[{j}]"
            try:
                for_s = parse_prometheus_duration(str(rule.get("for", "0s")))
            except ValueError as exc:
                raise UsageError(f"{where}.for: {exc}") from None
            if not isinstance(rule.get("expr"), str | int | float):
                raise UsageError(f"{where}: {rule['alert']} has no expr")
            found.append(
                AlertRule(
                    name=str(rule["alert"]),
                    group=str(group.get("name", "")),
                    file=str(path),
                    expr=str(rule["expr"]).strip(),
                    for_s=for_s,
                    for_in_file_s=for_s,
                    labels={str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                    annotations={str(k): str(v) for k, v in (rule.get("annotations") or {}).items()},
                )
            )
    return tuple(found)


def _document(path: Path) -> Any:
    """The file's YAML, through the bounded reader: rule files come with the scenario."""
    return safeyaml.read(path, f"alert rules {path}").data


@cache
def _read(path: Path, mtime: float) -> RuleFile:
    document = _document(path)
    return RuleFile(path, document, _alerting_rules(path, document))


def read_rule_files(paths: list[Path]) -> list[AlertRule]:
    """Every alerting rule of the files, in order; UsageError naming a file that cannot be used."""
    rules: list[AlertRule] = []
    for path in paths:
        mtime = path.stat().st_mtime if path.exists() else 0.0
        rules += _read(path, mtime).alerts
    return rules


def _override(name: str, overrides: dict[str, float]) -> float | None:
    """An alert's `for:` in this drill when the scenario sets one: its own, else the `*` one."""
    return overrides.get(name, overrides.get(ALL_ALERTS))


def write_for_drill(
    paths: list[Path], overrides: dict[str, float], folder: Path
) -> tuple[list[Path], list[AlertRule]]:
    """The rule files rewritten into `folder` with the drill's `for:`; the files, and the rules
    as Prometheus will evaluate them."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i, path in enumerate(paths):
        document = _document(path)
        for group in document["groups"]:
            for rule in group["rules"]:
                evaluated = _override(str(rule.get("alert")), overrides) if "alert" in rule else None
                if evaluated is not None:
                    rule["for"] = prometheus_duration(evaluated)
        target = folder / f"{i:02d}-{path.name}"
        target.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
        written.append(target)
    rules = []
    for rule in read_rule_files(paths):
        evaluated = _override(rule.name, overrides)
        rules.append(rule if evaluated is None else replace(rule, for_s=evaluated))
    return written, rules
