"""Progress reports upstream: replSetUpdatePosition to the sync source after every applied batch.

The report carries this member's applied and durable optimes and those of members that sync
from it, so the primary learns every member's progress through chains of sync sources. It is
also sent every electionTimeout / 2 without progress (mongod's keep-alive), which keeps the
primary's view of this member's liveness fresh. One report is in flight at a time; progress
made meanwhile goes in the next one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from mongoemu.repl.messages import ReplData
from mongoemu.repl.peer import PeerError, command_error

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator

log = logging.getLogger("mongoemu.repl.sync")


class Reporter:
    def __init__(self, coordinator: ReplicationCoordinator) -> None:
        self.coord = coordinator
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def trigger(self) -> None:
        self._dirty.set()
        if self._task is None or self._task.done():
            self._task = self.coord.spawn(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        coord = self.coord
        while True:
            election_ms, _ = coord.settings_ms
            try:
                async with asyncio.timeout(election_ms / 2000):
                    await self._dirty.wait()
            except TimeoutError:
                pass
            self._dirty.clear()
            target = coord.sync_source
            if not target or coord.config is None:
                continue
            command = {
                "replSetUpdatePosition": 1,
                "optimes": [u.to_document() for u in coord.position_updates()],
                "$replData": coord.repl_data().to_document(),
            }
            try:
                reply = await coord.peers.get(target).command("admin", command, election_ms / 1000)
            except PeerError as exc:
                log.info("progress report failed", extra={"attr": {"target": target, "error": str(exc)}})
                await asyncio.sleep(0.05)
                continue
            error = command_error(reply)
            if error:
                log.info("progress report refused", extra={"attr": {"target": target, "error": error}})
                continue
            data = ReplData.from_document(reply.get("$replData"))
            if data is not None and not coord.update_term(
                data.term, f"replSetUpdatePosition reply from {target}"
            ):
                coord.learn_commit_point(
                    data.last_committed, data.last_committed_wall, from_sync_source=False
                )
