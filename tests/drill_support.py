"""Helpers for tests that run `hubchaos` drills as a user does, and signal them mid-run."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).parent.parent

# `hubchaos` as a terminal starts it: a test run started in the background hands its children
# SIGINT ignored, and Python then leaves Ctrl-C ignored.
INTERRUPTIBLE_HUBCHAOS = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'hubchaos'; from chaos.entry import main; main()"
)

TINY_CORPUS = "{users: 10, prompts: 50, stores: 2, vectors_per_store: 5, embedding_dim: 8}"


def pause_a_secondary(users: int = 2) -> str:
    """A scenario's body: 3 local members with short elections, a secondary paused 2 s into a
    60 s load (never healed before the load ends)."""
    return f"""\
target:
  backend: local
  members: 3
  settings: {{electionTimeoutMillis: 1000, heartbeatIntervalMillis: 200}}
workload:
  users: {users}
  duration: 60s
  corpus: {TINY_CORPUS}
faults:
  - {{at: 2s, kind: pause, target: secondary}}
"""


def hubchaos(
    *args: str | Path, timeout: float = 240, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos", *map(str, args)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def run_into(
    folder: Path, write_scenario: Callable[[Path], Path], timeout: float
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Write a drill's scenario into `folder` and run it into `folder/run`."""
    out = folder / "run"
    return hubchaos("run", write_scenario(folder / "scenario.yaml"), "--out", out, timeout=timeout), out


def scenario(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\ndescription: test drill\n{body}")
    return path


def state_env(state: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "HUBCHAOS_STATE_DIR": str(state), **extra}


class LiveDrill:
    """`hubchaos run` in the background; its stderr read line by line as it comes."""

    def __init__(
        self, scenario: Path, out: Path, env: dict[str, str], *args: str, own_group: bool = False
    ) -> None:
        """`own_group`: the drill leads its own process group, as a terminal's foreground job does,
        so that `signal_group` reaches it and every process it started, as Ctrl-C there does."""
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-c", INTERRUPTIBLE_HUBCHAOS, "run", str(scenario), "--out", str(out), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0 if own_group else None,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        """Until a stderr line contains `text` (AssertionError if the run ends first)."""
        if any(text in line for line in self.lines):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the run ended before {text!r}: {''.join(self.lines)}")
            self.lines.append(line)
            if text in line:
                return
        self.proc.kill()
        raise AssertionError(f"no {text!r} within {timeout:g} s: {''.join(self.lines)}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def signal_group(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        """Exit code, stdout and the whole stderr."""
        assert self.proc.stdout is not None
        stdout = self.proc.stdout.read()  # stderr is the reader thread's
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return self.proc.returncode, stdout, "".join(self.lines)


def processes_under(folder: Path) -> list[psutil.Process]:
    """Live processes whose command line names a path under `folder` (member processes by
    their dbpath), zombies excluded."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(folder) in arg for arg in proc.info["cmdline"] or []):
            found.append(proc)
    return found
