"""Resource samples of real processes: the meters, a recorder that meters its own process (as a
Locust worker does), and the drill's host monitor watching a member-like child process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from chaos.drill.monitor import SOURCE, HostMonitor
from contract.rundir import RESOURCES, RESOURCES_SHARDS, ResourceRole
from locustfiles.merge import merge_run
from locustfiles.recorder import Recorder
from locustfiles.resources import HostMeter, ProcessMeter, runnable_threads
from locustfiles.settings import RecorderSettings
from locustfiles.shards import manifests

SPIN = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass\n"


@pytest.fixture
def spinner() -> Iterator[subprocess.Popen[bytes]]:
    """A child that keeps one core busy for at most a minute."""
    proc = subprocess.Popen([sys.executable, "-c", SPIN])
    yield proc
    proc.kill()
    proc.wait()


def test_a_process_meter_measures_cpu_time_over_wall_time(spinner: subprocess.Popen[bytes]) -> None:
    meter = ProcessMeter("spinner", ResourceRole.MEMBER)
    assert meter.sample(spinner.pid) is None  # the first call starts the interval
    time.sleep(1.0)
    sample = meter.sample(spinner.pid)
    assert sample is not None and sample.source == "spinner" and sample.role == "member"
    # A busy loop uses up to a core; on a shared machine it gets what the scheduler leaves it.
    assert 0.02 < sample.cpu <= 1.05 and 0.9 < sample.interval_s < 3
    assert sample.memory_bytes is not None and sample.memory_bytes > 1_000_000


def test_a_process_meter_starts_over_for_a_new_pid_and_forgets_a_gone_one(
    spinner: subprocess.Popen[bytes],
) -> None:
    meter = ProcessMeter("m", ResourceRole.MEMBER)
    meter.sample(spinner.pid)
    assert meter.sample(None) is None
    assert meter.sample(spinner.pid) is None  # a restarted member: a new first interval
    spinner.kill()
    spinner.wait()
    assert meter.sample(spinner.pid) is None


def test_the_host_meter_reports_cores_run_queue_and_memory(spinner: subprocess.Popen[bytes]) -> None:
    meter = HostMeter()
    assert meter.sample() is None
    time.sleep(0.5)
    sample = meter.sample()
    assert sample is not None and sample.role == "host" and sample.cores == meter.cores
    assert 0 < sample.cpu <= meter.cores + 0.05
    assert sample.runnable is not None and sample.runnable >= 0
    assert sample.memory_total_bytes and 0 < (sample.memory_bytes or 0) < sample.memory_total_bytes


def test_the_run_queue_counts_busy_threads() -> None:
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(3)]
    try:
        time.sleep(0.5)
        seen = max(runnable_threads() or 0 for _ in range(20))
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert seen >= 3  # three spinning processes are running or waiting for a core


def test_a_metered_recorder_writes_its_own_samples_and_the_merge_collects_them(tmp_path: Path) -> None:
    recorder = Recorder(
        tmp_path,
        "worker-0",
        RecorderSettings(flush_interval_s=0.2),
        ProcessMeter("worker-0", ResourceRole.LOAD),
    )
    time.sleep(1.1)
    recorder.close()
    (manifest,) = manifests(tmp_path)
    assert manifest.resources >= 3
    shard = tmp_path / RESOURCES_SHARDS / f"{manifest.stem}.jsonl"
    assert len(shard.read_text().splitlines()) == manifest.resources

    merge_run(tmp_path)
    table = pq.read_table(tmp_path / RESOURCES)
    assert table.num_rows == manifest.resources
    assert set(table.column("source").to_pylist()) == {"worker-0"}
    assert set(table.column("role").to_pylist()) == {"load"}


def test_the_host_monitor_samples_the_host_itself_and_each_member(
    tmp_path: Path, spinner: subprocess.Popen[bytes]
) -> None:
    pids: dict[str, int | None] = {"m0": spinner.pid, "m1": None}  # m1 runs elsewhere
    monitor = HostMonitor(tmp_path, lambda: pids, interval=0.2)
    monitor.start()
    time.sleep(1.0)
    merged = monitor.stop()
    table = pq.read_table(tmp_path / RESOURCES).to_pylist()
    assert merged == len(table) > 0
    sources = {row["source"] for row in table}
    assert sources == {"host", SOURCE, "m0"}
    spinning = [row for row in table if row["source"] == "m0"]
    assert all(row["role"] == "member" and row["cpu"] > 0 for row in spinning)
    assert [row["t"] for row in table] == sorted(row["t"] for row in table)
