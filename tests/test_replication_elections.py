"""Elections between member processes: who becomes primary, how it is reported, stepdown,
freeze and losing the majority. Real processes, real sockets, unmodified PyMongo."""

from __future__ import annotations

import time

import pytest
from pymongo.errors import NotPrimaryError, OperationFailure

from tests.conftest import StartSet
from tests.replication_support import (
    FAST,
    QUICK_SHUTDOWN,
    events,
    eventually,
    hello,
    state_of,
    status,
    writable_primary,
)


def test_three_members_elect_one_primary_and_report_it_as_mongod(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    secondaries = [m for m in rs.members if m is not primary]
    eventually(lambda: all(state_of(m) == "SECONDARY" for m in secondaries), 10, "secondaries to come up")

    def synced() -> dict | None:
        doc = status(primary)
        sources = {m["name"]: m["syncSourceHost"] for m in doc["members"] if not m.get("self")}
        # As mongod with chaining allowed: one may sync from the other, if it was ahead when the
        # source was chosen (a busy host's heartbeats can make it so), but the chain starts here.
        chained = all(source and source != name for name, source in sources.items())
        return doc if chained and primary.address in sources.values() else None

    doc = eventually(synced, 15, "the secondaries to report sync sources, one of them the primary")
    assert doc["set"] == "rs0" and doc["myState"] == 1 and doc["term"] >= 1
    assert {"lastCommittedOpTime", "appliedOpTime", "durableOpTime"} <= set(doc["optimes"])
    assert doc["electionCandidateMetrics"]["electionTerm"] == doc["term"]
    assert doc["majorityVoteCount"] == 2 and doc["heartbeatIntervalMillis"] == 200
    by_name = {m["name"]: m for m in doc["members"]}
    assert by_name[primary.address]["self"] is True and by_name[primary.address]["stateStr"] == "PRIMARY"
    for m in secondaries:
        entry = by_name[m.address]
        assert entry["stateStr"] == "SECONDARY" and entry["health"] == 1.0
        expected = {"optime", "optimeDate", "lastHeartbeat", "lastHeartbeatRecv", "pingMs", "uptime"}
        assert expected | {"syncSourceHost", "configVersion", "configTerm"} <= set(entry)

    h = hello(secondaries[0])
    assert h["secondary"] is True and h["isWritablePrimary"] is False
    assert h["primary"] == primary.address and h["setName"] == "rs0"
    assert sorted(h["hosts"]) == sorted(m.address for m in rs.members)
    term = doc["term"]
    assert hello(primary)["electionId"].binary == b"\x7f\xff\xff\xff" + term.to_bytes(8, "big")

    won = [e for e in events(primary, "election") if e["outcome"] == "won"]
    assert won and won[-1]["term"] == term
    assert any(
        e["term"] == term and e["candidate"] == primary.address
        for m in secondaries
        for e in events(m, "vote")
    )
    assert [e["state"] for e in events(primary, "state")][-1] == "PRIMARY"


def test_killed_primary_is_replaced_and_comes_back_as_secondary(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    old = rs.primary()
    term = status(old)["term"]
    old.kill()
    new = eventually(lambda: writable_primary(rs.members), 10, "a new primary")
    assert new is not old and status(new)["term"] > term
    old.start()
    old.wait_ready()
    # A restarted member never comes back as primary straight away.
    eventually(lambda: state_of(old) == "SECONDARY", 10, "the old primary to rejoin as SECONDARY")
    assert not hello(old)["isWritablePrimary"]
    assert [e["state"] for e in events(old, "state")][-3:] == ["STARTUP2", "RECOVERING", "SECONDARY"]


def test_stepdown_hands_over_and_the_old_primary_stays_out(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    old = rs.primary()
    with old.client() as client:
        client.admin.command("replSetStepDown", 30, secondaryCatchUpPeriodSecs=5)
    started = time.monotonic()
    new = eventually(lambda: writable_primary(rs.members), 10, "a new primary after stepdown")
    # Election handoff: the successor stands at once instead of waiting for an election timeout.
    assert time.monotonic() - started < 1.0
    assert new is not old
    assert events(old, "stepdown")[-1]["reason"] == "replSetStepDown command"
    time.sleep(2.5)
    assert writable_primary(rs.members) is new
    with old.client() as client, pytest.raises(NotPrimaryError) as not_primary:
        client.admin.command("replSetStepDown", 10)
    assert not_primary.value.details["code"] == 10107


def test_stepdown_validates_its_arguments(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1)
    with rs.members[0].client() as client, pytest.raises(OperationFailure) as err:
        client.admin.command("replSetStepDown", 5, secondaryCatchUpPeriodSecs=10)
    assert "secondaryCatchUpPeriodSecs" in str(err.value)


def test_frozen_members_do_not_stand_until_unfrozen(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    with primary.client() as client, pytest.raises(OperationFailure) as err:
        client.admin.command("replSetFreeze", 30)
    assert err.value.code == 135
    secondaries = [m for m in rs.members if m is not primary]
    for m in secondaries:
        with m.client() as client:
            client.admin.command("replSetFreeze", 60)
    primary.kill()
    time.sleep(3.0)  # three election timeouts: nobody may stand
    assert writable_primary(secondaries) is None
    with secondaries[1].client() as client:
        assert client.admin.command("replSetFreeze", 0)["info"] == "unfreezing"
    winner = eventually(lambda: writable_primary(secondaries), 10, "the unfrozen member to win")
    assert winner is secondaries[1]


def test_primary_that_loses_the_majority_steps_down(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    for m in rs.members:
        if m is not primary:
            m.pause()
    try:
        eventually(lambda: not hello(primary)["isWritablePrimary"], 5, "the primary to step down")
    finally:
        for m in rs.members:
            m.resume()
    assert events(primary, "stepdown")[-1]["reason"] == "can't see a majority of the set"


def test_a_primary_stopped_gracefully_hands_over_at_once(start_replica_set: StartSet) -> None:
    # A long election timeout: only the handoff can make a new primary within a few seconds.
    rs = start_replica_set(
        3, settings={"electionTimeoutMillis": 8000, "heartbeatIntervalMillis": 200}, extra_args=QUICK_SHUTDOWN
    )
    old = rs.primary()
    eventually(lambda: all(state_of(m) in ("PRIMARY", "SECONDARY") for m in rs.members), 10, "a settled set")
    stopped = time.monotonic()
    old.stop()
    new = eventually(lambda: writable_primary(rs.members), 6, "a primary after the graceful stop")
    assert time.monotonic() - stopped < 6
    assert events(old, "stepdown")[-1]["reason"] == "shutdown"
    won = [e for e in events(new, "election") if e["outcome"] == "won"]
    assert won[-1]["reason"] == "stepUpRequestSkipDryRun"
    assert events(old, "shutdown")[-1]["clean"] is True


def test_a_one_member_set_is_primary_again_right_after_a_restart(start_replica_set: StartSet) -> None:
    # Default settings (10 s election timeout): a single member does not wait for it.
    rs = start_replica_set(1)
    member = rs.members[0]
    member.kill()
    member.start()
    member.wait_ready()
    eventually(lambda: hello(member)["isWritablePrimary"], 3, "the single member to be primary again")
    assert events(member, "election")[-1]["reason"] == "singleNodePromptElection"
