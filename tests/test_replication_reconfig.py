"""replSetReconfig: adding a member (which initial-syncs), removing one, changing priorities,
mongod's validation, and a forced reconfig that rescues a set that lost its majority; a member
left too far behind the oplog resyncs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo import WriteConcern
from pymongo.errors import NotPrimaryError, OperationFailure

from chaos.backends.processes import MemberProcess, free_port
from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import CLIENT, FAST, events, eventually, hello, state_of, writable_primary


def current_config(member: MemberProcess) -> dict[str, Any]:
    with member.client() as client:
        return client.admin.command("replSetGetConfig")["config"]


def reconfig(member: MemberProcess, config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    with member.client() as client:
        return client.admin.command("replSetReconfig", config, **kwargs)


def next_version(config: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    return {**config, "version": config["version"] + 1, "members": members}


def fresh_member(rs: ReplicaSet, tmp_path: Path, name: str) -> MemberProcess:
    member = MemberProcess(name, "127.0.0.1", free_port(), tmp_path / name)
    rs.members.append(member)  # killed with the set at teardown
    member.start()
    member.wait_ready()
    return member


def test_an_added_member_initial_syncs_and_a_removed_one_leaves(
    start_replica_set: StartSet, tmp_path: Path
) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    with rs.client(**CLIENT) as client:
        coll = client.test.get_collection("grow", write_concern=WriteConcern(w="majority"))
        coll.create_index("n")
        coll.insert_many([{"_id": i, "n": i} for i in range(300)])
    newcomer = fresh_member(rs, tmp_path, "m3")
    config = current_config(primary)
    members = [*config["members"], {"_id": 3, "host": newcomer.address}]
    reconfig(primary, next_version(config, members))
    eventually(lambda: state_of(newcomer) == "SECONDARY", 20, "the new member to finish initial sync")
    phases = [e["phase"] for e in events(newcomer, "initial_sync")]
    assert phases[-2:] == ["start", "done"]
    with newcomer.client() as direct:
        assert direct.test.grow.count_documents({}) == 300
        assert "n_1" in {ix["name"] for ix in direct.test.grow.list_indexes()}
    with rs.client(**CLIENT) as client:
        # w: 4 needs the newcomer too.
        client.test.get_collection("grow", write_concern=WriteConcern(w=4, wtimeout=10_000)).insert_one(
            {"_id": 300}
        )

    leaving = next(m for m in rs.members[:3] if m is not primary)
    config = current_config(primary)
    kept = [m for m in config["members"] if m["host"] != leaving.address]
    reconfig(primary, next_version(config, kept))
    eventually(lambda: state_of_removed(leaving), 10, "the removed member to notice")
    assert leaving.address not in hello(primary)["hosts"]
    assert events(leaving, "state")[-1]["state"] == "REMOVED"


def state_of_removed(member: MemberProcess) -> bool:
    reply = hello(member)
    return reply.get("isreplicaset") is True and "hosts" not in reply


def test_raising_a_priority_moves_the_primary(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    chosen = next(m for m in rs.members if m is not primary)
    config = current_config(primary)
    members = [{**m, "priority": 5 if m["host"] == chosen.address else 1} for m in config["members"]]
    reconfig(primary, next_version(config, members))
    eventually(lambda: writable_primary(rs.members) is chosen, 15, "the member with priority 5 to take over")
    assert (
        current_config(chosen)["members"][[m["host"] for m in members].index(chosen.address)]["priority"] == 5
    )


def test_reconfig_is_validated_as_mongod_validates_it(start_replica_set: StartSet, tmp_path: Path) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    secondary = next(m for m in rs.members if m is not primary)
    config = current_config(primary)
    with pytest.raises(NotPrimaryError):
        reconfig(secondary, next_version(config, config["members"]))
    with pytest.raises(OperationFailure) as stale:
        reconfig(primary, {**config, "members": config["members"]})
    assert stale.value.code == 103
    two_more = [*config["members"], {"_id": 3, "host": "127.0.0.1:1"}, {"_id": 4, "host": "127.0.0.1:2"}]
    with pytest.raises(OperationFailure) as too_many:
        reconfig(primary, next_version(config, two_more))
    assert "at most 1 voting member" in str(too_many.value)
    moved = [{**m, "_id": m["_id"] + 10} if m["host"] == secondary.address else m for m in config["members"]]
    with pytest.raises(OperationFailure, match="_id field"):
        reconfig(primary, next_version(config, moved))


def test_force_reconfig_rescues_a_set_that_lost_its_majority(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    survivor = next(m for m in rs.members if m is not primary)
    for m in rs.members:
        if m is not survivor:
            m.kill()
    config = current_config(survivor)
    alone = [m for m in config["members"] if m["host"] == survivor.address]
    reconfig(survivor, {**config, "members": alone}, force=True)
    eventually(lambda: hello(survivor)["isWritablePrimary"], 10, "the survivor to elect itself")
    forced = events(survivor, "config")[-2]
    assert forced["source"] == "force reconfig" and forced["version"] > config["version"] + 10_000


def test_a_member_too_stale_for_the_oplog_resyncs(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST, extra_args=("--oplogSize", "1"))
    primary = rs.primary()
    stale = next(m for m in rs.members if m is not primary)
    stale.pause()
    try:
        with rs.client(**CLIENT) as client:
            coll = client.test.get_collection("big", write_concern=WriteConcern(w="majority"))
            for batch in range(6):
                coll.insert_many([{"_id": batch * 500 + i, "pad": "x" * 1000} for i in range(500)])
    finally:
        stale.resume()
    eventually(lambda: events(stale, "too_stale"), 20, "the member to find itself too stale")
    eventually(lambda: state_of(stale) == "SECONDARY", 30, "the stale member to resync")
    assert [e["phase"] for e in events(stale, "initial_sync")][-2:] == ["start", "done"]
    with stale.client() as direct:
        assert direct.test.big.count_documents({}) == 3000


def leaf_secondary(members: list[MemberProcess], primary: MemberProcess) -> MemberProcess | None:
    """A secondary that no other secondary syncs from (None until each has a sync source)."""
    secondaries = [m for m in members if m is not primary]
    sources = []
    for member in secondaries:
        with member.client() as direct:
            sources.append(direct.admin.command("replSetGetStatus").get("syncSourceHost", ""))
    if not all(sources):
        return None
    return next((m for m in secondaries if m.address not in sources), None)


def test_an_added_voter_counts_only_once_it_has_synced(start_replica_set: StartSet, tmp_path: Path) -> None:
    """mongod 4.4+'s newlyAdded: a voter a reconfig adds holds no majority up while it syncs."""
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    newcomer = fresh_member(rs, tmp_path, "m3")
    newcomer.pause()  # it cannot sync, nor answer heartbeats, until resumed
    config = current_config(primary)
    with pytest.raises(OperationFailure) as given:
        reconfig(
            primary,
            next_version(
                config, [*config["members"], {"_id": 3, "host": newcomer.address, "newlyAdded": True}]
            ),
        )
    assert given.value.code == 93 and "newlyAdded" in str(given.value)
    reconfig(primary, next_version(config, [*config["members"], {"_id": 3, "host": newcomer.address}]))
    with primary.client() as direct:
        internal = direct.admin.command("replSetGetConfig", **{"$_internalIncludeNewlyAdded": True})["config"]
        assert [m.get("newlyAdded", False) for m in internal["members"]] == [False, False, False, True]
        assert "newlyAdded" not in current_config(primary)["members"][3]  # hidden from users
        assert direct.admin.command("replSetGetStatus")["writeMajorityCount"] == 2
    # The secondary paused is one the other does not sync from: a secondary chained through a
    # paused member waits out its fetch's network timeout before it looks for another source
    # (mongod: the awaitData time plus 5 s), which is not what this test is about.
    lagging = eventually(lambda: leaf_secondary(rs.members[:3], primary), 10, "a secondary no one syncs from")
    lagging.pause()
    try:
        with rs.client(**CLIENT) as client:
            # Three voters still (the newcomer is not one yet): the primary and one secondary suffice.
            coll = client.test.get_collection(
                "added", write_concern=WriteConcern(w="majority", wtimeout=5000)
            )
            coll.insert_one({"_id": 1})
    finally:
        lagging.resume()
        newcomer.resume()
    eventually(lambda: state_of(newcomer) == "SECONDARY", 20, "the newcomer to sync")

    def voter_again() -> bool:
        with primary.client() as direct:
            cfg = direct.admin.command("replSetGetConfig", **{"$_internalIncludeNewlyAdded": True})["config"]
        return (
            not any(m.get("newlyAdded") for m in cfg["members"]) and cfg["version"] == config["version"] + 2
        )

    eventually(voter_again, 20, "the primary to make the newcomer a voter")
    with primary.client() as direct:
        assert direct.admin.command("replSetGetStatus")["writeMajorityCount"] == 3
