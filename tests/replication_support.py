"""Helpers for the replication tests: short election settings, waiting for states, ground truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pymongo.errors import PyMongoError

from chaos.backends.processes import MemberProcess
from contract import groundtruth

# The acceptance settings: elections after ~1 s, heartbeats every 200 ms.
FAST = {"electionTimeoutMillis": 1000, "heartbeatIntervalMillis": 200}
# mongod's own parameter: a SIGTERM spends 2 s (not 15) stepping down and in quiesce mode.
QUICK_SHUTDOWN = ("--setParameter", "shutdownTimeoutMillisForSignaledShutdown=2000")
# PyMongo's own monitoring (it streams); selection waits out a FAST election with room to spare.
CLIENT = {"serverSelectionTimeoutMS": 15_000}


def eventually(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except PyMongoError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout:.1f} s (last: {last!r})")


def hello(member: MemberProcess) -> dict[str, Any]:
    with member.client(serverSelectionTimeoutMS=1000) as client:
        return client.admin.command("hello")


def status(member: MemberProcess) -> dict[str, Any]:
    with member.client(serverSelectionTimeoutMS=1000) as client:
        return client.admin.command("replSetGetStatus")


def state_of(member: MemberProcess) -> str:
    return next(m for m in status(member)["members"] if m.get("self"))["stateStr"]


def writable_primary(members: list[MemberProcess]) -> MemberProcess | None:
    for m in members:
        if not m.alive or m.paused:
            continue
        try:
            if hello(m).get("isWritablePrimary"):
                return m
        except PyMongoError:
            continue
    return None


def events(member: MemberProcess, kind: str | None = None) -> list[dict[str, Any]]:
    records = groundtruth.read(member.dbpath / groundtruth.FILE_NAME)
    return [r for r in records if kind is None or r["event"] == kind]
