"""From a decoded request to a reply document: look up the command, apply generic arguments,
fail points and replica-set checks, run the handler as an operation (`operation.py`: its
deadline from `maxTimeMS`, its turns on the event loop), label errors as mongod does."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import bson

from mongoemu import operation, readconcern, wire
from mongoemu.commands.changestream import serves_change_stream
from mongoemu.commands.registry import CommandContext, CommandSpec, lookup, not_found_message
from mongoemu.errors import NOT_PRIMARY_CODES, SHUTDOWN_CODES, CloseConnection, CommandError
from mongoemu.labels import labels_for
from mongoemu.operation import Operation
from mongoemu.transactions import ENDING_COMMANDS, session_options

if TYPE_CHECKING:
    from mongoemu.member import Member
    from mongoemu.server import Connection

log = logging.getLogger("mongoemu.command")

# serverStatus opcounters these commands count themselves (per document or statement), as mongod.
_COUNTED_BY_HANDLER = frozenset({"insert", "update", "delete", "find", "getMore"})


def _context(
    member: Member, conn: Connection, request: wire.Request, spec: CommandSpec, db: str
) -> CommandContext:
    body = request.command
    name = next(iter(body))
    read_pref = body.get("$readPreference")
    if request.op_code == wire.OP_QUERY:
        secondary_ok = True  # the handshake is always allowed; legacy flags are not tracked
    else:
        secondary_ok = isinstance(read_pref, dict) and read_pref.get("mode", "primary") != "primary"
    txn = body.get("txnNumber")
    max_time_ms = operation.parse_max_time_ms(body.get("maxTimeMS"))
    # For a getMore, maxTimeMS is an awaitData wait (or refused); its deadline is the cursor's.
    op = Operation.with_time_limit(
        spec.name,
        None if spec.name == "getMore" else max_time_ms,
        write=spec.write,
        always_expires=member.failpoints.max_time_always_times_out,
    )
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
        max_time_ms=max_time_ms,
        secondary_ok=secondary_ok,
        exhaust_allowed=request.exhaust_allowed,
        op=op,
    )


async def _enter_transaction(member: Member, ctx: CommandContext, command: str, start: bool | None) -> None:
    """Run the command in its transaction (starting it after waiting for its read concern), or
    check a retryable write's number against the session's transactions."""
    if start is None:
        if ctx.is_retryable_write and ctx.lsid is not None and ctx.txn_number is not None:
            member.transactions.check_retryable_write(ctx.lsid, ctx.txn_number)
        return
    assert ctx.lsid is not None and ctx.txn_number is not None
    if start and ctx.read_concern:
        await member.coordinator.wait_for_read_concern(ctx.read_concern, ctx.op.remaining())
    ctx.transaction = member.transactions.begin_or_continue(
        ctx.lsid, ctx.txn_number, start, command, None if start else ctx.body.get("readConcern")
    )


def _end_failed_statement(member: Member, ctx: CommandContext | None, command: str) -> None:
    """A statement of a transaction failed: mongod aborts the transaction."""
    if ctx is not None and ctx.transaction is not None and command not in ENDING_COMMANDS:
        member.transactions.abort(ctx.transaction, f"{command} failed")


def _merge(given: list[str], computed: list[str]) -> list[str]:
    return [*given, *(label for label in computed if label not in given)]


async def _write_concern_after_error(member: Member, ctx: CommandContext, reply: dict[str, Any]) -> None:
    """A failed write command still waits for its write concern, on the member's last optime
    (mongod's no-op write rule), and reports a writeConcernError beside the error."""
    coordinator = member.coordinator
    try:
        wce = await coordinator.await_write_concern(coordinator.last_applied, ctx.write_concern, ctx.op)
    except CommandError:
        return  # the write concern itself was malformed: that is the error already reported
    if wce is not None:
        reply["writeConcernError"] = wce


def _fail_get_more(member: Member, ctx: CommandContext) -> None:
    """failGetMoreAfterCursorCheckout: the getMore fails and, as on mongod, kills its cursor."""
    if ctx.connection.internal:
        return  # the members' own oplog getMores are spared, as failCommand spares them
    data = member.failpoints.fires("failGetMoreAfterCursorCheckout")
    if data is None:
        return
    if isinstance(ctx.argument, int):
        member.cursors.close(ctx.argument)
    raise CommandError(
        int(data.get("errorCode", 1)), "Failing command due to 'failGetMoreAfterCursorCheckout' failpoint"
    )


async def dispatch(member: Member, conn: Connection, request: wire.Request) -> dict[str, Any]:
    body = request.command
    name = ""
    change_stream = False
    ctx: CommandContext | None = None
    fault = None
    write_ctx: CommandContext | None = None
    try:
        if not body:
            raise CommandError(59, "no command given")
        name = next(iter(body))
        db = request.legacy_db if request.legacy_db is not None else body.get("$db")
        if not isinstance(db, str) or not db:
            raise CommandError(40571, "OP_MSG requests require a $db argument", code_name="Location40571")
        spec = lookup(name)
        if spec is None:
            raise CommandError(59, not_found_message(name))
        ctx = _context(member, conn, request, spec, db)
        name = spec.name
        if spec.write:
            write_ctx = ctx
        if isinstance(ctx.lsid, dict):
            member.session_cache.touch(ctx.lsid)
        if spec.name not in _COUNTED_BY_HANDLER:
            member.opcounters["command"] += 1
        start = session_options(body, spec.name, db)
        readconcern.check(spec.name, ctx)
        fault = member.failpoints.check_command(spec.name, conn.app_name, conn.internal)
        if fault is not None:
            if fault.block_ms:
                await ctx.op.sleep(fault.block_ms / 1000)
            if fault.close_connection:
                raise CloseConnection(f"failCommand closeConnection on {spec.name!r}")
            if fault.error is not None:
                raise fault.error
        # mongod labels a change stream's errors from the cursor on: not a failCommand error.
        change_stream = serves_change_stream(member, name, body)
        if spec.admin_only and db != "admin":
            raise CommandError(13, f"{spec.name} may only be run against the admin database.")
        member.coordinator.check_command(spec, ctx)
        with member.operations.track(ctx.op):
            reply = await _run(member, spec, ctx, start)
        if reply.get("writeErrors"):
            _end_failed_statement(member, ctx, name)
        if fault is not None and fault.write_concern_error is not None:
            reply["writeConcernError"] = dict(fault.write_concern_error)
        wce = reply.get("writeConcernError")
        if fault is not None and fault.labels is not None:
            labels = list(fault.labels)
        else:
            wc_code = int(wce.get("code", 0)) if wce is not None else None
            labels = _merge(list(reply.get("errorLabels", [])), labels_for(body, name, None, wc_code))
        if labels:
            reply["errorLabels"] = labels
    except CloseConnection:
        raise
    except CommandError as exc:
        member.user_asserts += 1
        _end_failed_statement(member, ctx, name)
        reply = exc.to_document()
        computed = labels_for(body, name, exc.code, None, change_stream)
        labels = exc.labels if exc.explicit_labels else _merge(exc.labels, computed)
        if labels:
            reply["errorLabels"] = labels
        if write_ctx is not None and write_ctx.write_concern and member.coordinator.writable:
            await _write_concern_after_error(member, write_ctx, reply)
    except Exception as exc:
        _end_failed_statement(member, ctx, name)
        log.exception("command failed unexpectedly", extra={"attr": {"command": next(iter(body), None)}})
        reply = CommandError(1, f"internal error in the emulator: {type(exc).__name__}: {exc}").to_document()
    _add_topology_version(member, reply)
    member.coordinator.decorate_reply(reply, body)
    return reply


def _add_topology_version(member: Member, reply: dict[str, Any]) -> None:
    """As mongod 4.4+: a NotPrimary error (as the command's error or its writeConcernError), or a
    shutdown error in quiesce mode, carries the server's topologyVersion. Drivers compare it with
    their server description's, so a hello answer from before the state change cannot undo what
    the error told them (SDAM's error handling)."""
    wce = reply.get("writeConcernError")
    codes = {reply.get("code"), wce.get("code") if isinstance(wce, dict) else None}
    version = member.coordinator.topology_version
    if codes & NOT_PRIMARY_CODES or (version.quiescing and codes & SHUTDOWN_CODES):
        reply["topologyVersion"] = version.document()


async def _run(member: Member, spec: CommandSpec, ctx: CommandContext, start: bool | None) -> dict[str, Any]:
    """The handler as an operation, within its maxTimeMS; a retryable write (or a transaction's
    statement) holds its session meanwhile."""
    lsid = ctx.lsid
    # The session's identity as its BSON (cheaper than the session table's key string).
    session = bson.encode(lsid) if isinstance(lsid, dict) and ctx.txn_number is not None else None
    if ctx.op.deadline is None and session is None:
        return await _handle(member, spec, ctx, start)
    async with ctx.op.time_limit(), member.operations.checkout(session):
        return await _handle(member, spec, ctx, start)


async def _handle(
    member: Member, spec: CommandSpec, ctx: CommandContext, start: bool | None
) -> dict[str, Any]:
    await _enter_transaction(member, ctx, spec.name, start)
    snapshot = await readconcern.snapshot_time(ctx)
    if spec.name == "getMore":
        _fail_get_more(member, ctx)
    op = ctx.op
    if op.deadline is not None:
        op.check()
    reply = await operation.run(op, spec.handler(ctx))
    if snapshot is not None:
        readconcern.report_snapshot_time(reply, snapshot)
    return reply
