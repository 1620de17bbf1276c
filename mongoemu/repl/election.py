"""Elections (protocol version 1): the election timer, dry run and real election, votes, takeovers.

A secondary that hears nothing from a primary of its term for electionTimeoutMillis plus a
random offset of up to 15 % of it (mongod's replElectionTimeoutOffsetLimitFraction, drawn anew
at every reset) stands. As mongod, the timer is reset by a heartbeat answer from the primary of
our term, by every oplog batch from a sync source that knows a primary, by a new term (seen in
any message, or our own as a candidate) and by a vote granted. When it fires, the member decides
at once whether it stands and becomes a candidate in its current term; anything newer seen
before its election runs supersedes it. It first asks for votes in a dry run that changes no
one's term, then increments its term, votes for itself (persisted) and asks again. A voter
grants one vote per term, persisted before it answers, and only to a candidate at least as up to
date as itself. A member whose priority is higher than the primary's schedules a priority
takeover after (rank + 1) x electionTimeoutMillis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mongoemu.errors import CommandError
from mongoemu.repl import topology
from mongoemu.repl.member_data import MemberData
from mongoemu.repl.messages import VoteRequest, VoteResponse, now_wall
from mongoemu.repl.peer import PeerError, command_error
from mongoemu.repl.state import MemberState, Role

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator

log = logging.getLogger("mongoemu.repl.election")

OFFSET_LIMIT_FRACTION = 0.15


@dataclass(slots=True)
class VoteTally:
    votes: int
    needed: int
    stale_term: int | None = None
    responders: set[str] = field(default_factory=set)
    refusals: list[str] = field(default_factory=list)

    @property
    def won(self) -> bool:
        return self.stale_term is None and self.votes >= self.needed

    def reason(self) -> str:
        if self.stale_term is not None:
            return f"a voter is in the newer term {self.stale_term}"
        detail = "; ".join(self.refusals) or "no answer"
        return f"received {self.votes} of {self.needed} votes needed ({detail})"


class Elections:
    def __init__(self, coordinator: ReplicationCoordinator) -> None:
        self.coord = coordinator
        self._timer: asyncio.TimerHandle | None = None
        self._takeover: asyncio.TimerHandle | None = None
        self.timer_due: float | None = None

    # --- timers ---------------------------------------------------------------------------
    def random_offset(self) -> float:
        election_ms, _ = self.coord.settings_ms
        return self.coord.random.uniform(0, election_ms * OFFSET_LIMIT_FRACTION) / 1000

    def reset_timer(self) -> None:
        """Cancel and reschedule the election timeout (only an electable secondary has one)."""
        self.cancel_timer()
        coord = self.coord
        me = coord.self_config
        if coord.stopping or me is None or not me.electable or coord.state is not MemberState.SECONDARY:
            return
        delay = coord.settings_ms[0] / 1000 + self.random_offset()
        self.timer_due = time.monotonic() + delay
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._fire, "electionTimeout", loop.time() + delay)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self.timer_due = None

    def cancel_takeovers(self) -> None:
        if self._takeover is not None:
            self._takeover.cancel()
            self._takeover = None

    def _fire(self, reason: str, due: float) -> None:
        if reason == "electionTimeout":
            self._timer = None
        else:
            self._takeover = None
        late = asyncio.get_running_loop().time() - due
        if late > self.coord.pause_threshold:
            self.coord.on_resumed(late)
            return
        self.begin(reason)

    def consider_takeover(self, primary: MemberData) -> None:
        """On a heartbeat from the primary of our term: schedule a priority takeover if we rank higher."""
        coord = self.coord
        config = coord.config
        if (
            config is None
            or primary.state is not MemberState.PRIMARY
            or primary.term != coord.term
            or coord.state is not MemberState.SECONDARY
            or self._takeover is not None
        ):
            return
        me = coord.self_config
        if me is None or not me.electable or primary.config.priority >= me.priority:
            return
        election_ms = config.settings.election_timeout_millis
        delay = (config.priority_rank(me.priority) + 1) * election_ms / 1000 + self.random_offset()
        log.info("Scheduling priority takeover", extra={"attr": {"inSeconds": round(delay, 3)}})
        loop = asyncio.get_running_loop()
        self._takeover = loop.call_later(delay, self._fire, "priorityTakeover", loop.time() + delay)

    # --- standing -------------------------------------------------------------------------
    def begin(self, reason: str) -> asyncio.Task[bool] | None:
        """mongod's _startElectSelfIfEligibleV1: decide at once, with nothing in between, whether
        to stand, and become a candidate in the current term; the election then runs in a task.
        None when this member does not stand."""
        coord = self.coord
        self.cancel_takeovers()
        self.reset_timer()
        config = coord.config
        if config is None or coord.role is not Role.FOLLOWER or coord.stopping:
            return None
        unelectable = coord.unelectable_reasons(priority_takeover=reason == "priorityTakeover")
        if unelectable:
            log.info("Not standing for election", extra={"attr": {"reason": reason, "because": unelectable}})
            return None
        coord.role = Role.CANDIDATE
        return coord.spawn(self._candidacy(reason, coord.term))

    async def run(self, reason: str) -> bool:
        """Stand for election if electable; True when this member won."""
        task = self.begin(reason)
        return await task if task is not None else False

    async def _candidacy(self, reason: str, term: int) -> bool:
        try:
            return await self._stand(reason, term)
        finally:
            if self.coord.role is Role.CANDIDATE:
                self.coord.role = Role.FOLLOWER

    async def _stand(self, reason: str, term: int) -> bool:
        """The election from the term this member became a candidate in: a term seen since (a
        vote it granted meanwhile, say) supersedes it."""
        coord = self.coord
        dry_run = reason != "stepUpRequestSkipDryRun"
        if coord.term != term:
            self._lost(term + 1, reason, "superseded before the election", dry_run=dry_run)
            return False
        if dry_run:
            log.info("Conducting a dry run election", extra={"attr": {"term": term, "reason": reason}})
            tally = await self._request_votes(dry_run=True, term=term)
            if coord.term != term or not tally.won:
                why = "superseded during the dry run" if coord.term != term else tally.reason()
                self._lost(term + 1, reason, why, dry_run=True)
                return False
            log.info("Dry election run succeeded, running for election", extra={"attr": {"term": term}})
        new_term = term + 1
        coord.update_term(new_term, f"standing for election ({reason})")
        assert coord.config is not None
        coord.record_vote(new_term, coord.config.index_of(coord.self_id) if coord.self_id is not None else -1)
        tally = await self._request_votes(dry_run=False, term=new_term)
        if coord.term != new_term or coord.role is not Role.CANDIDATE:
            self._lost(new_term, reason, "superseded during the election", dry_run=False)
            return False
        if not tally.won:
            self._lost(new_term, reason, tally.reason(), dry_run=False)
            return False
        coord.win_election(new_term, reason, tally.votes, tally.responders)
        return True

    def _lost(self, term: int, reason: str, why: str, dry_run: bool) -> None:
        log.info("Election lost", extra={"attr": {"term": term, "dryRun": dry_run, "reason": why}})
        self.coord.member.groundtruth.record(
            "election", outcome="lost", term=term, reason=reason, detail=why, dry_run=dry_run
        )

    async def _request_votes(self, dry_run: bool, term: int) -> VoteTally:
        coord = self.coord
        config = coord.config
        assert config is not None and coord.self_id is not None
        request = VoteRequest(
            set_name=config.name,
            dry_run=dry_run,
            term=term,
            candidate_index=config.index_of(coord.self_id),
            config_version=config.version,
            config_term=config.term,
            last_applied=coord.last_applied,
        ).to_command()
        tally = VoteTally(votes=1, needed=config.majority)
        voters = [m.host for m in config.voting_members if m.id != coord.self_id]
        if tally.won or not voters:
            return tally
        timeout = config.settings.election_timeout_millis / 1000

        async def ask(host: str) -> tuple[str, VoteResponse | None, str]:
            try:
                reply = await coord.peers.get(host).command("admin", request, timeout)
            except PeerError as exc:
                return host, None, str(exc)
            error = command_error(reply)
            return host, (None if error else VoteResponse.from_reply(reply)), error or ""

        pending = {asyncio.ensure_future(ask(h)) for h in voters}
        try:
            while pending and not tally.won:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    host, response, error = task.result()
                    if response is None:
                        tally.refusals.append(f"{host}: {error}")
                        continue
                    tally.responders.add(host)
                    if response.term > term:
                        tally.stale_term = response.term
                        coord.update_term(response.term, f"vote response from {host}")
                        return tally
                    if response.vote_granted:
                        tally.votes += 1
                    else:
                        tally.refusals.append(f"{host}: {response.reason}")
        finally:
            for task in pending:
                task.cancel()
        return tally

    # --- voting ---------------------------------------------------------------------------
    def handle_vote_request(self, request: VoteRequest) -> VoteResponse:
        coord = self.coord
        config = coord.require_config()
        if coord.stopping:
            # mongod in terminal shutdown: no vote in a term it will not live through.
            raise CommandError(91, "In the process of shutting down")
        if not request.dry_run:
            coord.update_term(request.term, "vote request")
        response = topology.decide_vote(
            request,
            config,
            term=coord.term,
            last_applied=coord.last_applied,
            last_vote_term=coord.meta.last_vote_term,
            last_vote_candidate=coord.meta.last_vote_candidate,
        )
        candidate = (
            config.members[request.candidate_index].host
            if 0 <= request.candidate_index < len(config.members)
            else str(request.candidate_index)
        )
        if response.vote_granted and not request.dry_run:
            coord.record_vote(request.term, request.candidate_index)
            coord.member.groundtruth.record("vote", term=request.term, candidate=candidate, granted=True)
            me = coord.self_config
            coord.participant_metrics = {
                "votedForCandidate": True,
                "electionTerm": request.term,
                "lastVoteDate": now_wall(),
                "electionCandidateMemberId": config.members[request.candidate_index].id,
                "voteReason": "",
                "lastAppliedOpTimeAtElection": coord.last_applied.to_document(),
                "maxAppliedOpTimeInSet": topology.latest_known_applied(
                    coord.members, coord.last_applied
                ).to_document(),
                "priorityAtElection": me.priority if me is not None else 0.0,
            }
            self.reset_timer()
        log.info(
            "Responding to vote request",
            extra={
                "attr": {
                    "candidate": candidate,
                    "term": request.term,
                    "dryRun": request.dry_run,
                    "granted": response.vote_granted,
                    "reason": response.reason,
                }
            },
        )
        return response
