"""One drill from start to verdict.

    prepare   run directory, resolved scenario, run.json (status running)
    cluster   registered as `drill-<run>` in the state directory, then brought up (or
              attached), and waited for until healthy
    seed      indexes and corpus
    load      probes + Locust users + the fault timeline + the runbook, with the live view;
              the live metrics on /metrics throughout, and with `alerts:` a Prometheus
              evaluating alert rules, asked afterwards which fired (chaos/monitoring/)
    heal      every fault still active
    drain     stop the load, merge the recordings, wait until the cluster is healthy again
    verify    the write ledger against the recovered cluster, read at majority
    teardown  what this drill started; the registration goes with it
    analyse   summary.json, junit.xml, report; the exit code

One supervisor (supervisor.py) owns the signals of all of it: SIGTERM, SIGHUP or Ctrl-C in any
phase heals, tears down and ends the run with exit code 3 and run.json `interrupted`. Failures of
the run itself (the cluster never came up, a fault could not be healed, a runbook step failed)
also end it with exit code 3 after everything that can be undone is undone, and run.json records
the failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shlex
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import gevent
from pymongo.errors import PyMongoError

from chaos import backends
from chaos.backends.base import Cluster
from chaos.backends.health import current_primary
from chaos.drill import preflight
from chaos.drill.directory import RunDirectory
from chaos.drill.diskroom import describe_write_error, shortage
from chaos.drill.live import LiveView, Snapshot
from chaos.drill.load import LoadDriver
from chaos.drill.monitor import HostMonitor
from chaos.drill.probelog import ProbeLog
from chaos.drill.runlog import LOG, run_log
from chaos.drill.schedule import FaultSchedule
from chaos.drill.supervisor import Supervisor
from chaos.faults.injector import FaultInjector
from chaos.faults.journal import STATE_DIR_ENV, Journal, default_state_dir
from chaos.faults.timeline import FaultTimeline, Timeline
from chaos.interrupts import Interrupted
from chaos.monitoring.cluster import LiveCluster, ServerStatusProbe
from chaos.monitoring.exporter import FaultView, MetricsEndpoint, Sources
from chaos.monitoring.prometheus import find_binary
from chaos.monitoring.validation import alert_drill
from chaos.probes import ProbeTarget, StatusProbe
from chaos.runbook.player import RunbookPlayer
from chaos.runbook.step import RunbookState, StepContext
from chaos.runclaims import claim_run, release_run
from chaos.scenario.model import Scenario
from chaos.target import ExternalTarget
from contract import rundir
from contract.errors import ExitCode, HubchaosError, RunbookError, RunError
from contract.rundir import ExporterInfo, ProbeSample, RunInfo
from contract.safeyaml import Source
from locustfiles.classes import resolve_user_classes
from locustfiles.environment import prepare_classes, workload_for
from locustfiles.errortext import describe
from locustfiles.seeding import SeedingError
from locustfiles.tally import OpTally
from locustfiles.verify import read_ledger, verify_ledger
from reports.analyse import analyse, write_outputs
from reports.summary import Summary

TICK_S = 0.5
# Seeding starts over for as long as elections keep interrupting it, up to this long: a starved
# host can hold a set with short election timeouts in elections for a minute before it settles.
SEED_DEADLINE_S = 180.0


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
    def __init__(
        self,
        scenario: Scenario,
        command: list[str],
        out: Path | None,
        view: LiveView,
        supervisor: Supervisor,
        *,
        source: Source | None = None,
    ) -> None:
        self.scenario = scenario
        self.source = source  # where the scenario's values came from, for error lines
        self.view = view
        self.supervisor = supervisor
        # Imported and checked before the run directory exists (the command checked them too).
        self.user_classes = resolve_user_classes(scenario.workload.settings)
        if scenario.alerts is not None and scenario.alerts.enabled:
            find_binary(scenario.alerts.prometheus)
        self.directory = RunDirectory.create(scenario, out)
        self.state_dir = default_state_dir()  # claims, the registration and the heal journal
        try:
            # The run id is the directory's name unless another run on this machine holds it.
            self.owner = claim_run(self.state_dir, self.directory.path.name)
        except RunError:
            shutil.rmtree(self.directory.path, ignore_errors=True)
            raise
        self.info = RunInfo(
            run_id=self.owner.run,
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
        try:
            self.directory.write_scenario(scenario)
            self.directory.write_info(self.info)
        except OSError as exc:  # never a half-written run directory
            shutil.rmtree(self.directory.path, ignore_errors=True)
            release_run(self.state_dir, self.owner)
            raise RunError(f"cannot write the run directory {self.directory.path}: {exc.strerror}") from None
        self.phase = "starting"
        self.probe_log = ProbeLog(self.directory.path)
        self._registration: Path | None = None
        self._injector: FaultInjector | None = None
        self._load: LoadDriver | None = None
        self._schedule: FaultSchedule | None = None
        self._runbook: RunbookPlayer | None = None
        self._monitor: HostMonitor | None = None
        self._load_started = 0.0
        supervisor.on_abort = self._abort

    @property
    def path(self) -> Path:
        return self.directory.path

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> DrillResult:
        cluster = backends.create(self.scenario.target, self.path)
        # The cluster, its faults and its helpers belong to this run while this process runs.
        cluster.owner = self.owner
        error: str | None = None
        code = ExitCode.RUN_FAILED
        try:
            with self._cluster(cluster):
                self._drive(cluster)
        except Interrupted:
            pass
        except HubchaosError as exc:
            error, code = str(exc), ExitCode(exc.exit_code)
        except OSError as exc:  # a write under the run directory (a full disk, say)
            error = describe_write_error(exc, self.path)
        except BaseException as exc:  # anything unforeseen: still recorded, in one line
            error = describe(exc)
        if not self._left():
            release_run(self.state_dir, self.owner)
        if self.supervisor.interrupted:
            error = self.supervisor.describe() + (f" ({error})" if error else "")
            status = "interrupted"
        else:
            status = "failed" if error else "completed"
        self._finish(status, cluster.redact(error) if error else None)
        if error:
            self.view.line(f"[bold red]run {status}:[/] {self.info.error}")
            return DrillResult(self.path, ExitCode.RUN_FAILED if status == "interrupted" else code)
        try:
            self._enter("analysing")
            summary = analyse(self.path, self.scenario.slos.resolve())
            write_outputs(self.path, summary)
        except Interrupted:
            self._finish("interrupted", self.supervisor.describe())
            self.view.line(f"[bold red]run interrupted:[/] {self.info.error}")
            return DrillResult(self.path, ExitCode.RUN_FAILED)
        except OSError as exc:  # a full disk, say: the run happened, its outputs are not whole
            self._finish("failed", f"the outputs are not whole: {describe_write_error(exc, self.path)}")
            self.view.line(f"[bold red]run failed:[/] {self.info.error}")
            return DrillResult(self.path, ExitCode.RUN_FAILED)
        return DrillResult(self.path, ExitCode(summary.exit_code), summary=summary)

    def _finish(self, status: str, error: str | None) -> None:
        self.info.ended_at = time.time()
        self.info.status = status
        self.info.error = error
        try:
            self.directory.write_info(self.info)
        except OSError as exc:
            self.view.line(
                f"[bold red]{rundir.RUN_INFO} not updated[/] ({exc.strerror}): it may still say running"
            )

    @contextmanager
    def _cluster(self, cluster: Cluster) -> Iterator[None]:
        """Registered, up, healthy, and down again at the end. The registration (`drill-<run
        id>` in the state directory) is written before anything starts and kept current while
        the cluster runs, so that if this process is killed `hubchaos heal` still finds and
        stops what it started."""
        managed = not isinstance(self.scenario.target, ExternalTarget)
        if managed:
            self._registration = (
                backends.cluster_dir(self.state_dir, f"drill-{self.info.run_id}") / backends.STATE_FILE
            )
            cluster.registration = self._registration
        try:
            self._enter(f"bringing up the {cluster.kind} cluster")
            cluster.up()
            for note in cluster.notes:
                self.view.line(f"[yellow]note:[/] {note}")
            preflight.with_cluster(self.scenario, cluster, self.source)
            self.info.members = [m.info() for m in cluster.members]
            self.directory.write_info(self.info)
            cluster.wait_healthy()
            yield
        finally:
            with self.supervisor.cleaning():
                if managed:
                    self._enter("tearing down")
                    cluster.down()
                    cluster.unregister()
                else:
                    cluster.close_clients()

    def _seed(self, cluster: Cluster) -> None:
        """Each user class's `prepare`. Its steps retry on their own after a primary change; when
        one still fails and an election happened meanwhile (a busy machine can see several),
        seeding starts again from the start (it drops what it loads). Any other failure is one
        line: the step and the server's message."""
        settings = self.scenario.workload.settings
        self._enter("seeding the corpus")
        deadline = time.monotonic() + SEED_DEADLINE_S
        while True:
            term = _primary_term(cluster)
            try:
                with cluster.client(**settings.driver.client_kwargs()) as client:
                    for line in prepare_classes(self.user_classes, client, settings):
                        self.view.line(line)
                return
            except (SeedingError, PyMongoError) as exc:
                why = str(exc) if isinstance(exc, SeedingError) else describe(exc)
                if time.monotonic() < deadline:
                    cluster.wait_healthy()
                    if _primary_term(cluster) != term:
                        self.view.line(
                            f"[yellow]seeding interrupted by an election[/] ({why}): seeding again"
                        )
                        continue
                raise RunError(f"seeding failed: {why}") from None

    def _drive(self, cluster: Cluster) -> None:
        self._seed(cluster)
        targets = [ProbeTarget(m.name, m.address) for m in cluster.members]

        def connect(target: ProbeTarget, ms: int) -> Any:
            return cluster.admin_client(
                target.name,
                serverSelectionTimeoutMS=ms,
                connectTimeoutMS=ms,
                socketTimeoutMS=ms,
                appname="hubchaos-probe",
            )

        def pids() -> dict[str, int | None]:
            return {m.name: cluster.member_pid(m.name) for m in cluster.members}

        live = LiveCluster([m.name for m in cluster.members])

        def on_probe(samples: list[ProbeSample]) -> None:
            self.probe_log(samples)
            live.on_probe(samples)

        pollers = [
            StatusProbe(targets, on_probe, connect, interval=self.scenario.probes.interval),
            ServerStatusProbe(targets, live, connect),
        ]
        endpoint = MetricsEndpoint(Sources(self._request_tally, live.view, self._active_faults))
        monitor = self._monitor = HostMonitor(self.path, pids)
        for poller in pollers:
            poller.start()
        monitor.start()
        try:
            exporter = endpoint.start()
            self._write_exporter(exporter)
            self.view.line(f"live metrics: {exporter.url}")
            with alert_drill(self.scenario.alerts, self.path, exporter) as alerts:
                if alerts is not None:
                    self.view.line(f"prometheus {alerts.version}: {alerts.prometheus.url}")
                self._load_and_faults(cluster)
                self._enter("draining: waiting for a healthy cluster")
                cluster.wait_healthy(timeout=self.scenario.drain_timeout)
                self._verify(cluster)
        finally:
            with self.supervisor.cleaning():
                stopped = endpoint.stop()
                if stopped is not None:
                    self._write_exporter(stopped)
                for poller in pollers:
                    poller.stop()
                self.probe_log.finish()
                monitor.stop()

    def _write_exporter(self, info: ExporterInfo) -> None:
        self.path.joinpath(rundir.EXPORTER).write_text(json.dumps(asdict(info), indent=2))

    def _request_tally(self) -> dict[str, OpTally]:
        return workload_for(self._load.environment).tally.snapshot() if self._load is not None else {}

    def _active_faults(self) -> list[FaultView]:
        active = list(self._schedule.injector.active) if self._schedule is not None else []
        return [FaultView(f.fault_id, f.spec.kind, tuple(f.members)) for f in active if not f.healed]

    def _load_and_faults(self, cluster: Cluster) -> None:
        timeline = FaultTimeline(self.path / rundir.FAULTS)
        # Seeded like the workload, so random target picks repeat when the drill is run again.
        rng = random.Random(self.scenario.workload.settings.seed)
        injector = self._injector = FaultInjector(
            cluster, Journal(self.state_dir / "journal"), timeline, rng, owner=cluster.owner
        )
        load = self._load = LoadDriver(
            self.scenario.workload, cluster.uri(), self.path, self.user_classes, self.view.line
        )
        schedule = self._schedule = FaultSchedule(injector, self.scenario.faults)
        runbook = self._runbook = self._runbook_player(cluster, timeline)
        try:
            self._enter("running the load")
            load.start()
            self._load_started = time.monotonic()
            schedule.start(self._load_started)
            runbook.start(self._load_started)
            total = self.scenario.workload.total_duration
            # Steps may outlast the load (a restore after the users stopped): each is bounded.
            limit = total + runbook.budget_s
            while runbook.failure is None:
                elapsed = time.monotonic() - self._load_started
                loading = elapsed < total and not load.finished
                if not loading and (runbook.done or elapsed >= limit):
                    break
                self._check_room()
                self.view.update(self.snapshot())
                gevent.sleep(TICK_S)
        finally:
            with self.supervisor.cleaning():
                try:
                    runbook.close()
                    self._enter("healing the faults")
                    schedule.finish()
                finally:
                    self._enter("stopping the load")
                    merged = load.stop()
                    if merged is not None and merged.describe() != "complete":
                        what = "complete but" if merged.complete else "incomplete:"
                        self.view.line(f"[yellow]recordings {what}[/] {merged.describe()}")
        if schedule.errors:
            self.view.line("[yellow]faults not injected:[/] " + "; ".join(schedule.errors))
        if runbook.failure is not None:
            raise runbook.failure
        if not runbook.done:
            raise RunbookError(f"the runbook did not finish within {runbook.budget_s:g} s after the load")

    def _check_room(self) -> None:
        """RunError when a write under the run directory failed or its disk is nearly full: the
        drill ends while there is room to end it properly."""
        failed = self.probe_log.failure or (self._monitor.failure if self._monitor else None)
        if failed is not None:
            raise RunError(describe_write_error(failed, self.path))
        problem = shortage(self.path)
        if problem is not None:
            raise RunError(problem)

    def _runbook_player(self, cluster: Cluster, faults: FaultTimeline) -> RunbookPlayer:
        state = RunbookState()
        database = self.scenario.workload.settings.database

        def context(step_id: str) -> StepContext:
            return StepContext(cluster, step_id, database, self.path, state, log=self.view.line)

        steps = [entry.planned(i) for i, entry in enumerate(self.scenario.runbook)]
        return RunbookPlayer(steps, context, Timeline(self.path / rundir.RUNBOOK), faults, state)

    def _verify(self, cluster: Cluster) -> None:
        self._enter("verifying acknowledged writes")
        entries = read_ledger(self.path / rundir.LEDGER)
        with cluster.client() as client:
            verification = verify_ledger(client, self.scenario.workload.settings.database, entries)
        self.path.joinpath(rundir.VERIFICATION).write_text(json.dumps(asdict(verification), indent=2))
        lost = len(verification.acked_missing)
        style = "red" if lost else "green"
        self.view.line(f"ledger: {len(entries):,} writes checked, [{style}]{lost} acknowledged missing[/]")

    def _abort(self, signum: int) -> None:
        """A third Ctrl-C during cleanup: say what is left and how to remove it, record it."""
        left = self._left()
        command = heal_command(self.info.run_id)
        error = f"aborted while {self.phase}; left: {', '.join(left) or 'nothing'}"
        self.view.line(f"[bold red]aborted:[/] left {', '.join(left) or 'nothing'}")
        if left:
            self.view.line(f"remove it with: {command}")
        with contextlib.suppress(OSError):
            self._finish("interrupted", error)

    def _left(self) -> list[str]:
        """What this run has on the machine: its active faults and its registered cluster."""
        left = [f"fault {f.fault_id} ({f.spec.kind} on {', '.join(f.members)})" for f in self._active()]
        if self._registration is not None and self._registration.exists():
            left.append(f"cluster {self._registration.parent.name}")
        return left

    def _active(self) -> list[Any]:
        return list(self._injector.active) if self._injector is not None else []

    # --- the view -----------------------------------------------------------------------------
    def _enter(self, phase: str) -> None:
        self.phase = self.supervisor.phase = phase
        self.view.line(f"[bold]{phase}[/]")

    def snapshot(self) -> Snapshot:
        load = self._load.snapshot() if self._load else None
        active = tuple(f"{f.fault_id} {f.spec.kind} {','.join(f.members)}" for f in self._active())
        if self._runbook is not None and self._runbook.current is not None:
            active += (f"runbook {self._runbook.current}",)
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


def _primary_term(cluster: Cluster) -> int | None:
    primary = current_primary(cluster.status())
    return primary.term if primary is not None else None


def heal_command(run_id: str) -> str:
    """The one command that heals what a run left and stops its cluster."""
    state = os.environ.get(STATE_DIR_ENV)
    where = f" --state-dir {shlex.quote(state)}" if state else ""
    return f"hubchaos heal --run {shlex.quote(run_id)}{where}"


def run_drill(
    scenario: Scenario, command: list[str], out: Path | None, view: LiveView, source: Source | None = None
) -> DrillResult:
    with Supervisor(view.line) as supervisor:
        drill = Drill(scenario, command, out, view, supervisor, source=source)
        with view, run_log(drill.path) as errors:
            result = drill.run()
            if errors.count:
                view.line(
                    f"[yellow]{errors.count} error(s) logged by the drivers or Locust:[/] {drill.path / LOG}"
                )
            return result
