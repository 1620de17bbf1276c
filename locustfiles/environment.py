"""Ties a `Workload` to a Locust environment, in every role Locust runs in.

    local   seeds the corpus at test start, records as worker "local", merges at quit
    master  seeds; writes the batches its workers send into its run directory, asks them for
            their last ones when the load stops, merges at quit
    worker  records as "worker-<index>" (with its own CPU) and sends its recordings to the master
            over Locust's message channel (`locustfiles.relay`); at quit stops its users, then closes

A worker therefore needs no path shared with the master: it may run on any machine that reaches
the master's port. Used by
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

from locust.runners import LocalRunner, MasterRunner, WorkerRunner
from pymongo import MongoClient

from locustfiles.merge import MergeReport, merge_run
from locustfiles.relay import MasterRelay, WorkerRelay, stop_users
from locustfiles.settings import WorkloadSettings, load_settings
from locustfiles.tally import REPORT_KEY
from locustfiles.workload import Workload

if TYPE_CHECKING:
    from locust.env import Environment

log = logging.getLogger(__name__)
LOCAL_WORKER = "local"

_attached: WeakKeyDictionary[Environment, Workload] = WeakKeyDictionary()
_relays: WeakKeyDictionary[Environment, WorkerRelay | MasterRelay] = WeakKeyDictionary()


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
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        # What this worker counted travels with its stats reports, so the master's tally has all.
        events.report_to_master.add_listener(
            lambda data, **_: data.update({REPORT_KEY: workload.tally.drain()})
        )
        _relays[environment] = WorkerRelay(runner, workload)
        return workload
    workload.settings.run_dir = workload.settings.run_dir or default_run_dir()
    if isinstance(runner, MasterRunner):
        events.worker_report.add_listener(lambda data, **_: workload.tally.merge(data.get(REPORT_KEY) or {}))
        settings = workload.settings
        relay = _relays[environment] = MasterRelay(runner, settings.run_dir, settings.recorder)
        # Before Locust's quit ends the message channel: the workers' last batches.
        events.test_stop.add_listener(lambda **_: relay.drain())
    return workload


def _apply_class_settings(environment: Environment, settings: WorkloadSettings) -> None:
    for user_class in environment.user_classes:
        apply = getattr(user_class, "apply_settings", None)
        if apply is not None:
            apply(settings)


def _on_test_start(environment: Environment, workload: Workload) -> None:
    runner = environment.runner
    relay = _relays.get(environment)
    if isinstance(relay, WorkerRelay):
        workload.set_worker(f"worker-{runner.worker_index}")
        relay.start()
        return
    if workload.settings.seed_on_start:
        _seed(environment, workload)
    if isinstance(relay, MasterRelay):
        relay.started()
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


def drain(environment: Environment) -> None:
    """A master's: its workers' last recordings, while the message channel still runs (before
    the runner's `quit`). Nothing elsewhere."""
    relay = _relays.get(environment)
    if isinstance(relay, MasterRelay):
        relay.drain()


def finish(environment: Environment, wait_s: float = 10.0) -> MergeReport | None:
    """Close this process's recording and, outside a worker, merge the run directory."""
    workload = workload_for(environment)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        drain(environment)  # a master interrupted before its test stopped: the channel still runs
    elif isinstance(runner, (WorkerRunner, LocalRunner)):
        # A worker or local runner a signal ends: Locust fires `quitting` before it stops the
        # users, so they stop here, before the last batches go and the recording closes.
        stop_users(runner)
    workload.close()
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
    report = finish(environment)
    if report is not None and not report.complete:
        environment.process_exit_code = 1
