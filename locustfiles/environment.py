"""Ties a `Workload` to a Locust environment, in every role Locust runs in.

    local   seeds the corpus at test start, records as worker "local", merges at quit
    master  seeds, names the run directory in its spawn messages, merges the workers' shards at quit
    worker  records as "worker-<index>" (with its own CPU) into the run directory the master named;
            at quit stops its users, then closes

Distributed mode therefore needs the workers to see the master's run directory (same machine, or
a shared volume at the same path; `HUBCHAOS_RUN_DIR` on a worker overrides the path). A master
driven through the library API without `parsed_options` cannot name it: give its workers
`HUBCHAOS_RUN_DIR`. Used by
`hub.py` on Locust's `init` event, and by a program driving Locust through its library API:

    env = Environment(user_classes=[HubUser, CanaryUser], host=uri, events=events)
    runner = env.create_local_runner()
    workload = attach(env, settings)      # after the runner exists
    runner.start(20, 20); ...; runner.quit()
    report = finish(env)                  # closes the recorder and merges the run directory
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from locust.runners import MasterRunner, WorkerRunner
from pymongo import MongoClient

from locustfiles.merge import MergeReport, merge_run
from locustfiles.settings import WorkloadSettings, load_settings
from locustfiles.tally import REPORT_KEY
from locustfiles.workload import Workload

if TYPE_CHECKING:
    from locust.env import Environment

log = logging.getLogger(__name__)
RUN_DIR_OPTION = "hubchaos_run_dir"
LOCAL_WORKER = "local"

_attached: WeakKeyDictionary[Environment, Workload] = WeakKeyDictionary()


class NoTarget(ValueError):
    """Neither Locust's host nor the settings name a MongoDB URI."""


def workload_for(environment: Environment) -> Workload:
    """The environment's workload, attached with settings from the environment if not yet."""
    return _attached.get(environment) or attach(environment)


def target_uri(environment: Environment, workload: Workload) -> str:
    uri = environment.host or workload.settings.uri
    if not uri:
        raise NoTarget(
            "no MongoDB target: pass --host mongodb://HOST:PORT/?replicaSet=NAME or set HUBCHAOS_URI"
        )
    return uri


def default_run_dir() -> Path:
    return (Path("runs") / time.strftime("workload-%Y%m%d-%H%M%S")).resolve()


def attach(environment: Environment, settings: WorkloadSettings | None = None) -> Workload:
    """Give `environment` a workload and the listeners its role needs (once per environment)."""
    if environment in _attached:
        return _attached[environment]
    workload = Workload(settings or load_settings())
    _attached[environment] = workload
    _apply_class_settings(environment, workload.settings)
    events = environment.events
    events.request.add_listener(workload.on_request)
    events.test_start.add_listener(lambda **_: _on_test_start(environment, workload))
    events.test_stop.add_listener(lambda **_: workload.flush())
    events.quitting.add_listener(lambda **_: _on_quitting(environment, workload))
    if isinstance(environment.runner, WorkerRunner):
        # What this worker counted travels with its stats reports, so the master's tally has all.
        events.report_to_master.add_listener(
            lambda data, **_: data.update({REPORT_KEY: workload.tally.drain()})
        )
        return workload
    if isinstance(environment.runner, MasterRunner):
        events.worker_report.add_listener(lambda data, **_: workload.tally.merge(data.get(REPORT_KEY) or {}))
    workload.settings.run_dir = workload.settings.run_dir or default_run_dir()
    if isinstance(environment.runner, MasterRunner) and environment.parsed_options is not None:
        # Locust copies the master's non-standard options into every spawn message, and a worker
        # applies them before its test_start: the way to tell workers the folder in time.
        setattr(environment.parsed_options, RUN_DIR_OPTION, str(workload.settings.run_dir))
    return workload


def _apply_class_settings(environment: Environment, settings: WorkloadSettings) -> None:
    for user_class in environment.user_classes:
        apply = getattr(user_class, "apply_settings", None)
        if apply is not None:
            apply(settings)


def _on_test_start(environment: Environment, workload: Workload) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        if workload.settings.run_dir is None:
            sent = getattr(environment.parsed_options, RUN_DIR_OPTION, None)
            workload.settings.run_dir = Path(sent) if sent else default_run_dir()
        workload.set_worker(f"worker-{runner.worker_index}")
        # A worker reports its own CPU: the drill samples only the processes on its machine.
        workload.start_recording(workload.settings.run_dir, meter=True)
        return
    if workload.settings.seed_on_start:
        _seed(environment, workload)
    if isinstance(runner, MasterRunner):
        return
    workload.set_worker(LOCAL_WORKER)
    workload.start_recording(workload.settings.run_dir or default_run_dir())


def _seed(environment: Environment, workload: Workload) -> None:
    """Each user class's `prepare` (the hub's seeds its corpus), once, before the users start."""
    uri = target_uri(environment, workload)
    client: MongoClient[Any] = MongoClient(uri, **workload.settings.driver.client_kwargs())
    try:
        for line in prepare_classes(environment.user_classes, client, workload.settings):
            log.info("%s", line)
    finally:
        client.close()


def prepare_classes(classes: list[Any], client: MongoClient[Any], settings: WorkloadSettings) -> list[str]:
    """Run `prepare` of every class that has one (each class once); the lines they report."""
    lines = []
    for user_class in dict.fromkeys(classes):
        prepare = getattr(user_class, "prepare", None)
        line = prepare(client, settings) if prepare is not None else None
        if line:
            lines.append(f"{user_class.__name__}: {line}")
    return lines


def finish(environment: Environment, wait_s: float = 10.0) -> MergeReport | None:
    """Close this process's recording and, outside a worker, merge the run directory."""
    workload = workload_for(environment)
    workload.close()
    runner = environment.runner
    run_dir = workload.settings.run_dir
    if isinstance(runner, WorkerRunner) or run_dir is None:
        return None
    expect = (
        [f"worker-{i}" for i in runner.worker_indexes.values()] if isinstance(runner, MasterRunner) else []
    )
    report = merge_run(run_dir, expect_workers=expect, wait_s=wait_s)
    level = logging.INFO if report.complete else logging.ERROR
    log.log(
        level,
        "merged %d events, %d ledger entries, %d discovery events from %s into %s%s",
        report.events,
        report.ledger,
        report.discovery,
        ", ".join(report.workers) or "no workers",
        run_dir,
        "" if report.describe() == "complete" else f" ({report.describe()})",
    )
    return report


def _on_quitting(environment: Environment, workload: Workload) -> None:
    runner = environment.runner
    if runner is not None and not isinstance(runner, MasterRunner):
        # A signal makes Locust fire `quitting` before it stops the users, and a worker would
        # still take users the master hands it meanwhile: stop them and the runner's message
        # loop first, so that every write is recorded (one cut short as indeterminate) before
        # the recording closes.
        runner.quit()
    report = finish(environment)
    if report is not None and not report.complete:
        environment.process_exit_code = 1
