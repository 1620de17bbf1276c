"""Exhaust streams: replies mongod sends again without a new request, each flagged moreToCome,
when the client allowed it (OP_MSG exhaustAllowed).

An exhaust getMore is re-run after each batch until its cursor is exhausted or fails, as
mongod's exhaust cursors do; an awaitable hello is re-run with the topologyVersion it just
reported (mongod's nextInvocation), so each reply answers the next topology change or
maxAwaitTimeMS, until one fails. The last reply carries no moreToCome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mongoemu.wire import Request

HELLO_NAMES = frozenset({"hello", "isMaster", "ismaster"})


def next_request(request: Request, reply: Mapping[str, Any]) -> Request | None:
    """What runs next on the stream `reply` belongs to; None when `reply` is its last."""
    if not request.exhaust_allowed or not reply.get("ok"):
        return None
    name = next(iter(request.command), "")
    if name == "getMore":
        cursor = reply.get("cursor")
        return request if isinstance(cursor, Mapping) and cursor.get("id") else None
    if name in HELLO_NAMES and "topologyVersion" in reply:
        command = {**request.command, "topologyVersion": reply["topologyVersion"]}
        return dataclasses.replace(request, command=command)
    return None
