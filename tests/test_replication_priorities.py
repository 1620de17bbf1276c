"""Member options: priorities across regions, as in the production guide's 5-member set
(2 + 1 + 1 + an analytics member), where the priority-2 member takes primary back once it has
caught up and the priority-0 member never stands; hidden and delayed members."""

from __future__ import annotations

import time

from pymongo import WriteConcern

from tests.conftest import StartSet
from tests.replication_support import CLIENT, FAST, events, eventually, hello, state_of, writable_primary

REGIONS = {
    "m0": {"priority": 2, "tags": {"region": "eu-west"}},
    "m1": {"priority": 1, "tags": {"region": "eu-west"}},
    "m2": {"priority": 1, "tags": {"region": "us-east"}},
    "m3": {"priority": 1, "tags": {"region": "ap-south"}},
    "m4": {"priority": 0, "tags": {"region": "us-east"}},
}


def test_highest_priority_member_takes_primary_back_and_priority_zero_never_stands(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(5, settings=FAST, member_options=REGIONS)
    m0, analytics = rs.members[0], rs.members[4]
    eventually(lambda: writable_primary(rs.members) is m0, 15, "the priority-2 member to become primary")
    assert hello(analytics)["passive"] is True and analytics.address in hello(m0)["passives"]
    assert hello(m0)["tags"] == {"region": "eu-west"}

    with rs.client(**CLIENT) as client:
        coll = client.test.get_collection("prio", write_concern=WriteConcern(w="majority"))
        coll.insert_many([{"_id": i} for i in range(20)])
        m0.kill()
        interim = eventually(lambda: writable_primary(rs.members[1:]), 10, "an interim primary")
        assert interim is not analytics
        coll.insert_many([{"_id": i} for i in range(20, 40)])
        m0.start()
        m0.wait_ready()
        eventually(lambda: writable_primary(rs.members) is m0, 20, "the priority-2 member to take over again")
        coll.insert_one({"_id": 40})

    takeovers = [
        e for e in events(m0, "election") if e["outcome"] == "won" and e["reason"] == "priorityTakeover"
    ]
    assert takeovers, "m0 won again by a priority takeover"
    assert not [e for e in events(analytics, "election") if e["outcome"] == "won"]
    assert not [e for e in events(analytics, "term") if e["reason"].startswith("standing")]
    eventually(lambda: state_of(interim) == "SECONDARY", 10, "the interim primary to step down")
    assert [e for e in events(interim, "stepdown")][-1]["reason"].startswith("saw a higher term")


def test_a_hidden_delayed_member_applies_writes_late_and_is_not_advertised(
    start_replica_set: StartSet,
) -> None:
    options = {"m2": {"priority": 0, "hidden": True, "secondaryDelaySecs": 2}}
    rs = start_replica_set(3, settings=FAST, member_options=options)
    delayed = rs.members[2]
    assert delayed.address not in hello(rs.primary()).get("hosts", []) + hello(rs.primary()).get(
        "passives", []
    )
    assert hello(delayed)["hidden"] is True and hello(delayed)["secondaryDelaySecs"] == 2
    with rs.client(**CLIENT) as client:
        client.test.get_collection("late", write_concern=WriteConcern(w=2)).insert_one({"_id": 1})
    written = time.monotonic()
    with delayed.client() as direct:
        time.sleep(1.0)
        assert direct.test.late.count_documents({}) == 0
        eventually(
            lambda: direct.test.late.count_documents({}) == 1, 10, "the delayed member to apply the write"
        )
    assert time.monotonic() - written >= 1.5
