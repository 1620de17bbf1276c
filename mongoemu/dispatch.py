"""From a decoded request to a reply document: look up the command, apply generic arguments,
fail points and replica-set checks, run the handler, label errors as mongod does."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from mongoemu import wire
from mongoemu.commands.registry import CommandContext, lookup
from mongoemu.errors import RETRYABLE_CODES, CommandError

if TYPE_CHECKING:
    from mongoemu.member import Member
    from mongoemu.server import Connection

log = logging.getLogger("mongoemu.command")

# serverStatus opcounters these commands count themselves (per document or statement), as mongod.
_COUNTED_BY_HANDLER = frozenset({"insert", "update", "delete", "find", "getMore"})


class CloseConnection(Exception):
    """Raised to drop the client's connection without an answer."""


def _context(member: Member, conn: Connection, request: wire.Request, name: str, db: str) -> CommandContext:
    body = request.command
    read_pref = body.get("$readPreference")
    if request.op_code == wire.OP_QUERY:
        secondary_ok = True  # the handshake is always allowed; legacy flags are not tracked
    else:
        secondary_ok = isinstance(read_pref, dict) and read_pref.get("mode", "primary") != "primary"
    txn = body.get("txnNumber")
    max_time = body.get("maxTimeMS")
    return CommandContext(
        member=member,
        connection=conn,
        db=db,
        name=name,
        body=body,
        lsid=body.get("lsid"),
        txn_number=int(txn) if txn is not None else None,
        write_concern=body.get("writeConcern"),
        read_concern=body.get("readConcern"),
        read_preference=read_pref,
        max_time_ms=int(max_time) if max_time else None,
        secondary_ok=secondary_ok,
    )


def _labels(retryable: bool, code: int, labels: list[str], explicit: bool) -> list[str]:
    """mongod labels retryable errors of retryable writes (a write command with lsid + txnNumber)."""
    if explicit or not retryable:
        return labels
    if code in RETRYABLE_CODES and "RetryableWriteError" not in labels:
        return [*labels, "RetryableWriteError"]
    return labels


async def dispatch(member: Member, conn: Connection, request: wire.Request) -> dict[str, Any]:
    body = request.command
    retryable = False
    fault = None
    try:
        if not body:
            raise CommandError(59, "no command given")
        name = next(iter(body))
        db = request.legacy_db if request.legacy_db is not None else body.get("$db")
        if not isinstance(db, str) or not db:
            raise CommandError(40571, "OP_MSG requests require a $db argument", code_name="Location40571")
        spec = lookup(name)
        if spec is None:
            raise CommandError(59, f"no such command: '{name}'")
        ctx = _context(member, conn, request, name, db)
        if spec.name not in _COUNTED_BY_HANDLER:
            member.opcounters["command"] += 1
        if "startTransaction" in body or "autocommit" in body:
            raise CommandError(20, "multi-document transactions are not supported by the emulator")
        retryable = spec.write and ctx.is_retryable_write
        fault = member.failpoints.check_command(spec.name, conn.app_name, conn.internal)
        if fault is not None:
            if fault.block_ms:
                await asyncio.sleep(fault.block_ms / 1000)
            if fault.close_connection:
                raise CloseConnection(f"failCommand closeConnection on {spec.name!r}")
            if fault.error is not None:
                raise fault.error
        if spec.admin_only and db != "admin":
            raise CommandError(13, f"{spec.name} may only be run against the admin database.")
        member.coordinator.check_command(spec, ctx)
        # For a tailable awaitData getMore, maxTimeMS is how long to wait for data, not a deadline.
        if ctx.max_time_ms and spec.name != "getMore":
            try:
                reply = await asyncio.wait_for(spec.handler(ctx), ctx.max_time_ms / 1000)
            except TimeoutError:
                raise CommandError(50, "operation exceeded time limit") from None
        else:
            reply = await spec.handler(ctx)
        if fault is not None and fault.write_concern_error is not None:
            reply["writeConcernError"] = dict(fault.write_concern_error)
        wce = reply.get("writeConcernError")
        if wce is not None:
            labels = _labels(retryable, int(wce.get("code", 0)), list(reply.get("errorLabels", [])), False)
            if labels:
                reply["errorLabels"] = labels
    except CloseConnection:
        raise
    except CommandError as exc:
        reply = exc.to_document()
        labels = _labels(retryable, exc.code, exc.labels, exc.explicit_labels)
        if labels:
            reply["errorLabels"] = labels
    except Exception as exc:
        log.exception("command failed unexpectedly", extra={"attr": {"command": next(iter(body), None)}})
        reply = CommandError(1, f"internal error in the emulator: {type(exc).__name__}: {exc}").to_document()
    member.coordinator.decorate_reply(reply, body)
    return reply
