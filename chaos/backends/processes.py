"""Member processes on this machine: start, signal and wait for `mongoemu` or a real `mongod`.

This is the process-level half of the `local` backend; the emulator's own tests use it too.
A member is identified by its dbpath: mongod (and mongoemu) write their pid into
`<dbpath>/mongod.lock`, so another process (say `hubchaos heal` after a killed run) finds the
member again from the dbpath alone; and by its pid and start time as recorded when it was
started (`ref`), which still find it when the dbpath has been deleted under it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from chaos.ownership import OWNER_ENV, Owner, ProcessRef
from contract.errors import BackendError

EMULATOR = (sys.executable, "-m", "mongoemu")


# mongod spends up to shutdownTimeoutMillisForSignaledShutdown (15 s) on SIGTERM stepping down and
# in quiesce mode before it closes anything: a graceful stop waits that long and then some.
STOP_TIMEOUT_S = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class MemberProcess:
    name: str
    host: str
    port: int
    dbpath: Path
    repl_set: str | None = "rs0"
    binary: tuple[str, ...] = EMULATOR
    extra_args: tuple[str, ...] = ()
    # Run the process inside this network namespace (`ip netns exec NAME ...`).
    netns: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    ref: ProcessRef | None = None  # the process as started (kept in the cluster's state)
    owner: Owner | None = None  # the run that owns it, in its environment (OWNER_ENV)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def logpath(self) -> Path:
        return self.dbpath.parent / f"{self.name}.log"

    @property
    def lockfile(self) -> Path:
        return self.dbpath / "mongod.lock"

    @property
    def pid(self) -> int | None:
        process = self.process()
        return process.pid if process is not None else None

    def process(self) -> psutil.Process | None:
        """The running member: the one this object started, else the one whose pid the dbpath's
        lock file names, else the one `ref` names (each checked against its command line, so a
        recycled pid is not taken)."""
        if self.proc is not None and self.proc.poll() is None:
            return psutil.Process(self.proc.pid)
        candidates: list[int] = []
        try:
            candidates.append(int(self.lockfile.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
        if self.ref is not None and self.ref.alive():
            candidates.append(self.ref.pid)
        for pid in candidates:
            try:
                process = psutil.Process(pid)
                if str(self.dbpath) in process.cmdline() and process.status() != psutil.STATUS_ZOMBIE:
                    return process
            except psutil.Error:
                continue
        return None

    def command(self) -> list[str]:
        cmd = [*self.binary, "--port", str(self.port), "--bind_ip", self.host, "--dbpath", str(self.dbpath)]
        if self.repl_set:
            cmd += ["--replSet", self.repl_set]
        cmd += ["--logpath", str(self.logpath), *self.extra_args]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        return cmd

    def start(self) -> None:
        if self.alive:
            return
        self.dbpath.mkdir(parents=True, exist_ok=True)
        stderr = (self.dbpath.parent / f"{self.name}.stderr").open("ab")
        try:
            env = {**os.environ, OWNER_ENV: self.owner.token()} if self.owner is not None else None
            self.proc = subprocess.Popen(
                self.command(), stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True, env=env
            )
        except OSError as exc:
            raise BackendError(f"cannot start member {self.name} ({self.binary[0]}): {exc.strerror}") from exc
        finally:
            stderr.close()
        self.ref = ProcessRef.of(self.proc.pid)

    @property
    def alive(self) -> bool:
        return self.process() is not None

    @property
    def paused(self) -> bool:
        process = self.process()
        try:
            return process is not None and process.status() == psutil.STATUS_STOPPED
        except psutil.Error:
            return False

    def signal(self, sig: signal.Signals) -> None:
        process = self.process()
        if process is not None:
            try:
                os.kill(process.pid, sig)
            except ProcessLookupError:
                pass

    def wait_exit(self, timeout: float) -> None:
        """Until the process has exited; subprocess.TimeoutExpired after `timeout` seconds."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.wait(timeout=timeout)
            return
        # Not our child (a process that re-attached): it is gone once process() no longer finds it
        # (a zombie its own parent has yet to reap counts as gone).
        deadline = time.monotonic() + timeout
        while self.process() is not None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.command(), timeout)
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, then wait for it, so the port and the dbpath lock are free afterwards."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        try:
            self.wait_exit(timeout=10)
        except subprocess.TimeoutExpired:
            raise BackendError(f"member {self.name} (pid {self.pid}) did not exit after SIGKILL") from None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Graceful shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        stop_all([self], timeout)

    def pause(self) -> None:
        """SIGSTOP; returns once the kernel reports the process stopped."""
        self.signal(signal.SIGSTOP)
        self._wait_paused(True)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self._wait_paused(False)

    def _wait_paused(self, paused: bool, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.alive and self.paused != paused and time.monotonic() < deadline:
            time.sleep(0.01)

    def client(self, **kwargs: Any) -> MongoClient[dict[str, Any]]:
        """A direct connection to this member alone (admin commands, probes)."""
        kwargs.setdefault("serverSelectionTimeoutMS", 2000)
        kwargs.setdefault("connectTimeoutMS", 2000)
        return MongoClient(self.host, self.port, directConnection=True, **kwargs)

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise BackendError(
                    f"member {self.name} exited with code {self.proc.returncode} during start-up; "
                    f"see {self.logpath} and {self.dbpath.parent / (self.name + '.stderr')}"
                )
            try:
                with self.client(serverSelectionTimeoutMS=500) as c:
                    c.admin.command("ping")
                    return
            except PyMongoError as exc:
                last = exc
                time.sleep(0.05)
        raise BackendError(f"member {self.name} did not answer ping within {timeout:.0f} s: {last}")


def initiate(
    members: list[MemberProcess],
    settings: dict[str, Any] | None = None,
    member_options: dict[str, dict[str, Any]] | None = None,
    set_name: str = "rs0",
) -> dict[str, Any]:
    """Send replSetInitiate to the first member; return the config document sent."""
    config: dict[str, Any] = {
        "_id": set_name,
        "members": [
            {"_id": i, "host": m.address, **(member_options or {}).get(m.name, {})}
            for i, m in enumerate(members)
        ],
    }
    if settings:
        config["settings"] = settings
    with members[0].client() as c:
        c.admin.command("replSetInitiate", config)
    return config


def stop_all(members: Iterable[MemberProcess], timeout: float) -> None:
    """SIGTERM every member at once, then SIGKILL those still running after `timeout`: members
    quiesce side by side, so a set's teardown costs one quiesce period, not one per member."""
    members = list(members)
    # Only a member no process is found for can have a stray (see _kill_strays): a stop fault on
    # a running member pays for no scan of the process table.
    untracked = [m for m in members if not m.alive]
    for member in members:
        member.signal(signal.SIGCONT)
        member.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for member in members:
        try:
            member.wait_exit(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            member.kill()
    if untracked:
        _kill_strays(untracked)


def _kill_strays(members: list[MemberProcess]) -> None:
    """Kill what still runs with a member's dbpath on its command line: a start that a signal
    cut short after the fork, before Popen returned, leaves a member no object tracks."""
    dbpaths = {str(m.dbpath) for m in members}
    strays = []
    for process in psutil.process_iter(["cmdline"]):
        if dbpaths.intersection(process.info["cmdline"] or ()):
            with contextlib.suppress(psutil.Error):
                process.kill()
                strays.append(process)
    psutil.wait_procs(strays, timeout=5)


def wait_for_primary(members: list[MemberProcess], timeout: float = 30.0) -> MemberProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            if not m.alive:
                continue
            try:
                with m.client(serverSelectionTimeoutMS=300) as c:
                    if c.admin.command("hello").get("isWritablePrimary"):
                        return m
            except PyMongoError:
                continue
        time.sleep(0.05)
    raise BackendError(f"no primary among {[m.name for m in members]} within {timeout:.0f} s")
