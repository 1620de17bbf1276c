"""The load: the hub's Locust users run in this process, headless, through Locust's library API;
with `workers > 0` this process is the master and each worker is a `locust --worker` process.

Importing this module imports Locust (and so gevent's monkey patching): only the drill does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gevent
from locust import LoadTestShape, User
from locust.env import Environment
from locust.runners import MasterRunner

import locustfiles
from chaos.backends.processes import free_port
from chaos.scenario.model import Stage, Workload
from contract.errors import RunError
from locustfiles.environment import attach, finish
from locustfiles.merge import MergeReport
from locustfiles.settings import SETTINGS_FILE_ENV

WORKER_SETTINGS = "workload-settings.json"
WORKER_CONNECT_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class LoadSnapshot:
    users: int
    requests: int
    failures: int
    rps: float  # over Locust's recent window


def stages_shape(stages: list[Stage]) -> LoadTestShape:
    """A Locust load shape that holds each stage for its duration, then ends the test."""

    class Stages(LoadTestShape):
        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            for stage in stages:
                if elapsed < stage.duration:
                    return stage.users, stage.spawn_rate
                elapsed -= stage.duration
            return None

    return Stages()


class LoadDriver:
    def __init__(self, workload: Workload, uri: str, run_dir: Path, user_classes: list[type[User]]) -> None:
        self.workload = workload
        self.run_dir = run_dir
        settings = workload.settings.model_copy(
            update={"run_dir": run_dir, "seed_on_start": False, "uri": uri}
        )
        shape = stages_shape(workload.stages) if workload.stages else None
        self.environment = Environment(user_classes=list(user_classes), host=uri, shape_class=shape)
        if workload.workers:
            port = free_port()
            self.runner = self.environment.create_master_runner("127.0.0.1", port)
            self._settings_file = run_dir / WORKER_SETTINGS
            self._settings_file.write_text(settings.model_dump_json())
            self._master_port = port
        else:
            self.runner = self.environment.create_local_runner()
        attach(self.environment, settings)
        self._workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        if isinstance(self.runner, MasterRunner):
            self._start_workers()
        if self.workload.stages:
            self.runner.start_shape()
        else:
            self.runner.start(self.workload.users, self.workload.spawn_rate)

    def _start_workers(self) -> None:
        env = {**os.environ, SETTINGS_FILE_ENV: str(self._settings_file)}
        # Workers load the same classes from the settings file (locustfiles/scenario.py).
        locustfile = Path(locustfiles.__file__).with_name("scenario.py")
        logs = self.run_dir / "workers"
        logs.mkdir(exist_ok=True)
        for i in range(self.workload.workers):
            with (logs / f"worker-{i}.log").open("wb") as log:
                self._workers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "locust",
                            "-f",
                            str(locustfile),
                            "--worker",
                            "--master-host",
                            "127.0.0.1",
                            "--master-port",
                            str(self._master_port),
                        ],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + WORKER_CONNECT_TIMEOUT_S
        assert isinstance(self.runner, MasterRunner)
        while len(self.runner.clients.ready) < self.workload.workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self._workers):
                self._stop_workers()
                raise RunError(
                    f"{len(self.runner.clients.ready)} of {self.workload.workers} Locust workers connected "
                    f"within {WORKER_CONNECT_TIMEOUT_S:.0f} s; see {logs}"
                )
            gevent.sleep(0.1)

    def snapshot(self) -> LoadSnapshot:
        total = self.environment.stats.total
        return LoadSnapshot(
            users=self.runner.user_count,
            requests=total.num_requests,
            failures=total.num_failures,
            rps=float(total.current_rps or 0.0),
        )

    @property
    def finished(self) -> bool:
        """A load shape ends by itself; a fixed load ends when the drill stops it."""
        return self.workload.stages is not None and self.runner.state in ("stopped", "stopping")

    def stop(self) -> MergeReport | None:
        """Stop every user, close the recording and merge the workers' shards."""
        self.runner.quit()
        self._stop_workers()
        return finish(self.environment)

    def _stop_workers(self) -> None:
        for proc in self._workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._workers.clear()
