"""Diagnostics and server administration commands (the handshake is in hello.py)."""

from __future__ import annotations

import os
import secrets
import socket
import time
from datetime import UTC, datetime
from typing import Any

import psutil
from bson import Int64

from mongoemu import rwdefaults, wire
from mongoemu.commands.registry import GENERIC_ARGUMENTS, CommandContext, command
from mongoemu.errors import CommandError, not_supported
from mongoemu.failpoints import count_document
from mongoemu.repl import stepdown
from mongoemu.repl.write_concern import WriteConcern
from mongoemu.version import VERSION
from mongoemu.writes import WriteBatch, encode_document


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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


@command("getnonce", always_allowed=True)
async def getnonce(ctx: CommandContext) -> dict[str, Any]:
    """mongod 6.0 still answers the legacy MONGODB-CR nonce request (removed in 6.2)."""
    return {"nonce": secrets.token_hex(8), "ok": 1.0}


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


@command("getParameter", admin_only=True, always_allowed=True)
async def get_parameter(ctx: CommandContext) -> dict[str, Any]:
    return {**ctx.member.parameters.get(_own_arguments(ctx), ctx.name), "ok": 1.0}


@command("setParameter", admin_only=True, always_allowed=True)
async def set_parameter(ctx: CommandContext) -> dict[str, Any]:
    return {**ctx.member.parameters.set(_own_arguments(ctx), ctx.name), "ok": 1.0}


def _own_arguments(ctx: CommandContext) -> dict[str, Any]:
    return {k: v for k, v in ctx.body.items() if k not in GENERIC_ARGUMENTS}


@command("hostInfo", always_allowed=True)
async def host_info(ctx: CommandContext) -> dict[str, Any]:
    uname = os.uname()
    memory = psutil.virtual_memory().total >> 20
    return {
        "system": {
            "currentTime": _now(),
            "hostname": socket.gethostname(),
            "cpuAddrSize": 64,
            "memSizeMB": Int64(memory),
            "memLimitMB": Int64(memory),
            "numCores": os.cpu_count() or 1,
            "numPhysicalCores": psutil.cpu_count(logical=False) or os.cpu_count() or 1,
            "numCpuSockets": 1,
            "cpuArch": uname.machine,
            "numaEnabled": False,
            "numNumaNodes": 1,
        },
        "os": {"type": uname.sysname, "name": uname.sysname, "version": uname.release},
        "extra": {
            "versionString": f"{uname.sysname} {uname.release} {uname.version}",
            "pageSize": Int64(os.sysconf("SC_PAGE_SIZE")),
        },
        "ok": 1.0,
    }


@command("connectionStatus", always_allowed=True)
async def connection_status(ctx: CommandContext) -> dict[str, Any]:
    """The emulator has no authentication: every connection is unauthenticated, as on a mongod
    started without --auth."""
    auth: dict[str, Any] = {"authenticatedUsers": [], "authenticatedUserRoles": []}
    if ctx.body.get("showPrivileges"):
        auth["authenticatedUserPrivileges"] = []
    return {"authInfo": auth, "ok": 1.0}


@command("profile")
async def profile(ctx: CommandContext) -> dict[str, Any]:
    """The database profiler is off and stays off: level 0 (or -1, to read the settings) is
    answered, levels 1 and 2 are refused, since the emulator writes no system.profile."""
    level = ctx.argument
    if level not in (-1, 0):
        raise not_supported(f"the database profiler (profile level {level})")
    return {"was": 0, "slowms": 100, "sampleRate": 1.0, "ok": 1.0}


@command("usersInfo")
async def users_info(ctx: CommandContext) -> dict[str, Any]:
    """The emulator has no users (createUser is refused with 59), so none is ever found."""
    return {"users": [], "ok": 1.0}


@command("getDefaultRWConcern", admin_only=True)
async def get_default_rw_concern(ctx: CommandContext) -> dict[str, Any]:
    return {**rwdefaults.reply(ctx.member.engine), "ok": 1.0}


@command("setDefaultRWConcern", admin_only=True, write=True)
async def set_default_rw_concern(ctx: CommandContext) -> dict[str, Any]:
    engine = ctx.member.engine
    write = ctx.body.get("defaultWriteConcern")
    if write is not None:
        if not isinstance(write, dict):
            raise CommandError(14, "defaultWriteConcern must be an object")
        if not write:
            raise CommandError(2, "The global default write concern cannot be unset once it is set")
        write = WriteConcern.parse(write).to_document()
        write.pop("provenance")
    doc = rwdefaults.updated(engine, ctx.body, write, ctx.member.coordinator.last_applied.ts)
    batch = WriteBatch(ctx)
    try:
        batch.ensure_collection("config", "settings")
        if rwdefaults.stored(engine) is None:
            batch.write("i", "config.settings", encode_document(doc), decoded=doc)
        else:
            batch.write("u", "config.settings", encode_document(doc), o2={"_id": doc["_id"]}, decoded=doc)
    finally:
        batch.flush()
    return await batch.finish({**rwdefaults.reply(engine), "ok": 1.0})


def _memory() -> dict[str, Any]:
    info = psutil.Process().memory_info()
    return {"bits": 64, "resident": info.rss >> 20, "virtual": info.vms >> 20, "supported": True}


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
        "network": {
            "bytesIn": Int64(member.server.bytes_in),
            "bytesOut": Int64(member.server.bytes_out),
            "numRequests": Int64(member.server.requests),
        },
        "asserts": {"regular": 0, "warning": 0, "msg": 0, "user": member.user_asserts, "rollovers": 0},
        "storageEngine": {"name": "mongoemu", "supportsCommittedReads": True, "persistent": True},
        "mem": _memory(),
        "metrics": {
            "cursor": {"open": {"total": Int64(len(member.cursors))}},
            "ttl": {"deletedDocuments": Int64(member.ttl.deleted), "passes": Int64(member.ttl.passes)},
        },
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
    up, and refuses to shut down if none does, unless `force` (mongod's behaviour); a secondary
    then spends the rest of timeoutSecs in quiesce mode."""
    started = time.monotonic()
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
    ctx.member.request_shutdown(max(0.0, float(timeout) - (time.monotonic() - started)))
    return {"ok": 1.0}
