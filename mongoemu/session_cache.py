"""The local logical session cache: each session a command on this member named, with its last
use (mongod's LogicalSessionCache), which `$listLocalSessions` lists. Sessions leave it when
ended or killed, or after `localLogicalSessionTimeoutMinutes` (30) unused.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bson import Binary

from mongoemu.sessions import SESSION_TIMEOUT_S, session_key

# A session's `uid` is the SHA-256 of its user's name; without authentication, of "".
ANONYMOUS_UID = Binary(hashlib.sha256(b"").digest(), 0)


class SessionCache:
    def __init__(self) -> None:
        self._sessions: dict[bytes, tuple[dict[str, Any], float]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def touch(self, lsid: Mapping[str, Any]) -> None:
        full = {"id": lsid.get("id"), "uid": lsid.get("uid", ANONYMOUS_UID)}
        self._sessions[session_key(full)] = (full, time.time())

    def end(self, lsids: Iterable[Mapping[str, Any]]) -> None:
        for lsid in lsids:
            full = {"id": lsid.get("id"), "uid": lsid.get("uid", ANONYMOUS_UID)}
            self._sessions.pop(session_key(full), None)

    def expire(self, now: float | None = None) -> None:
        cutoff = (now or time.time()) - SESSION_TIMEOUT_S
        for key in [k for k, (_, used) in self._sessions.items() if used < cutoff]:
            del self._sessions[key]

    def documents(self) -> list[dict[str, Any]]:
        """What `$listLocalSessions` returns for every user."""
        return [
            {"_id": lsid, "lastUse": datetime.fromtimestamp(used, UTC).replace(tzinfo=None)}
            for lsid, used in self._sessions.values()
        ]
