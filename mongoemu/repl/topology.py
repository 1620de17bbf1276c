"""The protocol's decisions as pure functions of the member table (mongod's TopologyCoordinator).

Who may stand for election, how to vote, where the majority commit point is, which member to
sync from, whether a priority takeover is due and whether a primary may step down. Nothing here
touches the network or the clock; the coordinator passes `now` in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mongoemu.oplog import OpTime
from mongoemu.repl.config import ReplSetConfig, version_and_term_newer
from mongoemu.repl.member_data import MemberData
from mongoemu.repl.messages import VoteRequest, VoteResponse
from mongoemu.repl.state import MemberState

Members = Mapping[int, MemberData]

# mongod's priorityTakeoverFreshnessWindowSeconds.
PRIORITY_TAKEOVER_FRESHNESS_SECS = 2


def majority_seems_up(config: ReplSetConfig, members: Members, self_id: int) -> bool:
    votes_up = sum(
        1 for m in config.voting_members if m.id == self_id or (m.id in members and members[m.id].up)
    )
    return votes_up * 2 > len(config.voting_members)


def latest_known_applied(members: Members, mine: OpTime) -> OpTime:
    latest = mine
    for data in members.values():
        if not data.is_self and data.up and data.state is not MemberState.REMOVED:
            latest = max(latest, data.hb_applied)
    return latest


def fresh_enough_for_priority_takeover(mine: OpTime, latest: OpTime) -> bool:
    """Within two seconds of the newest optime, in the same term (mongod's rule)."""
    if mine.term != latest.term:
        return False
    if mine.ts.time != latest.ts.time:
        return mine.ts.time + PRIORITY_TAKEOVER_FRESHNESS_SECS >= latest.ts.time
    return mine.ts.inc + 1000 >= latest.ts.inc


def unelectable_reasons(
    config: ReplSetConfig,
    members: Members,
    *,
    self_id: int | None,
    state: MemberState,
    last_applied: OpTime,
    frozen: bool,
    priority_takeover: bool = False,
) -> list[str]:
    """Why this member may not stand for election now, worded as mongod logs it; [] if it may."""
    reasons: list[str] = []
    if last_applied.ts.time == 0 and last_applied.ts.inc == 0:
        reasons.append("node has no applied oplog entries")
    me = config.member_by_id(self_id) if self_id is not None else None
    if me is None:
        return [*reasons, "node is not a member of a valid replica set configuration"]
    if not majority_seems_up(config, members, self_id):
        reasons.append("I cannot see a majority")
    if me.priority <= 0:
        reasons.append("member has zero priority")
    if not me.voter:
        reasons.append("member is not a voter")
    if frozen:
        reasons.append("I am still waiting for stepdown period to end")
    if state is not MemberState.SECONDARY:
        reasons.append("member is not currently a secondary")
    if priority_takeover and not fresh_enough_for_priority_takeover(
        last_applied, latest_known_applied(members, last_applied)
    ):
        reasons.append(
            "member is not caught up enough to the most up-to-date member to call for priority "
            f"takeover - must be within {PRIORITY_TAKEOVER_FRESHNESS_SECS} seconds"
        )
    return reasons


def decide_vote(
    request: VoteRequest,
    config: ReplSetConfig,
    *,
    term: int,
    last_applied: OpTime,
    last_vote_term: int,
    last_vote_candidate: int,
) -> VoteResponse:
    """mongod's processReplSetRequestVotes (the term has already been updated for a real election)."""
    if version_and_term_newer(config.version_and_term, (request.config_version, request.config_term)):
        return VoteResponse(
            term,
            False,
            f"candidate's config with {{version: {request.config_version}, term: {request.config_term}}} "
            f"is older than mine with {{version: {config.version}, term: {config.term}}}",
        )
    if request.term < term:
        return VoteResponse(term, False, f"candidate's term ({request.term}) is lower than mine ({term})")
    if request.set_name != config.name:
        return VoteResponse(
            term, False, f"candidate's set name ({request.set_name}) differs from mine ({config.name})"
        )
    if request.last_applied < last_applied:
        return VoteResponse(
            term,
            False,
            "candidate's data is staler than mine. candidate's last applied OpTime: "
            f"{format_optime(request.last_applied)}, my last applied OpTime: {format_optime(last_applied)}",
        )
    if not request.dry_run and last_vote_term == request.term:
        voted_for = (
            config.members[last_vote_candidate].host
            if 0 <= last_vote_candidate < len(config.members)
            else "unknown"
        )
        return VoteResponse(
            term, False, f"already voted for another candidate ({voted_for}) this term ({request.term})"
        )
    return VoteResponse(term, True, "")


def format_optime(optime: OpTime) -> str:
    return f"{{ ts: Timestamp({optime.ts.time}, {optime.ts.inc}), t: {optime.term} }}"


def commit_point(config: ReplSetConfig, members: Members, first_optime_of_term: OpTime) -> OpTime | None:
    """The newest optime durable on a write majority of voters, if it is in this primary's term
    and not older than the first entry it wrote (a primary never commits an older term's entry
    by counting replicas)."""
    durable = sorted(
        (members[m.id].durable for m in config.voting_members if m.id in members),
        reverse=True,
    )
    needed = config.majority
    if len(durable) < needed:
        return None
    candidate = durable[needed - 1]
    if candidate < first_optime_of_term:
        return None
    return candidate


def members_at(members: Iterable[MemberData], target: OpTime, durable: bool) -> list[MemberData]:
    """Members that have `target` (same term, timestamp at least as new), as mongod counts w: N."""
    reached = []
    for data in members:
        have = data.durable if durable else data.applied
        if have.term == target.term and (have.ts.time, have.ts.inc) >= (target.ts.time, target.ts.inc):
            reached.append(data)
    return reached


def tag_pattern_satisfied(reached: Iterable[MemberData], pattern: Mapping[str, int]) -> bool:
    """A getLastErrorModes pattern {tag: n}: members with n distinct values of each tag."""
    values: dict[str, set[str]] = {tag: set() for tag in pattern}
    for data in reached:
        for tag in pattern:
            if tag in data.config.tags:
                values[tag].add(data.config.tags[tag])
    return all(len(values[tag]) >= n for tag, n in pattern.items())


def eligible_sync_source(
    data: MemberData,
    config: ReplSetConfig,
    *,
    self_id: int,
    last_fetched: OpTime,
    first_attempt: bool,
    denylisted: bool,
) -> bool:
    me = config.member_by_id(self_id)
    if data.is_self or me is None or not data.up or not data.state.readable or denylisted:
        return False
    if first_attempt:
        if me.voter and not data.config.voter:
            return False
        if data.config.hidden or data.config.secondary_delay_secs > me.secondary_delay_secs:
            return False
    return data.hb_applied > last_fetched


def choose_sync_source(
    config: ReplSetConfig,
    members: Members,
    *,
    self_id: int,
    last_fetched: OpTime,
    primary_id: int | None,
    denylist: set[str],
) -> MemberData | None:
    """The primary if it is ahead of us (or the only choice when chaining is off), otherwise the
    closest eligible member ahead of us."""
    primary = members.get(primary_id) if primary_id is not None else None
    if primary is not None and eligible_sync_source(
        primary,
        config,
        self_id=self_id,
        last_fetched=last_fetched,
        first_attempt=False,
        denylisted=primary.host in denylist,
    ):
        return primary
    if not config.settings.chaining_allowed:
        return None
    for first_attempt in (True, False):
        candidates = [
            d
            for d in members.values()
            if eligible_sync_source(
                d,
                config,
                self_id=self_id,
                last_fetched=last_fetched,
                first_attempt=first_attempt,
                denylisted=d.host in denylist,
            )
        ]
        if candidates:
            return min(candidates, key=lambda d: d.ping.average_ms if d.ping.average_ms is not None else 1e9)
    return None


def caught_up_and_electable(data: MemberData, target: OpTime) -> bool:
    cfg = data.config
    return (
        not data.is_self
        and data.up
        and cfg.priority > 0
        and cfg.voter
        and data.state is MemberState.SECONDARY
        and data.applied >= target
    )


def safe_to_step_down(config: ReplSetConfig, members: Members, term: int, last_applied: OpTime) -> bool:
    """A majority has our last write and one of them could be elected (mongod's isSafeToStepDown)."""
    if last_applied.term != term:
        return True
    voters = [members[m.id] for m in config.voting_members if m.id in members]
    if len(members_at(voters, last_applied, durable=False)) < config.majority:
        return False
    return any(caught_up_and_electable(d, last_applied) for d in members.values())


def handoff_candidate(config: ReplSetConfig, members: Members, last_applied: OpTime) -> MemberData | None:
    """The caught-up electable member with the highest priority (lowest index on ties)."""
    best: MemberData | None = None
    for m in config.members:
        data = members.get(m.id)
        if (
            data is not None
            and caught_up_and_electable(data, last_applied)
            and (best is None or m.priority > best.config.priority)
        ):
            best = data
    return best
