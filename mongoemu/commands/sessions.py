"""Logical sessions: endSessions, killSessions, refreshSessions, startSession.

Sessions are implicit, as in mongod: any command may carry an `lsid`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import uuid4

from bson import Binary

from mongoemu.commands.arguments import wrong_type
from mongoemu.commands.registry import CommandContext, command
from mongoemu.sessions import SESSION_TIMEOUT_S, session_key


def _lsids(ctx: CommandContext) -> list[Mapping[str, Any]]:
    value = ctx.argument
    if not isinstance(value, list):
        raise wrong_type(ctx.name, ctx.name, value, "array")
    return [v for v in value if isinstance(v, Mapping)]


def _close_cursors(ctx: CommandContext) -> dict[str, Any]:
    # mongod keeps the retryable-write state of ended or killed sessions until they expire,
    # so a late retry still finds its result; what ends with the session is its cursors and
    # its open transaction.
    lsids = _lsids(ctx)
    keys = {session_key(lsid) for lsid in lsids}
    ctx.member.cursors.kill_sessions(keys)
    ctx.member.transactions.kill_sessions(keys)
    ctx.member.session_cache.end(lsids)
    return {"ok": 1.0}


@command("endSessions", always_allowed=True)
async def end_sessions(ctx: CommandContext) -> dict[str, Any]:
    return _close_cursors(ctx)


@command("killSessions", always_allowed=True)
async def kill_sessions(ctx: CommandContext) -> dict[str, Any]:
    return _close_cursors(ctx)


@command("killAllSessions", "killAllSessionsByPattern", always_allowed=True)
async def kill_all_sessions(ctx: CommandContext) -> dict[str, Any]:
    ctx.member.cursors.kill_sessions({c.session for c in ctx.member.cursors.all() if c.session is not None})
    ctx.member.transactions.kill_all()
    return {"ok": 1.0}


@command("refreshSessions", always_allowed=True)
async def refresh_sessions(ctx: CommandContext) -> dict[str, Any]:
    _lsids(ctx)
    return {"ok": 1.0}


@command("startSession", always_allowed=True)
async def start_session(ctx: CommandContext) -> dict[str, Any]:
    return {"id": {"id": Binary(uuid4().bytes, 4)}, "timeoutMinutes": SESSION_TIMEOUT_S // 60, "ok": 1.0}
