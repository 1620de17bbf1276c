"""Replication figures of a 3-member `mongoemu` set, driven by unmodified PyMongo.

* throughput: insert_one ops/s with p50/p99 latency from N client threads, w:"majority" (and
  w:1 for comparison), against a 3-member set.
* failover: SIGKILL the primary K times while a client writes through the production guide's
  driver profile verbatim (w:"majority", serverSelectionTimeoutMS 5000, no heartbeat override);
  for each kill, the time until the new primary accepted writes (from the members' ground-truth
  logs), the time until the client's first acknowledged write, and the errors the client saw;
  p50/p90/max, with mongod's default settings and with short ones, next to MongoDB's documented
  expectation. `--drivers pymongo,node` runs the same loop with the hub's Node.js stack too
  (tests/node/failover.mjs, after `npm ci` there).

    python benchmarks/replication.py [throughput|failover|all] [--ops 20000] [--threads 8]
                                      [--kills 20] [--profiles short,default] [--drivers pymongo]

Client and members share this machine's cores; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator_throughput import percentile, run_threads
from pymongo import MongoClient, WriteConcern
from pymongo.errors import PyMongoError

from chaos.backends.processes import MemberProcess, free_port, initiate, wait_for_primary
from contract import groundtruth
from locustfiles.settings import DriverProfile

# The Node.js scripts' runner lives with the tests, which are not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.node_support import NodeScript

PROFILES = {
    "short": {"electionTimeoutMillis": 1000, "heartbeatIntervalMillis": 200},
    "default": {"electionTimeoutMillis": 10_000, "heartbeatIntervalMillis": 2000},
}
# MongoDB's documentation: "The median time before a cluster elects a new primary should not
# typically exceed 12 seconds, assuming default replica configuration settings."
DOCUMENTED_DEFAULT_MEDIAN_SECS = 12.0
PAYLOAD = "x" * 200


def start_set(base: Path, settings: dict[str, Any]) -> list[MemberProcess]:
    members = [MemberProcess(f"m{i}", "127.0.0.1", free_port(), base / f"m{i}") for i in range(3)]
    for m in members:
        m.start()
    for m in members:
        m.wait_ready()
    initiate(members, settings)
    wait_for_primary(members, timeout=60)
    return members


def uri_of(members: list[MemberProcess]) -> str:
    return "mongodb://" + ",".join(m.address for m in members) + "/?replicaSet=rs0"


def set_client(members: list[MemberProcess], **kwargs: Any) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri_of(members), serverSelectionTimeoutMS=30_000, **kwargs)


def throughput(base: Path, ops: int, threads: int) -> None:
    members = start_set(base / "throughput", PROFILES["short"])
    try:
        print(f"{'write concern':<14} {'threads':>7} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        with set_client(members, maxPoolSize=max(threads, 10)) as client:
            for w in ("majority", 1):
                coll = client.bench.get_collection(f"w_{w}", write_concern=WriteConcern(w=w))

                def insert(t: int, i: int, coll: Any = coll) -> None:
                    coll.insert_one({"t": t, "i": i, "payload": PAYLOAD})

                run_threads(threads, min(ops, 2000), insert)  # warm-up: connections, caches
                rate, lat = run_threads(threads, ops, insert)
                p50, p99 = percentile(lat, 50), percentile(lat, 99)
                print(f"{'w:' + str(w):<14} {threads:>7} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f}")
    finally:
        for m in members:
            m.kill()


@dataclass(frozen=True)
class Outcome:
    started: float  # wall clock, as the members' ground truth
    ended: float
    error: str | None  # the exception's class name


class Writer(threading.Thread):
    """PyMongo with the production guide's driver profile verbatim (no heartbeat override):
    one insert at a time, 20 ms apart, each outcome kept."""

    def __init__(self, members: list[MemberProcess]) -> None:
        super().__init__(daemon=True)
        self.client: MongoClient[dict[str, Any]] = MongoClient(
            uri_of(members), **DriverProfile().client_kwargs()
        )
        self.outcomes: list[Outcome] = []
        self.stop = threading.Event()

    def run(self) -> None:
        coll = self.client.bench.failover
        while not self.stop.is_set():
            started = time.time()
            try:
                coll.insert_one({"at": started})
            except PyMongoError as exc:
                self.outcomes.append(Outcome(started, time.time(), type(exc).__name__))
            else:
                self.outcomes.append(Outcome(started, time.time(), None))
            time.sleep(0.02)

    def close(self) -> None:
        self.stop.set()
        self.join(10)
        self.client.close()


class NodeWriter:
    """The same loop in the hub's own stack: tests/node/failover.mjs (mongoose, the guide's
    options), 50 ms apart."""

    def __init__(self, members: list[MemberProcess], seconds: float) -> None:
        self.script = NodeScript("failover.mjs", uri_of(members), str(seconds))
        self.script.wait_for("ready", 30)

    @property
    def outcomes(self) -> list[Outcome]:
        return [
            Outcome(e["started"], e["t"], None if e["ok"] else e["error"]["name"])
            for e in self.script.events("write")
        ]

    def close(self) -> None:
        self.script.__exit__()


def writable_at(members: list[MemberProcess], after: float) -> float | None:
    """Wall time of the first 'writable' ground-truth record after `after`, on any member."""
    times = [
        r["t"]
        for m in members
        for r in groundtruth.read(m.dbpath / groundtruth.FILE_NAME)
        if r["event"] == "writable" and r["t"] > after
    ]
    return min(times) if times else None


def wait_for(value: Callable[[], float | None], timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = value()
        if found is not None:
            return found
        time.sleep(0.02)
    raise RuntimeError(f"nothing happened within {timeout:.0f} s")


def healthy(members: list[MemberProcess]) -> MemberProcess:
    """Wait until every member is PRIMARY or SECONDARY and within a second of the primary;
    return the primary."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            primary = wait_for_primary(members, timeout=60)
            with primary.client() as client:
                status = client.admin.command("replSetGetStatus")
            states = {m["stateStr"] for m in status["members"]}
            seconds = [m["optime"]["ts"].time for m in status["members"]]
            if states <= {"PRIMARY", "SECONDARY"} and max(seconds) - min(seconds) <= 1:
                return primary
        except PyMongoError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the set did not become healthy within 120 s")


def failover(base: Path, profile: str, kills: int, driver: str) -> None:
    settings = PROFILES[profile]
    members = start_set(base / f"failover-{profile}-{driver}", settings)
    per_kill_s = 3 * settings["electionTimeoutMillis"] / 1000 + 10
    writer: Writer | NodeWriter
    if driver == "node":
        writer = NodeWriter(members, kills * per_kill_s + 60)
    else:
        writer = Writer(members)
        writer.start()
    elected: list[float] = []
    resumed: list[float] = []
    errors: list[tuple[float, list[Outcome]]] = []
    try:
        for _ in range(kills):
            primary = healthy(members)
            time.sleep(0.5)
            killed = time.time()
            primary.kill()
            writable = wait_for(lambda killed=killed: writable_at(members, killed))
            # Acks of writes the old primary finished before it died do not count.
            first_ack = wait_for(
                lambda writable=writable: min(
                    (o.ended for o in writer.outcomes if o.error is None and o.ended >= writable),
                    default=None,
                )
            )
            elected.append(writable - killed)
            resumed.append(first_ack - killed)
            errors.append(
                (killed, [o for o in writer.outcomes if o.error and killed - 1 <= o.started <= first_ack])
            )
            primary.start()
            primary.wait_ready()
    finally:
        writer.close()
        for m in members:
            m.kill()
    for name, values in (("new primary writable", elected), ("first w:majority ack", resumed)):
        print(
            f"{profile:<8} {driver:<8} {name:<22} {len(values):>6} {percentile(values, 50):>7.2f} "
            f"{percentile(values, 90):>7.2f} {max(values):>7.2f}"
        )
    # A server-selection timeout waits the full serverSelectionTimeoutMS; a write in flight when
    # the process died fails with its connection; anything else is what drills must not see.
    selection_s = DriverProfile().server_selection_timeout_ms / 1000 - 0.25
    timeouts = [sum(o.ended - o.started >= selection_s for o in e) for _, e in errors]
    in_flight = sum(any(o.started < k and o.ended - k < 0.5 for o in e) for k, e in errors)
    other = [
        f"{o.error} (started {o.started - k:+.2f} s, failed after {o.ended - o.started:.2f} s)"
        for k, e in errors
        for o in e
        if o.ended - o.started < selection_s and not (o.started < k and o.ended - k < 0.5)
    ]
    print(
        f"{profile:<8} {driver:<8} selection timeouts per kill: {percentile(timeouts, 50):.0f} median, "
        f"{max(timeouts)} max; a write in flight failed at {in_flight} of {len(errors)} kills; "
        f"other errors: {', '.join(other) or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all", choices=["throughput", "failover", "all"])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--profiles", default="short,default")
    parser.add_argument("--drivers", default="pymongo", help="pymongo,node (node needs npm ci in tests/node)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if args.what in ("throughput", "all"):
            throughput(base, args.ops, args.threads)
        if args.what in ("failover", "all"):
            print(
                f"\n{'settings':<8} {'driver':<8} {'measured':<22} {'kills':>6} {'p50 s':>7} {'p90 s':>7} "
                f"{'max s':>7}"
            )
            for profile in args.profiles.split(","):
                for driver in args.drivers.split(","):
                    failover(base, profile, args.kills, driver)
            documented = DOCUMENTED_DEFAULT_MEDIAN_SECS
            print(f"MongoDB documents a median of at most {documented:.0f} s with default settings")


if __name__ == "__main__":
    main()
