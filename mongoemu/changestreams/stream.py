"""The change stream cursor: it reads the member's oplog window up to the majority commit
point, so it never shows a write that a rollback could undo, and keeps its place as a resume
token.

The stream starts after the newest entry this member had applied when it was opened (mongod's
default), or after a resume token (`resumeAfter`/`startAfter`), or at a cluster time
(`startAtOperationTime`). A getMore waits up to its `maxTimeMS` (1 s by default, as mongod's
awaitData cursors) for an event. Every batch carries `postBatchResumeToken`: the token of its
last event, or, once every event seen so far has been returned, a high-water mark after the
last entry read, so a driver resumes from there whether or not events came. A place that has
left the capped oplog window fails with ChangeStreamHistoryLost (286), as mongod's does.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import bson
from bson import Timestamp
from bson.raw_bson import RawBSONDocument

from mongoemu.changestreams.events import Event, EventBuilder, StreamScope
from mongoemu.changestreams.tokens import ResumeToken
from mongoemu.cursors import MAX_BATCH_BYTES
from mongoemu.errors import CommandError
from mongoemu.oplog import OpTime, decoded
from mongoemu.storage import diff
from mongoemu.storage.aggregate import run_stages
from mongoemu.wire import CODEC

if TYPE_CHECKING:
    from mongoemu.member import Member

# mongod's default wait of a tailable awaitData getMore without maxTimeMS.
DEFAULT_AWAIT_MS = 1000
_SCAN_CHUNK = 1000
_IMAGE_OPS = frozenset({"update", "replace", "delete"})


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What a `$changeStream` stage asked for."""

    scope: StreamScope
    full_document: str = "default"
    full_document_before_change: str = "off"
    show_expanded: bool = False
    stages: tuple[tuple[str, Any], ...] = ()  # the stages after $changeStream


def history_lost() -> CommandError:
    return CommandError(
        286,
        "Resume of change stream was not possible, as the resume point may no longer be in the oplog.",
    )


def after(ts: Timestamp) -> Timestamp:
    """The first timestamp later than `ts`."""
    return Timestamp(ts.time, ts.inc + 1)


class ChangeStreamCursor:
    # A getMore's maxTimeMS is how long it waits for events.
    await_data = True

    def __init__(
        self, member: Member, ns: str, spec: StreamSpec, start: ResumeToken, session: bytes | None
    ) -> None:
        self.ns = ns
        self.session = session
        self.last_used = time.monotonic()
        self.time_left: float | None = None
        self._member = member
        self._spec = spec
        self._builder = EventBuilder(spec.scope, spec.show_expanded)
        # Events with a token greater than this have not been returned yet.
        self._position = start
        self._scan_from = start.timestamp
        self._pending: deque[tuple[ResumeToken, dict[str, Any]]] = deque()
        self._ended = False

    @property
    def exhausted(self) -> bool:
        return self._ended and not self._pending

    @property
    def post_batch_resume_token(self) -> dict[str, Any]:
        return self._position.to_document()

    def check_resumable(self, event_token: ResumeToken | None) -> None:
        """At open: the start must still be in the window (and, for an event's token, the
        event's entry must be there)."""
        window = self._member.oplog
        first = window.first
        if first is None:
            return
        start = self._position.timestamp
        if (start.time, start.inc) < (first.ts.time, first.ts.inc) and not self._complete_history():
            raise history_lost()
        if event_token is not None:
            i = window.index_of_ts(event_token.timestamp, inclusive=True)
            found = window.slice_from(i, 1)
            if not found or found[0]["ts"] != event_token.timestamp:
                raise CommandError(280, "cannot resume stream; the resume token was not found.")

    def _complete_history(self) -> bool:
        """The window still holds the set's first entry (the capped oplog never rolled over)."""
        oldest = self._member.oplog.slice_from(0, 1)
        return bool(oldest) and oldest[0].get("o", {}).get("msg") == "initiating set"

    # --- reading ------------------------------------------------------------------------
    def take(self, batch_size: int | None) -> list[dict[str, Any]]:
        """Up to `batch_size` events available now (None: as many as fit one reply)."""
        if batch_size != 0 and not self._pending and not self._ended:
            self._scan()
        out: list[dict[str, Any]] = []
        total = 0
        while self._pending and (batch_size is None or len(out) < batch_size):
            token, doc = self._pending[0]
            size = len(_encode(doc))
            if out and total + size > MAX_BATCH_BYTES:
                break
            self._pending.popleft()
            out.append(doc)
            total += size
            self._position = token
        if not self._pending and not self._ended:
            self._position = max(self._position, ResumeToken.high_water_mark(self._scan_from))
        return out

    async def next_batch(self, batch_size: int | None, max_time_ms: int | None) -> list[Any]:
        batch = self.take(batch_size)
        if batch or self._ended:
            return batch
        deadline = time.monotonic() + (max_time_ms or DEFAULT_AWAIT_MS) / 1000
        progress = self._member.coordinator.progress
        while not batch and not self._ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await progress.wait(min(remaining, 0.5))
            batch = self.take(batch_size)
        return batch

    def _scan(self) -> None:
        """Turn committed entries after the scan position into events, at least one entry's
        worth when there are any."""
        member = self._member
        window = member.oplog
        commit = member.coordinator.commit_point
        first = window.first
        scan_from = (self._scan_from.time, self._scan_from.inc)
        behind = first is not None and scan_from < (first.ts.time, first.ts.inc)
        if behind and not self._complete_history():
            self._ended = True
            raise history_lost()
        start = window.index_of_ts(self._scan_from, inclusive=True)
        for kept in window.slice_from(start, _SCAN_CHUNK, MAX_BATCH_BYTES):
            # A large entry lives in the journal: read it once, not once per field.
            raw = kept if isinstance(kept, RawBSONDocument) else decoded(kept)
            if OpTime.from_document(raw) > commit:
                return
            if self._spec.scope.may_concern(raw["ns"]):
                entry = decoded(raw)
                for event in self._builder.events(entry):
                    if event.token > self._position:
                        self._add(event, entry)
            self._scan_from = after(raw["ts"])
            if self._ended:
                return
            if len(self._pending) >= _SCAN_CHUNK:
                return

    def _add(self, event: Event, entry: Mapping[str, Any]) -> None:
        doc = event.doc
        self._images(event, entry["ts"])
        if event.ends_stream:
            self._ended = True
        if self._spec.stages:
            out = run_stages(self._member.engine, self._spec.scope.db, [doc], list(self._spec.stages))
            if not out:
                return  # filtered out (an invalidate too: the stream still ends)
            (doc,) = out
            if doc.get("_id") != event.token.to_document():
                self._ended = True
                raise CommandError(
                    280,
                    "Encountered an event whose _id field, which contains the resume token, was modified "
                    "by the pipeline. Modifying the _id field of an event makes it impossible to resume the "
                    "stream from that point. Only transformations that retain the unmodified _id field are "
                    "allowed.",
                )
        self._pending.append((event.token, doc))

    def _images(self, event: Event, ts: Timestamp) -> None:
        """fullDocument (updateLookup or post-image) and fullDocumentBeforeChange."""
        doc = event.doc
        operation = doc["operationType"]
        if operation not in _IMAGE_OPS:
            return
        options = self._spec
        pre: dict[str, Any] | None = None
        has_pre = False
        if event.position is not None:
            has_pre = self._member.preimages.has(ts, event.position)
            pre = self._member.preimages.get(ts, event.position)
        if options.full_document_before_change != "off":
            if not has_pre and options.full_document_before_change == "required":
                self._ended = True
                raise CommandError(
                    47,
                    "Change stream was configured to require a pre-image for all update, delete and replace "
                    f"events, but the pre-image was not found for event: {doc['_id']}",
                )
            doc["fullDocumentBeforeChange"] = pre if has_pre else None
        if operation != "update":
            return
        mode = options.full_document
        if mode == "updateLookup":
            doc["fullDocument"] = self._lookup(doc)
        elif mode in ("whenAvailable", "required"):
            if not has_pre or pre is None:
                if mode == "required":
                    self._ended = True
                    raise CommandError(
                        47,
                        "Change stream was configured to require a post-image for all update events, but the "
                        f"post-image was not found for event: {doc['_id']}",
                    )
                doc["fullDocument"] = None
            else:
                doc["fullDocument"] = diff.apply(pre, event.update_diff or {})

    def _lookup(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """The document's majority-committed current version (mongod's updateLookup)."""
        ns = f"{doc['ns']['db']}.{doc['ns']['coll']}"
        _id = doc["documentKey"]["_id"]
        member = self._member
        history = member.coordinator.majority
        changed, version = history.version_at(ns, _id, history.commit_point)
        return version if changed else member.engine.get_document(ns, _id)


def _encode(doc: Mapping[str, Any]) -> bytes:
    return bson.encode(doc, codec_options=CODEC)
