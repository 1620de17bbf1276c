"""What processes and the host use, sampled with psutil into `ResourceSample` records.

The recorder samples the process it runs in, so every Locust worker reports its own CPU; the
drill samples the host, itself and the members it started (`chaos/drill/monitor.py`). A
process's CPU is the CPU time it used over the wall-clock time between two samples: 1.0 is one
core fully used, so a single-threaded load generator near 1.0 is saturated whatever the host has.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from contract.rundir import ResourceRole, ResourceSample

PROC_STAT = Path("/proc/stat")


class ProcessMeter:
    """One process's CPU between calls; a new pid (a restarted member) starts over."""

    def __init__(self, source: str, role: ResourceRole) -> None:
        self.source = source
        self.role = role
        self._pid: int | None = None
        self._process: psutil.Process | None = None
        self._last: tuple[float, float] | None = None  # (wall time, CPU seconds)

    def sample(self, pid: int | None) -> ResourceSample | None:
        """The process's use since the previous call; None on the first call for a pid, or when
        the process is gone."""
        if pid is None:
            self._pid, self._process, self._last = None, None, None
            return None
        try:
            if pid != self._pid or self._process is None:
                self._pid, self._process, self._last = pid, psutil.Process(pid), None
            now = time.time()
            with self._process.oneshot():
                times = self._process.cpu_times()
                rss = self._process.memory_info().rss
        except psutil.Error:
            self._pid, self._process, self._last = None, None, None
            return None
        used = times.user + times.system
        previous, self._last = self._last, (now, used)
        if previous is None or now <= previous[0]:
            return None
        interval = now - previous[0]
        return ResourceSample(
            t=now,
            source=self.source,
            role=self.role.value,
            cpu=max(0.0, used - previous[1]) / interval,
            interval_s=interval,
            memory_bytes=rss,
        )


class HostMeter:
    """The host's busy cores between calls, its run queue, load average and memory."""

    def __init__(self) -> None:
        self.cores = psutil.cpu_count() or 1
        self._last: tuple[float, float] | None = None  # (wall time, busy CPU seconds of all cores)

    def sample(self) -> ResourceSample | None:
        """None on the first call (there is no interval yet)."""
        now = time.time()
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        previous, self._last = self._last, (now, busy)
        if previous is None or now <= previous[0]:
            return None
        memory = psutil.virtual_memory()
        interval = now - previous[0]
        return ResourceSample(
            t=now,
            source=ResourceRole.HOST.value,
            role=ResourceRole.HOST.value,
            cpu=max(0.0, busy - previous[1]) / interval,
            interval_s=interval,
            memory_bytes=memory.total - memory.available,
            cores=self.cores,
            runnable=runnable_threads(),
            load1=os.getloadavg()[0],
            memory_total_bytes=memory.total,
        )


def runnable_threads() -> int | None:
    """Threads running or waiting for a CPU right now, the caller not counted; None off Linux.

    Read by hand: psutil gives the load average (a one-minute decay, too slow for a 20-second
    window) but not the instantaneous run queue that /proc/stat's procs_running holds.
    """
    try:
        for line in PROC_STAT.read_text().splitlines():
            if line.startswith("procs_running "):
                return max(0, int(line.split()[1]) - 1)
    except (OSError, ValueError):
        return None
    return None
