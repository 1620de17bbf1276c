"""The server's topologyVersion and the awaitable `hello` that waits on it (mongod 4.4+).

`processId` is new for every process start and `counter` moves whenever something a client
must see in `hello` changes (state, primary, writability, config). An awaitable `hello`
(`topologyVersion` + `maxAwaitTimeMS`) waits here until the counter passes the client's or
the time is up, as mongod's ReplicationCoordinatorImpl::awaitHelloResponse does. In quiesce
mode (a secondary shutting down after SIGTERM) waiters and every new `hello` get
ShutdownInProgress, so drivers stop routing to the member before it goes away.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bson import Int64, ObjectId

from mongoemu.errors import CommandError

log = logging.getLogger("mongoemu.repl")

QUIESCE_MESSAGE = "The server is in quiesce mode and will shut down"


@dataclass(frozen=True, slots=True)
class ClientTopologyVersion:
    process_id: ObjectId
    counter: int


def shutdown_in_progress() -> CommandError:
    return CommandError(91, QUIESCE_MESSAGE, code_name="ShutdownInProgress")


class TopologyVersion:
    def __init__(self) -> None:
        self.process_id = ObjectId()
        self.counter = 0
        self.quiescing = False
        self._changed = asyncio.Event()

    def document(self) -> dict[str, Any]:
        return {"processId": self.process_id, "counter": Int64(self.counter)}

    def increment(self, reason: str) -> None:
        """A change clients must see: answer every waiting `hello` now (mongod's
        _fulfillTopologyChangePromise)."""
        self.counter += 1
        log.debug("topology version incremented", extra={"attr": {"counter": self.counter, "reason": reason}})
        self._changed.set()
        self._changed = asyncio.Event()

    def enter_quiesce(self) -> None:
        """Shutting down: waiting and future `hello`s fail with ShutdownInProgress."""
        if not self.quiescing:
            self.quiescing = True
            self.increment("entering quiesce mode")

    def check_not_quiescing(self) -> None:
        if self.quiescing:
            raise shutdown_in_progress()

    def must_wait(self, client: ClientTopologyVersion | None, standalone: bool) -> bool:
        """Whether a `hello` carrying `client` waits: only when it names this process and our
        current counter. A counter ahead of ours is refused with mongod's codes."""
        if client is None or client.process_id != self.process_id:
            return False
        if client.counter > self.counter or (standalone and client.counter != self.counter):
            raise CommandError(
                51764 if standalone else 31382,
                f"Received a topology version with counter: {client.counter} which is greater than "
                f"the server topology version counter: {self.counter}",
            )
        return client.counter == self.counter

    async def wait_for_change(self, timeout: float, interrupted: asyncio.Future[Any] | None = None) -> bool:
        """Wait up to `timeout` seconds for the next increment; True if it came. Stops early,
        returning False, when `interrupted` completes (the client went away)."""
        changed = asyncio.ensure_future(self._changed.wait())
        waits: set[asyncio.Future[Any]] = {changed}
        if interrupted is not None:
            waits.add(interrupted)
        try:
            await asyncio.wait(waits, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED)
            return changed.done()
        finally:
            changed.cancel()
