"""Aggregations that read no collection's documents: `$changeStream` (on a collection, on a
database with `aggregate: 1`, on the cluster from `admin` with `allChangesForCluster`) and
`$listLocalSessions`. The stream itself is `mongoemu/changestreams/`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bson import Int64, Timestamp

from mongoemu.changestreams.events import INTERNAL_DATABASES, Scope, StreamScope
from mongoemu.changestreams.stream import ChangeStreamCursor, StreamSpec, after
from mongoemu.changestreams.tokens import ResumeToken
from mongoemu.commands.arguments import session_of
from mongoemu.commands.registry import CommandContext
from mongoemu.errors import CommandError
from mongoemu.storage.aggregate import check_pipeline, documents_stage

# The stages mongod allows after $changeStream.
_ALLOWED_STAGES = frozenset(
    {"$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot", "$replaceWith", "$redact"}
)
_FULL_DOCUMENT = frozenset({"default", "updateLookup", "whenAvailable", "required"})
_BEFORE_CHANGE = frozenset({"off", "whenAvailable", "required"})
_RESUME_OPTIONS = ("resumeAfter", "startAfter", "startAtOperationTime")
# Options mongod accepts that the emulator refuses unless they ask for the default.
_REFUSED_UNLESS_FALSE = ("showMigrationEvents", "showSystemEvents", "showRawUpdateDescription")
_KNOWN_OPTIONS = frozenset(
    {*_RESUME_OPTIONS, *_REFUSED_UNLESS_FALSE, "fullDocument", "fullDocumentBeforeChange",
     "allChangesForCluster", "showExpandedEvents", "allowToRunOnConfigDB", "allowToRunOnSystemNS"}
)  # fmt: skip
if TYPE_CHECKING:
    from mongoemu.member import Member

_COLLECTIONLESS_UNSUPPORTED = frozenset({"$currentOp", "$listCatalog", "$querySettings"})


def is_change_stream(pipeline: Any) -> bool:
    return (
        isinstance(pipeline, list)
        and bool(pipeline)
        and isinstance(pipeline[0], Mapping)
        and ("$changeStream" in pipeline[0])
    )


def serves_change_stream(member: Member, command: str, body: Mapping[str, Any]) -> bool:
    """Whether an aggregate or getMore is a change stream's (for ResumableChangeStreamError)."""
    if command == "aggregate":
        return is_change_stream(body.get("pipeline"))
    if command == "getMore":
        cursor = member.cursors.peek(body.get("getMore"))
        return isinstance(cursor, ChangeStreamCursor)
    return False


def _invalid_namespace(message: str) -> CommandError:
    return CommandError(73, message)


def _scope(
    ctx: CommandContext, collection: str | None, options: Mapping[str, Any]
) -> tuple[StreamScope, str]:
    db = ctx.db
    if options.get("allChangesForCluster"):
        if db != "admin" or collection is not None:
            raise _invalid_namespace(
                "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' "
                "database, and with no collection name"
            )
        return StreamScope(Scope.CLUSTER, db), "admin.$cmd.aggregate"
    if db in INTERNAL_DATABASES:
        raise _invalid_namespace(f"$changeStream may not be opened on the internal {db} database")
    if collection is None:
        return StreamScope(Scope.DATABASE, db), f"{db}.$cmd.aggregate"
    if collection.startswith("system."):
        raise _invalid_namespace(
            f"$changeStream may not be opened on the internal {db}.{collection} collection"
        )
    return StreamScope(Scope.COLLECTION, db, collection), f"{db}.{collection}"


def _choice(options: Mapping[str, Any], field: str, allowed: frozenset[str], default: str) -> str:
    value = options.get(field, default)
    if not isinstance(value, str) or value not in allowed:
        raise CommandError(
            2,
            f"BSON field '$changeStream.{field}' has an invalid value {value!r}; "
            f"expected one of {sorted(allowed)}",
        )
    return value


def _start(ctx: CommandContext, options: Mapping[str, Any]) -> tuple[ResumeToken, ResumeToken | None]:
    """Where the stream starts, and the event token it resumes after (to check it exists)."""
    given = [name for name in _RESUME_OPTIONS if name in options]
    if len(given) > 1:
        raise CommandError(
            40674,
            "Only one type of resume option is allowed, but multiple were found.",
            code_name="Location40674",
        )
    if not given:
        return ResumeToken.high_water_mark(after(ctx.member.coordinator.last_applied.ts)), None
    name = given[0]
    if name == "startAtOperationTime":
        ts = options[name]
        if not isinstance(ts, Timestamp):
            raise CommandError(
                14,
                "BSON field '$changeStream.startAtOperationTime' is the wrong type, "
                "expected type 'timestamp'",
            )
        return ResumeToken.high_water_mark(ts), None
    token = ResumeToken.parse(options[name], name)
    if name == "resumeAfter" and token.from_invalidate:
        raise CommandError(
            260,
            "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate "
            "notification.",
        )
    return token, token if token.event else None


def _stages(pipeline: list[Any]) -> tuple[tuple[str, Any], ...]:
    stages = check_pipeline_after(pipeline[1:])
    for name, _ in stages:
        if name not in _ALLOWED_STAGES:
            raise CommandError(20, f"{name} is not permitted in a $changeStream pipeline")
    return tuple(stages)


def check_pipeline_after(rest: list[Any]) -> list[tuple[str, Any]]:
    for stage in rest:
        if isinstance(stage, Mapping) and "$changeStream" in stage:
            raise CommandError(
                40602,
                "$changeStream is only valid as the first stage in a pipeline.",
                code_name="Location40602",
            )
    return check_pipeline(rest)


def open_change_stream(ctx: CommandContext, collection: str | None) -> dict[str, Any]:
    member = ctx.member
    if member.coordinator.standalone:
        raise CommandError(
            40573, "The $changeStream stage is only supported on replica sets", code_name="Location40573"
        )
    if ctx.transaction is not None:
        raise CommandError(263, "Operation not permitted in transaction: $changeStream")
    level = ctx.read_concern.get("level") if isinstance(ctx.read_concern, Mapping) else None
    if level not in (None, "majority"):
        raise CommandError(
            72, f"readConcern level '{level}' is not supported by $changeStream; it reads majority"
        )
    pipeline = ctx.body["pipeline"]
    options = pipeline[0]["$changeStream"]
    if not isinstance(options, Mapping):
        raise CommandError(
            50808, "$changeStream stage expects a document as argument.", code_name="Location50808"
        )
    for name in options:
        if name not in _KNOWN_OPTIONS:
            raise CommandError(
                40415, f"BSON field '$changeStream.{name}' is an unknown field.", code_name="Location40415"
            )
    for name in _REFUSED_UNLESS_FALSE:
        if options.get(name):
            raise CommandError(
                115, f"$changeStream.{name} is not supported by the emulator", code_name="CommandNotSupported"
            )
    scope, ns = _scope(ctx, collection, options)
    spec = StreamSpec(
        scope=scope,
        full_document=_choice(options, "fullDocument", _FULL_DOCUMENT, "default"),
        full_document_before_change=_choice(options, "fullDocumentBeforeChange", _BEFORE_CHANGE, "off"),
        show_expanded=bool(options.get("showExpandedEvents", False)),
        stages=_stages(pipeline),
    )
    start, resumed_event = _start(ctx, options)
    cursor = ChangeStreamCursor(member, ns, spec, start, session_of(ctx))
    cursor.check_resumable(resumed_event)
    cursor_opts = ctx.body.get("cursor")
    batch_size = cursor_opts.get("batchSize") if isinstance(cursor_opts, Mapping) else None
    first = cursor.take(int(batch_size) if batch_size is not None else None)
    cursor_id = Int64(0) if cursor.exhausted else member.cursors.register(cursor)
    return {
        "cursor": {
            "firstBatch": first,
            "postBatchResumeToken": cursor.post_batch_resume_token,
            "id": cursor_id,
            "ns": ns,
        },
        "ok": 1.0,
    }


def collectionless_aggregate(ctx: CommandContext) -> dict[str, Any]:
    """`aggregate: 1` on a database: its first stage must read no collection."""
    if ctx.argument != 1 or isinstance(ctx.argument, bool):
        raise CommandError(
            73, f"Invalid {{aggregate: {ctx.argument!r}}}: the argument must be a collection name or 1"
        )
    pipeline = ctx.body.get("pipeline")
    if is_change_stream(pipeline):
        return open_change_stream(ctx, None)
    if not isinstance(pipeline, list) or not pipeline:
        raise _invalid_namespace(
            "{aggregate: 1} is not valid for an empty pipeline; a collection is required."
        )
    head = pipeline[0]
    first = next(iter(head)) if isinstance(head, Mapping) and len(head) == 1 else None
    check_pipeline(pipeline)
    if first in _COLLECTIONLESS_UNSUPPORTED:
        raise CommandError(115, f"{first} is not supported by the emulator", code_name="CommandNotSupported")
    raise _invalid_namespace(f"{{aggregate: 1}} is not valid for '{first}'; a collection is required.")


def collectionless_source(ctx: CommandContext) -> tuple[list[dict[str, Any]], Any] | None:
    """The documents the first stage of an `aggregate: 1` makes ($listLocalSessions, $documents)
    and the rest of its pipeline; None for any other pipeline."""
    pipeline = ctx.body.get("pipeline")
    if (
        ctx.argument != 1
        or not isinstance(pipeline, list)
        or not pipeline
        or not isinstance(pipeline[0], Mapping)
    ):
        return None
    head = pipeline[0]
    if len(head) != 1 or next(iter(head)) not in ("$listLocalSessions", "$documents"):
        return None
    ((first, spec),) = head.items()
    if first == "$documents":
        return documents_stage(spec), pipeline[1:]
    if not isinstance(spec, Mapping):
        raise CommandError(14, "$listLocalSessions must be an object")
    for name in spec:
        if name not in ("allUsers", "users"):
            raise CommandError(
                40415,
                f"BSON field '$listLocalSessions.{name}' is an unknown field.",
                code_name="Location40415",
            )
    return ctx.member.session_cache.documents(), pipeline[1:]
