"""A campaign from its first run to its page.

    prepare   the campaign directory, scenario.yaml (what every run runs), campaign.json
    runs      one `hubchaos run` child process per run, one after another, each with its seed
              and its own run directory; its record written to campaign.json when it ends
    stop      after the last run, after a run that missed (--fail-fast), or on a signal
    analyse   summary.json, junit.xml and report.html over the recorded runs; the exit code

Each run is a drill of its own, in its own process: its supervisor heals and tears down whatever
ends it, one run's crash or leak cannot reach the next, and the campaign needs neither Locust
nor a cluster. Signals (SIGTERM, SIGHUP, Ctrl-C) are passed on to the running drill, which
heals, tears down and exits 3; the campaign then records the run as interrupted and stops. The
drill runs in a session of its own, so a terminal's Ctrl-C reaches it once (through here), and
it is asked to stop (SIGTERM) if the campaign process dies. `--resume` goes on from the runs
recorded: a run without a result (interrupted, or a run directory without a record because the
campaign was killed) is run again under a new id, and its directory is left as it is. The
campaign's lock is held by the drill too, so that a resume waits for a drill that a killed
campaign left stopping.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType

import yaml

from chaos.campaign.plan import drill_scenario
from chaos.drill.directory import new_directory
from chaos.scenario.document import scenario_document
from chaos.scenario.model import Scenario
from contract import campaigndir
from contract.campaigndir import CampaignInfo, CampaignRun, CampaignStatus, RunStatus
from contract.errors import ExitCode, UsageError
from reports.campaign import CampaignSummary, summarise_campaign
from reports.render import write_campaign_outputs

POLL_S = 0.2
FORWARDED = {signal.SIGTERM: signal.SIGTERM, signal.SIGINT: signal.SIGINT, signal.SIGHUP: signal.SIGTERM}
_PR_SET_PDEATHSIG = 1


class CampaignLock:
    """campaign.lock held with flock while the campaign, or a drill it started, still runs."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path / campaigndir.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise UsageError(
                f"{path}: the campaign is still running (pid {holder}, or the drill it started); "
                "wait for it to end or stop it first"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        os.close(self.fd)


class SignalRelay:
    """While a campaign runs: SIGTERM, SIGHUP and Ctrl-C are noted and passed on to its drill."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.child: subprocess.Popen[bytes] | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SignalRelay:
        self._previous = {s: signal.signal(s, self._on_signal) for s in FORWARDED}
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(FORWARDED[signal.Signals(signum)])


def _stop_with_parent() -> None:
    """In the drill's process before it starts: SIGTERM when the campaign's process dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Campaign:
    # How a run is started: `hubchaos run` (the campaign's tests start a stand-in instead).
    drill: tuple[str, ...] = (sys.executable, "-m", "chaos", "run")

    def __init__(
        self, path: Path, info: CampaignInfo, lock: CampaignLock, say: Callable[[str], None]
    ) -> None:
        self.path = path
        self.info = info
        self.lock = lock
        self.say = say

    # --- creating and resuming ----------------------------------------------------------------
    @classmethod
    def create(
        cls, scenario: Scenario, command: list[str], out: Path | None, say: Callable[[str], None]
    ) -> Campaign:
        assert scenario.campaign is not None
        path = new_directory(out, scenario.outputs.dir, f"{scenario.name}-campaign", "campaign directory")
        lock = CampaignLock(path)
        drill = drill_scenario(scenario)
        text = yaml.safe_dump(scenario_document(drill), sort_keys=False, allow_unicode=True)
        (path / campaigndir.SCENARIO).write_text(text)
        info = CampaignInfo(
            campaign_id=path.name,
            scenario=scenario.name,
            description=scenario.description,
            command=command,
            runs_planned=scenario.campaign.runs,
            injections=scenario.campaign.injections,
            fail_fast=scenario.campaign.fail_fast,
            seed=scenario.workload.settings.seed,
            started_at=time.time(),
            ended_at=None,
            status=CampaignStatus.RUNNING,
        )
        campaigndir.write_campaign(path, info)
        return cls(path, info, lock, say)

    @classmethod
    def resume(cls, path: Path, fail_fast: bool, say: Callable[[str], None]) -> Campaign:
        if not campaigndir.is_campaign(path):
            raise UsageError(f"--resume {path}: not a campaign directory (no {campaigndir.CAMPAIGN_INFO})")
        lock = CampaignLock(path)
        try:
            info = campaigndir.read_campaign(path)
        except Exception:
            lock.release()
            raise
        info.status = CampaignStatus.RUNNING
        info.fail_fast = info.fail_fast or fail_fast
        info.resumed_at.append(time.time())
        info.note = None
        campaign = cls(path, info, lock, say)
        campaign._note_unfinished()
        campaigndir.write_campaign(path, info)
        return campaign

    def _note_unfinished(self) -> None:
        """Run directories without a record: a crash cut them short. Left as they are."""
        recorded = {r.run_id for r in self.info.runs}
        runs = self.path / campaigndir.RUNS
        for run_dir in sorted(runs.iterdir()) if runs.is_dir() else []:
            if run_dir.name in recorded or run_dir.name in self.info.abandoned:
                continue
            self.info.abandoned.append(run_dir.name)
            self.say(
                f"[yellow]not counted:[/] {run_dir.name} did not finish and runs again under a new id; "
                f"if its drill was killed, `hubchaos heal` and `hubchaos cluster down --name "
                f"drill-{run_dir.name}` undo what it left"
            )

    # --- the runs -------------------------------------------------------------------------------
    def run(self) -> CampaignSummary:
        try:
            with SignalRelay() as relay:
                self.info.status = self._run_all(relay)
        finally:
            self.info.ended_at = time.time()
            if self.info.status == CampaignStatus.RUNNING:  # an error of the campaign itself
                self.info.status = CampaignStatus.INTERRUPTED
            campaigndir.write_campaign(self.path, self.info)
        try:
            summary = summarise_campaign(self.path)
            write_campaign_outputs(self.path, summary)
        finally:
            self.lock.release()
        return summary

    def _run_all(self, relay: SignalRelay) -> CampaignStatus:
        done = {r.index for r in self.info.counted()}
        for index in range(1, self.info.runs_planned + 1):
            if index in done:
                continue
            if relay.received:
                break
            record = self._run_one(index, relay)
            self.info.runs.append(record)
            campaigndir.write_campaign(self.path, self.info)
            if relay.received or record.status == RunStatus.INTERRUPTED:
                break
            if self.info.fail_fast and record.exit_code != ExitCode.OK:
                self.info.note = f"Stopped after run {index} (fail fast): it exited {record.exit_code}."
                return CampaignStatus.STOPPED
        else:
            return CampaignStatus.COMPLETED
        signame = signal.Signals(relay.received[0]).name if relay.received else "a signal"
        self.info.note = f"Interrupted by {signame}; `hubchaos run --resume {self.path}` goes on."
        return CampaignStatus.INTERRUPTED

    def _run_one(self, index: int, relay: SignalRelay) -> CampaignRun:
        info = self.info
        runs = self.path / campaigndir.RUNS
        attempt = 1
        while (runs / info.run_id(index, attempt)).exists():
            attempt += 1
        run_id, seed = info.run_id(index, attempt), info.run_seed(index)
        run_dir = runs / run_id
        runs.mkdir(exist_ok=True)
        self.say(f"[bold]campaign {info.campaign_id}: run {index} of {info.runs_planned}[/] (seed {seed})")
        command = [
            *self.drill, str(self.path / campaigndir.SCENARIO),
            "--set", f"workload.seed={seed}", "--out", str(run_dir),
        ]  # fmt: skip
        started = time.time()
        with _child(command, self.lock.fd) as child:
            relay.child = child
            while child.poll() is None:
                time.sleep(POLL_S)
            relay.child = None
        code = child.returncode
        interrupted = bool(relay.received) and code != ExitCode.OK
        status = (
            RunStatus.INTERRUPTED
            if interrupted
            else RunStatus.COMPLETED
            if code in (ExitCode.OK, ExitCode.SLO_FAILED)
            else RunStatus.FAILED
        )
        ended = time.time()
        self.say(f"run {index} of {info.runs_planned}: {status}, exit {code}, {ended - started:.0f} s")
        return CampaignRun(
            index=index,
            run_id=run_id,
            path=str(run_dir.relative_to(self.path)),
            seed=seed,
            started_at=started,
            ended_at=ended,
            exit_code=code if code >= 0 else int(ExitCode.RUN_FAILED),
            status=status,
        )


@contextlib.contextmanager
def _child(command: list[str], lock_fd: int) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        command,
        pass_fds=(lock_fd,),
        start_new_session=True,
        preexec_fn=_stop_with_parent,  # noqa: PLW1509 (one prctl call; the campaign runs no threads)
    )
    try:
        yield child
    finally:
        if child.poll() is None:  # the campaign itself failed: the drill still heals
            child.send_signal(signal.SIGTERM)
            child.wait()
