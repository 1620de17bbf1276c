"""`hubchaos cluster up|status|down`, `hubchaos fault` and `hubchaos heal` as a user runs them.

The heal test SIGKILLs two `hubchaos fault` runs while a partition and a pause are active,
then checks that `hubchaos heal` removes every rule, resumes the member and the cluster is
healthy again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos_support import fault_rules, needs_root, wait_until

from chaos.backends import attach, load_state
from chaos.backends.base import Cluster

pytestmark = needs_root
HUBCHAOS = [sys.executable, "-m", "chaos.cli"]


def hubchaos(
    state: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUBCHAOS_STATE_DIR": str(state), "COLUMNS": "200", **(env or {})}
    cmd = [*HUBCHAOS, *args]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def spawn(state: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HUBCHAOS_STATE_DIR": str(state)}
    return subprocess.Popen(
        [*HUBCHAOS, *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "state"
    yield folder
    if (folder / "clusters" / "default" / "cluster.json").exists():
        hubchaos(folder, "heal", "--no-wait", check=False)
        hubchaos(folder, "cluster", "down", check=False)


def cluster_of(state: Path) -> Cluster:
    return attach(load_state(state / "clusters" / "default" / "cluster.json"))


def journal(state: Path) -> list[Path]:
    return sorted((state / "journal").glob("*.json"))


def test_up_status_down(state: Path) -> None:
    up = hubchaos(state, "cluster", "up", "--members", "1")
    assert "PRIMARY" in up.stdout and "mongodb://" in up.stdout
    again = hubchaos(state, "cluster", "up", check=False)
    assert again.returncode == 2 and "already up" in again.stderr
    status = hubchaos(state, "cluster", "status")
    assert "m0" in status.stdout and "PRIMARY" in status.stdout
    cluster = cluster_of(state)
    process = cluster.processes["m0"]  # type: ignore[attr-defined]
    assert process.alive
    hubchaos(state, "cluster", "down")
    assert not process.alive
    missing = hubchaos(state, "cluster", "status", check=False)
    assert missing.returncode == 3 and "no cluster state" in missing.stderr


def test_root_without_iptables_falls_back_to_loopback(state: Path, tmp_path: Path) -> None:
    """A fresh Debian machine has `ip` but no iptables: the members share loopback, the user is
    told why, and a network fault is refused naming the missing tool (nothing else is refused)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ip").symlink_to(shutil.which("ip") or "/usr/sbin/ip")
    env = {"PATH": str(bin_dir)}
    up = hubchaos(state, "cluster", "up", "--members", "1", env=env)
    assert "iptables is not installed" in up.stdout, up.stdout
    assert "127.0.0.1:" in up.stdout
    partition = hubchaos(
        state, "fault", "partition", "--target", "m0", "--duration", "1", check=False, env=env
    )
    assert partition.returncode != 0
    assert "iptables is not installed" in partition.stderr, partition.stderr
    assert len(partition.stderr.strip().splitlines()) == 1
    pause = hubchaos(state, "fault", "pause", "--target", "m0", "--duration", "0.2", env=env)
    assert "pause" in pause.stdout


def test_wrong_target_is_one_line_and_changes_nothing(state: Path) -> None:
    hubchaos(state, "cluster", "up", "--members", "1")
    done = hubchaos(state, "fault", "kill", "--target", "m7", check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown target 'm7'" in done.stderr
    bad = hubchaos(state, "fault", "degrade", "-p", "latency_ms=-5", check=False)
    assert bad.returncode == 2 and "latency_ms" in bad.stderr and "Traceback" not in bad.stderr
    assert cluster_of(state).processes["m0"].alive  # type: ignore[attr-defined]
    assert journal(state) == []


def test_sigterm_heals_before_exiting(state: Path) -> None:
    hubchaos(state, "cluster", "up", "--members", "1")
    process = cluster_of(state).processes["m0"]  # type: ignore[attr-defined]
    log = state / "clusters" / "default" / "faults.jsonl"

    def events() -> list[dict[str, str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    run = spawn(state, "fault", "pause", "--target", "primary", "--duration", "120")
    # Once the injection is recorded: a SIGTERM while it is applied undoes a failed injection.
    wait_until(lambda: process.paused and any(e["action"] == "inject" for e in events()), 30, "the pause")
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=60)
    assert not process.paused
    assert journal(state) == []
    assert [(e["kind"], e["action"], e["outcome"]) for e in events()] == [
        ("pause", "inject", "ok"),
        ("pause", "heal", "ok"),
    ]


@pytest.mark.usefixtures("heals_alone")
def test_heal_after_sigkill_mid_partition_and_pause(state: Path) -> None:
    hubchaos(state, "cluster", "up", "--members", "1")
    cluster = cluster_of(state)
    process = cluster.processes["m0"]  # type: ignore[attr-defined]

    partition = spawn(state, "fault", "partition", "--target", "m0", "--duration", "300")
    wait_until(lambda: len(journal(state)) == 1 and fault_rules(cluster) > 0, 30, "the partition")
    pause = spawn(state, "fault", "pause", "--target", "m0", "--duration", "300")
    wait_until(lambda: len(journal(state)) == 2 and process.paused, 30, "the pause")
    for run in (partition, pause):
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)

    # The killed runs could not heal: the faults are still there.
    assert process.paused and fault_rules(cluster) > 0

    healed = hubchaos(state, "heal", "--timeout", "60")
    assert healed.stdout.count("healed ") == 2, healed.stdout
    assert "is healthy" in healed.stdout
    assert fault_rules(cluster) == 0
    assert not process.paused
    assert journal(state) == []
    assert cluster.wait_healthy(timeout=10)[0].state == "PRIMARY"
    assert "nothing to heal" in hubchaos(state, "heal").stdout
