"""Helpers for tests of Locust workers on "other machines": network namespaces of their own, the
master's folder hidden from them, and what each said it delivered to the master."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chaos.backends import netns
from chaos.system import run

DELIVERED = re.compile(r"(worker-\d+): (\d+) events, (\d+) ledger entries, \d+ discovery events delivered")
# A worker's shell hides a folder under an empty tmpfs ($0), checks it did, then runs the command.
HIDE = 'mount -t tmpfs hidden "$0" && test -z "$(ls -A "$0")" && exec "$@"'


def hidden(folder: Path, ns: str | None = None) -> list[str]:
    """A command prefix: with `folder` hidden (a mount namespace of its own), in network
    namespace `ns` if given."""
    return [*(netns.exec_prefix(ns) if ns else []), "unshare", "--mount", "sh", "-c", HIDE, str(folder)]


def delivered(logs: list[str]) -> dict[str, tuple[int, int]]:
    """(events, ledger entries) each worker says in its log it delivered to the master."""
    return {m[1]: (int(m[2]), int(m[3])) for log in logs for m in DELIVERED.finditer(log)}


def check_ledger_ids(write_ids: list[str]) -> dict[str, int]:
    """No duplicate and no gap: per worker the numbers are exactly 1..N. Returns N per worker."""
    assert len(write_ids) == len(set(write_ids)), "duplicate write ids"
    numbers: dict[str, list[int]] = {}
    for write_id in write_ids:
        worker, _, n = write_id.rpartition("-")
        numbers.setdefault(worker, []).append(int(n))
    for worker, seen in numbers.items():
        assert sorted(seen) == list(range(1, len(seen) + 1)), f"gap in the ledger of {worker}"
    return {worker: len(seen) for worker, seen in numbers.items()}


@contextmanager
def worker_namespaces(count: int) -> Iterator[tuple[str, list[str]]]:
    """`count` network namespaces on one bridge: the bridge's address (the root namespace, where
    the master and the member listen) and each namespace's name."""
    cluster_id = f"lw{uuid.uuid4().hex[:5]}"
    names = [f"w{i}" for i in range(count)]
    subnet = netns.pick_subnet(ipaddress.IPv4Network("10.216.0.0/16"), netns.networks_in_use())
    net = netns.plan(cluster_id, names, subnet)
    try:
        netns.create(cluster_id, net)
        yield net.gateway, [netns.netns_name(cluster_id, n) for n in names]
    finally:
        netns.destroy(cluster_id, names)


@contextmanager
def namespaces_joining(cluster_id: str, subnet: ipaddress.IPv4Network, count: int) -> Iterator[list[str]]:
    """`count` namespaces of their own on a running cluster's bridge (hosts beside its members),
    removed afterwards; the cluster's own network is left as it is."""
    hosts = list(subnet.hosts())
    addresses = {f"rw{i}": str(hosts[200 + i]) for i in range(count)}
    names = [netns.netns_name(cluster_id, n) for n in addresses]
    try:
        netns.add_namespaces(cluster_id, subnet, addresses, first_index=50)
        yield names
    finally:
        for ns in names:
            run(["ip", "netns", "del", ns], check=False)
