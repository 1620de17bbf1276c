"""commitTransaction and abortTransaction (mongod's txn_cmds.cpp); the transactions themselves
are `mongoemu/transactions.py`."""

from __future__ import annotations

from typing import Any

from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError
from mongoemu.transactions import Transaction, TxnState


def _transaction(ctx: CommandContext) -> Transaction:
    if ctx.transaction is None:
        raise CommandError(125, f"{ctx.name} must be run within a transaction", code_name="CommandFailed")
    return ctx.transaction


async def _write_concern(ctx: CommandContext, reply: dict[str, Any]) -> dict[str, Any]:
    """Wait for the write concern on everything this member has applied (mongod sets the
    client's last optime to the system's for a commit retry or a transaction that wrote
    nothing, and a commit's entry is the newest when it was written)."""
    coord = ctx.member.coordinator
    wce = await coord.await_write_concern(coord.last_applied, ctx.write_concern, ctx.op)
    if wce is not None:
        reply["writeConcernError"] = wce
    return reply


@command("commitTransaction", write=True, admin_only=True)
async def commit_transaction(ctx: CommandContext) -> dict[str, Any]:
    txn = _transaction(ctx)
    if txn.state is TxnState.IN_PROGRESS:
        ctx.member.transactions.commit(txn)
    return await _write_concern(ctx, {"ok": 1.0})


@command("abortTransaction", write=True, admin_only=True)
async def abort_transaction(ctx: CommandContext) -> dict[str, Any]:
    txn = _transaction(ctx)
    ctx.member.transactions.abort(txn, "abortTransaction")
    return await _write_concern(ctx, {"ok": 1.0})
