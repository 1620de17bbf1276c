"""Who owns a fault, a cluster or a helper process: a run, and the process that runs it.

A process is named by its pid *and* its start time, so a pid the kernel has given to another
process since is not taken for the owner. `hubchaos heal` heals only what belongs to owners that
are gone: a drill that still runs keeps its faults, whichever state directory it uses.

Everything a fault leaves on the machine carries its label (`netfilter.fault_label`), and the
label carries the owner, so the label sweep can tell a live run's rules, delay relays and shaped
interfaces from leftovers without any state directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import psutil
from pydantic import BaseModel, ConfigDict

# Start times are compared to the hundredth of a second: what the label keeps of them.
_PRECISION = 0.01
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
RUN_IN_LABEL_MAX = 64
# The environment variable that carries a process's (or a compose member's) owner token, so
# `hubchaos heal` finds what a killed run started without any state directory.
OWNER_ENV = "HUBCHAOS_OWNER"


def started_at(pid: int) -> float | None:
    """The process's start time (seconds since the epoch), or None when it does not exist."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except psutil.Error:
        return None


class ProcessRef(BaseModel):
    """One process: pid and start time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    started: float

    @classmethod
    def of(cls, pid: int) -> ProcessRef | None:
        started = started_at(pid)
        return cls(pid=pid, started=started) if started is not None else None

    def alive(self) -> bool:
        started = started_at(self.pid)
        return started is not None and abs(started - self.started) < _PRECISION * 1.5

    def process(self) -> psutil.Process | None:
        return psutil.Process(self.pid) if self.alive() else None


class Owner(ProcessRef):
    """A run (drill id, or `fault-<pid>` for a fault injected by hand) and its process."""

    run: str

    @classmethod
    def current(cls, run: str) -> Owner:
        pid = os.getpid()
        started = started_at(pid)
        assert started is not None
        return cls(pid=pid, started=started, run=run)

    def describe(self) -> str:
        return f"run {self.run} (pid {self.pid})"

    def token(self) -> str:
        """The owner as a label part: `<run>/<pid>/<start in hundredths of a second>`."""
        run = _UNSAFE.sub("_", self.run)[:RUN_IN_LABEL_MAX]
        return f"{run}/{self.pid}/{round(self.started / _PRECISION)}"

    @classmethod
    def from_token(cls, token: str) -> Owner | None:
        run, _, rest = token.partition("/")
        pid, _, started = rest.partition("/")
        if not (run and pid.isdigit() and started.isdigit()):
            return None
        return cls(pid=int(pid), started=int(started) * _PRECISION, run=run)

    def same_process(self, other: ProcessRef) -> bool:
        """Whether both name one process (a label keeps the start time to the hundredth)."""
        return self.pid == other.pid and abs(self.started - other.started) < _PRECISION * 1.5

    def is_run(self, run: str) -> bool:
        """Whether this is `run` (as the command line names it; labels keep a safe form)."""
        return self.run in (run, _UNSAFE.sub("_", run)[:RUN_IN_LABEL_MAX])


@dataclass(frozen=True, slots=True)
class HealScope:
    """What `hubchaos heal` may touch: by default what belongs to owners that are gone (and
    what has no owner on record); `--run ID` that run's, alive or not; `--all` everything.

    Run ids are unique within a state directory only (chaos.runclaims), so `--run ID` lifts a
    live owner's items only when that process is on record in the state directory healed
    (`recorded`): another user's, or another state directory's, live run of the same name keeps
    its faults."""

    everything: bool = False
    run: str | None = None
    recorded: tuple[Owner, ...] = ()

    def covers(self, owner: Owner | None) -> bool:
        if self.everything:
            return True
        if self.run is not None:
            return (
                owner is not None and owner.is_run(self.run) and (not owner.alive() or self._recorded(owner))
            )
        return owner is None or not owner.alive()

    def _recorded(self, owner: Owner) -> bool:
        return any(owner.same_process(r) for r in self.recorded)

    def why_not(self, owner: Owner | None) -> str:
        """Why an item the scope does not cover is left alone (one clause)."""
        if owner is None:
            return "it has no owner on record and --run names one"
        if self.run is not None and not owner.is_run(self.run):
            return f"it belongs to run {owner.run}, not {self.run}"
        if self.run is not None:
            return f"{owner.describe()} still runs and is not on record in this state directory"
        return f"{owner.describe()} is still running: `hubchaos heal --run {owner.run}` heals it anyway"
