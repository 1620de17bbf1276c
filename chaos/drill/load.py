"""The load: the hub's Locust users run in this process, headless, through Locust's library API;
with local or remote workers this process is the master, and each worker a `hubchaos worker`
process (chaos/drill/worker.py) that gets the run's settings from it over Locust's channel: the
local ones started here, the remote ones by whoever runs them (`workload.remote`).

Importing this module imports Locust (and so gevent's monkey patching): only the drill does.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gevent
from locust import LoadTestShape, User
from locust.env import Environment
from locust.exception import RPCError
from locust.runners import LocalRunner, MasterRunner

from chaos.backends.processes import free_port
from chaos.endpoint import Endpoint
from chaos.scenario.model import Stage, Workload
from contract.errors import RunError
from locustfiles.environment import attach, drain, finish
from locustfiles.join import Gate, worker_settings
from locustfiles.merge import MergeReport

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
    def __init__(
        self,
        workload: Workload,
        uri: str,
        run_dir: Path,
        user_classes: list[type[User]],
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.workload = workload
        self.run_dir = run_dir
        self.say = say
        settings = workload.settings.model_copy(
            update={"run_dir": run_dir, "seed_on_start": False, "uri": uri}
        )
        shape = stages_shape(workload.stages) if workload.stages else None
        self.environment = Environment(user_classes=list(user_classes), host=uri, shape_class=shape)
        self._gate: Gate | None = None
        remote = workload.remote
        if workload.workers or remote is not None:
            self._endpoint = remote.endpoint if remote is not None else Endpoint("127.0.0.1", free_port())
            try:
                runner = self.environment.create_master_runner(self._endpoint.host, self._endpoint.port)
            except (OSError, RPCError) as exc:
                raise RunError(f"the Locust master cannot listen on {self._endpoint}: {exc}") from None
            self.runner: LocalRunner | MasterRunner = runner
            # Every worker, local or remote, gets the settings over Locust's channel.
            self._gate = Gate(runner, worker_settings(settings))
        else:
            self.runner = self.environment.create_local_runner()
        attach(self.environment, settings)
        self._workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        if self._gate is not None:
            self._start_workers(self._gate)
        if self.workload.stages:
            self.runner.start_shape()
        else:
            self.runner.start(self.workload.users, self.workload.spawn_rate)

    def _start_workers(self, gate: Gate) -> None:
        logs = self.run_dir / "workers"
        command = [sys.executable, "-m", "chaos", "worker", "--master", self._endpoint.from_this_machine()]
        for i in range(self.workload.workers):
            logs.mkdir(exist_ok=True)
            with (logs / f"worker-{i}.log").open("wb") as log:
                self._workers.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        remote = self.workload.remote
        hints = [f"the local ones log to {logs}"] if self.workload.workers else []
        if remote is not None:
            start = f"hubchaos worker --master HOST:{self._endpoint.port}"
            self.say(f"waiting for {remote.workers} remote Locust worker(s) at {self._endpoint}: {start}")
            hints.append(f"a remote one runs `{start}`")
        expected = self.workload.workers + (remote.workers if remote else 0)
        timeout = remote.join_timeout if remote else WORKER_CONNECT_TIMEOUT_S
        deadline = time.monotonic() + timeout
        while len(gate.joined) < expected:
            problem = next(iter(gate.refused.values()), None)
            # The drill's stop() quits the runner, and with it every worker, whatever start() raised.
            if problem is not None:
                raise RunError(f"a Locust worker was refused: {problem}")
            if time.monotonic() > deadline or any(p.poll() is not None for p in self._workers):
                raise RunError(
                    f"{len(gate.joined)} of {expected} Locust workers ({self.workload.workers} local, "
                    f"{remote.workers if remote else 0} remote) joined within {timeout:g} s; "
                    + "; ".join(hints)
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
        # The workers' last batches first: once they all stopped on their own (a Ctrl-C reaches
        # them too), Locust's quit ends the message channel without a test stop, so no drain.
        drain(self.environment)
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
