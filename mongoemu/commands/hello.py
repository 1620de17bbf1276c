"""The handshake and monitoring command: hello (and its legacy names isMaster / ismaster).

As mongod 4.4+: every reply carries `topologyVersion`; a request with `topologyVersion` and
`maxAwaitTimeMS` waits for the next topology change or the time limit (the awaitable hello of
drivers' streaming monitors); with `exhaustAllowed` on the OP_MSG the reply sets moreToCome and
the server keeps answering the next change, and the next, on the same connection (exhaust.py).
Validation follows mongod's replication_info.cpp.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from mongoemu import wire
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError
from mongoemu.repl.topology_version import ClientTopologyVersion
from mongoemu.version import MAX_WIRE_VERSION, MIN_WIRE_VERSION


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "double", str: "string", dict: "object", list: "array"}.get(
        type(value), type(value).__name__
    )


def _parse_topology_version(name: str, value: Any) -> ClientTopologyVersion:
    """mongod parses the field with its IDL: wrong types are TypeMismatch, a missing field 40414."""
    if not isinstance(value, dict):
        raise CommandError(
            14,
            f"BSON field '{name}.topologyVersion' is the wrong type '{_type_name(value)}', "
            "expected type 'object'",
        )
    for field in ("processId", "counter"):
        if field not in value:
            raise CommandError(
                40414, f"BSON field '{name}.topologyVersion.{field}' is missing but a required field"
            )
    process_id, counter = value["processId"], value["counter"]
    if not isinstance(process_id, ObjectId):
        raise CommandError(
            14,
            f"BSON field '{name}.topologyVersion.processId' is the wrong type '{_type_name(process_id)}', "
            "expected type 'objectId'",
        )
    if isinstance(counter, bool) or not isinstance(counter, int):
        raise CommandError(
            14,
            f"BSON field '{name}.topologyVersion.counter' is the wrong type '{_type_name(counter)}', "
            "expected type 'long'",
        )
    return ClientTopologyVersion(process_id, int(counter))


def _parse_max_await(name: str, value: Any) -> int:
    """A safeInt64 in mongod's IDL: any number with an exact 64-bit integer value."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(
            14,
            f"BSON field '{name}.maxAwaitTimeMS' is the wrong type '{_type_name(value)}', "
            "expected types '[long, int, decimal, double]'",
        )
    if isinstance(value, float) and not value.is_integer():
        raise CommandError(
            2,
            "Expected field maxAwaitTimeMS to have a value exactly representable as a 64-bit "
            f"integer, but found {value}",
        )
    return int(value)


def parse_awaitable(name: str, body: dict[str, Any]) -> tuple[ClientTopologyVersion, int] | None:
    """(the client's topologyVersion, maxAwaitTimeMS) of an awaitable hello, None for a plain one."""
    has_tv, has_wait = "topologyVersion" in body, "maxAwaitTimeMS" in body
    if has_tv and has_wait:
        client = _parse_topology_version(name, body["topologyVersion"])
        max_await = _parse_max_await(name, body["maxAwaitTimeMS"])
        if client.counter < 0:
            raise CommandError(31372, "topologyVersion must have a non-negative counter")
        if max_await < 0:
            raise CommandError(31373, "maxAwaitTimeMS must be a non-negative integer")
        return client, max_await
    if has_tv or has_wait:
        raise CommandError(
            31368,
            "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'"
            if has_tv
            else "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'",
        )
    return None


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
    awaitable = parse_awaitable(ctx.name, ctx.body)
    coordinator = ctx.member.coordinator
    await coordinator.await_hello(awaitable, conn.peer_gone)
    fields = coordinator.hello_fields()
    if ctx.name != "hello":
        fields["ismaster"] = fields.pop("isWritablePrimary")
    doc: dict[str, Any] = {
        **fields,
        "topologyVersion": coordinator.topology_version.document(),
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
    if ctx.exhaust_allowed and awaitable is None:
        raise CommandError(51756, "An isMaster or hello request with exhaust must specify 'maxAwaitTimeMS'")
    return doc
