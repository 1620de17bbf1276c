"""PyMongo's own test suite against a 3-member `mongoemu` replica set: pass rate per module.

The driver's specification tests are the judge of whether PyMongo sees the emulator as it sees
mongod. This script fetches the source distribution of the installed PyMongo (its `test/` tree;
the installed driver is what runs), starts a fresh 3-member set for each module, runs the
module's test files with pytest and prints, per module, tests passed / failed / errored /
skipped and the pass rate of the tests that ran (skipped ones excluded).

    python benchmarks/driver_conformance.py [--module NAME ...] [-k EXPR] [--failures]
                                            [--json FILE] [--module-timeout SECS] [--list]

The sdist is cached under `$XDG_CACHE_HOME/hubchaos` (default `~/.cache/hubchaos`), outside the
repository. Each module runs in its own pytest process with this file loaded as a plugin
(`-p driver_conformance`), which appends one JSON line per test phase to a records file; the
summary is built from those records, so a module stopped by its timeout still counts the tests
that finished and names the one that was running. Member processes are stopped whatever ends
the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import PyMongoError

from chaos.backends.processes import MemberProcess, free_port, initiate, wait_for_primary
from contract.errors import BackendError

# module name -> the test files of PyMongo's `test/` folder it runs
MODULES: dict[str, tuple[str, ...]] = {
    "crud_unified": ("test_crud_unified.py",),
    "retryable_writes_unified": ("test_retryable_writes_unified.py",),
    "retryable_writes_legacy": ("test_retryable_writes.py",),
    "retryable_reads": ("test_retryable_reads.py", "test_retryable_reads_unified.py"),
    "sdam_integration": ("test_discovery_and_monitoring.py",),
    "connections_survive_stepdown": ("test_connections_survive_primary_stepdown_spec.py",),
    "command_monitoring": ("test_command_monitoring.py",),
    "sessions": ("test_session.py", "test_sessions_unified.py"),
    "change_streams": ("test_change_stream.py",),
    "transactions": ("test_transactions.py", "test_transactions_unified.py"),
    "collection": ("test_collection.py",),
    "cursor": ("test_cursor.py",),
    "database": ("test_database.py",),
    "bulk": ("test_bulk.py",),
    "read_write_concern": (
        "test_read_write_concern_spec.py",
        "test_read_concern.py",
        "test_write_concern.py",
    ),
}

HERE = Path(__file__).resolve().parent
RECORDS_ENV = "HUBCHAOS_CONFORMANCE_RECORDS"
PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


# --- the pytest plugin half (runs inside each module's pytest process) -------------------------
def first_error_line(text: str, limit: int = 300) -> str:
    """The line a person reads first in a pytest failure: the first `E ` line, else the last;
    without PyMongo's `full error: {...}` reply dump, at most `limit` characters."""
    lines = [line for line in text.splitlines() if line.strip()]
    first = next((line[1:] for line in lines if line.startswith("E ")), lines[-1] if lines else "")
    return first.split(", full error: ")[0].strip()[:limit]


def _append(record: dict[str, Any]) -> None:
    path = os.environ.get(RECORDS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


# Tests that connect with `MongoClient()` and no host, i.e. to whatever listens on 27017.
DEFAULT_HOST_TESTS = ("TestErrorPropagationAfterEncounteringMultipleErrors",)
DEFAULT_PORT_ENV = "HUBCHAOS_CONFORMANCE_OWNS_DEFAULT_PORT"


def pytest_collection_modifyitems(items: list[Any], config: Any) -> None:
    """When another process holds port 27017, the tests that connect there would configure fail
    points on someone else's server: they are skipped, saying why."""
    if os.environ.get(DEFAULT_PORT_ENV, "1") == "1":
        return
    skip = pytest.mark.skip(reason="connects to localhost:27017, which another process holds")
    for item in items:
        if any(name in item.nodeid for name in DEFAULT_HOST_TESTS):
            item.add_marker(skip)


def pytest_collection_finish(session: Any) -> None:
    _append({"collected": len(session.items)})


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _append({"test": nodeid, "when": "start"})


def pytest_runtest_logreport(report: Any) -> None:
    message = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif not report.passed:
        message = first_error_line(report.longreprtext)
    _append({"test": report.nodeid, "when": report.when, "outcome": report.outcome, "message": message})


# --- records to results ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TestOutcome:
    test: str
    outcome: str  # passed | failed | error | skipped
    message: str = ""


@dataclass(slots=True)
class ModuleResult:
    name: str
    files: tuple[str, ...]
    collected: int = 0
    outcomes: list[TestOutcome] = field(default_factory=list)
    seconds: float = 0.0
    # Why the module did not finish normally (timeout, pytest's own error), else "".
    incomplete: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def ran(self) -> int:
        return self.count(PASSED) + self.count(FAILED) + self.count(ERROR)

    @property
    def pass_rate(self) -> float | None:
        """Passed over the tests that ran (not skipped); None when none ran."""
        return self.count(PASSED) / self.ran if self.ran else None

    @property
    def not_run(self) -> int:
        return max(self.collected - len(self.outcomes), 0)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.update(
            passed=self.count(PASSED),
            failed=self.count(FAILED),
            errors=self.count(ERROR),
            skipped=self.count(SKIPPED),
            not_run=self.not_run,
            pass_rate=self.pass_rate,
        )
        return doc


def outcomes_from_records(records: Iterable[dict[str, Any]], *, stopped: bool = False) -> list[TestOutcome]:
    """One outcome per test from the plugin's phase records, in the order tests started.

    A failing setup is an error, a failing call a failure, a failing teardown after a passed
    call an error (pytest reports both; one test counts once). An expected failure (xfail)
    counts as skipped. A test that started but has no result is an error when the run was
    `stopped` (it was running when the module's time ran out)."""
    result: dict[str, TestOutcome] = {}
    for rec in records:
        test = rec.get("test")
        if test is None:
            continue
        when, outcome, message = rec["when"], rec.get("outcome", ""), rec.get("message", "")
        if when == "start":
            result.setdefault(test, TestOutcome(test, ""))
        elif outcome == SKIPPED:
            if result.get(test, TestOutcome(test, "")).outcome in ("", PASSED):
                result[test] = TestOutcome(test, SKIPPED, message)
        elif outcome == FAILED:
            previous = result.get(test)
            if when == "call":
                result[test] = TestOutcome(test, FAILED, message)
            elif previous is None or previous.outcome in ("", PASSED):
                result[test] = TestOutcome(test, ERROR, message)
        elif when == "call":
            result[test] = TestOutcome(test, PASSED)
    finished: list[TestOutcome] = []
    for test, o in result.items():
        if o.outcome:
            finished.append(o)
        elif stopped:
            finished.append(TestOutcome(test, ERROR, "still running when the module's time ran out"))
    return finished


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by the module being killed mid-write


def collected_from_records(records: Iterable[dict[str, Any]]) -> int:
    return sum(int(r["collected"]) for r in records if "collected" in r)


def _rate(result: ModuleResult) -> str:
    rate = result.pass_rate
    return "n/a" if rate is None else f"{100 * rate:.1f} %"


def summary_table(results: Sequence[ModuleResult]) -> str:
    """A Markdown table: one row per module, then the total."""
    rows = [
        "| module | passed | failed | errors | skipped | pass rate (ran) | time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        note = f" ({r.incomplete})" if r.incomplete else ""
        rows.append(
            f"| {r.name}{note} | {r.count(PASSED)} | {r.count(FAILED)} | {r.count(ERROR)} | "
            f"{r.count(SKIPPED)} | {_rate(r)} | {r.seconds:.0f} s |"
        )
    total = ModuleResult("total", (), outcomes=[o for r in results for o in r.outcomes])
    total.seconds = sum(r.seconds for r in results)
    rows.append(
        f"| **total** | {total.count(PASSED)} | {total.count(FAILED)} | {total.count(ERROR)} | "
        f"{total.count(SKIPPED)} | {_rate(total)} | {total.seconds:.0f} s |"
    )
    return "\n".join(rows)


def failure_lines(results: Sequence[ModuleResult]) -> str:
    lines: list[str] = []
    for r in results:
        bad = [o for o in r.outcomes if o.outcome in (FAILED, ERROR)]
        if bad or r.incomplete:
            lines.append(f"## {r.name}" + (f" ({r.incomplete})" if r.incomplete else ""))
        for o in bad:
            lines.append(f"{o.outcome.upper():6} {o.test}\n       {o.message}")
    return "\n".join(lines)


# --- the driver's test tree -----------------------------------------------------------------
def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hubchaos"


def _ini_from(pyproject: Path) -> str:
    """A pytest.ini with the suite's markers and warning filters (its pyproject also names a
    JUnit file, log levels and pytest-asyncio settings that a sync-only run has no use for)."""
    options = tomllib.loads(pyproject.read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[pytest]", "addopts = -ra --strict-markers -p no:cacheprovider", "xfail_strict = true"]
    for key in ("markers", "filterwarnings"):
        lines.append(f"{key} =")
        lines.extend(f"    {value}" for value in options.get(key, ()))
    return "\n".join(lines) + "\n"


def driver_tests(version: str | None = None) -> Path:
    """The folder holding PyMongo's `test/` package for the installed (or given) version,
    downloaded with pip and unpacked once."""
    version = version or metadata.version("pymongo")
    root = cache_dir() / f"pymongo-{version}-tests"
    if (root / "pytest.ini").exists():
        return root
    download = cache_dir() / "sdist"
    download.mkdir(parents=True, exist_ok=True)
    archive = download / f"pymongo-{version}.tar.gz"
    if not archive.exists():
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps"]
        done = subprocess.run(
            [*cmd, f"pymongo=={version}", "-d", str(download)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0 or not archive.exists():
            raise SystemExit(f"could not download PyMongo {version}'s source distribution:\n{done.stderr}")
    staging = Path(tempfile.mkdtemp(prefix="pymongo-tests-", dir=cache_dir()))
    try:
        prefix = f"pymongo-{version}/"
        with tarfile.open(archive) as tar:
            wanted = [
                m
                for m in tar.getmembers()
                if m.name.startswith(prefix + "test/") or m.name == prefix + "pyproject.toml"
            ]
            tar.extractall(staging, members=wanted, filter="data")
        unpacked = staging / prefix
        (unpacked / "pytest.ini").write_text(_ini_from(unpacked / "pyproject.toml"))
        (unpacked / "pyproject.toml").unlink()
        unpacked.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


# --- running a module -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunSettings:
    tests: Path
    workdir: Path
    module_timeout: float = 900.0
    test_timeout: float = 120.0
    keyword: str | None = None
    election_timeout_ms: int = 10_000


DEFAULT_PORT = 27017


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_set(base: Path, election_timeout_ms: int) -> tuple[list[Any], Any]:
    """A fresh 3-member set under `base`; returns the members and the primary."""
    # Some of the suite's prose tests build `MongoClient()` with no host: mongod's default port.
    ports = [DEFAULT_PORT if _port_free(DEFAULT_PORT) else free_port(), free_port(), free_port()]
    members = [MemberProcess(f"m{i}", "127.0.0.1", port, base / f"m{i}") for i, port in enumerate(ports)]
    try:
        for m in members:
            m.start()
        for m in members:
            m.wait_ready()
        initiate(members, {"electionTimeoutMillis": election_timeout_ms})
        primary = wait_for_primary(members, timeout=60)
        _wait_secondaries(members)
    except BaseException:
        stop_set(members)
        raise
    return members, primary


def _wait_secondaries(members: Sequence[Any], timeout: float = 60.0) -> None:
    """Until every member is PRIMARY or SECONDARY (the suite writes with w: 3)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = []
            for m in members:
                with m.client(serverSelectionTimeoutMS=500) as c:
                    reply = c.admin.command("hello")
                    states.append(reply.get("secondary") or reply.get("isWritablePrimary"))
            if all(states):
                return
        except PyMongoError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the set's members were not all primary or secondary within {timeout:.0f} s")


def stop_set(members: Sequence[Any]) -> None:
    for m in members:
        try:
            m.kill()
        except Exception as exc:  # one member's failure must not leave the others running
            print(f"warning: could not stop {m.name}: {exc}", file=sys.stderr)


def run_module(name: str, settings: RunSettings, files: tuple[str, ...] | None = None) -> ModuleResult:
    """Run one module (or the given test `files` under that name) against a fresh set."""
    files = files or MODULES[name]
    result = ModuleResult(name, files)
    base = settings.workdir / name
    base.mkdir(parents=True, exist_ok=True)
    records = base / "records.jsonl"
    records.unlink(missing_ok=True)
    started = time.monotonic()
    members, primary = start_set(base / "set", settings.election_timeout_ms)
    try:
        env = {
            **os.environ,
            "DB_IP": primary.host,
            "DB_PORT": str(primary.port),
            DEFAULT_PORT_ENV: "1" if any(m.port == DEFAULT_PORT for m in members) else "0",
            RECORDS_ENV: str(records),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])
            ),
        }
        cmd = [sys.executable, "-m", "pytest", "-p", "driver_conformance", "-m", "default"]
        cmd += ["--timeout", str(int(settings.test_timeout)), "-q"]
        if settings.keyword:
            cmd += ["-k", settings.keyword]
        cmd += [f"test/{f}" for f in files]
        with (base / "pytest.log").open("w") as log:
            proc = subprocess.Popen(
                cmd, cwd=settings.tests, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                code = proc.wait(timeout=settings.module_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                result.incomplete = f"stopped after {settings.module_timeout:.0f} s"
                code = None
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        if code not in (None, 0, 1, 5):
            result.incomplete = f"pytest exited with {code}; see {base / 'pytest.log'}"
    finally:
        stop_set(members)
    recs = list(read_records(records))
    result.collected = collected_from_records(recs)
    result.outcomes = outcomes_from_records(recs, stopped=bool(result.incomplete))
    result.seconds = time.monotonic() - started
    return result


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that every `finally` stops its members


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--module", action="append", choices=sorted(MODULES), help="run only these (repeatable)")
    p.add_argument("-k", dest="keyword", help="pytest -k expression inside each module")
    p.add_argument(
        "--failures", action="store_true", help="list failed and errored tests with their first error line"
    )
    p.add_argument("--json", type=Path, help="write the results to this file")
    p.add_argument("--module-timeout", type=float, default=900.0, help="seconds per module (default 900)")
    p.add_argument("--test-timeout", type=float, default=120.0, help="seconds per test (default 120)")
    p.add_argument("--election-timeout-ms", type=int, default=10_000, help="the set's electionTimeoutMillis")
    p.add_argument("--keep", action="store_true", help="keep the members' folders and pytest logs")
    p.add_argument("--list", action="store_true", help="list the modules and their test files")
    args = p.parse_args(argv)
    if args.list:
        for name, files in MODULES.items():
            print(f"{name:30} {' '.join(files)}")
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    version = metadata.version("pymongo")
    tests = driver_tests(version)
    workdir = Path(tempfile.mkdtemp(prefix="driver-conformance-"))
    settings = RunSettings(
        tests, workdir, args.module_timeout, args.test_timeout, args.keyword, args.election_timeout_ms
    )
    results: list[ModuleResult] = []
    try:
        for name in args.module or list(MODULES):
            try:
                result = run_module(name, settings)
            except BackendError as exc:  # this module's set did not start: report it, go on
                result = ModuleResult(name, MODULES[name], incomplete=f"set did not start: {exc}")
            results.append(result)
            note = f" ({result.incomplete})" if result.incomplete else ""
            print(
                f"{name}: {result.count(PASSED)}/{result.ran} passed, {result.count(SKIPPED)} skipped, "
                f"{_rate(result)} in {result.seconds:.0f} s{note}",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"members' folders and pytest logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nPyMongo {version} test suite against a 3-member mongoemu set\n")
    print(summary_table(results))
    if args.failures:
        print("\n" + failure_lines(results))
    if args.json:
        args.json.write_text(
            json.dumps({"pymongo": version, "modules": [r.to_json() for r in results]}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
