"""Replica-set administration commands."""

from __future__ import annotations

from typing import Any

from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError


@command("replSetInitiate", admin_only=True, always_allowed=True)
async def repl_set_initiate(ctx: CommandContext) -> dict[str, Any]:
    await ctx.member.coordinator.initiate(ctx.argument)
    return {"ok": 1.0}


@command("replSetGetConfig", admin_only=True, always_allowed=True)
async def repl_set_get_config(ctx: CommandContext) -> dict[str, Any]:
    config = ctx.member.coordinator.config
    if config is None:
        raise CommandError(94, "no replset config has been received", code_name="NotYetInitialized")
    return {"config": config.to_document(), "ok": 1.0}
