"""Pure parts of replication: votes, electability, the commit point, write concern, the
majority view, config ordering and the internal messages."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from bson import Timestamp

from mongoemu.errors import CommandError
from mongoemu.oplog import NULL_OPTIME, OplogWindow, OpTime
from mongoemu.repl import topology
from mongoemu.repl.config import ReplSetConfig, version_and_term_newer
from mongoemu.repl.majority import MajorityView, key
from mongoemu.repl.member_data import MemberData
from mongoemu.repl.messages import (
    HeartbeatRequest,
    HeartbeatResponse,
    PositionUpdate,
    VoteRequest,
    VoteResponse,
)
from mongoemu.repl.metadata import MetadataFile, ReplMetadata
from mongoemu.repl.notifier import Notifier
from mongoemu.repl.oplog_reader import OplogCursor
from mongoemu.repl.state import MemberState
from mongoemu.repl.write_concern import MAJORITY, Waiters, WriteConcern


def ot(secs: int, term: int, inc: int = 1) -> OpTime:
    return OpTime(Timestamp(secs, inc), term)


def config(n: int = 3, **member_extra: dict) -> ReplSetConfig:
    members = [{"_id": i, "host": f"h{i}:1", **member_extra.get(f"m{i}", {})} for i in range(n)]
    return ReplSetConfig.from_document({"_id": "rs0", "version": 2, "term": 5, "members": members})


def table(cfg: ReplSetConfig, self_id: int = 0) -> dict[int, MemberData]:
    members = {m.id: MemberData(m, is_self=m.id == self_id) for m in cfg.members}
    for data in members.values():
        data.health = 1.0
        data.state = MemberState.SECONDARY
    return members


def vote(**kw: object) -> VoteRequest:
    base = dict(
        set_name="rs0",
        dry_run=False,
        term=6,
        candidate_index=1,
        config_version=2,
        config_term=5,
        last_applied=ot(100, 5),
    )
    base.update(kw)
    return VoteRequest(**base)  # type: ignore[arg-type]


# --- votes ------------------------------------------------------------------------------
def decide(
    request: VoteRequest, last_applied: OpTime | None = None, last_vote_term: int = -1
) -> VoteResponse:
    return topology.decide_vote(
        request,
        config(),
        term=6,
        last_applied=last_applied or ot(100, 5),
        last_vote_term=last_vote_term,
        last_vote_candidate=2,
    )


def test_vote_granted_to_an_up_to_date_candidate() -> None:
    assert decide(vote()).vote_granted


def test_vote_refused_to_a_staler_candidate() -> None:
    response = decide(vote(last_applied=ot(99, 5)))
    assert not response.vote_granted
    assert "staler than mine" in response.reason


def test_one_vote_per_term_but_dry_runs_do_not_count() -> None:
    refused = decide(vote(), last_vote_term=6)
    assert not refused.vote_granted and "already voted for another candidate (h2:1)" in refused.reason
    assert decide(vote(dry_run=True), last_vote_term=6).vote_granted


def test_vote_refused_for_lower_term_other_set_or_older_config() -> None:
    assert "lower than mine" in decide(vote(term=5)).reason
    assert "set name" in decide(vote(set_name="other")).reason
    assert "older than mine" in decide(vote(config_version=1)).reason
    assert "older than mine" in decide(vote(config_term=4)).reason


def test_a_higher_term_in_the_candidate_beats_a_higher_timestamp() -> None:
    # Optimes order by term first: an entry of term 6 is newer than any entry of term 5.
    assert decide(vote(last_applied=ot(50, 6)), last_applied=ot(100, 5)).vote_granted


# --- electability ---------------------------------------------------------------------------
def reasons(cfg: ReplSetConfig, members: dict[int, MemberData], **kw: object) -> list[str]:
    args = dict(self_id=0, state=MemberState.SECONDARY, last_applied=ot(10, 1), frozen=False)
    args.update(kw)
    return topology.unelectable_reasons(cfg, members, **args)  # type: ignore[arg-type]


def test_a_healthy_secondary_may_stand() -> None:
    cfg = config()
    assert reasons(cfg, table(cfg)) == []


def test_priority_zero_non_voter_frozen_and_non_secondary_may_not_stand() -> None:
    cfg = config(m0={"priority": 0, "votes": 0})
    assert {"member has zero priority", "member is not a voter"} <= set(reasons(cfg, table(cfg)))
    cfg = config()
    assert "I am still waiting for stepdown period to end" in reasons(cfg, table(cfg), frozen=True)
    assert "member is not currently a secondary" in reasons(cfg, table(cfg), state=MemberState.RECOVERING)
    assert "node has no applied oplog entries" in reasons(cfg, table(cfg), last_applied=NULL_OPTIME)


def test_a_member_that_cannot_see_a_majority_may_not_stand() -> None:
    cfg = config(5)
    members = table(cfg)
    for i in (1, 2, 3):
        members[i].health = 0.0
    assert "I cannot see a majority" in reasons(cfg, members)
    members[3].health = 1.0
    assert reasons(cfg, members) == []


def test_priority_takeover_needs_to_be_within_two_seconds_of_the_newest() -> None:
    cfg = config()
    members = table(cfg)
    members[1].hb_applied = ot(13, 1)
    stale = reasons(cfg, members, last_applied=ot(10, 1), priority_takeover=True)
    assert any("priority takeover" in r for r in stale)
    assert reasons(cfg, members, last_applied=ot(11, 1), priority_takeover=True) == []


# --- commit point and write concern ---------------------------------------------------------
def test_commit_point_is_the_write_majority_durable_optime_of_this_term() -> None:
    cfg = config(5)
    members = table(cfg)
    for i, secs in enumerate([50, 40, 30, 20, 10]):
        members[i].durable = ot(secs, 5)
    assert topology.commit_point(cfg, members, first_optime_of_term=ot(5, 5)) == ot(30, 5)
    # A primary never commits by counting replicas before its own first entry of the term.
    assert topology.commit_point(cfg, members, first_optime_of_term=ot(35, 5)) is None


def test_non_voters_do_not_count_towards_the_majority() -> None:
    cfg = config(3, m2={"priority": 0, "votes": 0})
    members = table(cfg)
    members[0].durable, members[1].durable, members[2].durable = ot(30, 1), ot(10, 1), ot(30, 1)
    assert cfg.majority == 2
    assert topology.commit_point(cfg, members, first_optime_of_term=NULL_OPTIME) == ot(10, 1)


def test_w_n_counts_only_members_with_the_write_in_the_same_term() -> None:
    cfg = config()
    members = table(cfg)
    members[0].applied, members[1].applied, members[2].applied = ot(20, 3), ot(25, 2), ot(20, 3)
    reached = topology.members_at(members.values(), ot(20, 3), durable=False)
    assert sorted(d.id for d in reached) == [0, 2]


def test_tag_patterns_count_distinct_tag_values() -> None:
    cfg = config(
        3, m0={"tags": {"region": "eu"}}, m1={"tags": {"region": "eu"}}, m2={"tags": {"region": "us"}}
    )
    members = table(cfg)
    assert not topology.tag_pattern_satisfied([members[0], members[1]], {"region": 2})
    assert topology.tag_pattern_satisfied([members[0], members[2]], {"region": 2})


def test_write_concern_parsing_follows_mongod() -> None:
    assert WriteConcern.parse(None).w == MAJORITY
    assert WriteConcern.parse({}).w == MAJORITY
    wc = WriteConcern.parse({"w": 2, "j": True, "wtimeout": 150})
    assert (wc.w, wc.j, wc.wtimeout_ms) == (2, True, 150)
    assert WriteConcern.parse({"fsync": True}).j is True
    for bad in ({"w": -1}, {"w": True}, {"wtimeout": "x"}, {"w": 1.5}):
        with pytest.raises(CommandError):
            WriteConcern.parse(bad)


def test_waiters_resolve_when_satisfied_and_fail_on_stepdown() -> None:
    async def scenario() -> None:
        waiters = Waiters()
        first = waiters.add(ot(10, 1), WriteConcern())
        second = waiters.add(ot(20, 1), WriteConcern())
        waiters.release(lambda optime, wc: optime <= ot(15, 1))
        assert first.done() and first.result() is None
        assert not second.done()
        waiters.fail_all({"code": 189})
        assert second.result() == {"code": 189}
        assert len(waiters) == 0

    asyncio.run(scenario())


# --- the majority view ------------------------------------------------------------------
def test_majority_view_substitutes_the_version_at_the_commit_point() -> None:
    view = MajorityView()
    view.record("db.c", 1, None, ot(10, 1))  # inserted
    view.record("db.c", 1, {"_id": 1, "v": 1}, ot(11, 1))  # updated
    view.record("db.c", 2, {"_id": 2, "v": 0}, ot(12, 1))
    assert view.overlay("db.c") == {key(1): None, key(2): {"_id": 2, "v": 0}}
    view.advance(ot(10, 1))
    assert view.overlay("db.c")[key(1)] == {"_id": 1, "v": 1}
    view.advance(ot(12, 1))
    assert view.overlay("db.c") == {}
    assert len(view) == 0


def test_majority_view_forgets_rolled_back_changes() -> None:
    view = MajorityView()
    view.record("db.c", 1, {"_id": 1, "v": 1}, ot(10, 1))
    view.record("db.c", 1, {"_id": 1, "v": 2}, ot(11, 1))
    view.truncate_after(ot(10, 1))
    assert view.overlay("db.c") == {key(1): {"_id": 1, "v": 1}}


# --- configs and messages -------------------------------------------------------------------
def test_config_order_is_term_then_version_unless_a_term_is_unset() -> None:
    assert version_and_term_newer((1, 3), (2, 2))
    assert version_and_term_newer((3, 2), (2, 2))
    assert version_and_term_newer((20000, -1), (3, 7))
    assert not version_and_term_newer((2, 2), (2, 2))


def test_priority_rank_and_majority() -> None:
    cfg = config(5, m0={"priority": 2}, m4={"priority": 0})
    assert cfg.priority_rank(2) == 0
    assert cfg.priority_rank(1) == 1
    assert cfg.majority == 3


def test_messages_round_trip_with_mongod_field_names() -> None:
    hb = HeartbeatRequest("rs0", 2, 5, 1, "h1:1", 6, primary_id=0).to_command()
    assert hb["replSetHeartbeat"] == "rs0" and hb["fromId"] == 1 and hb["primaryId"] == 0
    assert HeartbeatRequest.from_command(hb) == HeartbeatRequest("rs0", 2, 5, 1, "h1:1", 6, primary_id=0)
    response = HeartbeatResponse("rs0", MemberState.PRIMARY, 6, 2, 5, applied=ot(9, 6), durable=ot(9, 6))
    doc = response.to_reply()
    assert doc["state"] == 1 and doc["opTime"] == {"ts": Timestamp(9, 1), "t": 6}
    assert HeartbeatResponse.from_reply(doc).applied == ot(9, 6)
    request = vote(dry_run=True)
    assert VoteRequest.from_command(request.to_command()) == request
    update = PositionUpdate(1, 2, ot(5, 1), datetime(2020, 1, 1), ot(5, 1), datetime(2020, 1, 1))
    assert PositionUpdate.from_document(update.to_document()) == update


def test_malformed_internal_messages_name_the_field() -> None:
    with pytest.raises(CommandError, match="'term'"):
        VoteRequest.from_command({"replSetRequestVotes": 1, "setName": "rs0", "dryRun": False})
    with pytest.raises(CommandError, match="lastAppliedOpTime"):
        VoteRequest.from_command(
            {
                "replSetRequestVotes": 1,
                "setName": "rs0",
                "dryRun": False,
                "term": 1,
                "candidateIndex": 0,
                "configVersion": 1,
                "lastAppliedOpTime": {"ts": 5},
            }
        )


# --- the oplog window's reading helpers -----------------------------------------------------
def test_oplog_window_reads_by_timestamp_and_backwards() -> None:
    window = OplogWindow()
    for i in range(1, 6):
        window.append(ot(i, 1 if i < 4 else 2), {"ts": Timestamp(i, 1), "i": i}, 10)
    assert window.index_of_ts(Timestamp(3, 1), inclusive=True) == 2
    assert window.index_of_ts(Timestamp(3, 1), inclusive=False) == 3
    assert [d["i"] for d in window.entries_before(None, 2)] == [5, 4]
    assert [d["i"] for d in window.entries_before(ot(4, 2), 10)] == [3, 2, 1]
    assert [d["i"] for d in window.slice_from(1, 10, max_bytes=25)] == [2, 3]
    assert [(o, d["i"], n) for o, d, n in window.records_from(1, 2)] == [(ot(2, 1), 2, 10), (ot(3, 1), 3, 10)]
    assert [d["i"] for _, d, _ in window.records_before(ot(3, 1), 10)] == [2, 1]


@pytest.mark.parametrize("start", [0, 1, 3, 5, 6, 7, 9, 10, 12])
def test_oplog_window_reads_the_same_from_either_end(start: int) -> None:
    """Reads near the newest entry walk from that end (secondaries tail it): same records."""
    window = OplogWindow()
    for i in range(10):
        window.append(ot(i + 1, 1), {"i": i}, 10)
    for limit in (1, 3, 10):
        assert [d["i"] for _, d, _ in window.records_from(start, limit)] == list(range(10))[
            start : start + limit
        ]


# --- persisted metadata and the oplog cursor -------------------------------------------------
def test_replication_metadata_survives_a_reload(tmp_path: Path) -> None:
    store = MetadataFile(tmp_path)
    assert store.load() == ReplMetadata()
    meta = ReplMetadata(
        config={"_id": "rs0"},
        term=7,
        last_vote_term=7,
        last_vote_candidate=2,
        rollback_pending=True,
        min_valid=ot(50, 7),
        rbid=3,
    )
    store.save(meta)
    assert store.load() == meta
    assert [p.name for p in tmp_path.iterdir()] == ["replset.bson"]


def oplog_member(entries: int) -> SimpleNamespace:
    window = OplogWindow()
    for i in range(1, entries + 1):
        window.append(ot(i, 1), {"ts": Timestamp(i, 1), "t": 1, "op": "n" if i % 2 else "i", "i": i}, 10)
    coordinator = SimpleNamespace(oplog_generation=0, oplog_written=Notifier())
    return SimpleNamespace(oplog=window, coordinator=coordinator)


def test_oplog_cursor_reads_ranges_backwards_and_with_filters() -> None:
    member = oplog_member(10)
    forward = OplogCursor(member, {"filter": {"ts": {"$gte": Timestamp(8, 1)}}})  # type: ignore[arg-type]
    assert [d["i"] for d in forward.first_batch] == [8, 9, 10] and forward.exhausted
    backward = OplogCursor(member, {"sort": {"$natural": -1}, "limit": 3})  # type: ignore[arg-type]
    assert [d["i"] for d in backward.first_batch] == [10, 9, 8]
    inserts = OplogCursor(member, {"filter": {"op": "i", "ts": {"$lt": Timestamp(6, 1)}}})  # type: ignore[arg-type]
    assert [d["i"] for d in inserts.first_batch] == [2, 4]
    with pytest.raises(CommandError, match=r"ts\.\$gt needs a timestamp"):
        OplogCursor(member, {"filter": {"ts": {"$gt": 5}}})  # type: ignore[arg-type]


def test_tailable_oplog_cursor_waits_for_new_entries_and_dies_on_rollback() -> None:
    async def scenario() -> None:
        member = oplog_member(3)
        body = {"filter": {"ts": {"$gte": Timestamp(3, 1)}}, "tailable": True, "awaitData": True}
        cursor = OplogCursor(member, body)  # type: ignore[arg-type]
        assert [d["i"] for d in cursor.first_batch] == [3] and not cursor.exhausted
        assert await cursor.get_more(None, 50) == []

        async def append_later() -> None:
            await asyncio.sleep(0.05)
            member.oplog.append(ot(4, 1), {"ts": Timestamp(4, 1), "t": 1, "op": "n", "i": 4}, 10)
            member.coordinator.oplog_written.notify()

        task = asyncio.create_task(append_later())
        assert [d["i"] for d in await cursor.get_more(None, 2000)] == [4]
        await task
        member.coordinator.oplog_generation += 1
        with pytest.raises(CommandError) as lost:
            await cursor.get_more(None, 50)
        assert lost.value.code == 136

    asyncio.run(scenario())


def test_config_rejects_arbiters_and_delayed_members_that_could_be_elected() -> None:
    with pytest.raises(CommandError, match=r"members\[1\]: arbiters"):
        config(2, m1={"arbiterOnly": True})
    with pytest.raises(CommandError, match=r"members\[2\]: priority must be 0 when secondaryDelaySecs"):
        config(3, m2={"secondaryDelaySecs": 5})
    assert config(3, m2={"secondaryDelaySecs": 5, "priority": 0}).members[2].secondary_delay_secs == 5
