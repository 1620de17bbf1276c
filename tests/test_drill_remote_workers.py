"""`hubchaos run --expect-remote-workers N` with its workers on "other machines": `hubchaos worker`
processes in network namespaces of their own, each in its own folder with the drill's folder
hidden from it, that get the run's settings from the master and send it their recordings."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from chaos_support import needs_root
from drill_support import ROOT, TINY_CORPUS, LiveDrill, hubchaos, processes_under, scenario, state_env
from worker_support import check_ledger_ids, delivered, hidden, namespaces_joining

from chaos.backends import STATE_FILE
from chaos.backends.local import LocalState
from chaos.backends.netns import list_namespaces
from chaos.backends.processes import free_port
from contract import rundir

pytestmark = pytest.mark.slow

KILL_PRIMARY = f"""
target:
  backend: local
  members: 3
  settings: {{electionTimeoutMillis: 1000, heartbeatIntervalMillis: 200}}
workload:
  users: 6
  spawn_rate: 6
  duration: 25s
  corpus: {TINY_CORPUS}
faults:
  - {{at: 8s, kind: kill, target: primary, heal_after: 6s}}
slos:
  profile: ai-hub-production
"""

ONE_MEMBER = KILL_PRIMARY.replace("members: 3", "members: 1")


def worker_env() -> dict[str, str]:
    """A machine of its own: none of the drill's HUBCHAOS_* settings, no state directory."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HUBCHAOS_")}


def worker_command(master: str) -> list[str]:
    return [sys.executable, "-m", "chaos", "worker", "--master", master]


def start_worker(prefix: list[str], master: str, folder: Path) -> subprocess.Popen[str]:
    """A `hubchaos worker` in `folder`, logging to `folder`.log beside it."""
    with folder.with_suffix(".log").open("w") as log:
        return subprocess.Popen(
            [*prefix, *worker_command(master)],
            cwd=folder,
            env=worker_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def exit_code(worker: subprocess.Popen[str], folder: Path, timeout_s: float) -> int:
    """The worker's exit code; one that overstays fails the test with where its greenlets are."""
    try:
        return worker.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGUSR1)
        time.sleep(2)
        log = folder.with_suffix(".log").read_text()[-20000:]
        pytest.fail(f"worker in {folder.name} still running after {timeout_s:.0f} s:\n{log}")


def merged_per_worker(run_dir: Path) -> dict[str, tuple[int, int]]:
    """(events, ledger entries) per worker in the run's merged files, the ledger without a gap."""
    events = pq.read_table(run_dir / rundir.EVENTS).to_pandas()
    write_ids = pq.read_table(run_dir / rundir.LEDGER, columns=["write_id"])["write_id"].to_pylist()
    per_worker = check_ledger_ids(write_ids)
    return {w: (int((events["worker"] == w).sum()), per_worker[w]) for w in per_worker}


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


@needs_root
def test_remote_workers_in_their_own_namespaces_deliver_every_record(tmp_path: Path) -> None:
    drill_dir, state = tmp_path / "drill", tmp_path / "state"
    drill_dir.mkdir()
    port = free_port()
    folders = [tmp_path / f"w{i}" for i in range(2)]
    for folder in folders:
        folder.mkdir()
    drill = LiveDrill(
        scenario(drill_dir, "remote", KILL_PRIMARY),
        drill_dir / "run",
        state_env(state),
        *("--workers", "1", "--expect-remote-workers", "2", "--master-bind", f"0.0.0.0:{port}"),
    )
    workers: list[subprocess.Popen[str]] = []
    try:
        drill.wait_for(f"remote Locust worker(s) at 0.0.0.0:{port}")
        # The cluster is up: the workers join its network, as hosts beside its members.
        cluster = LocalState.model_validate_json(next(state.rglob(STATE_FILE)).read_text())
        assert cluster.subnet is not None and cluster.gateway is not None
        with namespaces_joining(cluster.cluster_id, cluster.subnet, 2) as namespaces:
            workers += [
                start_worker(hidden(drill_dir, ns), f"{cluster.gateway}:{port}", folder)
                for ns, folder in zip(namespaces, folders, strict=True)
            ]
            code, _, err = drill.finish(timeout=300)
            codes = [exit_code(w, f, 60) for w, f in zip(workers, folders, strict=True)]
    finally:
        for proc in (drill.proc, *workers):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    run_dir = drill_dir / "run"
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
    assert code != 3, err[-3000:]
    assert codes == [0, 0], logs
    # The local worker, started by the drill, joined the same way.
    logs.append((run_dir / "workers" / "worker-0.log").read_text())
    assert json.loads((run_dir / rundir.RUN_INFO).read_text())["status"] == "completed"
    # Each worker's recordings are in the merged files, no row more and none less than it sent.
    merged = merged_per_worker(run_dir)
    assert merged == delivered(logs), logs
    assert set(merged) == {"worker-0", "worker-1", "worker-2"}
    assert all(n_events > 50 and n_ledger > 10 for n_events, n_ledger in merged.values()), merged
    # The primary was killed under their load, and no acknowledged write is missing.
    faults = [json.loads(line) for line in (run_dir / rundir.FAULTS).read_text().splitlines()]
    assert any(f.get("kind") == "kill" for f in faults), faults
    verification = json.loads((run_dir / rundir.VERIFICATION).read_text())
    assert verification["acked_missing"] == []
    # They wrote nothing where they ran: everything went over the channel.
    assert [list(folder.iterdir()) for folder in folders] == [[], []]
    assert not [ns for ns in list_namespaces() if cluster.cluster_id in ns]


def test_an_expected_remote_worker_that_never_comes_fails_the_run_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    result = hubchaos(
        "run",
        scenario(tmp_path, "alone", ONE_MEMBER),
        *("--out", tmp_path / "run", "--expect-remote-workers", "1", "--master-bind", f"127.0.0.1:{port}"),
        *("--set", "workload.remote.join_timeout=4s"),
        env=state_env(tmp_path / "state"),
        timeout=180,
    )
    assert result.returncode == 3, result.stderr[-3000:]
    failed = [line for line in result.stderr.splitlines() if "run failed" in line]
    assert failed == [
        "run failed: 0 of 1 Locust workers (0 local, 1 remote) joined within 4 s; a remote one runs "
        f"`hubchaos worker --master HOST:{port}`"
    ], result.stderr
    assert "Traceback" not in result.stderr
    # Nothing injected, nothing left: no member, no worker, no listener, no namespace.
    assert lines_in(tmp_path / "run" / rundir.FAULTS) == 0
    assert processes_under(tmp_path) == []
    assert port_is_free(port)
    info = json.loads((tmp_path / "run" / rundir.RUN_INFO).read_text())
    assert info["status"] == "failed"
    assert not list((tmp_path / "state").rglob(STATE_FILE))


def test_a_master_bind_without_remote_workers_is_refused_naming_the_field(tmp_path: Path) -> None:
    result = hubchaos(
        "run", scenario(tmp_path, "bind", KILL_PRIMARY), "--master-bind", "0.0.0.0:6000", timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"hubchaos: {tmp_path / 'bind.yaml'}:8: workload.remote.workers: required field is missing"
    ]


OTHER_SEED = "would run other settings at seed (a HUBCHAOS_* variable or another version on the worker)"


@pytest.mark.parametrize("case", ["environment", pytest.param("locustfile", marks=needs_root)])
def test_a_worker_that_cannot_run_the_same_settings_is_refused_by_name(tmp_path: Path, case: str) -> None:
    """Refused before any user starts: the worker exits 3 and the drill fails, each saying why.
    Either the worker's own HUBCHAOS_* variable would change the run, or the scenario's
    locustfile is not on the worker's machine (its folder hidden from the worker)."""
    port = free_port()
    body, prefix, env = ONE_MEMBER, [], worker_env()
    if case == "environment":
        env["HUBCHAOS_SEED"] = "7"
        worker_says = f"the master refused this worker: it {OTHER_SEED}"
        drill_says = OTHER_SEED
    else:
        app = tmp_path / "app"
        app.mkdir()
        shutil.copy(ROOT / "examples" / "orders" / "locustfile.py", app)
        body = body.replace("  duration: 25s\n", f"  duration: 25s\n  locustfile: {app}/locustfile.py\n")
        prefix = hidden(app)
        missing = f"locustfile: no such file: {app}/locustfile.py"
        worker_says = f"the master's settings cannot run here: {missing}"
        drill_says = f"cannot run the settings: {missing}"
    drill = LiveDrill(
        scenario(tmp_path, "mismatch", body),
        tmp_path / "run",
        state_env(tmp_path / "state"),
        *("--expect-remote-workers", "1", "--master-bind", f"127.0.0.1:{port}"),
    )
    folder = tmp_path / "worker"
    folder.mkdir()
    try:
        drill.wait_for(f"remote Locust worker(s) at 127.0.0.1:{port}")
        worker = subprocess.run(
            [*prefix, *worker_command(f"127.0.0.1:{port}")],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        code, _, err = drill.finish(timeout=180)
    finally:
        if drill.proc.poll() is None:
            drill.proc.kill()
            drill.proc.wait()
    assert worker.returncode == 3, worker.stderr
    assert worker.stderr.splitlines()[-1] == f"hubchaos: {worker_says}"
    assert code == 3, err[-3000:]
    failed = [line for line in err.splitlines() if line.startswith("run failed")]
    assert len(failed) == 1, err
    assert failed[0].startswith("run failed: a Locust worker was refused: the worker on "), failed
    assert failed[0].endswith(drill_says), failed
    assert lines_in(tmp_path / "run" / rundir.FAULTS) == 0
    assert processes_under(tmp_path) == []


def test_a_remote_worker_stopped_mid_load_delivers_what_it_recorded(tmp_path: Path) -> None:
    """SIGTERM to one of two remote workers: its users stop, its last batches reach the master,
    and the other worker carries the load to its end."""
    port = free_port()
    drill = LiveDrill(
        scenario(tmp_path, "sigterm", ONE_MEMBER),
        tmp_path / "run",
        state_env(tmp_path / "state"),
        *("--expect-remote-workers", "2", "--master-bind", f"127.0.0.1:{port}"),
    )
    folders = [tmp_path / f"w{i}" for i in range(2)]
    workers: list[subprocess.Popen[str]] = []
    try:
        drill.wait_for(f"remote Locust worker(s) at 127.0.0.1:{port}")
        for folder in folders:
            folder.mkdir()
            workers.append(start_worker([], f"127.0.0.1:{port}", folder))
        drill.wait_for("running the load")
        time.sleep(10)
        workers[0].send_signal(signal.SIGTERM)
        codes = [exit_code(w, f, 120) for w, f in zip(workers, folders, strict=True)]
        code, _, err = drill.finish(timeout=180)
    finally:
        for proc in (drill.proc, *workers):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    logs = [folder.with_suffix(".log").read_text() for folder in folders]
    assert codes == [0, 0], logs
    assert code != 3, err[-3000:]
    merged = merged_per_worker(tmp_path / "run")
    assert merged == delivered(logs), logs
    assert set(merged) == {"worker-0", "worker-1"}
