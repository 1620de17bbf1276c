"""iptables rules inside a member's network namespace, each carrying a `hubchaos` label.

Every rule a fault adds has the comment `hubchaos:fault:<cluster>:<fault>`, so its heal
deletes exactly its own rules, and a sweep finds every rule any hubchaos run left behind.
"""

from __future__ import annotations

import shlex

from chaos.system import CommandFailed, run

FAULT_LABEL_PREFIX = "hubchaos:fault:"
TABLES = ("filter", "nat", "mangle")


def fault_label(cluster_id: str, fault_id: str) -> str:
    return f"{FAULT_LABEL_PREFIX}{cluster_id}:{fault_id}"


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


def delete_labelled(prefix: list[str], label_prefix: str) -> int:
    """Delete every rule whose comment starts with label_prefix; return how many went."""
    deleted = 0
    for table, args in labelled_rules(prefix, label_prefix):
        try:
            iptables(prefix, table, "-D", *args[1:])
            deleted += 1
        except CommandFailed:
            continue  # already gone: healing is idempotent
    return deleted
