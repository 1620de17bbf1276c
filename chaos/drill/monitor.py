"""The measuring host watched while a drill runs, so that verdicts can tell the database being
slow from the machine measuring it being saturated.

Every second: the host (busy cores, run queue, load average, memory), this process (the Locust
runner or master, the probes) and every member the backend runs on this machine. Samples are
appended to `resources/hubchaos.jsonl` as they are taken (a crash keeps them) and merged with the
Locust workers' own samples into `resources.parquet` when the monitor stops.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from contract.rundir import RESOURCES_SHARDS, ResourceRole, ResourceSample, write_jsonl
from locustfiles.merge import merge_resources
from locustfiles.resources import HostMeter, ProcessMeter

log = logging.getLogger(__name__)
SOURCE = "hubchaos"  # this process's name in the samples

MemberPids = Callable[[], dict[str, int | None]]  # member name → its pid on this machine, if any


class HostMonitor:
    def __init__(self, run_dir: Path, members: MemberPids, interval: float = 1.0) -> None:
        self.run_dir = run_dir
        self.path = run_dir / RESOURCES_SHARDS / f"{SOURCE}.jsonl"
        self.interval = interval
        self._members = members
        self._host = HostMeter()
        self._self = ProcessMeter(SOURCE, ResourceRole.LOAD)
        self._meters: dict[str, ProcessMeter] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: OSError | None = None  # the first write that failed (a full disk): the drill stops

    def start(self) -> None:
        self.path.parent.mkdir(exist_ok=True)
        self._sample()  # the start of every first interval
        self._thread = threading.Thread(target=self._run, name="host-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stop sampling and merge every process's samples; the number merged."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
            self._thread = None
        return merge_resources(self.run_dir)

    def sample(self) -> list[ResourceSample]:
        """One round: the host, this process, each member; also appended to the shard file."""
        taken = [self._host.sample(), self._self.sample(os.getpid())]
        for name, pid in self._members().items():
            meter = self._meters.setdefault(name, ProcessMeter(name, ResourceRole.MEMBER))
            taken.append(meter.sample(pid))
        rows = [s for s in taken if s is not None]
        try:
            write_jsonl(self.path, rows)
        except OSError as exc:  # the shard file could not be written (a full disk): the drill reads this
            self.failure = self.failure or exc
        return rows

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        try:
            self.sample()
        except Exception:  # watching the host must never end the drill it watches
            log.exception("host monitor sample failed")
