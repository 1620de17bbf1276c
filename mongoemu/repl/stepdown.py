"""replSetStepDown, replSetFreeze and replSetStepUp, as mongod runs them.

A stepdown stops accepting writes at once (hello says isWritablePrimary: false), waits up to
secondaryCatchUpPeriodSecs for a majority to have the primary's last write with one of them
electable, then steps down and may not stand again for stepDownSecs. The caller then hands the
election over to the best caught-up secondary with replSetStepUp (mongod's election handoff),
so the set does not wait for an election timeout.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from mongoemu.errors import CommandError
from mongoemu.repl import topology
from mongoemu.repl.messages import now_wall
from mongoemu.repl.peer import PeerError, command_error
from mongoemu.repl.state import LeaderMode, Role

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator

log = logging.getLogger("mongoemu.repl")

# The successor's election takes a few round trips; a shutdown does not wait longer than this.
HANDOFF_TIMEOUT_SECS = 5.0


async def step_down(
    coord: ReplicationCoordinator, step_down_secs: float, catch_up_secs: float, force: bool
) -> str | None:
    if coord.role is not Role.LEADER:
        raise CommandError(10107, "not primary so can't step down", code_name="NotWritablePrimary")
    if coord.leader_mode is LeaderMode.ATTEMPTING_STEPDOWN:
        raise CommandError(
            117,
            "This node is already in the process of stepping down",
            code_name="ConflictingOperationInProgress",
        )
    assert coord.config is not None
    term = coord.term
    coord.leader_mode = LeaderMode.ATTEMPTING_STEPDOWN
    start = time.monotonic()
    wait_until = start + catch_up_secs
    try:
        while True:
            if coord.role is not Role.LEADER or coord.term != term:
                raise CommandError(
                    189,
                    "While waiting for secondaries to catch up before stepping down, "
                    "this node decided to step down for other reasons",
                )
            now = time.monotonic()
            if force and now >= wait_until:
                break
            if topology.safe_to_step_down(coord.config, coord.members, term, coord.last_applied):
                break
            if now >= wait_until:
                raise CommandError(
                    262,
                    f"No electable secondaries caught up as of {now_wall().isoformat()}Z. Please use the "
                    "replSetStepDown command with the argument {force: true} to force node to step down.",
                    code_name="ExceededTimeLimit",
                )
            await coord.progress.wait(min(wait_until - now, 0.25))
    except BaseException:
        if coord.role is Role.LEADER and coord.leader_mode is LeaderMode.ATTEMPTING_STEPDOWN:
            caught_up = coord.first_optime_of_term.term == coord.term
            coord.leader_mode = LeaderMode.WRITABLE if caught_up else LeaderMode.CATCHING_UP
        raise
    coord.stepdown_until = start + step_down_secs
    successor = topology.handoff_candidate(coord.config, coord.members, coord.last_applied)
    coord.step_down_now("replSetStepDown command" if not coord.stopping else "shutdown")
    return successor.host if successor is not None else None


async def hand_over(coord: ReplicationCoordinator, host: str | None) -> None:
    """Ask `host` to stand at once (mongod's election handoff after a stepdown)."""
    if host is None:
        return
    timeout = min(coord.settings_ms[0] / 1000, HANDOFF_TIMEOUT_SECS)
    try:
        reply = await coord.peers.get(host).command(
            "admin", {"replSetStepUp": 1, "skipDryRun": True}, timeout
        )
    except PeerError as exc:
        log.info("election handoff failed", extra={"attr": {"candidate": host, "error": str(exc)}})
        return
    error = command_error(reply)
    if error:
        log.info("election handoff refused", extra={"attr": {"candidate": host, "error": error}})


def freeze(coord: ReplicationCoordinator, secs: int) -> dict[str, Any]:
    if coord.role is not Role.FOLLOWER:
        state = "Primary" if coord.role is Role.LEADER else "Running-Election"
        raise CommandError(
            135,
            f"Cannot freeze node when primary or running for election. state: {state}",
            code_name="NotSecondary",
        )
    now = time.monotonic()
    reply: dict[str, Any] = {"ok": 1.0}
    if secs == 0:
        coord.stepdown_until = now
        reply["info"] = "unfreezing"
        coord.member.groundtruth.record("freeze", seconds=0)
        if coord.config is not None and len(coord.config.members) == 1:
            coord.elections.begin("singleNodePromptElection")
        return reply
    if secs == 1:
        reply["warning"] = "you really want to freeze for only 1 second?"
    coord.stepdown_until = max(coord.stepdown_until, now + secs)
    coord.member.groundtruth.record("freeze", seconds=secs)
    return reply


async def step_up(coord: ReplicationCoordinator, skip_dry_run: bool) -> None:
    if coord.role is Role.LEADER:
        return
    won = await coord.elections.run("stepUpRequestSkipDryRun" if skip_dry_run else "stepUpRequest")
    if not won:
        raise CommandError(125, "Election failed.", code_name="CommandFailed")
