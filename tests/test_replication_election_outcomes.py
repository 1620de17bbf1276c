"""Elections over many failovers, judged from the members' ground truth as one would judge
mongod's: SIGKILL the primary 50 times with short settings; in the great majority of failovers
one term suffices, split votes (two members standing in the same term) are rare, and a member
that just won is never deposed by another election a moment later."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from chaos.backends.processes import MemberProcess
from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import FAST, events, eventually, status, writable_primary

KILLS = 50
ELECTION_TIMEOUT_S = FAST["electionTimeoutMillis"] / 1000


@dataclass(frozen=True)
class Failover:
    """What the members did between one kill of the primary and the next."""

    killed_term: int
    won_terms: tuple[int, ...]  # every election won, in order
    split_terms: tuple[int, ...]  # terms in which two or more members stood
    deposed: bool  # a winner replaced by another member's win within an election timeout

    @property
    def extra_terms(self) -> int:
        """Terms used beyond the one a failover needs."""
        return max(self.won_terms, default=self.killed_term) - self.killed_term - 1


def judge(records: Iterable[dict[str, Any]], killed_term: int, timeout_s: float) -> Failover:
    """One failover from the ground-truth records of every member in its window."""
    ordered = sorted(records, key=lambda r: r["t"])
    standing: dict[int, set[str]] = {}
    wins: list[dict[str, Any]] = []
    for r in ordered:
        if r["event"] == "term" and str(r.get("reason", "")).startswith("standing for election"):
            standing.setdefault(r["term"], set()).add(r["member"])
        elif r["event"] == "election" and r.get("outcome") == "won":
            wins.append(r)
    deposed = any(
        later["member"] != earlier["member"] and later["t"] - earlier["t"] < timeout_s
        for earlier, later in itertools.pairwise(wins)
    )
    return Failover(
        killed_term=killed_term,
        won_terms=tuple(w["term"] for w in wins),
        split_terms=tuple(sorted(t for t, members in standing.items() if len(members) > 1)),
        deposed=deposed,
    )


def _record(t: float, member: str, event: str, **fields: Any) -> dict[str, Any]:
    return {"t": t, "member": member, "event": event, **fields}


def test_judge_counts_terms_split_votes_and_deposed_winners() -> None:
    clean = [
        _record(1.00, "b", "term", term=8, reason="standing for election (electionTimeout)"),
        _record(1.01, "c", "term", term=8, reason="vote request"),
        _record(1.02, "b", "election", outcome="won", term=8),
    ]
    assert judge(clean, 7, 1.0) == Failover(7, (8,), (), False)
    assert judge(clean, 7, 1.0).extra_terms == 0
    split = [
        _record(1.00, "b", "term", term=8, reason="standing for election (electionTimeout)"),
        _record(1.00, "c", "term", term=8, reason="standing for election (electionTimeout)"),
        _record(1.02, "b", "election", outcome="lost", term=8),
        _record(2.00, "c", "term", term=9, reason="standing for election (electionTimeout)"),
        _record(2.02, "c", "election", outcome="won", term=9),
    ]
    assert judge(split, 7, 1.0) == Failover(7, (9,), (8,), False)
    assert judge(split, 7, 1.0).extra_terms == 1
    deposed = [
        _record(1.02, "b", "election", outcome="won", term=8),
        _record(1.04, "c", "election", outcome="won", term=9),
    ]
    assert judge(deposed, 7, 1.0).deposed
    later = _record(3.0, "c", "election", outcome="won", term=9)
    assert not judge([deposed[0], later], 7, 1.0).deposed


def _settled(rs: ReplicaSet) -> MemberProcess:
    """A writable primary whose secondaries are up, caught up and hearing from it."""

    def check() -> MemberProcess | None:
        primary = writable_primary(rs.members)
        if primary is None:
            return None
        doc = status(primary)
        states = {m["stateStr"] for m in doc["members"]}
        applied = {(m["optime"]["ts"], m["optime"]["t"]) for m in doc["members"]}
        return primary if states == {"PRIMARY", "SECONDARY"} and len(applied) == 1 else None

    primary = eventually(check, 30, "a settled set")
    time.sleep(2 * FAST["heartbeatIntervalMillis"] / 1000)  # every timer reset by the primary
    return primary


def _primary_after(rs: ReplicaSet, term: int) -> MemberProcess | None:
    """A writable primary elected after `term`."""
    primary = writable_primary(rs.members)
    return primary if primary is not None and int(status(primary)["term"]) > term else None


@pytest.mark.slow
def test_fifty_primary_kills_elect_as_mongod_does(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    windows: list[tuple[float, int]] = []
    for _ in range(KILLS):
        primary = _settled(rs)
        term = int(status(primary)["term"])
        windows.append((time.time(), term))
        primary.kill()
        # Restarted at once, as a supervisor would: it rejoins while the others elect.
        primary.start()
        eventually(lambda t=term: _primary_after(rs, t), 15, "a new primary")
        primary.wait_ready()
    _settled(rs)
    records = [r for m in rs.members for r in events(m)]
    bounds = [start for start, _ in windows[1:]] + [time.time()]
    failovers = [
        judge([r for r in records if start <= r["t"] < end], term, ELECTION_TIMEOUT_S)
        for (start, term), end in zip(windows, bounds, strict=True)
    ]
    splits = sum(len(f.split_terms) for f in failovers)
    extra = [f.extra_terms for f in failovers]
    print(f"{KILLS} failovers: extra terms {sorted(extra)}, split votes {splits}")
    assert all(f.won_terms for f in failovers)
    assert not [f for f in failovers if f.deposed], "a new primary was deposed right after it won"
    # mongod: one term per failover in the great majority, never a run of failed elections.
    assert sum(e == 0 for e in extra) >= 0.9 * KILLS and max(extra) <= 2
    # Two members stand in one term when their timers fire within a vote round trip of each
    # other; FAST's random offset spreads them over 150 ms only, and a loaded host lengthens the
    # round trip. Measured: 2 of 50 idle, 6-7 with both cores busy; 34 without the random offset.
    assert splits <= 0.3 * KILLS
