"""Large writes on a 3-member `mongoemu` set: how long a 100,000-document `insert_many` takes
under w:"majority", and how long any member stops answering while it runs.

Each round starts a fresh set (heartbeats every 200 ms, electionTimeoutMillis 2000) and, while
one `insert_many` of N small documents (w:"majority") runs, measures:

* the *heartbeat gap*: every 100 ms each member's replSetGetStatus is read, and for each peer
  the time since this member last received a heartbeat from it (`date - lastHeartbeatRecv`);
  the largest value over the insert. Heartbeats are due every 200 ms, so a gap far above that
  is a member that stopped sending or stopped answering;
* the slowest answer to a `hello` sent to each member every 20 ms on its own connection (how
  long a client, or a peer's heartbeat, waited on a member busy with the insert);
* elections and stepdowns during the insert, from the members' ground-truth logs.

Then three documents of 16 MiB (the largest mongod accepts) are inserted the same way.

    python benchmarks/large_writes.py [--docs 100000] [--rounds 2] [--baseline DIR]

`--baseline DIR` runs the same rounds, alternating, with members from another checkout (for
instance `git worktree add /tmp/main main`) and prints the ratio of insert times. Client and
members share this machine's cores; say how busy it was when quoting figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from chaos.backends.processes import EMULATOR, MemberProcess, free_port, initiate, wait_for_primary
from contract import groundtruth

SETTINGS = {"electionTimeoutMillis": 2000, "heartbeatIntervalMillis": 200}
MIB = 1024 * 1024


def emulator(source: Path | None) -> tuple[str, ...]:
    """The member command: this checkout's mongoemu, or the one in the checkout `source`."""
    if source is None:
        return EMULATOR
    boot = f"import sys; sys.path.insert(0, {str(source)!r}); from mongoemu.cli import main; sys.exit(main())"
    return (sys.executable, "-c", boot)


@dataclass
class Probes:
    """Background threads measuring members' responsiveness until stopped."""

    members: list[MemberProcess]
    slowest_hello_ms: dict[str, float] = field(default_factory=dict)
    heartbeat_gap_ms: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for m in self.members:
            self.slowest_hello_ms[m.name] = 0.0
            self.threads.append(threading.Thread(target=self._hello, args=(m,), daemon=True))
        self.threads.append(threading.Thread(target=self._heartbeats, daemon=True))
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _hello(self, member: MemberProcess) -> None:
        with member.client(serverSelectionTimeoutMS=30_000, socketTimeoutMS=60_000) as client:
            while not self.stop.is_set():
                began = time.perf_counter()
                try:
                    client.admin.command("hello")
                except PyMongoError:
                    continue
                took = (time.perf_counter() - began) * 1000
                self.slowest_hello_ms[member.name] = max(self.slowest_hello_ms[member.name], took)
                self.stop.wait(0.02)

    def _heartbeats(self) -> None:
        clients = [m.client(serverSelectionTimeoutMS=30_000) for m in self.members]
        try:
            while not self.stop.is_set():
                for client in clients:
                    try:
                        status = client.admin.command("replSetGetStatus")
                    except PyMongoError:
                        continue
                    self.heartbeat_gap_ms = max(self.heartbeat_gap_ms, _largest_gap_ms(status))
                self.stop.wait(0.1)
        finally:
            for client in clients:
                client.close()


def _largest_gap_ms(status: dict[str, Any]) -> float:
    now: datetime = status["date"]
    gaps = [
        (now - m["lastHeartbeatRecv"]).total_seconds() * 1000
        for m in status["members"]
        if not m.get("self") and isinstance(m.get("lastHeartbeatRecv"), datetime)
    ]
    return max(gaps, default=0.0)


@dataclass
class Round:
    label: str
    insert_s: float
    heartbeat_gap_ms: float
    slowest_hello_ms: float
    troubles: int
    max_docs_s: float
    # What failed (the error's class), or "" when both inserts were acknowledged.
    failed: str = ""


def timed(what: list[str], write: Any) -> float:
    """Seconds `write()` took; its error's class is appended to `what` when it failed."""
    began = time.perf_counter()
    try:
        write()
    except PyMongoError as exc:
        what.append(type(exc).__name__)
    return time.perf_counter() - began


def one_round(base: Path, label: str, source: Path | None, n_docs: int) -> Round:
    binary = emulator(source)
    members = [
        MemberProcess(f"m{i}", "127.0.0.1", free_port(), base / f"m{i}", binary=binary) for i in range(3)
    ]
    for m in members:
        m.start()
    try:
        for m in members:
            m.wait_ready()
        initiate(members, SETTINGS)
        wait_for_primary(members, timeout=60)
        uri = "mongodb://" + ",".join(m.address for m in members) + "/?replicaSet=rs0"
        docs = [{"i": i, "payload": "x" * 100} for i in range(n_docs)]
        failed: list[str] = []
        # wtimeout: a set that wedges (it did before replies were bounded) fails, not hangs.
        with MongoClient(uri, w="majority", wtimeoutMS=60_000, serverSelectionTimeoutMS=30_000) as client:
            client.bench.warm.insert_one({"warm": True})
            probes = Probes(members)
            since = time.time()
            probes.start()
            insert_s = timed(failed, lambda: client.bench.docs.insert_many(docs))
            probes.finish()
            biggest = [{"_id": i, "pad": "x" * (16 * MIB - 100)} for i in range(3)]
            max_docs_s = timed(failed, lambda: client.bench.max.insert_many(biggest))
        troubles = sum(
            1
            for m in members
            for r in groundtruth.read(m.dbpath / groundtruth.FILE_NAME)
            if r["t"] >= since and r["event"] in ("election", "stepdown", "rollback")
        )
        return Round(
            label,
            insert_s,
            probes.heartbeat_gap_ms,
            max(probes.slowest_hello_ms.values()),
            troubles,
            max_docs_s,
            ", ".join(failed),
        )
    finally:
        for m in members:
            m.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the insert_many")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="a checkout whose mongoemu is measured alternately")
    args = parser.parse_args()
    sources: list[tuple[str, Path | None]] = [("this checkout", None)]
    if args.baseline is not None:
        sources.append(("baseline", args.baseline.resolve()))
    rounds: list[Round] = []
    print(
        f"{'members':<14} {'insert s':>9} {'docs/s':>8} {'hb gap ms':>10} {'slowest hello ms':>17} "
        f"{'elections etc.':>15} {'3x16MiB s':>10}  failed"
    )
    with tempfile.TemporaryDirectory(prefix="mongoemu-large-") as tmp:
        for n in range(args.rounds):
            for label, source in sources if n % 2 == 0 else list(reversed(sources)):
                r = one_round(Path(tmp) / f"{n}-{len(rounds)}", label, source, args.docs)
                rounds.append(r)
                rate = args.docs / r.insert_s
                print(
                    f"{r.label:<14} {r.insert_s:>9.1f} {rate:>8.0f} {r.heartbeat_gap_ms:>10.0f} "
                    f"{r.slowest_hello_ms:>17.0f} {r.troubles:>15} {r.max_docs_s:>10.1f}  {r.failed}",
                    flush=True,
                )
    if args.baseline is not None:
        mine = [r.insert_s for r in rounds if r.label == "this checkout" and not r.failed]
        base = [r.insert_s for r in rounds if r.label == "baseline" and not r.failed]
        if mine and base:
            ratio = statistics.median(mine) / statistics.median(base)
            print(f"insert time, this checkout / baseline (medians of acknowledged rounds): {ratio:.2f}")
        else:
            print("no ratio: one side had no round where both inserts were acknowledged")


if __name__ == "__main__":
    main()
