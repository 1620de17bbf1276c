"""Running the scripts of tests/node (the Node.js `mongodb` driver and `mongoose`) from pytest.

A script reports what its driver did as JSON lines on stdout; `NodeScript` collects them on a
thread while the test acts on the cluster. Without `node` the tests skip; with `node` but
without `npm ci` having been run in tests/node they fail, naming the command to run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node"
PACKAGES = ("mongodb", "mongoose")


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    missing = [p for p in PACKAGES if not (NODE_DIR / "node_modules" / p / "package.json").is_file()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed in {NODE_DIR}: run `npm ci` there (.ci/run does)")
    return node


class NodeScript:
    """One script of tests/node as a child process; killed on exit if still running."""

    def __init__(self, script: str, *args: str) -> None:
        self.script = script
        self.proc = subprocess.Popen(
            [node_binary(), script, *args],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                with self._lock:
                    self._events.append(json.loads(line))

    def __enter__(self) -> NodeScript:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._events if kind is None or e["event"] == kind]

    def wait_for(self, kind: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(kind)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.script} did not report {kind!r} within {timeout} s: {self._stderr()}")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float) -> list[dict[str, Any]]:
        """Wait for the script to end by itself; it must exit 0."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            last = self.events()[-3:]
            raise AssertionError(
                f"{self.script} did not finish within {timeout} s; last events: {last}"
            ) from None
        self._reader.join(5)
        if code != 0:
            raise AssertionError(f"{self.script} exited with {code}: {self._stderr()}")
        return self.events()

    def _stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return "(still running)"
        return self.proc.stderr.read()[-2000:]
