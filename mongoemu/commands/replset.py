"""Replica-set commands: administration (initiate, status, stepdown, freeze, reconfig) and the
internal ones members send each other (heartbeats, votes, progress reports)."""

from __future__ import annotations

from typing import Any

from bson import Int64

from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError
from mongoemu.repl import reconfig, stepdown
from mongoemu.repl.messages import HeartbeatRequest, PositionUpdate, ReplData, VoteRequest
from mongoemu.repl.status import status_document


def _seconds(value: Any, name: str, default: float) -> float:
    if value is None or value is True:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | Int64):
        raise CommandError(2, f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def _replicated(ctx: CommandContext) -> None:
    if ctx.member.coordinator.standalone:
        raise CommandError(76, "not running with --replSet", code_name="NoReplicationEnabled")


@command("replSetInitiate", admin_only=True, always_allowed=True)
async def repl_set_initiate(ctx: CommandContext) -> dict[str, Any]:
    await ctx.member.coordinator.initiate(ctx.argument)
    return {"ok": 1.0}


@command("replSetGetConfig", admin_only=True, always_allowed=True)
async def repl_set_get_config(ctx: CommandContext) -> dict[str, Any]:
    config = ctx.member.coordinator.require_config()
    include = bool(ctx.body.get("$_internalIncludeNewlyAdded", False))
    return {"config": config.to_document(include_newly_added=include), "ok": 1.0}


@command("replSetGetStatus", admin_only=True, always_allowed=True)
async def repl_set_get_status(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    return status_document(ctx.member.coordinator)


@command("replSetStepDown", admin_only=True, always_allowed=True)
async def repl_set_step_down(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    secs = _seconds(ctx.argument, "stepDownSecs", 60.0) or 60.0
    force = bool(ctx.body.get("force", False))
    # mongod's default catch-up period is 10 s, and 0 with force.
    catch_up = _seconds(
        ctx.body.get("secondaryCatchUpPeriodSecs"), "secondaryCatchUpPeriodSecs", 0.0 if force else 10.0
    )
    if catch_up > secs:
        raise CommandError(2, "stepdown period must be longer than secondaryCatchUpPeriodSecs")
    coordinator = ctx.member.coordinator
    successor = await stepdown.step_down(coordinator, secs, catch_up, force)
    coordinator.spawn(stepdown.hand_over(coordinator, successor))
    return {"ok": 1.0}


@command("replSetStepUp", admin_only=True, always_allowed=True)
async def repl_set_step_up(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    await stepdown.step_up(ctx.member.coordinator, bool(ctx.body.get("skipDryRun", False)))
    return {"ok": 1.0}


@command("replSetFreeze", admin_only=True, always_allowed=True)
async def repl_set_freeze(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    secs = _seconds(ctx.argument, "replSetFreeze", 0.0)
    return stepdown.freeze(ctx.member.coordinator, int(secs))


@command("replSetReconfig", admin_only=True, always_allowed=True)
async def repl_set_reconfig(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    return await reconfig.reconfig(ctx.member.coordinator, ctx.argument, bool(ctx.body.get("force", False)))


@command("replSetGetRBID", admin_only=True, always_allowed=True)
async def repl_set_get_rbid(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    return {"rbid": ctx.member.coordinator.meta.rbid, "ok": 1.0}


@command("replSetHeartbeat", admin_only=True, always_allowed=True)
async def repl_set_heartbeat(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    return ctx.member.coordinator.heartbeats.handle(HeartbeatRequest.from_command(ctx.body))


@command("replSetRequestVotes", admin_only=True, always_allowed=True)
async def repl_set_request_votes(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    request = VoteRequest.from_command(ctx.body)
    return ctx.member.coordinator.elections.handle_vote_request(request).to_reply()


@command("replSetUpdatePosition", admin_only=True, always_allowed=True)
async def repl_set_update_position(ctx: CommandContext) -> dict[str, Any]:
    _replicated(ctx)
    optimes = ctx.body.get("optimes")
    if not isinstance(optimes, list):
        raise CommandError(9, "replSetUpdatePosition: field 'optimes' must be an array")
    updates = [PositionUpdate.from_document(doc) for doc in optimes]
    ctx.member.coordinator.handle_update_position(updates, ReplData.from_document(ctx.body.get("$replData")))
    return {"ok": 1.0}
