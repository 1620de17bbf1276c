"""One drill from start to verdict.

    prepare   run directory, resolved scenario, run.json (status running)
    cluster   bring it up (or attach), wait until healthy
    seed      indexes and corpus
    load      probes + Locust users + the fault timeline, with the live view
    heal      every fault still active (also on error, Ctrl-C and SIGTERM)
    drain     stop the load, merge the recordings, wait until the cluster is healthy again
    verify    the write ledger against the recovered cluster, read at majority
    teardown  what this drill started
    analyse   summary.json, junit.xml, report; the exit code

Failures of the run itself (the cluster never came up, a fault could not be healed) end it
with exit code 3 after everything that can be undone is undone; the run directory then
records the failure in run.json.
"""

from __future__ import annotations

import contextlib
import json
import platform
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import gevent

from chaos import backends
from chaos.backends.base import Cluster
from chaos.drill.directory import RunDirectory
from chaos.drill.live import LiveView, Snapshot
from chaos.drill.load import LoadDriver
from chaos.drill.probelog import ProbeLog
from chaos.drill.schedule import FaultSchedule
from chaos.errors import ExitCode, HubchaosError
from chaos.faults.injector import FaultInjector
from chaos.faults.journal import Journal, default_state_dir
from chaos.faults.session import Terminated, healing
from chaos.faults.timeline import FaultTimeline
from chaos.probes import ProbeTarget, StatusProbe
from chaos.scenario.model import Scenario
from chaos.target import ExternalTarget
from locustfiles.seeding import seed_corpus
from locustfiles.verify import read_ledger, verify_ledger
from reports import rundir
from reports.analyse import analyse, write_outputs
from reports.rundir import RunInfo
from reports.summary import Summary

TICK_S = 0.5


@dataclass(slots=True)
class DrillResult:
    run_dir: Path
    exit_code: ExitCode
    summary: Summary | None = None


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("hubchaos", "pymongo", "locust"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


class Drill:
    def __init__(self, scenario: Scenario, command: list[str], out: Path | None, view: LiveView) -> None:
        self.scenario = scenario
        self.view = view
        self.directory = RunDirectory.create(scenario, out)
        self.directory.write_scenario(scenario)
        self.info = RunInfo(
            run_id=self.directory.path.name,
            scenario=scenario.name,
            description=scenario.description,
            command=command,
            started_at=time.time(),
            ended_at=None,
            status="running",
            backend=scenario.target.backend,
            seed=scenario.workload.settings.seed,
            versions=versions(),
            members=[],
        )
        self.directory.write_info(self.info)
        self.phase = "starting"
        self.probe_log = ProbeLog(self.directory.path)
        self._load: LoadDriver | None = None
        self._schedule: FaultSchedule | None = None
        self._load_started = 0.0

    @property
    def path(self) -> Path:
        return self.directory.path

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> DrillResult:
        cluster = backends.create(self.scenario.target, self.path)
        error: str | None = None
        try:
            with self._cluster(cluster):
                self._drive(cluster)
        except HubchaosError as exc:
            error = str(exc)
        except (KeyboardInterrupt, SystemExit) as exc:
            error = f"interrupted ({type(exc).__name__})"
        except BaseException as exc:  # Terminated (SIGTERM) and anything unforeseen: still recorded
            error = f"{type(exc).__name__}: {exc}"
        self.info.ended_at = time.time()
        self.info.status = "failed" if error else "completed"
        self.info.error = cluster.redact(error) if error else None
        self.directory.write_info(self.info)
        if error:
            self.view.line(f"[bold red]run failed:[/] {self.info.error}")
            return DrillResult(self.path, ExitCode.RUN_FAILED)
        self._enter("analysing")
        summary = analyse(self.path, self.scenario.slos.resolve())
        write_outputs(self.path, summary)
        return DrillResult(self.path, ExitCode(summary.exit_code), summary=summary)

    @contextmanager
    def _cluster(self, cluster: Cluster) -> Iterator[None]:
        """Up, healthy, and down again at the end. While it runs the cluster is registered as
        `drill-<run id>`, so that if this process is killed `hubchaos cluster down --name
        drill-<run id>` still finds and stops what it started."""
        self._enter(f"bringing up the {cluster.kind} cluster")
        registration = (
            backends.cluster_dir(default_state_dir(), f"drill-{self.info.run_id}") / backends.STATE_FILE
        )
        managed = not isinstance(self.scenario.target, ExternalTarget)
        try:
            cluster.up()
            if managed:
                backends.save_state(registration, cluster)
            self.info.members = [m.info() for m in cluster.members]
            self.directory.write_info(self.info)
            cluster.wait_healthy()
            yield
        finally:
            if managed:
                self._enter("tearing down")
                cluster.down()
                registration.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    registration.parent.rmdir()

    def _drive(self, cluster: Cluster) -> None:
        settings = self.scenario.workload.settings
        self._enter("seeding the corpus")
        with cluster.client(**settings.driver.client_kwargs()) as client:
            report = seed_corpus(client, settings)
        if not report.skipped:
            self.view.line(
                f"seeded {report.total:,} documents in {report.seconds:.1f} s ({report.docs_per_s:,.0f}/s)"
            )
        probe = StatusProbe(
            [ProbeTarget(m.name, m.address) for m in cluster.members],
            self.probe_log,
            lambda target, ms: cluster.admin_client(
                target.name,
                serverSelectionTimeoutMS=ms,
                connectTimeoutMS=ms,
                socketTimeoutMS=ms,
                appname="hubchaos-probe",
            ),
            interval=self.scenario.probes.interval,
        )
        probe.start()
        try:
            self._load_and_faults(cluster)
            self._enter("draining: waiting for a healthy cluster")
            cluster.wait_healthy(timeout=self.scenario.drain_timeout)
            self._verify(cluster)
        finally:
            probe.stop()
            self.probe_log.finish()

    def _load_and_faults(self, cluster: Cluster) -> None:
        timeline = FaultTimeline(self.path / rundir.FAULTS)
        # Seeded like the workload, so random target picks repeat when the drill is run again.
        rng = random.Random(self.scenario.workload.settings.seed)
        injector = FaultInjector(cluster, Journal(default_state_dir() / "journal"), timeline, rng)
        load = self._load = LoadDriver(self.scenario.workload, cluster.uri(), self.path)
        schedule = self._schedule = FaultSchedule(injector, self.scenario.faults)
        try:
            with healing(injector):
                self._enter("load")
                load.start()
                self._load_started = time.monotonic()
                schedule.start(self._load_started)
                total = self.scenario.workload.total_duration
                while time.monotonic() - self._load_started < total and not load.finished:
                    self.view.update(self.snapshot())
                    gevent.sleep(TICK_S)
                self._enter("healing")
                schedule.finish()
        finally:
            self._enter("stopping the load")
            merged = load.stop()
            if merged is not None and not merged.complete:
                self.view.line(f"[yellow]recordings incomplete:[/] {merged}")
        if schedule.errors:
            self.view.line("[yellow]faults not injected:[/] " + "; ".join(schedule.errors))

    def _verify(self, cluster: Cluster) -> None:
        self._enter("verifying acknowledged writes")
        entries = read_ledger(self.path / rundir.LEDGER)
        with cluster.client() as client:
            verification = verify_ledger(client, self.scenario.workload.settings.database, entries)
        self.path.joinpath(rundir.VERIFICATION).write_text(json.dumps(asdict(verification), indent=2))
        lost = len(verification.acked_missing)
        style = "red" if lost else "green"
        self.view.line(f"ledger: {len(entries):,} writes checked, [{style}]{lost} acknowledged missing[/]")

    # --- the view -----------------------------------------------------------------------------
    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.view.line(f"[bold]{phase}[/]")

    def snapshot(self) -> Snapshot:
        load = self._load.snapshot() if self._load else None
        faults = list(self._schedule.injector.active) if self._schedule else []
        active = tuple(f"{f.fault_id} {f.spec.kind} {','.join(f.members)}" for f in faults)
        return Snapshot(
            scenario=self.scenario.name,
            phase=self.phase,
            elapsed_s=time.monotonic() - self._load_started if self._load_started else 0.0,
            total_s=self.scenario.workload.total_duration,
            users=load.users if load else 0,
            rps=load.rps if load else 0.0,
            requests=load.requests if load else 0,
            failures=load.failures if load else 0,
            primary=self.probe_log.primary(),
            active_faults=active,
        )


def run_drill(scenario: Scenario, command: list[str], out: Path | None, view: LiveView) -> DrillResult:
    # A SIGTERM handler runs in whatever greenlet is current, often gevent's hub; the hub passes
    # its SYSTEM_ERROR exceptions on to the main greenlet (the drill) and prints all but NOT_ERROR.
    hub = gevent.get_hub()
    hub.SYSTEM_ERROR = (*hub.SYSTEM_ERROR, Terminated)
    hub.NOT_ERROR = (*hub.NOT_ERROR, Terminated, KeyboardInterrupt)
    drill = Drill(scenario, command, out, view)
    with view:
        return drill.run()
