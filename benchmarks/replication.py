"""Replication figures of a 3-member `mongoemu` set, driven by unmodified PyMongo.

* throughput: insert_one ops/s with p50/p99 latency from N client threads, w:"majority" (and
  w:1 for comparison), against a 3-member set.
* failover: SIGKILL the primary K times while a client writes with w:"majority"; for each kill,
  the time until the new primary accepted writes (from the members' ground-truth logs) and the
  time until the client's first acknowledged write; p50/p90/max, with mongod's default settings
  and with short ones, next to MongoDB's documented expectation.

    python benchmarks/replication.py [throughput|failover|all] [--ops 20000] [--threads 8]
                                      [--kills 20] [--profiles short,default]

The client polls members every 500 ms (heartbeatFrequencyMS, PyMongo's minimum): the emulator
has no streaming hello, and PyMongo's default (10 s) would measure the driver, not the set.
Client and members share this machine's cores; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator_throughput import percentile, run_threads
from pymongo import MongoClient, WriteConcern
from pymongo.errors import PyMongoError

from chaos.backends.processes import MemberProcess, free_port, initiate, wait_for_primary
from mongoemu import groundtruth

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


def set_client(members: list[MemberProcess], **kwargs: Any) -> MongoClient[dict[str, Any]]:
    uri = "mongodb://" + ",".join(m.address for m in members) + "/?replicaSet=rs0"
    return MongoClient(uri, heartbeatFrequencyMS=500, serverSelectionTimeoutMS=30_000, **kwargs)


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


class Writer(threading.Thread):
    """w:"majority" inserts as fast as they are acknowledged; keeps (wall time) of each ack."""

    def __init__(self, members: list[MemberProcess]) -> None:
        super().__init__(daemon=True)
        self.client = set_client(members, w="majority", socketTimeoutMS=5000)
        self.acks: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        coll = self.client.bench.failover
        while not self.stop.is_set():
            try:
                coll.insert_one({"at": time.time()})
            except PyMongoError:
                time.sleep(0.01)
                continue
            self.acks.append(time.time())


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


def failover(base: Path, profile: str, kills: int) -> None:
    settings = PROFILES[profile]
    members = start_set(base / f"failover-{profile}", settings)
    writer = Writer(members)
    elected: list[float] = []
    resumed: list[float] = []
    try:
        writer.start()
        for _ in range(kills):
            primary = healthy(members)
            time.sleep(0.5)
            killed = time.time()
            primary.kill()
            writable = wait_for(lambda killed=killed: writable_at(members, killed))
            # Acks of writes the old primary finished before it died do not count.
            first_ack = wait_for(
                lambda writable=writable: min((a for a in writer.acks if a >= writable), default=None)
            )
            elected.append(writable - killed)
            resumed.append(first_ack - killed)
            primary.start()
            primary.wait_ready()
    finally:
        writer.stop.set()
        writer.join(10)
        writer.client.close()
        for m in members:
            m.kill()
    for name, values in (("new primary writable", elected), ("first w:majority ack", resumed)):
        print(
            f"{profile:<8} {name:<22} {len(values):>6} {percentile(values, 50):>7.2f} "
            f"{percentile(values, 90):>7.2f} {max(values):>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all", choices=["throughput", "failover", "all"])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--profiles", default="short,default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if args.what in ("throughput", "all"):
            throughput(base, args.ops, args.threads)
        if args.what in ("failover", "all"):
            print(f"\n{'settings':<8} {'measured':<22} {'kills':>6} {'p50 s':>7} {'p90 s':>7} {'max s':>7}")
            for profile in args.profiles.split(","):
                failover(base, profile, args.kills)
            documented = DOCUMENTED_DEFAULT_MEDIAN_SECS
            print(f"MongoDB documents a median of at most {documented:.0f} s with default settings")


if __name__ == "__main__":
    main()
