"""Debian's `prometheus` binary, run for one drill: its config and rules in the run directory's
`prometheus/` folder, its storage there too, its HTTP API on a loopback port, scraping only the
drill's own `/metrics` endpoint. Stopped by `stop()` whatever ended the drill; should this
process die without stopping it, the kernel ends it too (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from chaos.backends.processes import free_port
from chaos.monitoring.rules import prometheus_duration
from contract.errors import RunError, UsageError

JOB = "hubchaos"
CONFIG = "prometheus.yml"
LOG = "prometheus.log"
STORAGE = "data"
START_ATTEMPTS = 3
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


def find_binary(binary: str) -> str:
    """The binary's path; UsageError (exit 2) naming it when it is not installed."""
    found = shutil.which(binary)
    if found is None:
        raise UsageError(
            f"alerts: the Prometheus binary {binary!r} was not found on PATH "
            "(Debian: apt-get install prometheus; or set alerts.prometheus to its path)"
        )
    return found


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Prometheus:
    def __init__(
        self, binary: str, folder: Path, rule_files: list[Path], target: str, scrape_interval_s: float
    ) -> None:
        self.binary = find_binary(binary)
        self.folder = folder
        self.rule_files = rule_files
        self.target = target  # host:port of the /metrics endpoint
        self.scrape_interval_s = scrape_interval_s
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._http = requests.Session()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        interval = prometheus_duration(self.scrape_interval_s)
        return {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [self.target]}]}],
        }

    def start(self, timeout: float = 30.0) -> None:
        """Start it and wait until it is ready; RunError with its log when it cannot start."""
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / CONFIG
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        for _ in range(START_ATTEMPTS):  # the free port may be taken before Prometheus binds it
            self.port = free_port()
            with (self.folder / LOG).open("ab") as log:
                self._proc = subprocess.Popen(
                    [
                        self.binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.folder / STORAGE}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--log.level=info",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads hold locks the child needs)
                )
            if self._wait_ready(timeout):
                return
            if "address already in use" not in self.log_tail():
                break
        self.stop()
        raise RunError(f"Prometheus did not start ({self.folder / LOG}): {self.log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                if self._http.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def log_tail(self, lines: int = 5) -> str:
        path = self.folder / LOG
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def api(self, path: str, **params: Any) -> Any:
        """The `data` of an HTTP API answer; RunError when Prometheus cannot answer."""
        try:
            reply = self._http.get(f"{self.url}/api/v1/{path}", params=params, timeout=HTTP_TIMEOUT_S)
            body = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise RunError(f"Prometheus {path}: {exc}") from None
        if body.get("status") != "success":
            raise RunError(f"Prometheus {path}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def wait_scraped(self, timeout: float = 30.0) -> None:
        """Until a scrape of the drill's endpoint succeeded and the rules were evaluated once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            up = self.api("query", query=f'up{{job="{JOB}"}}')["result"]
            groups = self.api("rules", type="alert")["groups"]
            # A group never evaluated says so with Go's zero time.
            evaluated = all(not str(g.get("lastEvaluation", "0001")).startswith("0001") for g in groups)
            if up and up[0]["value"][1] == "1" and evaluated:
                return
            time.sleep(self.scrape_interval_s / 2)
        raise RunError(f"Prometheus did not scrape {self.target} within {timeout:g} s: {self.log_tail()}")

    def stop(self) -> None:
        """Idempotent: SIGTERM, then SIGKILL after STOP_TIMEOUT_S."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._http.close()

    def version(self) -> str:
        return str(self.api("status/buildinfo").get("version", "unknown"))
