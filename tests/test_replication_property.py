"""A property of the whole protocol: whatever sequence of kills, restarts, freezes (SIGSTOP /
SIGCONT) and stepdowns hits a 3- or 5-member set while a client writes with w: "majority",
once everything is healed every acknowledged write is on every member and all members hold
identical data (dbHash).

Each case draws its fault sequence from a seeded random generator (the seed is in the test id,
so a failure can be replayed); each runs real processes, so cases are few and bounded in time.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import MongoClient, ReadPreference, WriteConcern
from pymongo.errors import PyMongoError

from chaos.backends.processes import MemberProcess
from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import FAST, eventually, state_of, writable_primary


@dataclass(frozen=True)
class Fault:
    """One fault; `member` None means whichever member is primary when it fires."""

    action: str
    member: int | None
    then_wait: float

    def __repr__(self) -> str:
        target = "primary" if self.member is None else f"m{self.member}"
        return f"{self.action}({target}) +{self.then_wait:.1f}s"


def draw_faults(seed: int, size: int) -> list[Fault]:
    """A sequence in which every fault changes something: only live members are killed or
    frozen, only dead ones restarted, only frozen ones resumed; many faults hit the primary."""
    rng = random.Random(seed)
    dead: set[int] = set()
    frozen: set[int] = set()
    sequence: list[Fault] = []
    for _ in range(rng.randint(5, 8)):
        running = [i for i in range(size) if i not in dead and i not in frozen]
        choices = ["stepdown"]
        if running:
            choices += ["kill", "pause"]
        if dead:
            choices.append("restart")
        if frozen:
            choices.append("resume")
        action = rng.choice(choices)
        member: int | None = None
        if action == "restart":
            member = rng.choice(sorted(dead))
            dead.discard(member)
        elif action == "resume":
            member = rng.choice(sorted(frozen))
            frozen.discard(member)
        elif action in ("kill", "pause"):
            # The primary is resolved when the fault fires; note a stand-in so the draw stays valid.
            member = None if rng.random() < 0.4 else rng.choice(running)
            (dead if action == "kill" else frozen).add(member if member is not None else rng.choice(running))
        sequence.append(Fault(action, member, round(rng.uniform(0.3, 2.0), 1)))
    return sequence


class Writer(threading.Thread):
    """Inserts numbered documents and remembers which were acknowledged."""

    def __init__(self, uri: str, w: int | str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.client: MongoClient[dict[str, Any]] = MongoClient(
            uri, serverSelectionTimeoutMS=2000, socketTimeoutMS=3000
        )
        self.concern = WriteConcern(w=w, wtimeout=5000)
        self.prefix = prefix
        self.acknowledged: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        coll = self.client.test.get_collection("prop", write_concern=self.concern)
        seq = 0
        while not self.stop.is_set():
            seq += 1
            try:
                coll.insert_one({"_id": f"{self.prefix}{seq}", "payload": "x" * 64})
            except PyMongoError:
                continue
            self.acknowledged.append(f"{self.prefix}{seq}")


def apply_fault(fault: Fault, members: list[MemberProcess]) -> None:
    member = writable_primary(members) if fault.member is None else members[fault.member]
    if member is None:
        return
    if fault.action == "kill":
        member.kill()
    elif fault.action == "restart" and not member.alive:
        member.start()
        member.wait_ready()
    elif fault.action == "pause" and member.alive:
        member.pause()
    elif fault.action == "resume":
        member.resume()
    elif fault.action == "stepdown":
        primary = writable_primary(members)
        if primary is not None:
            try:
                with primary.client(serverSelectionTimeoutMS=1000, socketTimeoutMS=5000) as client:
                    client.admin.command("replSetStepDown", 5, secondaryCatchUpPeriodSecs=1)
            except PyMongoError:
                pass


def heal(rs: ReplicaSet) -> None:
    for m in rs.members:
        if m.alive:
            m.resume()
        else:
            m.start()
    for m in rs.members:
        m.wait_ready()
    eventually(lambda: writable_primary(rs.members), 30, "a primary after healing")
    eventually(
        lambda: all(state_of(m) in ("PRIMARY", "SECONDARY") for m in rs.members),
        60,
        "every member to recover",
    )
    everyone = WriteConcern(w=len(rs.members), wtimeout=10_000)

    def marker_written() -> bool:
        with rs.client() as client:
            client.test.get_collection("prop", write_concern=everyone).insert_one(
                {"_id": f"healed-{time.time()}"}
            )
        return True

    eventually(marker_written, 60, "a write acknowledged by every member")


def contents(member: MemberProcess) -> tuple[str, set[Any]]:
    with member.client(readPreference="secondaryPreferred") as client:
        digest = client.test.command("dbHash", read_preference=ReadPreference.SECONDARY_PREFERRED)["md5"]
        return digest, set(client.test.prop.distinct("_id"))


def run_property(rs: ReplicaSet, sequence: list[Fault]) -> None:
    # The w:1 writer makes histories diverge, so that rollbacks have work to do; only the
    # majority writer's acknowledgements are promises.
    writer, w1_writer = Writer(rs.uri, "majority", "m"), Writer(rs.uri, 1, "w")
    writer.start()
    w1_writer.start()
    try:
        time.sleep(1.0)
        for fault in sequence:
            apply_fault(fault, rs.members)
            time.sleep(fault.then_wait)
        time.sleep(0.5)
    finally:
        for w in (writer, w1_writer):
            w.stop.set()
        for w in (writer, w1_writer):
            w.join(15)
            w.client.close()
    heal(rs)
    acknowledged = set(writer.acknowledged)
    assert acknowledged, f"no write was acknowledged during {sequence}"

    def converged() -> dict[str, tuple[str, set[Any]]] | None:
        seen = {m.name: contents(m) for m in rs.members}
        complete = all(acknowledged <= ids for _, ids in seen.values())
        return seen if complete and len({digest for digest, _ in seen.values()}) == 1 else None

    try:
        eventually(converged, 30, "every member to hold every acknowledged write and the same data")
    except AssertionError:
        seen = {m.name: contents(m) for m in rs.members}
        missing = {name: sorted(acknowledged - ids)[:10] for name, (_, ids) in seen.items()}
        hashes = {name: digest for name, (digest, _) in seen.items()}
        raise AssertionError(f"after {sequence}: missing {missing}, dbHash {hashes}") from None


@pytest.mark.slow
@pytest.mark.parametrize(("size", "seed"), [(3, 15), (3, 11), (5, 16)])
def test_acknowledged_majority_writes_survive_any_fault_sequence(
    start_replica_set: StartSet, size: int, seed: int
) -> None:
    run_property(start_replica_set(size, settings=FAST), draw_faults(seed, size))
