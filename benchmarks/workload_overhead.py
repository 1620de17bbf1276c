"""What driving the hub mix through Locust costs, and what the recorder can take.

    python benchmarks/workload_overhead.py [--uri URI] [--users 20] [--seconds 15] [--rounds 3]
    python benchmarks/workload_overhead.py --recorder-only [--events 1000000]

In one run against the same target with the same concurrency it prints:
  * ops/s of the hub mix (no think time) driven by Locust (`locust -f locustfiles/hub.py`,
    headless, recording events and the ledger), and of a raw PyMongo loop in threads running the
    same operations (`locustfiles.operations.HubOperations`) with nothing recorded, in rounds that
    alternate which goes first (so a change in background load hits both); per round their
    ratio, and the median ratio;
  * the events/s the recorder sustains (appends on the request path plus the background flush to
    shard files, until everything is on disk), the append cost per event, and bytes per event in
    the shards and in the merged `events.parquet`; and the same through a Locust worker's
    channel to its master (`locustfiles.channel`: Arrow IPC batches encoded, decoded, written and
    synced before their acknowledgement, in one process without the sockets). `--recorder-only`
    prints only these.

Without --uri it starts a one-member `mongoemu` replica set in a temporary folder. Locust runs in a
child process (importing it patches this process with gevent); this process never imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pymongo import MongoClient

from chaos.backends.processes import MemberProcess, free_port, initiate, wait_for_primary
from contract.rundir import EVENTS, EVENTS_SHARDS
from locustfiles.channel import Inbox, Uplink
from locustfiles.instrumented import Instrument
from locustfiles.merge import merge_run
from locustfiles.operations import HubOperations
from locustfiles.recorder import Recorder
from locustfiles.seeding import seed_corpus
from locustfiles.settings import CorpusSettings, HubUserSettings, RecorderSettings, WorkloadSettings
from locustfiles.workload import Workload

HUB = Path(__file__).resolve().parents[1] / "locustfiles" / "hub.py"
CORPUS = CorpusSettings(users=500, prompts=5000, stores=40, vectors_per_store=40)


@contextmanager
def emulator(folder: Path) -> Iterator[str]:
    member = MemberProcess("m0", "127.0.0.1", free_port(), folder / "m0")
    member.start()
    try:
        member.wait_ready()
        initiate([member])
        wait_for_primary([member])
        yield f"mongodb://{member.address}/?replicaSet=rs0"
    finally:
        member.kill()


@dataclass(frozen=True)
class Load:
    """The same load for both drivers: target, concurrency and the measured window."""

    uri: str
    database: str
    users: int
    warmup: float
    seconds: float

    def rate(self, ends: list[float], first_start: float) -> float:
        """Operations that ended inside the window, per second."""
        lo = first_start + self.warmup
        return sum(lo <= t < lo + self.seconds for t in ends) / self.seconds


class EndTimes:
    """A request hook that keeps when each operation ended, and whether it failed."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.failures = 0

    def fire(self, *, start_time: float, response_time: float, exception: Any = None, **_: Any) -> None:
        self.ends.append(start_time + response_time / 1000.0)
        self.failures += exception is not None


@dataclass(frozen=True)
class Driven:
    rate: float  # ops/s in the measured window
    failures: int


def raw_pymongo(load: Load, settings: WorkloadSettings) -> Driven:
    workload = Workload(settings, worker="raw")
    db = workload.client("hub", load.uri)[settings.database]
    hook = EndTimes()
    deadline = time.time() + load.warmup + load.seconds + 0.5
    started = time.time()

    def loop() -> None:
        owner, rng = workload.new_owner()
        instrument = Instrument(hook, None, "raw", workload.ids)
        ops = HubOperations(db, instrument, corpus=workload.corpus, settings=settings, rng=rng, owner=owner)
        while time.time() < deadline:
            ops.step()

    threads = [threading.Thread(target=loop) for _ in range(load.users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    workload.close()
    return Driven(load.rate(hook.ends, started), hook.failures)


# A child process that patches itself with gevent before anything else is imported, then runs
# `raw_child` from this file: the raw loop as Locust's users would run it, but without Locust.
GEVENT_CHILD = """
from gevent import monkey
monkey.patch_all()
import json, runpy, sys
print(json.dumps(runpy.run_path(sys.argv[1])["raw_child"](*sys.argv[2:])))
"""


def settings_for(database: str) -> WorkloadSettings:
    return WorkloadSettings(database=database, corpus=CORPUS, hub=HubUserSettings(wait_min_s=0, wait_max_s=0))


def raw_child(uri: str, database: str, users: str, warmup: str, seconds: str) -> list[float]:
    load = Load(uri, database, int(users), float(warmup), float(seconds))
    driven = raw_pymongo(load, settings_for(database))
    return [driven.rate, driven.failures]


def raw_under_gevent(load: Load) -> Driven:
    args = [load.uri, load.database, str(load.users), str(load.warmup), str(load.seconds)]
    out = subprocess.run(
        [sys.executable, "-c", GEVENT_CHILD, __file__, *args], capture_output=True, text=True, check=True
    )
    rate, failures = json.loads(out.stdout.strip().splitlines()[-1])
    return Driven(rate, int(failures))


def locust_driven(load: Load, run_dir: Path) -> tuple[Driven, float]:
    """Locust's figures, and the bytes per event of the run's `events.parquet`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCHAOS_")}
    env.update(
        HUBCHAOS_RUN_DIR=str(run_dir),
        HUBCHAOS_DATABASE=load.database,
        HUBCHAOS_SEED_ON_START="false",
        HUBCHAOS_HUB__WAIT_MIN_S="0",
        HUBCHAOS_HUB__WAIT_MAX_S="0",
        **{f"HUBCHAOS_CORPUS__{k.upper()}": str(v) for k, v in CORPUS.model_dump().items()},
    )
    run_time = int(load.warmup + load.seconds + 2)
    command = [sys.executable, "-m", "locust", "-f", str(HUB), "--headless", "--only-summary"]
    command += [
        "-u",
        str(load.users),
        "-r",
        str(load.users),
        "-t",
        f"{run_time}s",
        "--host",
        load.uri,
        "HubUser",
    ]
    proc = subprocess.run(
        command,
        env=env,
        cwd=run_dir.parent,
        capture_output=True,
        text=True,
        timeout=run_time + 120,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"locust failed (exit code {proc.returncode}):\n{proc.stderr[-3000:]}")
    events = pq.read_table(run_dir / EVENTS, columns=["t_start", "t_end", "ok"])
    ends = events.column("t_end").to_pylist()
    first = min(events.column("t_start").to_pylist())
    failures = events.num_rows - sum(events.column("ok").to_pylist())
    driven = Driven(load.rate(ends, first), failures)
    return driven, (run_dir / EVENTS).stat().st_size / max(events.num_rows, 1)


def _through_channel(run_dir: Path) -> Uplink:
    """A worker's uplink handing each batch straight to a master's inbox, which acknowledges it."""
    inbox = Inbox(run_dir)
    uplink = Uplink(lambda kind, data: uplink.on_ack(inbox.receive(data)), "bench", RecorderSettings())
    return uplink


def recorder_capacity(folder: Path, n: int, channel: bool = False) -> dict[str, float]:
    run_dir = folder / ("channel" if channel else "recorder")
    recorder = Recorder(_through_channel(run_dir) if channel else run_dir, "bench")
    names = ["prompts.get", "prompts.list_by_category", "prompts.create", "vectors.query.knn", "usage.record"]
    context = {"user_class": "HubUser", "is_write": False, "error_class": None}
    base = time.time()
    t0 = time.perf_counter()
    for i in range(n):
        recorder.on_request(
            request_type="mongo",
            name=names[i % 5],
            response_time=2.0 + (i % 97) / 10,
            response_length=800 + i % 1500,
            exception=None,
            context=context,
            start_time=base + i * 1e-5,
        )
    appended = time.perf_counter()
    recorder.close()
    done = time.perf_counter()
    shard_bytes = sum(p.stat().st_size for p in (run_dir / EVENTS_SHARDS).glob("*.arrows"))
    merge_run(run_dir, wait_s=0)
    return {
        "events_per_s": n / (done - t0),
        "append_us": (appended - t0) / n * 1e6,
        "shard_bytes": shard_bytes / n,
        "parquet_bytes": (run_dir / EVENTS).stat().st_size / n,
    }


def print_recorder(folder: Path, n: int) -> None:
    cap = recorder_capacity(folder, n)
    print(f"recorder, {n:,} events:")
    print(f"  sustained                   {cap['events_per_s']:10,.0f} events/s (goal >= 100,000)")
    print(f"  append on the request path  {cap['append_us']:10.2f} us/event")
    print(f"  on disk: shards             {cap['shard_bytes']:10.1f} bytes/event (goal <= 5)")
    print(f"  on disk: events.parquet     {cap['parquet_bytes']:10.1f} bytes/event")
    sent = recorder_capacity(folder, n, channel=True)
    print(f"  through a worker's channel  {sent['events_per_s']:10,.0f} events/s (written and synced)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", help="target replica set (default: start a one-member mongoemu set)")
    parser.add_argument(
        "--database", default="hubchaos_bench", help="loaded afresh (its hub collections are dropped)"
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window of each run")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs, alternating which goes first")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--events", type=int, default=1_000_000, help="events for the recorder figure")
    parser.add_argument(
        "--gevent-raw", action="store_true", help="also run the raw loop under gevent, without Locust"
    )
    parser.add_argument("--recorder-only", action="store_true", help="only the recorder's figures")
    args = parser.parse_args()
    settings = settings_for(args.database)
    with tempfile.TemporaryDirectory(prefix="hubchaos-bench-") as tmp:
        folder = Path(tmp)
        if args.recorder_only:
            print_recorder(folder, args.events)
            return
        with emulator(folder) if args.uri is None else _given(args.uri) as uri:
            with MongoClient(uri, **settings.driver.client_kwargs()) as client:
                seeded = seed_corpus(client, settings)
            print(
                f"seeded {seeded.total} documents in {seeded.seconds:.1f} s ({seeded.docs_per_s:,.0f} docs/s)"
            )
            load = Load(uri, args.database, args.users, args.warmup, args.seconds)
            print(f"hub mix, {args.users} users, {args.seconds:.0f} s measured after {args.warmup:.0f} s:")
            ratios = []
            for n in range(args.rounds):
                if n % 2:
                    driven, locust_bytes = locust_driven(load, folder / f"locust-{n}")
                    raw = raw_pymongo(load, settings)
                else:
                    raw = raw_pymongo(load, settings)
                    driven, locust_bytes = locust_driven(load, folder / f"locust-{n}")
                ratios.append(driven.rate / raw.rate if raw.rate else 0.0)
                line = (
                    f"  round {n + 1}: raw PyMongo (threads) {raw.rate:6,.0f} ops/s ({raw.failures} failed), "
                    f"Locust (hub.py, recording) {driven.rate:6,.0f} ops/s ({driven.failures} failed), "
                    f"ratio {ratios[-1]:.2f}"
                )
                if args.gevent_raw:
                    patched = raw_under_gevent(load)
                    line += f"; raw loop under gevent {patched.rate:6,.0f} ops/s ({patched.failures} failed)"
                print(line)
        print(f"  median ratio Locust / raw   {statistics.median(ratios):10.2f}   (goal >= 0.8)")
        print_recorder(folder, args.events)
        print(f"  on disk: Locust run parquet {locust_bytes:10.1f} bytes/event")


@contextmanager
def _given(uri: str) -> Iterator[str]:
    yield uri


if __name__ == "__main__":
    main()
