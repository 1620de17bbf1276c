"""Traffic control (tc) on a member's interfaces: netem where the kernel has it, tbf otherwise.

The root qdisc of each of the member's interfaces (all but loopback) is replaced; healing
deletes it again, which restores the kernel's default. Namespaces and containers that
hubchaos created carry no other root qdisc, so a sweep may delete any netem or tbf there. A qdisc
carries no label, so the fault's label goes on the interface as its alias (`ip link ... alias`):
the sweep reads the owner from it and leaves a live run's shaping alone.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chaos.system import CommandFailed, run

if TYPE_CHECKING:
    from chaos.faults.kinds.degrade import Degrade

SHAPING_QDISCS = ("netem", "tbf")


def interfaces(prefix: list[str]) -> list[str]:
    out = run([*prefix, "ip", "-o", "link", "show"]).stdout
    names = [m.group(1) for m in re.finditer(r"^\d+: ([^:@\s]+)", out, re.MULTILINE)]
    return [n for n in names if n != "lo"]


def netem_supported(prefix: list[str]) -> bool:
    """Whether this kernel has sch_netem (tried on the namespace's loopback, then removed)."""
    try:
        run([*prefix, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"])
    except CommandFailed:
        return False
    run([*prefix, "tc", "qdisc", "del", "dev", "lo", "root"], check=False)
    return True


def mark(prefix: list[str], iface: str, label: str) -> None:
    """Label a shaped interface (before its qdisc is replaced: a sweep never sees it unlabelled)."""
    run([*prefix, "ip", "link", "set", "dev", iface, "alias", label])


def labels(prefix: list[str]) -> dict[str, str]:
    """Interface -> alias, for the interfaces that have one."""
    out = run([*prefix, "ip", "-o", "link", "show"], check=False).stdout
    found = {}
    for line in out.splitlines():
        name = re.match(r"^\d+: ([^:@\s]+)", line)
        alias = re.search(r"\\\s+alias (.+)$", line)
        if name and alias:
            found[name.group(1)] = alias.group(1).strip()
    return found


def netem(prefix: list[str], iface: str, spec: Degrade) -> None:
    args = ["delay", f"{spec.latency_ms:g}ms"]
    if spec.jitter_ms:
        args.append(f"{spec.jitter_ms:g}ms")
    if spec.loss_pct:
        args += ["loss", f"{spec.loss_pct:g}%"]
    if spec.rate_kbit:
        args += ["rate", f"{spec.rate_kbit}kbit"]
    run([*prefix, "tc", "qdisc", "replace", "dev", iface, "root", "netem", *args])


def tbf(prefix: list[str], iface: str, rate_kbit: int) -> None:
    # The bucket holds 20 ms worth of traffic (at least one full-size frame); a queue of 2 s.
    burst = max(1600, rate_kbit * 1000 // 8 // 50)
    tbf_args = ["rate", f"{rate_kbit}kbit", "burst", str(burst), "latency", "2s"]
    run([*prefix, "tc", "qdisc", "replace", "dev", iface, "root", "tbf", *tbf_args])


def clear(prefix: list[str], iface: str) -> None:
    run([*prefix, "tc", "qdisc", "del", "dev", iface, "root"], check=False)
    run([*prefix, "ip", "link", "set", "dev", iface, "alias", ""], check=False)


def shaped_interfaces(prefix: list[str]) -> list[str]:
    """Interfaces whose root qdisc is one hubchaos installs (netem or tbf)."""
    out = run([*prefix, "tc", "qdisc", "show"], check=False).stdout
    return [
        m.group(2)
        for m in re.finditer(r"^qdisc (\w+) \S+ dev (\S+) root", out, re.MULTILINE)
        if m.group(1) in SHAPING_QDISCS
    ]
