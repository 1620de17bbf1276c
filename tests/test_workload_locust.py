"""The workload under real Locust against real `mongoemu` processes: the locustfile headless, a
distributed run (master and two workers), and the library API the drill runner uses.

Locust monkey-patches the standard library with gevent when imported, so it only ever runs in
child processes here, never inside the test process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from chaos_support import needs_root
from worker_support import check_ledger_ids, delivered, hidden, worker_namespaces

from chaos.backends.processes import MemberProcess, free_port, initiate, wait_for_primary
from contract.rundir import DISCOVERY, EVENTS, LEDGER, DiscoveryEvent, read_jsonl
from locustfiles.model import PROMPTS
from locustfiles.seeding import seed_corpus
from locustfiles.settings import MixWeights, load_settings
from locustfiles.verify import read_ledger, verify_ledger

HUB = Path(__file__).resolve().parents[1] / "locustfiles" / "hub.py"
SMALL = {
    "HUBCHAOS_DATABASE": "aihub_locust",
    "HUBCHAOS_CORPUS__USERS": "150",
    "HUBCHAOS_CORPUS__PROMPTS": "1500",
    "HUBCHAOS_CORPUS__STORES": "12",
    "HUBCHAOS_CORPUS__VECTORS_PER_STORE": "25",
}
# The mix's operation families (their list is checked in test_workload_settings.py), knn mode.
HUB_OPERATIONS = {"vectors.query.knn" if n == "vectors.query" else n for n in MixWeights().by_operation()}
ALL_OPERATIONS = HUB_OPERATIONS | {"canary.write", "canary.read", "usage.ingest"}


def workload_env(run_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCHAOS_")}
    env.update(SMALL, HUBCHAOS_RUN_DIR=str(run_dir), **extra)
    return env


def locust_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(HUB), "--loglevel", "WARNING", *args]


def run(
    command: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def read_stats(prefix: Path) -> dict[str, dict[str, Any]]:
    """Locust's final statistics per request name (`--json-file`, written after the users stop)."""
    entries = json.loads(Path(f"{prefix}.json").read_text())
    return {
        e["name"]: {
            "requests": e["num_requests"],
            "failures": e["num_failures"],
            "min_ms": e["min_response_time"],
        }
        for e in entries
        if e["method"] == "mongo"
    }


def test_headless_run_reports_every_operation_without_failures(
    start_replica_set: Any, tmp_path: Path
) -> None:
    rs = start_replica_set(3)
    run_dir = tmp_path / "run"
    stats = tmp_path / "stats"
    proc = run(
        locust_command(
            "--headless", "-u", "20", "-r", "20", "-t", "30s", "--host", rs.uri, "--json-file", str(stats)
        ),
        env=workload_env(run_dir),
        cwd=tmp_path,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    reported = read_stats(stats)
    assert set(reported) == ALL_OPERATIONS
    assert {name: s["failures"] for name, s in reported.items()} == dict.fromkeys(ALL_OPERATIONS, 0)

    events = pq.read_table(run_dir / EVENTS).to_pandas()
    assert set(events["op"]) == ALL_OPERATIONS
    assert events["ok"].all()
    # The event log holds exactly what Locust counted.
    assert Counter(events["op"]) == {name: s["requests"] for name, s in reported.items()}

    entries = read_ledger(run_dir / LEDGER)
    check_ledger_ids([e.write_id for e in entries])
    acked = [e for e in entries if e.status == "acked"]
    # Only the writes in flight when Locust stopped its users (one operation per user, a bulk
    # insert settling each of its documents) may be indeterminate; nothing failed.
    unsettled = [e for e in entries if e.status != "acked"]
    assert {e.status for e in unsettled} <= {"indeterminate"}
    assert len({(e.user_class, e.t_start) for e in unsettled}) <= 20
    assert len(acked) > 200
    assert {e.collection for e in acked} >= {PROMPTS, "vectorstores", "usage_metrics", "users", "canary"}
    # The canary: one writer at a 100 ms cadence, sequence numbers without a gap.
    canary = sorted(e.seq for e in entries if e.collection == "canary")
    assert canary == list(range(1, len(canary) + 1))
    assert len(canary) >= 150  # at most 300 in 30 s; w:majority round trips on 3 members slow it a little
    with rs.client() as client:
        verification = verify_ledger(client, SMALL["HUBCHAOS_DATABASE"], entries)
    assert verification.acked_missing == []
    discovery = list(read_jsonl(run_dir / DISCOVERY, DiscoveryEvent))
    assert any(d.kind == "server_changed" and d.new_type == "RSPrimary" for d in discovery)
    assert any(d.kind == "topology_changed" and d.primary == rs.primary().address for d in discovery)


@dataclass
class Distributed:
    master: subprocess.CompletedProcess[str]
    workers: list[int]  # exit codes
    logs: list[str]  # each worker's log (INFO)

    def delivered(self) -> dict[str, tuple[int, int]]:
        """(events, ledger entries) each worker says it delivered to the master."""
        return delivered(self.logs)


def run_distributed(
    uri: str,
    env: dict[str, str],
    stats: Path,
    logs: Path,
    workers: list[tuple[list[str], Path]],
    *,
    host: str = "127.0.0.1",
    run_time: str = "14s",
    interrupt_after_s: float | None = None,
    interrupt_worker: int | None = None,
) -> Distributed:
    """A headless master on `host` (in the folder of `stats`) and one worker per (command
    prefix, folder), each started in its folder and told nothing of the run directory; Ctrl-C
    after `interrupt_after_s`, if given, to the master or to worker `interrupt_worker`."""
    port = free_port()
    master = subprocess.Popen(
        locust_command(
            *("--master", "--master-bind-host", host, "--master-bind-port", str(port), "--headless"),
            *(
                "--expect-workers",
                str(len(workers)),
                "--expect-workers-max-wait",
                "60",
                "-u",
                "12",
                "-r",
                "12",
            ),
            *("-t", run_time, "--host", uri, "--json-file", str(stats)),
        ),
        env=env,
        cwd=stats.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    command = locust_command(
        "--worker", "--master-host", host, "--master-port", str(port), "--loglevel", "INFO"
    )
    worker_env = {k: v for k, v in env.items() if k != "HUBCHAOS_RUN_DIR"}
    logs.mkdir()
    procs = []
    for i, (prefix, folder) in enumerate(workers):
        with (logs / f"{i}.log").open("w") as log:
            procs.append(
                subprocess.Popen([*prefix, *command], env=worker_env, cwd=folder, stdout=log, stderr=log)
            )
    try:
        if interrupt_after_s is not None:
            time.sleep(interrupt_after_s)
            (master if interrupt_worker is None else procs[interrupt_worker]).send_signal(signal.SIGINT)
        _, err = master.communicate(timeout=180)
        codes = [w.wait(timeout=60) for w in procs]
    finally:
        for proc in (master, *procs):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    done = subprocess.CompletedProcess(master.args, master.returncode, "", err)
    return Distributed(done, codes, [(logs / f"{i}.log").read_text() for i in range(len(workers))])


def test_distributed_run_merges_one_event_log_and_one_ledger(single_member: Any, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    stats = tmp_path / "stats"
    # Users stop by themselves well before the end: Locust's master waits only 0.5 s for the
    # workers' last stats report when it quits, so requests of the final moments may be
    # missing from its count on a busy machine; a periodic report carries them all here.
    env = workload_env(run_dir, HUBCHAOS_LIMITS__MAX_OPS_PER_USER="6")
    run = run_distributed(single_member.uri, env, stats, tmp_path / "logs", [([], tmp_path)] * 2)
    assert run.master.returncode == 0, run.master.stderr[-4000:]
    reported = read_stats(stats)
    events = pq.read_table(run_dir / EVENTS).to_pandas()
    assert set(events["worker"]) == {"worker-0", "worker-1"}
    # One merged event log: exactly the requests the master counted, none twice, none missing.
    assert Counter(events["op"]) == {name: s["requests"] for name, s in reported.items()}
    assert sum(s["failures"] for s in reported.values()) == 0
    per_worker = delivered_once(run_dir, run)
    assert set(per_worker) == {"worker-0", "worker-1"}
    assert all(n > 10 for n in per_worker.values())


def delivered_once(run_dir: Path, run: Distributed) -> dict[str, int]:
    """Each worker's recordings in the master's merged files, no row more and no row less than
    it delivered, the ledger without a gap; ledger entries per worker."""
    events = pq.read_table(run_dir / EVENTS).to_pandas()
    per_worker = check_ledger_ids([e.write_id for e in read_ledger(run_dir / LEDGER)])
    merged = {w: (int((events["worker"] == w).sum()), per_worker[w]) for w in per_worker}
    assert merged == run.delivered(), run.logs
    return per_worker


@pytest.mark.parametrize(
    "interrupted",
    [pytest.param(None, id="master"), pytest.param(0, id="a worker")],
)
def test_a_ctrl_c_mid_load_loses_nothing_a_worker_recorded(
    single_member: Any, tmp_path: Path, interrupted: int | None
) -> None:
    """Ctrl-C while the workers' users run. To the master: before Locust closes the channel it
    drains its workers, whose users stop first. To a worker: its users stop, its last batches
    go, it tells the master which was the last, and the master closes its shards."""
    run_dir = tmp_path / "run"
    run = run_distributed(
        single_member.uri,
        workload_env(run_dir),
        tmp_path / "stats",
        tmp_path / "logs",
        [([], tmp_path)] * 2,
        run_time="120s" if interrupted is None else "22s",
        interrupt_after_s=12,
        interrupt_worker=interrupted,
    )
    assert run.master.returncode == 0, run.master.stderr[-4000:]  # the merge found every shard closed
    assert run.workers[1] == 0, run.logs
    per_worker = delivered_once(run_dir, run)
    assert set(per_worker) == {"worker-0", "worker-1"}
    assert all(n > 10 for n in per_worker.values())


@needs_root
def test_workers_sharing_no_path_with_the_master_deliver_every_record_once(tmp_path: Path) -> None:
    """Workers in their own network namespaces, in their own folders, with the master's folder
    hidden from them (a mount namespace with an empty tmpfs over it): everything they recorded
    reaches the master's run directory over Locust's channel, once."""
    master_dir = tmp_path / "master"
    run_dir = master_dir / "run"
    master_dir.mkdir()
    folders = [tmp_path / f"w{i}" for i in range(2)]
    for folder in folders:
        folder.mkdir()
    with worker_namespaces(2) as (gateway, namespaces):
        member = MemberProcess("m0", gateway, free_port(), tmp_path / "m0")
        member.start()
        try:
            member.wait_ready()
            config = initiate([member])
            wait_for_primary([member])
            run = run_distributed(
                f"mongodb://{member.address}/?replicaSet={config['_id']}",
                workload_env(run_dir, HUBCHAOS_LIMITS__MAX_OPS_PER_USER="6"),
                master_dir / "stats",
                tmp_path / "logs",
                [(hidden(master_dir, ns), folder) for ns, folder in zip(namespaces, folders, strict=True)],
                host=gateway,
            )
        finally:
            member.kill()
    assert run.master.returncode == 0, run.master.stderr[-4000:]
    assert run.workers == [0, 0], run.logs
    events = pq.read_table(run_dir / EVENTS).to_pandas()
    reported = read_stats(master_dir / "stats")
    assert Counter(events["op"]) == {name: s["requests"] for name, s in reported.items()}
    per_worker = delivered_once(run_dir, run)
    assert set(per_worker) == {"worker-0", "worker-1"}
    assert all(n > 10 for n in per_worker.values())
    # The master wrote their shards from the batches they sent; their own folders stayed empty.
    assert sorted(p.name.split(".")[0] for p in run_dir.glob("events/*.batches")) == ["worker-0", "worker-1"]
    assert [list(folder.iterdir()) for folder in folders] == [[], []]


LIBRARY_RUN = """
import json, sys
import gevent
from locust.env import Environment
from locustfiles.environment import attach, finish
from locustfiles.settings import MixWeights, load_settings
from locustfiles.users import HubUser

env = Environment(user_classes=[HubUser], host=sys.argv[1])
runner = env.create_local_runner()
attach(env, load_settings())
runner.start(3, spawn_rate=3)
gevent.sleep(float(sys.argv[2]))
runner.quit()
report = finish(env)
entry = env.stats.get("prompts.list_by_category", "mongo")
print(json.dumps({"requests": entry.num_requests, "failures": entry.num_failures,
                  "min_ms": entry.min_response_time, "complete": report.complete}))
"""


def test_a_blocked_find_shows_in_the_reported_time(single_member: Any, tmp_path: Path) -> None:
    """Through Locust's library API, as the drill runner drives it: with `failCommand` holding
    every `find` of the workload for 200 ms, `prompts.list_by_category` reports at least 200 ms."""
    run_dir = tmp_path / "run"
    only_lists = tmp_path / "lists.json"
    weights = dict.fromkeys(load_settings().hub.mix.model_dump(), 0)
    weights["prompts_list_by_category"] = 1
    corpus = {"users": 150, "prompts": 1500, "stores": 12, "vectors_per_store": 25}
    only_lists.write_text(
        json.dumps(
            {"database": "aihub_block", "seed_on_start": False, "corpus": corpus, "hub": {"mix": weights}}
        )
    )
    with single_member.client() as client:
        seed_corpus(client, load_settings(only_lists))
        client.admin.command(
            "configureFailPoint",
            "failCommand",
            mode="alwaysOn",
            data={
                "failCommands": ["find"],
                "blockConnection": True,
                "blockTimeMS": 200,
                "appName": "hubchaos-workload",
            },
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCHAOS_")}
    env.update(HUBCHAOS_SETTINGS_FILE=str(only_lists), HUBCHAOS_RUN_DIR=str(run_dir))
    proc = run(
        [sys.executable, "-c", LIBRARY_RUN, single_member.uri, "4"],
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["requests"] >= 5 and result["failures"] == 0
    assert result["min_ms"] >= 200
    assert result["complete"]
    events = pq.read_table(run_dir / EVENTS).to_pandas()
    lists = events[events["op"] == "prompts.list_by_category"]
    assert len(lists) == result["requests"]
    assert lists["duration_ms"].min() >= 200


def test_users_stop_by_themselves_at_their_operation_limit(single_member: Any, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    stats = tmp_path / "stats"
    proc = run(
        locust_command(
            "--headless",
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "15s",
            "--host",
            single_member.uri,
            "--json-file",
            str(stats),
            "HubUser",
        ),
        env=workload_env(run_dir, HUBCHAOS_LIMITS__MAX_OPS_PER_USER="5"),
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert sum(s["requests"] for s in read_stats(stats).values()) == 15
    assert len(pq.read_table(run_dir / EVENTS)) == 15


@pytest.mark.parametrize("variable", ["HUBCHAOS_HUB__WAIT_MIN_S=-1", "HUBCHAOS_VECTOR__MODE=faiss"])
def test_bad_settings_stop_locust_with_one_line(tmp_path: Path, variable: str) -> None:
    name, value = variable.split("=")
    proc = run(
        locust_command("--headless", "-u", "1", "-t", "1s", "--host", "mongodb://127.0.0.1:1"),
        env=workload_env(tmp_path / "run", **{name: value}),
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"hubchaos: environment variable {name}" in proc.stderr
    assert "Traceback" not in proc.stderr


STUBBORN_USER = """
import time
import gevent
from gevent import GreenletExit
from locust import User, constant, task
from locust.env import Environment
from locustfiles.relay import stop_users

class Stubborn(User):
    wait_time = constant(0)

    @task
    def hold_on(self):
        try:
            gevent.sleep(60)
        except GreenletExit:
            gevent.sleep(60)  # outlives its kill

env = Environment(user_classes=[Stubborn])
runner = env.create_local_runner()
runner.start(2, spawn_rate=100)
gevent.sleep(0.2)
started = time.monotonic()
stop_users(runner, timeout_s=1.0)
print(f"{time.monotonic() - started:.2f}")
"""


def test_stopping_users_is_bounded_when_one_outlives_its_kill(tmp_path: Path) -> None:
    """Locust's `stop()` waits without end for a user that survives its GreenletExit: the
    workload's stop gives up after its timeout and names where the users still wait."""
    proc = run([sys.executable, "-c", STUBBORN_USER], env=dict(os.environ), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert float(proc.stdout.strip().splitlines()[-1]) < 3.0
    assert "2 user(s) still running 1 s after they were stopped" in proc.stderr
    assert "hold_on" in proc.stderr
