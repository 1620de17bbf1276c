"""Helpers for the backend and fault tests: clusters in a temporary folder, round-trip timing."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chaos.backends import Cluster, create
from chaos.faults.injector import FaultInjector
from chaos.faults.journal import Journal
from chaos.faults.netfilter import FAULT_LABEL_PREFIX, labelled_rules
from chaos.ownership import Owner, ProcessRef
from chaos.target import parse_target

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
FAST = {"electionTimeoutMillis": 1000, "heartbeatIntervalMillis": 250}


@contextmanager
def local_cluster(workdir: Path, members: Any = 1, **target: Any) -> Iterator[Cluster]:
    data = {"backend": "local", "members": members, "settings": FAST, "healthy_timeout_s": 60, **target}
    with create(parse_target(data), workdir) as cluster:
        yield cluster


def gone_owner(run: str) -> Owner:
    """The owner of a run whose process is gone (started, recorded, killed)."""
    proc = subprocess.Popen(["sleep", "60"])
    ref = ProcessRef.of(proc.pid)
    proc.kill()
    proc.wait()
    assert ref is not None and not ref.alive()
    return Owner(pid=ref.pid, started=ref.started, run=run)


def injector(cluster: Cluster, tmp_path: Path) -> FaultInjector:
    return FaultInjector(cluster, Journal(tmp_path / "journal"))


def rtt_ms(cluster: Cluster, member: str, rounds: int = 15) -> float:
    """The median round trip of `ping` to one member over a direct connection."""
    with cluster.admin_client(member, socketTimeoutMS=10_000) as client:
        client.admin.command("ping")
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            client.admin.command("ping")
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def fault_rules(cluster: Cluster) -> int:
    """How many hubchaos fault rules the members' namespaces hold."""
    return sum(len(labelled_rules(cluster.netns_prefix(m.name), FAULT_LABEL_PREFIX)) for m in cluster.members)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
