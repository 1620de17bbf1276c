"""Handshake, diagnostics and server administration commands."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any

import psutil
from bson import Int64

from mongoemu import wire
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError
from mongoemu.failpoints import count_document
from mongoemu.repl import stepdown
from mongoemu.version import MAX_WIRE_VERSION, MIN_WIRE_VERSION, VERSION


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@command("hello", "isMaster", "ismaster", always_allowed=True)
async def hello(ctx: CommandContext) -> dict[str, Any]:
    conn = ctx.connection
    client = ctx.body.get("client")
    if isinstance(client, dict):
        app = client.get("application")
        if isinstance(app, dict) and isinstance(app.get("name"), str):
            conn.app_name = app["name"]
    if "internalClient" in ctx.body:
        conn.internal = True
    fields = ctx.member.coordinator.hello_fields()
    if ctx.name != "hello":
        fields["ismaster"] = fields.pop("isWritablePrimary")
    doc: dict[str, Any] = {
        **fields,
        "maxBsonObjectSize": wire.MAX_BSON_OBJECT_SIZE,
        "maxMessageSizeBytes": wire.MAX_MESSAGE_SIZE,
        "maxWriteBatchSize": wire.MAX_WRITE_BATCH_SIZE,
        "localTime": _now(),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": conn.id,
        "minWireVersion": MIN_WIRE_VERSION,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": False,
        "ok": 1.0,
    }
    if ctx.body.get("helloOk"):
        doc["helloOk"] = True
    return doc


@command("ping", always_allowed=True)
async def ping(ctx: CommandContext) -> dict[str, Any]:
    return {"ok": 1.0}


@command("buildInfo", "buildinfo", always_allowed=True)
async def build_info(ctx: CommandContext) -> dict[str, Any]:
    return {
        "version": VERSION,
        "gitVersion": "mongoemu",
        "versionArray": [6, 0, 0, 0],
        "modules": [],
        "allocator": "system",
        "javascriptEngine": "none",
        "sysInfo": "deprecated",
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": wire.MAX_BSON_OBJECT_SIZE,
        "storageEngines": ["mongoemu"],
        "ok": 1.0,
    }


@command("whatsmyuri", always_allowed=True)
async def whatsmyuri(ctx: CommandContext) -> dict[str, Any]:
    return {"you": ctx.connection.peer, "ok": 1.0}


@command("getCmdLineOpts", admin_only=True, always_allowed=True)
async def get_cmd_line_opts(ctx: CommandContext) -> dict[str, Any]:
    o = ctx.member.options
    parsed: dict[str, Any] = {
        "net": {"port": o.port, "bindIp": ",".join(o.bind_ip)},
        "storage": {"dbPath": str(o.dbpath)},
    }
    if o.repl_set:
        parsed["replication"] = {"replSet": o.repl_set}
    return {"argv": ["mongoemu", *os.sys.argv[1:]], "parsed": parsed, "ok": 1.0}


@command("serverStatus", always_allowed=True)
async def server_status(ctx: CommandContext) -> dict[str, Any]:
    member = ctx.member
    counters = member.opcounters
    doc: dict[str, Any] = {
        "host": socket.gethostname(),
        "version": VERSION,
        "process": "mongod",
        "pid": Int64(os.getpid()),
        "uptime": float(int(member.uptime())),
        "uptimeMillis": Int64(int(member.uptime() * 1000)),
        "uptimeEstimate": Int64(int(member.uptime())),
        "localTime": _now(),
        "connections": {
            "current": len(member.server.connections),
            "available": 838_860 - len(member.server.connections),
            "totalCreated": member.server.total_created,
        },
        "opcounters": {
            k: Int64(counters[k]) for k in ("insert", "query", "update", "delete", "getmore", "command")
        },
        "opcountersRepl": {
            k: Int64(member.storage.repl_counters[k])
            for k in ("insert", "query", "update", "delete", "getmore", "command")
        },
        "storageEngine": {"name": "mongoemu", "supportsCommittedReads": True, "persistent": True},
        "mem": {"bits": 64, "resident": psutil.Process().memory_info().rss >> 20, "supported": True},
        "metrics": {"cursor": {"open": {"total": Int64(len(member.cursors))}}},
        "ok": 1.0,
    }
    repl = member.coordinator.hello_fields()
    if not member.coordinator.standalone:
        doc["repl"] = repl
    return doc


@command("configureFailPoint", admin_only=True, always_allowed=True)
async def configure_fail_point(ctx: CommandContext) -> dict[str, Any]:
    if not ctx.member.test_commands_enabled:
        raise CommandError(59, "no such command: 'configureFailPoint'")
    name = ctx.argument
    if not isinstance(name, str):
        raise CommandError(2, "configureFailPoint takes the fail point's name")
    if "mode" not in ctx.body:
        raise CommandError(9, "configureFailPoint: missing 'mode'")
    count = ctx.member.failpoints.configure(name, ctx.body["mode"], ctx.body.get("data"))
    ctx.member.groundtruth.record("failpoint", name=name, mode=ctx.body["mode"], data=ctx.body.get("data"))
    return count_document(count)


@command("shutdown", admin_only=True, always_allowed=True)
async def shutdown(ctx: CommandContext) -> dict[str, Any]:
    """A primary steps down first, waiting up to timeoutSecs (default 15) for a secondary to catch
    up, and refuses to shut down if none does, unless `force` (mongod's behaviour)."""
    coordinator = ctx.member.coordinator
    force = bool(ctx.body.get("force", False))
    timeout = ctx.body.get("timeoutSecs", 15)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise CommandError(2, "shutdown: timeoutSecs must be a number")
    if coordinator.writable:
        try:
            successor = await stepdown.step_down(
                coordinator, max(float(timeout), 1.0), 0.0 if force else float(timeout), force
            )
        except CommandError:
            if not force:
                raise
        else:
            await stepdown.hand_over(coordinator, successor)
    coordinator.handoff_on_stop = False
    ctx.member.request_shutdown()
    return {"ok": 1.0}
