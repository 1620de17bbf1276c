"""iptables rules inside a member's network namespace, each carrying a `hubchaos` label.

Every rule a fault adds has the comment `hubchaos:fault:<cluster>:<fault>:<owner>` (the owner
as chaos.ownership.Owner.token), so its heal deletes exactly its own rules, and a sweep finds
every rule any hubchaos run left behind and can tell whether the run that added it still runs.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from chaos.ownership import Owner
from chaos.system import CommandFailed, run

FAULT_LABEL_PREFIX = "hubchaos:fault:"
TABLES = ("filter", "nat", "mangle")


def fault_label(cluster_id: str, fault_id: str, owner: Owner | None = None) -> str:
    label = f"{FAULT_LABEL_PREFIX}{cluster_id}:{fault_id}"
    return f"{label}:{owner.token()}" if owner is not None else label


def label_owner(label: str) -> Owner | None:
    """The owner a fault label names (None: a label without one, from an older version)."""
    parts = label.removeprefix(FAULT_LABEL_PREFIX).split(":", 2)
    return Owner.from_token(parts[2]) if len(parts) == 3 else None


def iptables(prefix: list[str], table: str, *args: str) -> None:
    run([*prefix, "iptables", "-w", "5", "-t", table, *args])


def append(prefix: list[str], label: str, table: str, chain: str, *spec: str) -> None:
    """Append one rule: `spec` is the match and the jump (e.g. "-s", ip, "-j", "DROP")."""
    iptables(prefix, table, "-A", chain, "-m", "comment", "--comment", label, *spec)


def labelled_rules(prefix: list[str], label_prefix: str) -> list[tuple[str, list[str]]]:
    """(table, rule arguments) of every rule whose comment starts with label_prefix."""
    found: list[tuple[str, list[str]]] = []
    for table in TABLES:
        try:
            out = run([*prefix, "iptables-save", "-t", table]).stdout
        except CommandFailed:
            continue
        for line in out.splitlines():
            if not line.startswith("-A "):
                continue
            args = shlex.split(line)
            if any(a.startswith(label_prefix) for a in _comments(args)):
                found.append((table, args))
    return found


def _comments(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--comment"]


def rule_label(args: list[str], label_prefix: str) -> str:
    return next(a for a in _comments(args) if a.startswith(label_prefix))


def delete_labelled(prefix: list[str], label_prefix: str, keep: Callable[[str], bool] | None = None) -> int:
    """Delete every rule whose comment starts with label_prefix (but those whose label `keep`
    says to keep); return how many went."""
    deleted = 0
    for table, args in labelled_rules(prefix, label_prefix):
        if keep is not None and keep(rule_label(args, label_prefix)):
            continue
        try:
            iptables(prefix, table, "-D", *args[1:])
            deleted += 1
        except CommandFailed:
            continue  # already gone: healing is idempotent
    return deleted
